"""The robots of a stage visit, as the deal workflow runs them.

Each robot gets a *flow*: wait for the robot above it (``start: after_previous``), wait for
its due time on a durable timer (recomputed when a date field it follows changes), check its
condition, run its activity, and record what happened in ``state.robot_runs``. Every flow ends
with exactly one record, which is what lets a continued-as-new run rebuild the flows that
were still pending.
"""

from __future__ import annotations

import asyncio
from datetime import datetime

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

from workflows.context import TIMING_FIELDS, DealContext, robot_key
from workflows.funnels import FunnelMoves
from workflows.payments import Payments
from workflows.repeats import LEFT, Repeats, armed
from workflows.tasks import Tasks

with workflow.unsafe.imports_passed_through():
    from funnel.domain.activity_io import (
        ActivityName,
        CompleteDealCall,
        RenderDocumentCall,
        SetTitleCall,
    )
    from funnel.domain.conditions import deal_values, holds
    from funnel.domain.models import DocumentView, TaskStatus, WaitingRobot
    from funnel.domain.pipeline import (
        CompleteDealRobot,
        CreateInvoiceRobot,
        CreateTaskRobot,
        MoveToFunnelRobot,
        NotifyRobot,
        RenderDocumentRobot,
        ReportEventRobot,
        Robot,
        Semantics,
        SendInvoiceRobot,
        SetTitleRobot,
        Stage,
    )
    from funnel.domain.repeats import Repetition
    from funnel.domain.robot_rules import OnLeave, OnReentry, OnSkip, Start, Timing
    from funnel.domain.robot_runs import RobotRun, RunOutcome
    from funnel.domain.timing import Due
    from funnel.runtime.metrics import record_robot_failure


