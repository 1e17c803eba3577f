"""Moving a running deal to a stage of another pipeline (another funnel): by a person (the
``move_to_funnel`` update, with the target's current version loaded by the caller) or by a
``move_to_funnel`` robot (which asks the worker for that version first).

The move is a move like any other, through the one move queue: the deal leaves its stage,
switches to the target pipeline (pinned from then on, its versions and migrations its own)
and enters the target stage, whose robots and deadline run; the stage visit records the
pipeline. Leaving ends everything the old pipeline's stage still waited for, even robots set
to ``keep`` (they belong to a funnel the deal is no longer in), as closing does. Permissions
are a move's: the responsible, their head or an admin. A new update and a new robot type,
which no recorded history holds: no patch (see docs/patches.md).
"""

from __future__ import annotations

from temporalio import workflow

from workflows.context import DealContext, invalid
from workflows.moves import TRIGGER, Move, MoveQueue
from workflows.permissions import Permissions, not_allowed
from workflows.pinned import pinned

with workflow.unsafe.imports_passed_through():
    from funnel.domain.activity_io import ActivityName
    from funnel.domain.funnels import (
        MOVED_TO_FUNNEL,
        FunnelTarget,
        MoveToFunnelInput,
        target_stage_problem,
    )
    from funnel.domain.models import DealSnapshot, DealStatus
    from funnel.domain.people import Doer
    from funnel.domain.pipeline import MoveToFunnelRobot, Pipeline
    from funnel.domain.robot_runs import RunOutcome


class FunnelMoves:
    def __init__(self, ctx: DealContext, moves: MoveQueue, may: Permissions) -> None:
        self._ctx = ctx
        self._moves = moves
        self._may = may
        self._queued_in: int | None = None  # the stage visit a robot moved the deal out of

    # --- a person -------------------------------------------------------------------------

    def validate(self, input: MoveToFunnelInput) -> None:
        self._ctx.require_open()
        not_allowed(self._permission(input))
        problem = self.problem(input.pipeline, input.stage)
        if problem is not None:
            raise invalid(problem)

    async def move(self, input: MoveToFunnelInput) -> DealSnapshot:
        def still_applies() -> str | None:
            not_allowed(self._permission(input))
            return self.problem(input.pipeline, input.stage)

        by = Doer.of(input.actor, input.by)
        move = Move(input.stage, MOVED_TO_FUNNEL, by, input.reason, pipeline=pinned(input.pipeline))
        return await self._moves.submit(move, still_applies)

    def _permission(self, input: MoveToFunnelInput) -> str | None:
        doing = f"move to funnel {input.pipeline.id!r} (stage {input.stage!r})"
        return self._may.lead(input.actor, input.by, doing)

    def problem(self, target: Pipeline, stage_id: str) -> str | None:
        """Why the deal cannot go to ``stage_id`` of ``target`` now (None: it can)."""
        current = self._moves.landing_pipeline()
        if target.id == current.id:
            return (
                f"deal {self._ctx.state.deal_id} runs in pipeline {target.id!r} already:"
                " move it within its pipeline with a move"
            )
        return target_stage_problem(target, stage_id)

    # --- a robot --------------------------------------------------------------------------

    async def by_robot(
        self, seq: int, robot: MoveToFunnelRobot, key: str
    ) -> tuple[RunOutcome, str | None]:
        """The robot's run: the target's current version from the worker (an unknown
        pipeline fails the robot there), then the move queued; the outcome to record and
        why it did not move the deal."""
        ctx, moves = self._ctx, self._moves
        target: Pipeline = await ctx.call(
            ActivityName.LOAD_PIPELINE,
            FunnelTarget(key=key, pipeline_id=robot.pipeline, stage=robot.stage),
            Pipeline,
            summary=robot.title,
        )
        problem = self.problem(target, robot.stage)
        if problem is not None:
            return RunOutcome.FAILED, problem
        if ctx.state.status is not DealStatus.OPEN or ctx.state.seq != seq:
            return RunOutcome.CANCELLED, "the deal left the stage first"
        if moves.pending is not None:
            return RunOutcome.CANCELLED, f"the deal is moving to {moves.pending.stage!r} already"
        moves.pending = Move(
            robot.stage,
            MOVED_TO_FUNNEL,
            TRIGGER,
            robot.title,
            checked_in_seq=seq,
            pipeline=pinned(target),
        )
        self._queued_in = seq
        return RunOutcome.DONE, None

    def queued_in(self, seq: int) -> bool:
        """A robot of stage visit ``seq`` moved the deal to another pipeline: the robots
        chained below it do not run."""
        return self._queued_in == seq
