"""Repeating robots (``repeat: {every, until, max}``) in a deal's workflow.

The robot's first run is its ordinary flow (:meth:`Robots.flow`). Its repetitions are a flow
of their own that waits for the first: each next run is armed as a waiting entry on a durable
timer, its due time computed in working time from the end of the run before, and runs under
its own idempotency key. What the repetitions wait for (the deal accepted, the stage left, a
task done) ends them at once, while a timer is waiting or between two runs, and is recorded
as ``stopped``. A robot chained below a repeating one (``start: after_previous``) runs once the
repetitions are over without that happening: "tell the head when the reminders ran out".
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import TYPE_CHECKING

from temporalio import workflow

from workflows.context import DealContext, robot_key
from workflows.patches import PATCH_REPEATING_ROBOTS

with workflow.unsafe.imports_passed_through():
    from funnel.domain.models import WaitingRobot
    from funnel.domain.pipeline import Robot, Stage
    from funnel.domain.repeats import Repeat, RepeatUntil, Repetition, repeat_task, repetition_key
    from funnel.domain.robot_rules import Timing
    from funnel.domain.robot_runs import RunOutcome
    from funnel.domain.timing import Due

if TYPE_CHECKING:
    from workflows.robots import Robots

LEFT = "the deal left the stage"
# How a robot's first run ended when its repetitions go on after it.
_REPEATED_AFTER = (RunOutcome.DONE, RunOutcome.FAILED, RunOutcome.SKIPPED_CONDITION)


def armed(
    seq: int,
    stage: Stage,
    robot: Robot,
    key: str,
    due: Due,
    base: datetime,
    timing: Timing,
    repetition: Repetition | None,
) -> WaitingRobot:
    """The waiting entry of a robot's run (the plan's line): of repetition ``2 of 5`` too."""
    assert due.due_at is not None  # the caller records a robot whose date field is empty
    repeat = robot.repeat if repetition is not None else None
    return WaitingRobot(
        key=key,
        seq=seq,
        stage=stage.id,
        robot_id=robot.id,
        title=robot.title if repetition is None else f"{robot.title} ({repetition})",
        due_at=due.due_at,
        rule=due.rule if repeat is None else repeat.rule(repetition, due.rule),
        base=base,
        timing=timing,
        on_leave=robot.on_leave,
        repetition=repetition,
    )


class Repeats:
    def __init__(self, ctx: DealContext, robots: Robots) -> None:
        self._ctx = ctx
        self._robots = robots

    def of(self, robot: Robot) -> Repeat | None:
        """The robot's ``repeat``; asked only of repeating robots, so that a deal whose
        pipeline has none records no marker."""
        if robot.repeat is None or not workflow.patched(PATCH_REPEATING_ROBOTS):
            return None
        return robot.repeat

    def stop_reason(self, seq: int, stage: Stage, robot: Robot) -> str | None:
        """Why the robot's repetitions in stage visit ``seq`` end now; None while they go on."""
        state = self._ctx.state
        visit = next(v for v in state.visits if v.seq == seq)
        repeat = robot.repeat
        assert repeat is not None
        accepted = state.accepted_at
        if (
            repeat.until is RepeatUntil.ACCEPTED
            and accepted is not None
            and visit.entered_at <= accepted
            and (visit.exited_at is None or accepted <= visit.exited_at)
        ):
            return "the deal was accepted"
        if repeat.until is RepeatUntil.TASK_DONE:
            task = state.task(f"{seq}-{repeat_task(robot, stage.robots)}")
            if task is not None and task.status.closed:
                return f"task {task.task_id} is {task.status.value}"
        if visit.exited_at is not None:
            return LEFT
        return None

    def stopped_above(self, seq: int, stage: Stage, robot: Robot) -> str | None:
        """Why a robot chained below a repeating one is not run: its repetitions stopped."""
        index = next(i for i, r in enumerate(stage.robots) if r.id == robot.id)
        above = stage.robots[index - 1] if index > 0 else None
        if above is None or above.repeat is None:
            return None
        runs = [r for r in self._ctx.state.robot_runs if r.seq == seq and r.robot_id == above.id]
        if runs and runs[-1].outcome is RunOutcome.STOPPED:
            return f"the repetitions of {above.id} stopped: {runs[-1].error}"
        return None

    async def flow(
        self,
        seq: int,
        stage: Stage,
        robot: Robot,
        repeat: Repeat,
        first: asyncio.Task[None] | None,
        start: int = 2,
    ) -> None:
        """Repetitions ``start``..``max`` of the robot, after its first run (``first``; None
        when a continued-as-new run resumes them at a waiting repetition)."""
        ctx, state, robots = self._ctx, self._ctx.state, self._robots
        if first is not None:
            await first
            runs = [r for r in state.robot_runs if r.seq == seq and r.robot_id == robot.id]
            if not runs or runs[-1].outcome not in _REPEATED_AFTER:
                return  # cancelled, skipped for good or stopped: recorded by the first run
        key = robot_key(state.deal_id, seq, robot.id)
        timing = Timing(
            delay=repeat.every,
            at_time=robot.at_time,
            responsible_working_time=robot.responsible_working_time,
        )

        def stopped() -> bool:
            return self.stop_reason(seq, stage, robot) is not None

        for number in range(start, repeat.max + 1):
            repetition = Repetition(number=number, of=repeat.max)
            next_key = repetition_key(key, number)
            if state.waiting_entry(next_key) is None:
                if self._stop(seq, stage, robot, repetition):
                    return
                # Counted from the end of the run before (a late run never bunches the next
                # ones), to the minute: the run's few milliseconds past 10:00 must not move an
                # `at_time: "10:00"` repetition to the day after.
                base = ctx.now().replace(second=0, microsecond=0)
                with ctx.working():  # no continue-as-new between two repetitions
                    due = await ctx.due(next_key, timing, base)
                if self._stop(seq, stage, robot, repetition):
                    return
                state.waiting.append(
                    armed(seq, stage, robot, next_key, due, base, timing, repetition)
                )
            if not await ctx.wait_for(next_key, stopped):
                self.stopped_waiting(seq, stage, robot, repetition)
                return
            if self._stop(seq, stage, robot, repetition):
                return
            await robots.run_when_holds(seq, stage, robot, next_key, repetition)

    def stopped_waiting(self, seq: int, stage: Stage, robot: Robot, repetition: Repetition) -> None:
        """A wait that ended early: when the stage was left, leaving recorded it; otherwise
        what the robot waits for happened, and its repetitions stop."""
        visit = next(v for v in self._ctx.state.visits if v.seq == seq)
        if visit.exited_at is None:
            self._stop(seq, stage, robot, repetition)

    def _stop(self, seq: int, stage: Stage, robot: Robot, repetition: Repetition) -> bool:
        """Record ``stopped`` and answer True when the repetitions end before ``repetition``."""
        reason = self.stop_reason(seq, stage, robot)
        if reason is not None:
            self._robots.record(seq, stage, robot.id, RunOutcome.STOPPED, reason, repetition)
        return reason is not None
