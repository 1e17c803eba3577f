"""The deal's stage moves: one queue between whoever asks for a move (a message handler, a
trigger) and the run loop that carries it out.

The queue holds at most one pending move. Requests take turns under its lock; each is
checked again against the stage the deal is in (or is entering) when its turn comes, since
its validator saw the deal as it was when the request came. Triggers, which move the deal
by itself, are checked here too, and only here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from temporalio import workflow
from temporalio.exceptions import ApplicationError

from workflows.context import DealContext, invalid
from workflows.patches import PATCH_RECHECK

with workflow.unsafe.imports_passed_through():
    from funnel.domain.models import DealSnapshot, DealStatus
    from funnel.domain.people import Doer, Via
    from funnel.domain.pipeline import Pipeline, Semantics, Stage, TriggerEvent


TRIGGER = Doer(via=Via.TRIGGER)  # the deal moving by itself
NOBODY = Doer()  # the deal's start


@dataclass
class Move:
    stage: str
    cause: str
    by: Doer = NOBODY  # who asked, how; via "trigger" for the deal's own moves
    reason: str | None = None
    checked_in_seq: int | None = None  # a trigger's move: the stage visit it was checked in
    invoice_id: str | None = None  # the paid invoice an invoice_paid trigger applied
    pipeline: Pipeline | None = None  # another pipeline the deal moves to (workflows/funnels.py)


class MoveQueue:
    def __init__(self, ctx: DealContext, creating: set[str]) -> None:
        self._ctx = ctx
        self._creating = creating  # template tasks being created (owned by TaskSets)
        self._lock = asyncio.Lock()  # keeps concurrent manager moves from overwriting each other
        self.pending: Move | None = None  # set by a request or a trigger, taken by the run loop
        self._entering: Move | None = None  # the move the run loop is carrying out now
        self._entered: Move | None = None  # the last move the run loop has carried out
        self.accepting_seq: int | None = None  # the visit an `accept` is being applied in

    # --- the run loop's side --------------------------------------------------------------

    def take(self) -> Move | None:
        """The pending move, for the run loop to carry out; None when a trigger chose it in a
        stage visit already left (PATCH_ONE_MOVE_AT_A_TIME): what it took is undone."""
        move, self.pending = self.pending, None
        assert move is not None
        state = self._ctx.state
        if self._ctx.patches.drop_stale_moves and move.checked_in_seq not in (None, state.seq):
            # A trigger checked in a visit already left (or before the first stage was
            # entered): undo what it took, and check the current stage's triggers.
            invoice = state.invoice(move.invoice_id) if move.invoice_id else None
            if invoice is not None and invoice.applied_in_seq == move.checked_in_seq:
                invoice.applied_in_seq = None
            return None
        self._entering = move
        return move

    def entered(self, move: Move) -> None:
        self._entered, self._entering = move, None

    # --- requests -------------------------------------------------------------------------

    def validate_accept(self) -> None:
        """The `accept` validator: the deal is in a stage whose acceptance trigger holds."""
        ctx = self._ctx
        ctx.require_open()
        trigger = ctx.current_stage().trigger(TriggerEvent.ACCEPTED)
        if trigger is None:
            where = [s.id for s in ctx.pipeline.stages if s.trigger(TriggerEvent.ACCEPTED)]
            raise invalid(
                f"deal {ctx.state.deal_id} is in stage {ctx.state.stage!r}, where there is"
                f" nothing to accept (accept works in: {', '.join(where) or 'no stage'})"
            )
        if not ctx.condition_holds(trigger.condition):
            raise invalid("the acceptance trigger's condition does not hold for this deal")

    def validate_move(self, to: str, reason: str | None) -> None:
        """The `move_to_stage` validator: a known stage other than this one; a reason
        for a failure stage."""
        ctx = self._ctx
        ctx.require_open()
        unknown = self.unknown_stage(to)
        if unknown is not None:
            raise invalid(unknown)
        if to == ctx.state.stage:
            raise invalid(f"deal {ctx.state.deal_id} is already in stage {to!r}")
        target = self.landing_pipeline().stage(to)
        if target.semantics is Semantics.FAILURE and not (reason or "").strip():
            raise invalid(f"moving deal {ctx.state.deal_id} to {to!r} needs a reason")

    async def submit(
        self, move: Move, still_applies: Callable[[], str | None] | None = None
    ) -> DealSnapshot:
        """Hand the move to the run loop, one at a time, and answer once it is entered.
        ``still_applies`` checks the request again against the stage the deal is in (or is
        entering) when its turn comes."""
        async with self._lock:
            await workflow.wait_condition(lambda: self.pending is None)
            self._ctx.require_open()
            self.refuse_if(self.closing_problem())
            if move.pipeline is None:  # another pipeline may have come in meanwhile
                self.refuse_if(self.unknown_stage(move.stage))
            if still_applies is not None:
                self.refuse_if(still_applies())
            self.pending = move
            await workflow.wait_condition(lambda: self._entered is move)
            return DealSnapshot.of(self._ctx.state)

    def landing_stage(self) -> Stage:
        """The stage the deal is in, or the one the run loop is entering now."""
        if self._entering is not None:
            return self.landing_pipeline().stage(self._entering.stage)
        return self._ctx.current_stage()

    def landing_pipeline(self) -> Pipeline:
        """The deal's pipeline, or the other one the run loop is moving it into now."""
        entering = self._entering
        if entering is not None and entering.pipeline is not None:
            return entering.pipeline
        return self._ctx.pipeline

    def unknown_stage(self, to: str) -> str | None:
        pipeline = self.landing_pipeline()
        if pipeline.has_stage(to):
            return None
        known = ", ".join(s.id for s in pipeline.stages)
        return f"unknown stage {to!r}; the stages of pipeline {pipeline.id!r} are: {known}"

    def closing_problem(self) -> str | None:
        landing = self.landing_stage()
        if landing.terminal:
            return f"deal {self._ctx.state.deal_id} is being closed ({landing.id})"
        return None

    def accept_problem(self) -> str | None:
        stage = self.landing_stage()
        deal_id = self._ctx.state.deal_id
        if self.accepting_seq == self._ctx.state.seq and self._entering is None:
            return f"deal {deal_id} is being accepted already"
        if stage.trigger(TriggerEvent.ACCEPTED) is None:
            return f"deal {deal_id} is in stage {stage.id!r} now, where there is nothing to accept"
        return None

    @staticmethod
    def refuse_if(problem: str | None) -> None:
        """Refuse a request that no longer applies. Deals whose history applied such a
        request anyway replay as they ran (no marker there: PATCH_RECHECK is False)."""
        if problem is not None and workflow.patched(PATCH_RECHECK):
            raise ApplicationError(problem, type="NoLongerApplies")

    # --- triggers -------------------------------------------------------------------------

    def check_triggers(self) -> None:
        """Move the deal on by itself when the stage's trigger condition holds, including
        events that arrived before the deal reached the stage (an invoice paid early)."""
        ctx, state = self._ctx, self._ctx.state
        if state.status is not DealStatus.OPEN or self.pending is not None:
            return
        stage = ctx.current_stage()
        seq = state.seq
        paid = stage.trigger(TriggerEvent.INVOICE_PAID)
        if paid is not None and ctx.condition_holds(paid.condition):
            for invoice in state.invoices:
                if invoice.paid_at is not None and invoice.applied_in_seq is None:
                    invoice.applied_in_seq = seq
                    self.pending = Move(
                        paid.to,
                        "invoice_paid",
                        reason=f"invoice {invoice.invoice_id} paid",
                        checked_in_seq=seq,
                        invoice_id=invoice.invoice_id,
                        by=TRIGGER,
                    )
                    return
        done = stage.trigger(TriggerEvent.TASKS_DONE)
        if done is not None and ctx.condition_holds(done.condition):
            tasks = [t for t in state.tasks if t.seq == seq]
            if (
                tasks
                and not state.waiting_tasks
                and not self._creating
                and all(t.status.closed for t in tasks)
            ):
                self.pending = Move(
                    done.to,
                    "tasks_done",
                    reason="all stage tasks done",
                    checked_in_seq=seq,
                    by=TRIGGER,
                )
