"""Stage deadlines (counted in working time) and their escalation, and due times that
follow a date field the deal changes."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from temporalio import workflow

from workflows.context import DealContext, robot_key
from workflows.robots import Robots

with workflow.unsafe.imports_passed_through():
    from funnel.domain.activity_io import ActivityName, DeadlineBreach
    from funnel.domain.models import WaitingRobot
    from funnel.domain.pipeline import Pipeline, Stage
    from funnel.domain.search_attributes import DEAL_BREACHED
    from funnel.domain.timing import Due
    from funnel.runtime.metrics import record_deadline_breach

DEADLINE = "deadline"


class Deadlines:
    def __init__(self, ctx: DealContext, robots: Robots) -> None:
        self._ctx = ctx
        self._robots = robots  # the stage's escalation robots

    def key(self, seq: int) -> str:
        return f"{self._ctx.state.deal_id}:{seq}:{DEADLINE}"

    async def due(
        self, seq: int, stage: Stage, entered_at: datetime, pipeline: Pipeline
    ) -> Due | None:
        """The deadline of ``stage`` entered now, in ``pipeline``'s calendar."""
        if stage.deadline is None:
            return None
        key, timing = self.key(seq), stage.deadline.timing
        return await self._ctx.due(key, timing, entered_at, pipeline=pipeline)

    def arm(self, seq: int, stage: Stage, due: Due) -> None:
        visit = self._ctx.state.visits[-1]
        visit.deadline_at = due.due_at
        if due.due_at is None or stage.deadline is None:
            return  # anchored on an empty date field: no deadline until it is set
        self._ctx.state.waiting.append(
            WaitingRobot(
                key=due.key,
                kind=DEADLINE,
                seq=seq,
                stage=stage.id,
                robot_id=DEADLINE,
                title=f"Deadline of {stage.name}",
                due_at=due.due_at,
                rule=due.rule,
                base=visit.entered_at,
                timing=stage.deadline.timing,
            )
        )
        self._ctx.spawn(self.flow(seq, stage))

    async def flow(self, seq: int, stage: Stage) -> None:
        ctx, state = self._ctx, self._ctx.state
        if not await ctx.wait_for(self.key(seq)) or state.seq != seq:
            return
        visit = state.visits[-1]
        visit.breached = True
        state.breached = True
        state.breach_count += 1
        record_deadline_breach(workflow.metric_meter(), ctx.pipeline.id, stage.id)
        workflow.upsert_search_attributes([DEAL_BREACHED.value_set(True)])
        assert stage.deadline is not None and visit.deadline_at is not None
        with ctx.working():
            await ctx.call(
                ActivityName.RECORD_BREACH,
                DeadlineBreach(
                    deal_id=state.deal_id,
                    stage=stage.id,
                    seq=seq,
                    deadline_at=visit.deadline_at,
                ),
                None,
                summary=f"Mark the deal overdue in {stage.name}",
            )
        for robot in stage.deadline.escalate:
            await self._robots.run(seq, stage, robot, robot_key(state.deal_id, seq, robot.id))

    async def follow_fields(self, changed: set[str]) -> None:
        """Every waiting robot or deadline anchored on a changed field gets its due time
        computed again (Bitrix24 keeps the old time)."""
        await self._recompute(lambda w: w.timing.relative_to in changed)

    async def follow_responsible(self) -> None:
        """Every waiting robot or deadline counted in the responsible's working time gets
        its due time computed again in the (new) responsible's (PATCH_EDIT_PEOPLE_FOLLOW)."""
        await self._recompute(lambda w: w.timing.responsible_working_time)

    async def _recompute(self, affects: Callable[[WaitingRobot], bool]) -> None:
        """From each entry's own base moment, with the deal as it is now; the flow waiting
        on an entry sleeps again until its new due time (DealContext.wait_for)."""
        ctx, state = self._ctx, self._ctx.state
        affected = [w for w in state.waiting if affects(w)]
        if affected:
            with ctx.working():
                dues = await ctx.due_many([(w.key, w.timing, w.base) for w in affected])
            for entry, due in zip(affected, dues, strict=True):
                if due.due_at is None:
                    continue  # the field was emptied: the timer keeps its last due time
                entry.due_at, entry.rule = due.due_at, due.rule
                if entry.kind == DEADLINE:
                    state.visits[-1].deadline_at = due.due_at
