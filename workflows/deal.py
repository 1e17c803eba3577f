"""DealWorkflow: one deal walking the stages of its pinned pipeline.

On entering a stage the workflow runs the stage's robots (see :mod:`workflows.stage_robots`):
robots due at once finish before the deal can move on, timed ones wait on durable timers;
it arms the stage deadline, then waits for the event that moves the deal on (a manager's
move, acceptance, a paid invoice, the stage's tasks done). Leaving a stage applies each
waiting robot's ``on_leave`` policy; jumping over stages runs their ``catch_up`` robots.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from temporalio import workflow
from temporalio.common import SearchAttributeUpdate
from temporalio.exceptions import ActivityError, ApplicationError

from workflows.stage_robots import StageRobots, robot_key

with workflow.unsafe.imports_passed_through():
    from funnel.domain import messages
    from funnel.domain.activity_io import (
        ActivityName,
        DeadlineBreach,
        InvoicePaidCall,
        NotifyCall,
        NotifyResult,
        RegisterDeal,
        StageTransition,
    )
    from funnel.domain.conditions import deal_values, holds
    from funnel.domain.models import (
        AcceptInput,
        CloseInput,
        DealResult,
        DealSnapshot,
        DealState,
        DealStatus,
        DealWorkflowInput,
        InvoicePaid,
        InvoiceView,
        MigrateInput,
        MoveInput,
        Outcome,
        PaymentView,
        PipelineMigration,
        ReportEventView,
        RunOutcome,
        RunTemplateInput,
        StageVisit,
        TaskAction,
        TaskComment,
        TaskCompleted,
        TaskEvent,
        TaskStatus,
        TaskView,
        UpdateFieldsInput,
        WaitingRobot,
    )
    from funnel.domain.payments import PaymentCheck, PaymentKind, check_payment, money
    from funnel.domain.pipeline import (
        ROLE_RESPONSIBLE,
        Pipeline,
        Semantics,
        Stage,
        TaskTemplate,
        TriggerEvent,
    )
    from funnel.domain.robot_rules import Condition, OnLeave, OnSkip, Timing
    from funnel.domain.search_attributes import (
        DEAL_AMOUNT,
        DEAL_BREACHED,
        DEAL_RESPONSIBLE,
        DEAL_STAGE,
    )
    from funnel.domain.timing import Due
    from funnel.runtime.metrics import (
        record_deadline_breach,
        record_invoice_paid_reaction,
        record_stage_transition,
    )
    from workflows.validation import FieldProblem, check_field_updates

DEADLINE = "deadline"
PATCH_ACCEPT_REPORTED = "accept-writes-report-event"
# A trigger checked while the run loop was still entering the stage a trigger had chosen saw
# the old stage and queued the same move again (the deal entered `payment` twice when the
# contract task and the invoice arrived together): such a move is now dropped. Deals that
# did so replay without the fix.
PATCH_ONE_MOVE_AT_A_TIME = "drop-stale-trigger-move"
# The stage-transition record became a local activity.
PATCH_TRANSITION_LOCAL = "transition-record-local"
# A deal started on this code has every change of 2026-11-27 and checks this one patch
# instead of three: each `patched` a new deal takes costs a marker event and a
# TemporalChangeVersion upsert (a visibility write on the server). It also leaves out the
# search-attribute upsert on entering the first stage when its start already set every
# value (DealClient.start does). And a template task being created counts as not done: a
# trigger checked while the last task of a chain was being created (any message to the deal
# in that moment) closed the deal as won with that task never done. Deals recorded with the
# three markers, or with none, replay through the three checks as before.
PATCH_NOV_27 = "deal-code-2026-11-27"
# A request is checked again when the deal applies it, not only by its validator: ten
# `accept`s sent at once all passed their validators against the same state and entered
# `in_progress` ten times. Checked only where a request no longer applies, so a deal records
# the marker only when it refuses one; histories recorded before replay as they ran.
# Retire (workflow.deprecate_patch, then remove) once no deal started before 2026-12-01 is open.
PATCH_RECHECK = "recheck-when-applied"
# An invoice is paid when its payments add up to its amount; a payment naming an invoice the
# deal never issued, or in another currency, is reported and not applied. Checked only for
# a payment those rules treat differently from before (partial, over, unknown, currency).
# Retire once no deal started before 2026-12-01 is open.
PATCH_PAYMENTS_ADD_UP = "payments-add-up"


_NEW_PAYMENT_RULES = (
    PaymentKind.UNMATCHED,
    PaymentKind.WRONG_CURRENCY,
    PaymentKind.PARTIAL,
    PaymentKind.OVERPAID,
)
# A closed deal writes its record to the store (funnel/storage/closed_deals.py) as its last step.
# Retire once no deal started before 2026-12-01 is open.
PATCH_CLOSED_RECORD = "closed-deal-record"


@dataclass
class _Move:
    stage: str
    cause: str
    actor: str | None = None
    reason: str | None = None
    checked_in_seq: int | None = None  # a trigger's move: the stage visit it was checked in
    invoice_id: str | None = None  # the paid invoice an invoice_paid trigger applied


@workflow.defn(name=messages.WORKFLOW_TYPE)
class DealWorkflow(StageRobots):
    @workflow.init
    def __init__(self, input: DealWorkflowInput) -> None:
        self._pipeline = input.pipeline
        self._history_limit = input.history_limit
        self._state = input.state or DealState(
            deal_id=input.deal.deal_id,
            deal=input.deal,
            pipeline_id=input.pipeline.id,
            pipeline_version=input.pipeline.version,
            title=f"Deal {input.deal.deal_id}",
            stage=input.pipeline.first_stage.id,
        )
        # The next stage move, set by a message handler or a trigger and applied by the
        # run loop; a lock keeps concurrent manager moves from overwriting each other.
        self._next: _Move | None = None
        self._entered: _Move | None = None  # the last move the run loop has carried out
        self._entering: _Move | None = None  # the move the run loop is carrying out now
        self._accepting_seq: int | None = None  # the visit an `accept` is being applied in
        # Patched behaviours, decided on the run's first workflow task (start of run): a deal
        # that started before a change keeps the old behaviour for the rest of its run.
        self._nov_27 = False
        self._drop_stale_moves = False
        self._transition_local = False
        # Template tasks whose create_task robot is running: until their task exists, the
        # stage's tasks are not all done (PATCH_NOV_27; an empty set for older deals).
        self._creating: set[str] = set()
        self._move_lock = asyncio.Lock()
        self._task_writes = asyncio.Lock()
        self._timers: list[asyncio.Task[None]] = []
        self._busy = 0  # robot activities in flight (continue-as-new waits for none)
        self._next_stage_id = self._state.stage
        self._paid_received_at: datetime | None = None  # for the reaction-time metric

    # --- main loop ------------------------------------------------------------------------

    @workflow.run
    async def run(self, input: DealWorkflowInput) -> DealResult:
        self._nov_27 = workflow.patched(PATCH_NOV_27)
        self._drop_stale_moves = self._nov_27 or workflow.patched(PATCH_ONE_MOVE_AT_A_TIME)
        self._transition_local = self._nov_27 or workflow.patched(PATCH_TRANSITION_LOCAL)
        if input.state is None:
            await self._call(
                ActivityName.REGISTER_DEAL,
                RegisterDeal(
                    context=self._context(self._pipeline.first_stage), started_at=self._now()
                ),
                None,
                summary="Register the deal in the store",
            )
            stage = await self._enter(_Move(stage=self._pipeline.first_stage.id, cause="start"))
        else:
            stage = self._resume()
        while not stage.terminal:
            self._check_triggers()
            await workflow.wait_condition(
                lambda: self._next is not None or self._should_continue_as_new()
            )
            if self._next is None:
                await workflow.wait_condition(workflow.all_handlers_finished)
                if self._next is None and self._busy == 0:
                    self._state.runs += 1
                    workflow.continue_as_new(
                        DealWorkflowInput(
                            deal=self._state.deal,
                            pipeline=self._pipeline,
                            state=self._state,
                            history_limit=self._history_limit,
                        )
                    )
                continue
            move, self._next = self._next, None
            if self._drop_stale_moves and move.checked_in_seq not in (None, self._state.seq):
                # A trigger checked in a visit already left (or before the first stage was
                # entered): undo what it took, and check the current stage's triggers.
                invoice = self._state.invoice(move.invoice_id) if move.invoice_id else None
                if invoice is not None and invoice.applied_in_seq == move.checked_in_seq:
                    invoice.applied_in_seq = None
                continue
            self._entering = move
            stage = await self._enter(move)
            self._entered, self._entering = move, None
        # Let escalations or delayed robots already running finish, and every handler too.
        await asyncio.gather(*self._timers)
        await workflow.wait_condition(workflow.all_handlers_finished)
        if workflow.patched(PATCH_CLOSED_RECORD):
            # The store keeps the deal for good; the namespace's retention deletes this run.
            await self._call(
                ActivityName.RECORD_CLOSED_DEAL, self._state, bool, summary="Keep the deal's record"
            )
        return DealResult(
            deal_id=self._state.deal_id,
            status=self._state.status,
            stage=self._state.stage,
            lost_reason=self._state.lost_reason,
        )

    def _should_continue_as_new(self) -> bool:
        """Long-lived deals (months of waiting, thousands of messages) start a fresh history
        before the server's limits, carrying the whole state (tasks, invoices, waiting
        timers, de-duplication keys) over."""
        if self._busy or not workflow.all_handlers_finished():
            return False
        info = workflow.info()
        if self._history_limit is not None:
            return info.get_current_history_length() > self._history_limit
        return info.is_continue_as_new_suggested()

    def _resume(self) -> Stage:
        """After continue-as-new: re-arm what was waiting, rebuild the flows still pending."""
        stage = self._pipeline.stage(self._state.stage)
        seq = self._state.seq
        previous: asyncio.Task[None] | None = None
        for robot in stage.robots:
            if self._state.ran(seq, robot.id):
                previous = None
                continue
            previous = self._spawn(self._robot_flow(seq, stage, robot, previous))
        for entry in self._state.waiting:
            if entry.kind == DEADLINE and entry.seq == seq:
                self._spawn(self._deadline_flow(seq, stage))
            elif entry.seq != seq and self._pipeline.has_stage(entry.stage):
                # a robot kept waiting (on_leave: keep) after its stage was left
                kept = self._pipeline.stage(entry.stage)
                for robot in kept.robots:
                    if robot.id == entry.robot_id:
                        self._spawn(self._robot_flow(entry.seq, kept, robot, None))
        for task in self._state.tasks:
            if not task.status.closed:
                self._watch_task(task)
        return stage

    async def _enter(self, move: _Move) -> Stage:
        now = self._now()
        stage = self._pipeline.stage(move.stage)
        previous = self._state.visits[-1] if self._state.visits else None
        seq = self._state.seq + 1
        # Computed before the state changes, so that no query ever sees a visit without
        # its deadline.
        deadline_due = await self._deadline_due(seq, stage, now)
        if previous is not None:
            previous.exited_at = now
            previous.exit_cause = move.cause
            self._next_stage_id = stage.id
            await self._leave(previous.seq, self._pipeline.stage(previous.stage))
        visit = StageVisit(seq=seq, stage=stage.id, entered_at=now, cause=move.cause)
        self._state.visits.append(visit)
        if deadline_due is not None:
            self._arm_deadline(seq, stage, deadline_due)
        self._state.stage = stage.id
        self._state.breached = False
        self._state.waiting_tasks = []  # a task set left behind is not released later
        meter = workflow.metric_meter()  # metrics are not recorded on replay
        record_stage_transition(
            meter, self._pipeline.id, previous.stage if previous else None, stage.id
        )
        if move.cause == "invoice_paid" and previous is not None:
            since = max(self._paid_received_at or previous.entered_at, previous.entered_at)
            record_invoice_paid_reaction(meter, since=since, now=now, pipeline_id=self._pipeline.id)
        if stage.semantics is Semantics.SUCCESS:
            self._state.status = DealStatus.WON
        elif stage.semantics is Semantics.FAILURE:
            self._state.status = DealStatus.LOST
            self._state.lost_reason = move.reason
        self._upsert_stage(stage.id)
        workflow.set_current_details(f"**{stage.name}** since {now:%Y-%m-%d %H:%M} UTC")

        key = f"{self._state.deal_id}:{seq}:enter"
        transition = StageTransition(
            key=key,
            context=self._context(stage),
            from_stage=previous.stage if previous else None,
            from_seq=previous.seq if previous else None,
            to_seq=seq,
            at=now,
            cause=move.cause,
            actor=move.actor,
            reason=move.reason,
        )
        summary = f"Record the move to {stage.name}"
        # The record is an idempotent store write of a few ms that the stage's first robot
        # waits for: as a local activity it costs no server round trip (the reaction to
        # `invoice_paid` is one round trip shorter). Deals that recorded their moves as
        # activities replay as they ran.
        if self._transition_local:
            await self._call_local(ActivityName.RECORD_TRANSITION, transition, summary=summary)
        else:
            await self._call(ActivityName.RECORD_TRANSITION, transition, None, summary=summary)
        self._state.report_events.append(
            ReportEventView(key=key, kind="stage_entered", stage=stage.id, at=now)
        )
        if previous is not None:
            await self._catch_up(seq, self._pipeline.stage(previous.stage), stage)
        await asyncio.gather(*self._start_flows(seq, stage))
        return stage

    def _upsert_stage(self, stage_id: str) -> None:
        """One upsert per stage entry: DealStage, and whichever of the others changed. Each
        attribute is a write to the server's visibility store, and most stay as the deal
        started (responsible, amount). Deals before PATCH_NOV_27 write the stage on every
        entry, as their histories hold; newer ones skip the upsert when nothing changed
        (the first stage, when the start set the attributes)."""
        current = workflow.info().typed_search_attributes
        others: list[SearchAttributeUpdate[Any]] = [
            DEAL_RESPONSIBLE.value_set(self._state.deal.responsible),
            DEAL_AMOUNT.value_set(float(self._state.deal.amount)),
            DEAL_BREACHED.value_set(False),
        ]
        updates = [u for u in others if current.get(u.key) != u.value]
        if not self._nov_27 or current.get(DEAL_STAGE) != stage_id:
            updates.insert(0, DEAL_STAGE.value_set(stage_id))
        if updates:
            workflow.upsert_search_attributes(updates)

    async def _leave(self, seq: int, stage: Stage) -> None:
        """Apply each robot's on_leave policy: cancel its timer (the default), keep it, or
        cancel it and undo what the robot did (cancel the tasks it created)."""
        policies = {r.id: r.on_leave for r in stage.robots}
        closing = self._pipeline.stage(self._next_stage_id).terminal
        kept: list[WaitingRobot] = []
        for entry in self._state.waiting:
            # Closing the deal ends everything still waiting, even robots set to keep.
            if not closing and (entry.seq != seq or entry.on_leave is OnLeave.KEEP):
                kept.append(entry)
            elif entry.kind == "robot":
                self._record(seq, stage, entry.robot_id, RunOutcome.CANCELLED)
        self._state.waiting = kept
        for task in self._state.tasks:
            robot_id = task.task_id.split("-", 1)[1]
            if (
                task.seq == seq
                and policies.get(robot_id) is OnLeave.COMPENSATE
                and task.status is not TaskStatus.DONE
            ):
                await self._set_task_status(task, TaskStatus.CANCELLED, by=None)
                self._record(seq, stage, robot_id, RunOutcome.COMPENSATED)

    async def _catch_up(self, seq: int, left: Stage, entered: Stage) -> None:
        """Robots with on_skip: catch_up run at once when the deal jumps over their stage."""
        if entered.semantics is Semantics.FAILURE:
            return  # losing a deal skips nothing: it was never going through those stages
        start, end = self._pipeline.index(left.id), self._pipeline.index(entered.id)
        for skipped in self._pipeline.stages[start + 1 : end]:
            if skipped.terminal:
                continue
            for robot in skipped.robots:
                if robot.on_skip is OnSkip.CATCH_UP:
                    key = robot_key(self._state.deal_id, seq, f"{skipped.id}.{robot.id}")
                    await self._run_robot(seq, skipped, robot, key, RunOutcome.CAUGHT_UP)

    async def _deadline_due(self, seq: int, stage: Stage, entered_at: datetime) -> Due | None:
        if stage.deadline is None:
            return None
        key = f"{self._state.deal_id}:{seq}:{DEADLINE}"
        return await self._due(key, stage.deadline.timing, entered_at)

    def _arm_deadline(self, seq: int, stage: Stage, due: Due) -> None:
        visit = self._state.visits[-1]
        visit.deadline_at = due.due_at
        if due.due_at is None or stage.deadline is None:
            return  # anchored on an empty date field: no deadline until it is set
        self._state.waiting.append(
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
        self._spawn(self._deadline_flow(seq, stage))

    async def _deadline_flow(self, seq: int, stage: Stage) -> None:
        key = f"{self._state.deal_id}:{seq}:{DEADLINE}"
        if not await self._wait_for(key) or self._state.seq != seq:
            return
        visit = self._state.visits[-1]
        visit.breached = True
        self._state.breached = True
        self._state.breach_count += 1
        record_deadline_breach(workflow.metric_meter(), self._pipeline.id, stage.id)
        workflow.upsert_search_attributes([DEAL_BREACHED.value_set(True)])
        assert stage.deadline is not None and visit.deadline_at is not None
        self._busy += 1
        try:
            await self._call(
                ActivityName.RECORD_BREACH,
                DeadlineBreach(
                    deal_id=self._state.deal_id,
                    stage=stage.id,
                    seq=seq,
                    deadline_at=visit.deadline_at,
                ),
                None,
                summary=f"Mark the deal overdue in {stage.name}",
            )
        finally:
            self._busy -= 1
        for robot in stage.deadline.escalate:
            await self._run_robot(seq, stage, robot, robot_key(self._state.deal_id, seq, robot.id))

    # --- moves and triggers ---------------------------------------------------------------

    def _check_triggers(self) -> None:
        """Move the deal on by itself when the stage's trigger condition holds, including
        events that arrived before the deal reached the stage (an invoice paid early)."""
        if self._state.status is not DealStatus.OPEN or self._next is not None:
            return
        stage = self._current_stage()
        seq = self._state.seq
        paid = stage.trigger(TriggerEvent.INVOICE_PAID)
        if paid is not None and self._condition_holds(paid.condition):
            for invoice in self._state.invoices:
                if invoice.paid_at is not None and invoice.applied_in_seq is None:
                    invoice.applied_in_seq = seq
                    self._next = _Move(
                        paid.to,
                        "invoice_paid",
                        reason=f"invoice {invoice.invoice_id} paid",
                        checked_in_seq=seq,
                        invoice_id=invoice.invoice_id,
                    )
                    return
        done = stage.trigger(TriggerEvent.TASKS_DONE)
        if done is not None and self._condition_holds(done.condition):
            tasks = [t for t in self._state.tasks if t.seq == seq]
            if (
                tasks
                and not self._state.waiting_tasks
                and not self._creating
                and all(t.status.closed for t in tasks)
            ):
                self._next = _Move(
                    done.to, "tasks_done", reason="all stage tasks done", checked_in_seq=seq
                )

    def _condition_holds(self, condition: Condition | None) -> bool:
        values = deal_values(self._state.deal, title=self._state.title, stage=self._state.stage)
        return holds(condition, values, self._pipeline)

    async def _move(
        self, move: _Move, still_applies: Callable[[], str | None] | None = None
    ) -> DealSnapshot:
        """Hand the move to the run loop, one at a time, and answer once it is entered.
        ``still_applies`` checks the request again against the stage the deal is in (or is
        entering) when its turn comes: its validator saw the deal as it was when it came."""
        async with self._move_lock:
            await workflow.wait_condition(lambda: self._next is None)
            self._require_open()
            self._refuse_if(self._closing_problem())
            if still_applies is not None:
                self._refuse_if(still_applies())
            self._next = move
            await workflow.wait_condition(lambda: self._entered is move)
            return DealSnapshot.of(self._state)

    def _landing_stage(self) -> Stage:
        """The stage the deal is in, or the one the run loop is entering now."""
        if self._entering is not None:
            return self._pipeline.stage(self._entering.stage)
        return self._current_stage()

    def _closing_problem(self) -> str | None:
        landing = self._landing_stage()
        if landing.terminal:
            return f"deal {self._state.deal_id} is being closed ({landing.id})"
        return None

    def _refuse_if(self, problem: str | None) -> None:
        """Refuse a request that no longer applies. Deals whose history applied such a
        request anyway replay as they ran (no marker there: PATCH_RECHECK is False)."""
        if problem is not None and workflow.patched(PATCH_RECHECK):
            raise ApplicationError(problem, type="NoLongerApplies")

    def _accept_problem(self) -> str | None:
        stage = self._landing_stage()
        if self._accepting_seq == self._state.seq and self._entering is None:
            return f"deal {self._state.deal_id} is being accepted already"
        if stage.trigger(TriggerEvent.ACCEPTED) is None:
            return (
                f"deal {self._state.deal_id} is in stage {stage.id!r} now, where there is"
                " nothing to accept"
            )
        return None

    def _current_stage(self) -> Stage:
        return self._pipeline.stage(self._state.stage)

    def _require_open(self) -> None:
        if self._state.status is not DealStatus.OPEN:
            raise ApplicationError(
                f"deal {self._state.deal_id} is closed ({self._state.status.value}) and cannot"
                " change any more",
                type="DealClosed",
            )

    def _invalid(self, message: str) -> ApplicationError:
        return ApplicationError(message, type="InvalidMove")

    # --- messages -------------------------------------------------------------------------
    # Moves are updates, not signals: the caller learns at once whether the move was
    # accepted, and the validators keep bad requests out of the history entirely.

    @workflow.update(name=messages.ACCEPT)
    async def accept(self, input: AcceptInput) -> DealSnapshot:
        # An accept sent right after the start may arrive before the deal has entered `new`.
        await workflow.wait_condition(lambda: bool(self._state.visits))
        self._refuse_if(self._closing_problem() or self._accept_problem())
        self._accepting_seq = self._state.seq
        stage = self._current_stage()
        trigger = stage.trigger(TriggerEvent.ACCEPTED)
        assert trigger is not None  # guaranteed by the validator
        self._state.accepted_at = self._now()
        # Added after deals were already running: the acceptance is a report event of its
        # own (who accepted, how long it took). Deals whose history has no such step replay
        # without it; tests/test_replay.py replays histories recorded before the change.
        if self._nov_27 or workflow.patched(PATCH_ACCEPT_REPORTED):
            waited = self._now() - self._state.visits[-1].entered_at
            await self._write_report(
                f"{self._state.deal_id}:{self._state.seq}:accepted",
                stage,
                "deal_accepted",
                "",
                "Write the acceptance to the report",
                extra={"by": input.by, "waited_seconds": waited.total_seconds()},
            )
        return await self._move(
            _Move(trigger.to, "accepted", actor=input.by),
            lambda: None if self._landing_stage() is stage else self._accept_problem(),
        )

    @accept.validator
    def _validate_accept(self, input: AcceptInput) -> None:
        self._require_open()
        trigger = self._current_stage().trigger(TriggerEvent.ACCEPTED)
        if trigger is None:
            where = [s.id for s in self._pipeline.stages if s.trigger(TriggerEvent.ACCEPTED)]
            raise self._invalid(
                f"deal {self._state.deal_id} is in stage {self._state.stage!r}, where there is"
                f" nothing to accept (accept works in: {', '.join(where) or 'no stage'})"
            )
        if not self._condition_holds(trigger.condition):
            raise self._invalid("the acceptance trigger's condition does not hold for this deal")

    @workflow.update(name=messages.MOVE)
    async def move_to_stage(self, input: MoveInput) -> DealSnapshot:
        def still_applies() -> str | None:
            if self._landing_stage().id == input.stage:
                return f"deal {self._state.deal_id} is already in stage {input.stage!r}"
            return None

        return await self._move(
            _Move(input.stage, "moved", actor=input.by, reason=input.reason), still_applies
        )

    @move_to_stage.validator
    def _validate_move(self, input: MoveInput) -> None:
        self._require_open()
        if not self._pipeline.has_stage(input.stage):
            known = ", ".join(s.id for s in self._pipeline.stages)
            raise self._invalid(
                f"unknown stage {input.stage!r}; the stages of pipeline"
                f" {self._pipeline.id!r} are: {known}"
            )
        if input.stage == self._state.stage:
            raise self._invalid(f"deal {self._state.deal_id} is already in stage {input.stage!r}")
        target = self._pipeline.stage(input.stage)
        if target.semantics is Semantics.FAILURE and not (input.reason or "").strip():
            raise self._invalid(
                f"moving deal {self._state.deal_id} to {input.stage!r} needs a reason"
            )

    @workflow.update(name=messages.CLOSE)
    async def close(self, input: CloseInput) -> DealSnapshot:
        semantics = Semantics.SUCCESS if input.outcome is Outcome.WON else Semantics.FAILURE
        target = self._pipeline.terminal_stage(semantics)
        return await self._move(_Move(target.id, "closed", actor=input.by, reason=input.reason))

    @close.validator
    def _validate_close(self, input: CloseInput) -> None:
        self._require_open()
        if input.outcome is Outcome.LOST and not (input.reason or "").strip():
            raise self._invalid(f"closing deal {self._state.deal_id} as lost needs a reason")

    @workflow.update(name=messages.UPDATE_FIELDS)
    async def update_fields(self, input: UpdateFieldsInput) -> DealSnapshot:
        """Change deal fields; every waiting robot or deadline anchored on a changed field
        gets its due time computed again (Bitrix24 keeps the old time)."""
        self._refuse_if(self._closing_problem())
        changes = check_field_updates(self._pipeline, input.fields)
        deal = self._state.deal
        custom = {k: v for k, v in changes.items() if k != "amount"}
        update: dict[str, object] = {"fields": {**deal.fields, **custom}}
        if "amount" in changes:
            update["amount"] = changes["amount"]
        self._state.deal = deal.model_copy(update=update)
        changed = {f"fields.{k}" for k in custom}
        affected = [w for w in self._state.waiting if w.timing.relative_to in changed]
        if affected:
            self._busy += 1
            try:
                dues = await self._due_many([(w.key, w.timing, w.base) for w in affected])
            finally:
                self._busy -= 1
            for entry, due in zip(affected, dues, strict=True):
                if due.due_at is None:
                    continue  # the field was emptied: the timer keeps its last due time
                entry.due_at, entry.rule = due.due_at, due.rule
                if entry.kind == DEADLINE:
                    self._state.visits[-1].deadline_at = due.due_at
        return DealSnapshot.of(self._state)

    @update_fields.validator
    def _validate_update_fields(self, input: UpdateFieldsInput) -> None:
        self._require_open()
        try:
            check_field_updates(self._pipeline, input.fields)
        except FieldProblem as exc:
            raise self._invalid(str(exc)) from None

    @workflow.update(name=messages.MIGRATE)
    async def migrate_pipeline(self, input: MigrateInput) -> DealSnapshot:
        """Move a running deal to another version of its pipeline, on request only: the
        new version applies from the next stage entry; what waits now stays as it is."""
        self._state.migrations.append(
            PipelineMigration(
                from_version=self._pipeline.version,
                to_version=input.pipeline.version,
                at=self._now(),
                by=input.by,
            )
        )
        self._pipeline = input.pipeline
        self._state.pipeline_version = input.pipeline.version
        return DealSnapshot.of(self._state)

    @migrate_pipeline.validator
    def _validate_migrate(self, input: MigrateInput) -> None:
        self._require_open()
        new = input.pipeline
        if new.id != self._pipeline.id:
            raise self._invalid(f"pipeline {new.id!r} is not this deal's {self._pipeline.id!r}")
        if new.version == self._pipeline.version:
            raise self._invalid(f"the deal already runs version {new.version}")
        if not new.has_stage(self._state.stage):
            raise self._invalid(
                f"version {new.version} has no stage {self._state.stage!r}, where the deal is"
            )

    @workflow.update(name=messages.RUN_TEMPLATE)
    async def run_template(self, input: RunTemplateInput) -> list[TaskView]:
        self._refuse_if(self._closing_problem() or self._template_problem())
        seq = self._state.seq
        stage = self._current_stage()
        templates = self._task_set(stage)
        if self._state.template_run_in_seq != seq:
            # Marked before the activities run so that a second request while they run
            # returns the same set instead of creating another.
            self._state.template_run_in_seq = seq
            self._state.waiting_tasks = [t.id for t in templates if t.depends_on]
            independent = [t for t in templates if not t.depends_on]
            if self._nov_27:
                self._creating.update(t.id for t in independent)
            for template in independent:
                await self._create_from_template(seq, stage, template)
            self._check_triggers()
        else:
            await workflow.wait_condition(
                lambda: all(
                    self._state.task(f"{seq}-{t.id}")
                    for t in templates
                    if t.id not in self._state.waiting_tasks
                )
            )
        return [t for t in self._state.tasks if t.seq == seq]

    @run_template.validator
    def _validate_run_template(self, input: RunTemplateInput) -> None:
        self._require_open()
        problem = self._template_problem()
        if problem is not None:
            raise self._invalid(problem)

    def _template_problem(self) -> str | None:
        stage = self._landing_stage()
        if not stage.task_sets:
            where = [s.id for s in self._pipeline.stages if s.task_sets]
            return (
                f"stage {stage.id!r} has no task template (templates are in: "
                f"{', '.join(where) or 'no stage'})"
            )
        service = self._state.deal.service
        if service not in stage.task_sets and "default" not in stage.task_sets:
            return (
                f"no task set for service {service!r} in stage {stage.id!r}"
                f" (known: {', '.join(stage.task_sets)})"
            )
        return None

    def _task_set(self, stage: Stage) -> list[TaskTemplate]:
        sets = stage.task_sets
        return sets.get(self._state.deal.service) or sets.get("default", [])

    async def _task_from_template(self, seq: int, stage: Stage, template: TaskTemplate) -> None:
        key = f"{self._state.deal_id}:{seq}:template:{template.id}"
        try:
            await self._create_task(
                seq,
                stage,
                template.id,
                f"Task from template: {template.id}",
                key,
                title=template.title,
                description=template.description,
                deadline=template.deadline,
                responsible=template.responsible,
                co_executors=template.co_executors,
                created_by=ROLE_RESPONSIBLE,
                needs_confirmation=False,
            )
        except ActivityError as err:
            raise ApplicationError(
                f"task {template.id!r} could not be created: {err.cause}"
            ) from err

    async def _release_dependent_tasks(self) -> None:
        """Create the template tasks whose dependencies are now all done."""
        seq = self._state.template_run_in_seq
        if seq is None or seq != self._state.seq or not self._state.waiting_tasks:
            return
        stage = self._current_stage()
        done = {
            t.task_id.split("-", 1)[1]
            for t in self._state.tasks
            if t.seq == seq and t.status is TaskStatus.DONE
        }
        for template in self._task_set(stage):
            if template.id in self._state.waiting_tasks and set(template.depends_on) <= done:
                if self._nov_27:
                    self._creating.add(template.id)
                self._state.waiting_tasks.remove(template.id)
                await self._create_from_template(seq, stage, template)

    async def _create_from_template(self, seq: int, stage: Stage, template: TaskTemplate) -> None:
        """Create the task, then stop counting it as being created (done or failed)."""
        try:
            await self._task_from_template(seq, stage, template)
        finally:
            self._creating.discard(template.id)

    @workflow.update(name=messages.TASK_EVENT)
    async def task_event(self, input: TaskEvent) -> TaskView:
        """complete (by the executor), confirm or return (by the creator)."""
        # Checked again here: eight `complete`s sent at once all passed their validators.
        self._refuse_if(self._closing_problem() or self._task_event_problem(input))
        task = self._state.task(input.task_id)
        assert task is not None  # the validator checked it
        if input.action is TaskAction.COMPLETE:
            status = _completed_status(task, input.by)
        elif input.action is TaskAction.CONFIRM:
            status = TaskStatus.DONE
        else:
            task.returned += 1
            status = TaskStatus.OPEN
        if input.comment and input.comment.strip():
            task.comments.append(
                TaskComment(action=input.action, by=input.by, at=self._now(), text=input.comment)
            )
        await self._set_task_status(task, status, input.by)
        await self._release_dependent_tasks()
        self._check_triggers()
        await self._tell_about_task(task, input.action, input.by, input.comment)
        return task

    @task_event.validator
    def _validate_task_event(self, input: TaskEvent) -> None:
        self._require_open()
        problem = self._task_event_problem(input)
        if problem is not None:
            raise self._invalid(problem)

    def _task_event_problem(self, input: TaskEvent) -> str | None:
        task = self._state.task(input.task_id)
        if task is None:
            known = ", ".join(t.task_id for t in self._state.tasks) or "none"
            return f"deal {self._state.deal_id} has no task {input.task_id!r} (its tasks: {known})"
        allowed = {
            TaskAction.COMPLETE: (TaskStatus.OPEN,),
            TaskAction.CONFIRM: (TaskStatus.AWAITING_CONFIRMATION,),
            TaskAction.RETURN: (TaskStatus.AWAITING_CONFIRMATION,),
        }[input.action]
        if task.status not in allowed:
            return (
                f"task {task.task_id} is {task.status.value}; it cannot be"
                f" {input.action.value}ed now"
            )
        creator_only = input.action in (TaskAction.CONFIRM, TaskAction.RETURN)
        if creator_only and input.by is not None and input.by != task.created_by:
            return (
                f"only the task's creator {task.created_by} can"
                f" {input.action.value} it, not {input.by}"
            )
        return None

    @workflow.signal(name=messages.INVOICE_PAID)
    async def invoice_paid(self, input: InvoicePaid) -> None:
        """A payment for one of the deal's invoices. A signal, not an update: payment
        systems send and forget, and a payment must be kept even when the deal cannot use
        it (an unknown invoice, another currency) - it is then reported, not refused."""
        invoice = self._state.invoice(input.invoice_id)
        check = check_payment(invoice, input)
        kind = check.kind
        if kind is PaymentKind.DUPLICATE:
            return  # a duplicate delivery changes nothing
        if kind in _NEW_PAYMENT_RULES and not workflow.patched(PATCH_PAYMENTS_ADD_UP):
            await self._legacy_invoice_paid(input)  # how deals recorded before ran it
            return
        if self._state.status is not DealStatus.OPEN:
            workflow.logger.warning("invoice %s paid after the deal closed", input.invoice_id)
        now = self._now()
        if kind in (PaymentKind.UNMATCHED, PaymentKind.WRONG_CURRENCY):
            await self._report_payment(input, kind, check)
            return
        if invoice is None:  # a prepayment: the invoice is known from now on
            invoice = InvoiceView(
                invoice_id=input.invoice_id,
                amount=input.amount,
                currency=input.currency,
                received_at=now,
                prepayment=True,
            )
            self._state.invoices.append(invoice)
        paid_at = input.paid_at or now
        invoice.payments.append(
            PaymentView(
                payment_id=input.implied_payment_id,
                amount=check.amount,
                currency=input.currency or invoice.currency,
                paid_at=paid_at,
                received_at=now,
            )
        )
        if kind is not PaymentKind.PARTIAL and invoice.paid_at is None:
            invoice.paid_at = paid_at
            self._paid_received_at = now
            self._check_triggers()
        await self._record_payment(input, check.amount, paid_at)
        if kind in (PaymentKind.PARTIAL, PaymentKind.OVERPAID):
            await self._report_payment(input, kind, check)

    async def _record_payment(self, input: InvoicePaid, amount: Decimal, paid_at: datetime) -> None:
        await self._call(
            ActivityName.RECORD_INVOICE_PAID,
            InvoicePaidCall(
                deal_id=self._state.deal_id,
                invoice_id=input.invoice_id,
                amount=amount,
                paid_at=paid_at,
                payment_id=input.implied_payment_id,
                currency=input.currency,
            ),
            None,
            summary=f"Record a payment of invoice {input.invoice_id}",
        )

    async def _report_payment(
        self, input: InvoicePaid, kind: PaymentKind, check: PaymentCheck
    ) -> None:
        """Tell the responsible about a payment that does not simply pay an invoice, and
        write it to the report."""
        invoice = self._state.invoice(input.invoice_id)
        amount = money(check.amount if input.amount is None else input.amount, input.currency)
        due = money(invoice.amount, invoice.currency) if invoice else "?"
        text = {
            PaymentKind.PARTIAL: f"{money(check.total)} of {due} paid for invoice"
            f" {input.invoice_id} ({money(invoice.outstanding if invoice else None)}"
            " outstanding)",
            PaymentKind.OVERPAID: f"invoice {input.invoice_id} is overpaid: {money(check.total)}"
            f" received for {due}",
            PaymentKind.UNMATCHED: f"a payment of {amount} names invoice {input.invoice_id},"
            " which this deal never issued: it was not applied",
            PaymentKind.WRONG_CURRENCY: f"a payment of {amount} for invoice {input.invoice_id}"
            f" ({due}) is in another currency: it was not applied",
        }[kind]
        key = f"{self._state.deal_id}:payment:{input.implied_payment_id}"
        stage = self._current_stage()
        self._busy += 1
        try:
            await self._call(
                ActivityName.NOTIFY,
                NotifyCall(
                    key=key,
                    context=self._context(stage),
                    recipients=[self._state.deal.responsible],
                    message=f"{self._state.deal_id}: {text}",
                    at=self._now(),
                ),
                NotifyResult,
                summary=f"Tell the responsible: payment {kind.value}",
            )
            await self._write_report(
                f"{key}:report",
                stage,
                f"payment_{kind.value}",
                input.invoice_id,
                f"Write the {kind.value} payment to the report",
                extra={"text": text, "amount": str(check.amount), "total": str(check.total)},
            )
        except ActivityError as err:
            workflow.logger.warning("payment report failed: %s", err)
        finally:
            self._busy -= 1

    async def _legacy_invoice_paid(self, input: InvoicePaid) -> None:
        """Before PATCH_PAYMENTS_ADD_UP any payment paid its invoice in full, and a payment
        naming an unknown invoice created it."""
        existing = self._state.invoice(input.invoice_id)
        if existing is not None and existing.paid_at is not None:
            return
        paid_at = input.paid_at or self._now()
        self._paid_received_at = self._now()
        if existing is None:
            existing = InvoiceView(
                invoice_id=input.invoice_id, amount=input.amount, received_at=self._now()
            )
            self._state.invoices.append(existing)
        existing.paid_at = paid_at
        if input.amount is not None:
            existing.amount = input.amount
        self._check_triggers()
        await self._record_payment(input, input.amount or existing.amount or Decimal(0), paid_at)

    @workflow.signal(name=messages.TASK_COMPLETED)
    async def task_completed(self, input: TaskCompleted) -> None:
        """The executor finished a task (a signal, for systems that cannot wait for an
        answer; the `task_event` update answers with a reason when it refuses)."""
        task = self._state.task(input.task_id)
        if task is None or task.status.closed:
            workflow.logger.warning("task_completed for unknown or closed task %s", input.task_id)
            return
        status = _completed_status(task, input.by)
        if task.status is status and workflow.patched(PATCH_RECHECK):
            return  # completed twice: already waiting for its creator's confirmation
        task.status = status
        await self._set_task_status(task, status, input.by)
        await self._release_dependent_tasks()
        self._check_triggers()
        await self._tell_about_task(task, TaskAction.COMPLETE, input.by, None)

    @workflow.query(name=messages.STATE)
    def state(self) -> DealState:
        return self._state

    @workflow.query(name=messages.PLAN)
    def plan(self) -> list[WaitingRobot]:
        """Every waiting robot, deadline and task deadline with its due time and rule."""
        tasks = [
            WaitingRobot(
                key=f"{t.key}:overdue",
                kind="task_deadline",
                seq=t.seq,
                stage=t.stage,
                robot_id=t.task_id,
                title=f"Task due: {t.title}",
                due_at=t.deadline_at,
                rule="the task's deadline",
                base=t.deadline_at,
                timing=Timing(),
            )
            for t in self._state.tasks
            if t.deadline_at is not None and not t.overdue and not t.status.closed
        ]
        return sorted([*self._state.waiting, *tasks], key=lambda w: w.due_at)

    @workflow.query(name=messages.PIPELINE)
    def pipeline(self) -> Pipeline:
        return self._pipeline


def _completed_status(task: TaskView, by: str | None) -> TaskStatus:
    """A completed task needing its creator's confirmation waits for it, unless the creator
    completed it (which confirms it)."""
    by_creator = by is not None and by == task.created_by
    if task.needs_confirmation and not by_creator:
        return TaskStatus.AWAITING_CONFIRMATION
    return TaskStatus.DONE