class Robots:
    def __init__(
        self, ctx: DealContext, tasks: Tasks, payments: Payments, funnels: FunnelMoves
    ) -> None:
        self._ctx = ctx
        self._tasks = tasks
        self._payments = payments
        self._funnels = funnels
        self.repeats = Repeats(ctx, self)

    # --- flows ----------------------------------------------------------------------------

    def start_flows(self, seq: int, stage: Stage) -> list[asyncio.Task[None]]:
        """Start a flow per robot of the stage; returns the flows the entry must wait for
        (robots due at once, not behind a timed robot), so "at once" means at once."""
        blocking: list[asyncio.Task[None]] = []
        previous: asyncio.Task[None] | None = None
        previous_immediate = True
        for robot in stage.robots:
            chained = robot.start is Start.AFTER_PREVIOUS
            immediate = robot.immediate and (previous_immediate or not chained)
            first, last = self.spawn(seq, stage, robot, previous if chained else None)
            if immediate:
                blocking.append(first)  # a repeating robot's first run, not its repetitions
            previous, previous_immediate = last, immediate and first is last
        return blocking

    def spawn(
        self, seq: int, stage: Stage, robot: Robot, previous: asyncio.Task[None] | None
    ) -> tuple[asyncio.Task[None], asyncio.Task[None]]:
        """The robot's flow, and the flow that ends last: its repetitions, if it repeats."""
        first = self._ctx.spawn(self.flow(seq, stage, robot, previous))
        repeat = self.repeats.of(robot)
        if repeat is None:
            return first, first
        return first, self._ctx.spawn(self.repeats.flow(seq, stage, robot, repeat, first))

    async def flow(
        self, seq: int, stage: Stage, robot: Robot, previous: asyncio.Task[None] | None
    ) -> None:
        ctx, state = self._ctx, self._ctx.state
        if previous is not None:
            await previous  # flows never raise: a failed robot is recorded, not thrown
            left = state.seq != seq and robot.on_leave is not OnLeave.KEEP
            if left or self._funnels.queued_in(seq):
                self.record(seq, stage, robot.id, RunOutcome.CANCELLED)
                return
            stopped_above = self.repeats.stopped_above(seq, stage, robot)
            if stopped_above is not None:
                self.record(seq, stage, robot.id, RunOutcome.SKIPPED_CONDITION, stopped_above)
                return
        if robot.on_reentry is OnReentry.FIRST_ENTRY and self._entered_before(stage.id, seq):
            self.record(seq, stage, robot.id, RunOutcome.SKIPPED_REENTRY)
            return
        key = robot_key(state.deal_id, seq, robot.id)
        repeat = self.repeats.of(robot)
        first = Repetition(number=1, of=repeat.max) if repeat is not None else None

        def stopped() -> bool:
            return self.repeats.stop_reason(seq, stage, robot) is not None

        if not robot.immediate:
            if state.waiting_entry(key) is None:  # not already armed by a former run
                # Counted from the stage entry, or from the end of the robot above it.
                base = ctx.now() if previous is not None else self._entered_at(seq)
                due = await ctx.due(key, robot, base)
                if due.due_at is None:
                    self.record(seq, stage, robot.id, RunOutcome.SKIPPED_NO_DATE, due.rule)
                    return
                timing = Timing.model_validate(robot.model_dump(include=TIMING_FIELDS))
                state.waiting.append(armed(seq, stage, robot, key, due, base, timing, first))
            if not await ctx.wait_for(key, stopped if first is not None else None):
                # The deal left the stage (recorded as cancelled by the move), or what a
                # repeating robot waits for happened first.
                if first is not None:
                    self.repeats.stopped_waiting(seq, stage, robot, first)
                return
        elif state.seq != seq and robot.on_leave is not OnLeave.KEEP:
            self.record(seq, stage, robot.id, RunOutcome.CANCELLED)
            return
        if first is not None and (reason := self.repeats.stop_reason(seq, stage, robot)):
            self.record(seq, stage, robot.id, RunOutcome.STOPPED, reason, first)
            return
        await self.run_when_holds(seq, stage, robot, key, first)

    async def run_when_holds(
        self, seq: int, stage: Stage, robot: Robot, key: str, repetition: Repetition | None
    ) -> None:
        """Run the robot if its condition holds now (checked when due), else record the skip."""
        state = self._ctx.state
        values = deal_values(state.deal, title=state.title, stage=state.stage)
        if not holds(robot.condition, values, self._ctx.pipeline):
            self.record(seq, stage, robot.id, RunOutcome.SKIPPED_CONDITION, None, repetition)
            return
        await self.run(seq, stage, robot, key, repetition=repetition)

    def timed_at_entry(self, seq: int, stage: Stage, pipeline_id: str) -> list[Robot]:
        """The stage's timed robots whose due times are known on entering: counted from the
        entry, or chained after robots that all run at once (which the entry waits for, so
        they take a moment: such a robot counts from the entry too), and not skipped on
        this re-entry. One chained after a timed robot counts from when that one ran."""
        timed: list[Robot] = []
        chain_at_once = True  # every robot of the chain so far runs at once
        for index, robot in enumerate(stage.robots):
            if index == 0 or robot.start is not Start.AFTER_PREVIOUS:
                chain_at_once = True
            skipped = robot.on_reentry is OnReentry.FIRST_ENTRY and self._entered_before(
                stage.id, seq, pipeline_id
            )
            # A repeating robot arms each run in its own flow (workflows/repeats.py), and
            # one chained after it waits for its repetitions to end.
            repeats = robot.repeat is not None
            if not robot.immediate and chain_at_once and not skipped and not repeats:
                timed.append(robot)
            chain_at_once = chain_at_once and robot.immediate and not repeats
        return timed

    def arm_at_entry(self, seq: int, stage: Stage, dues: list[tuple[Robot, Due]]) -> None:
        """Arm the timed robots whose due times the entry computed: their flows find them
        waiting (a robot whose date field is empty computes it again in its flow, and is
        skipped there)."""
        base = self._entered_at(seq)
        for robot, due in dues:
            if due.due_at is not None:
                timing = Timing.model_validate(robot.model_dump(include=TIMING_FIELDS))
                entry = armed(seq, stage, robot, due.key, due, base, timing, None)
                self._ctx.state.waiting.append(entry)

    def _entered_at(self, seq: int) -> datetime:
        return next(v.entered_at for v in self._ctx.state.visits if v.seq == seq)

    def _entered_before(self, stage_id: str, seq: int, pipeline_id: str | None = None) -> bool:
        """Whether the deal was in this stage of this pipeline (default: the deal's) before
        visit ``seq``: a stage of the same id in a funnel it moved from is another stage."""
        pipeline_id = pipeline_id or self._ctx.pipeline.id
        return any(
            v.stage == stage_id and v.seq < seq and v.pipeline_id in (None, pipeline_id)
            for v in self._ctx.state.visits
        )

    def record(
        self,
        seq: int,
        stage: Stage,
        robot_id: str,
        outcome: RunOutcome,
        error: str | None = None,
        repetition: Repetition | None = None,
    ) -> None:
        self._ctx.state.robot_runs.append(
            RobotRun(
                seq=seq,
                stage=stage.id,
                robot_id=robot_id,
                outcome=outcome,
                at=self._ctx.now(),
                error=error,
                repetition=repetition,
            )
        )

    # --- running one robot ---------------------------------------------------------------

    async def run(
        self,
        seq: int,
        stage: Stage,
        robot: Robot,
        key: str,
        outcome: RunOutcome = RunOutcome.DONE,
        *,
        repetition: Repetition | None = None,
    ) -> None:
        ctx, state = self._ctx, self._ctx.state
        context = ctx.robot_context(stage)
        now = ctx.now()
        error: str | None = None  # why a robot that ran did not do its part
        with ctx.working():
            try:
                match robot:
                    case SetTitleRobot():
                        state.title = await ctx.call(
                            ActivityName.SET_TITLE,
                            SetTitleCall(key=key, context=context, template=robot.template),
                            str,
                            summary=robot.title,
                        )
                    case NotifyRobot():
                        await ctx.notify(
                            key,
                            stage,
                            ctx.people(robot.to),
                            robot.message,
                            robot.title,
                            channels=robot.channels,
                        )
                    case CreateTaskRobot():
                        await self._tasks.create(
                            seq,
                            stage,
                            robot.id,
                            robot.title,
                            key,
                            title=robot.task_title,
                            description=robot.description,
                            deadline=robot.deadline,
                            responsible=robot.responsible,
                            co_executors=robot.co_executors,
                            created_by=robot.created_by,
                            needs_confirmation=robot.needs_confirmation,
                        )
                    case ReportEventRobot():
                        await ctx.write_report(key, stage, robot.kind, robot.details, robot.title)
                    case CreateInvoiceRobot():
                        outcome = await self._payments.issue_invoice(
                            seq, key, context, robot.title, outcome
                        )
                    case RenderDocumentRobot():
                        document = await ctx.call(
                            ActivityName.RENDER_DOCUMENT,
                            RenderDocumentCall(
                                key=key,
                                context=context,
                                template=robot.template,
                                name=robot.document_name,
                                at=now,
                            ),
                            DocumentView,
                            summary=robot.title,
                        )
                        state.keep_document(document)
                    case SendInvoiceRobot():
                        outcome = await self._payments.send_invoice(key, context, robot, outcome)
                    case CompleteDealRobot():
                        await ctx.call(
                            ActivityName.COMPLETE_DEAL,
                            CompleteDealCall(
                                deal_id=state.deal_id,
                                status=state.status,
                                reason=state.lost_reason,
                                at=now,
                            ),
                            None,
                            summary=robot.title,
                        )
                    case MoveToFunnelRobot():
                        outcome, error = await self._funnels.by_robot(seq, robot, key)
                self.record(seq, stage, robot.id, outcome, error, repetition)
            except ActivityError as err:
                # A robot that cannot run (e.g. a template naming a missing field) must not
                # stop the deal: it is recorded and shown in the state.
                cause = err.cause.message if isinstance(err.cause, ApplicationError) else str(err)
                self.record(seq, stage, robot.id, RunOutcome.FAILED, cause, repetition)
                record_robot_failure(workflow.metric_meter(), robot.type, stage.id)
                workflow.logger.warning("robot %s failed: %s", robot.id, cause)

    # --- leaving and skipping stages ------------------------------------------------------

    async def leave(self, seq: int, stage: Stage, closing: bool) -> None:
        """Apply each robot's on_leave policy: cancel its timer (the default), keep it, or
        cancel it and undo what the robot did (cancel the tasks it created). ``closing``:
        the deal is closed (or leaves the pipeline): nothing waits on, even what keeps."""
        state = self._ctx.state
        policies = {r.id: r.on_leave for r in stage.robots}
        kept: list[WaitingRobot] = []
        for entry in state.waiting:
            # Closing the deal ends everything still waiting, even robots set to keep.
            if not closing and (entry.seq != seq or entry.on_leave is OnLeave.KEEP):
                kept.append(entry)
            elif entry.repetition is not None and entry.repetition.number > 1:
                # A repeating robot that ran: its next repetitions stop.
                self.record(seq, stage, entry.robot_id, RunOutcome.STOPPED, LEFT, entry.repetition)
            elif entry.kind == "robot":
                self.record(seq, stage, entry.robot_id, RunOutcome.CANCELLED)
        state.waiting = kept
        for task in state.tasks:
            robot_id = task.task_id.split("-", 1)[1]
            if (
                task.seq == seq
                and policies.get(robot_id) is OnLeave.COMPENSATE
                and task.status is not TaskStatus.DONE
            ):
                await self._tasks.set_status(task, TaskStatus.CANCELLED, by=None)
                self.record(seq, stage, robot_id, RunOutcome.COMPENSATED)

    async def catch_up(self, seq: int, left: Stage, entered: Stage) -> None:
        """Robots with on_skip: catch_up run at once when the deal jumps over their stage."""
        if entered.semantics is Semantics.FAILURE:
            return  # losing a deal skips nothing: it was never going through those stages
        pipeline = self._ctx.pipeline
        start, end = pipeline.index(left.id), pipeline.index(entered.id)
        for skipped in pipeline.stages[start + 1 : end]:
            if skipped.terminal:
                continue
            for robot in skipped.robots:
                if robot.on_skip is OnSkip.CATCH_UP:
                    key = robot_key(self._ctx.state.deal_id, seq, f"{skipped.id}.{robot.id}")
                    await self.run(seq, skipped, robot, key, RunOutcome.CAUGHT_UP)
