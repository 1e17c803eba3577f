"""DealWorkflow: one deal walking the stages of its pinned pipeline.

On entering a stage the workflow runs the stage's robots (those due at once finish before
the deal can move on, timed ones wait on durable timers), arms the stage deadline, then
waits for the event that moves the deal on (a move, acceptance, a paid invoice, the tasks
done). Leaving a stage applies each waiting robot's ``on_leave``; a jump, ``catch_up``.

This module holds the run loop and the message handlers. The parts they use are composed
objects sharing one :class:`~workflows.context.DealContext`: the move queue and triggers
(:mod:`workflows.moves`), carrying out a move (:mod:`workflows.stages`), robot flows
(:mod:`workflows.robots`), deadlines, tasks, task sets, payments, edits and comments
(:mod:`workflows.edits`), moves to another pipeline (:mod:`workflows.funnels`). Every
``workflow.patched`` id is in :mod:`workflows.patches`.
"""

from __future__ import annotations

import asyncio

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    # The deal's parts are shared by every run in the worker (not imported afresh into each
    # run's sandbox): a cached deal then holds its state, not a copy of nine modules.
    from funnel.domain import messages
    from funnel.domain.activity_io import ActivityName, RegisterDeal
    from funnel.domain.edits import CommentInput, EditDealInput
    from funnel.domain.funnels import MoveToFunnelInput
    from funnel.domain.models import (
        AcceptInput,
        CloseInput,
        DealResult,
        DealSnapshot,
        DealState,
        DealWorkflowInput,
        InvoicePaid,
        MigrateInput,
        MoveInput,
        Outcome,
        RunTemplateInput,
        TaskAction,
        TaskCompleted,
        TaskEvent,
        TaskStatus,
        TaskView,
        UpdateFieldsInput,
        WaitingRobot,
    )
    from funnel.domain.people import Doer
    from funnel.domain.pipeline import Pipeline, Semantics, TriggerEvent
    from workflows.context import DealContext, invalid
    from workflows.deadlines import Deadlines
    from workflows.edits import Edits
    from workflows.funnels import FunnelMoves
    from workflows.migration import Migration
    from workflows.moves import Move, MoveQueue
    from workflows.patches import (
        PATCH_ACCEPT_REPORTED,
        PATCH_CLOSED_RECORD,
        PATCH_RECHECK,
        RunPatches,
    )
    from workflows.payments import Payments
    from workflows.permissions import Permissions, not_allowed
    from workflows.pinned import pinned
    from workflows.robots import Robots
    from workflows.stages import Stages
    from workflows.task_sets import TaskSets
    from workflows.tasks import Tasks, completed_status
    from workflows.visibility import Visibility


@workflow.defn(name=messages.WORKFLOW_TYPE)
class DealWorkflow:
    @workflow.init
    def __init__(self, input: DealWorkflowInput) -> None:
        # One Pipeline object per version in the worker. The SDK keeps the workflow input
        # for the whole run, so its own copy is replaced too, or every open deal would
        # keep one.
        pipeline = input.pipeline = pinned(input.pipeline)
        self._history_limit = input.history_limit
        state = input.state or DealState.opening(input.deal, pipeline)
        ctx = self._ctx = DealContext(state, pipeline)
        self._tasks = Tasks(ctx)
        self._payments = Payments(ctx, self._check_triggers)
        self._task_sets = TaskSets(ctx, self._tasks, self._check_triggers)
        self._moves, self._may = MoveQueue(ctx, self._task_sets.creating), Permissions(ctx)
        self._funnels = FunnelMoves(ctx, self._moves, self._may)
        self._robots = Robots(ctx, self._tasks, self._payments, self._funnels)
        deadlines = self._deadlines = Deadlines(ctx, self._robots)
        self._stages = Stages(ctx, self._robots, deadlines, self._tasks, self._payments)
        self._edits = Edits(ctx, self._may, self._moves, deadlines, self._payments)
        self._migration, self._visibility = Migration(ctx), Visibility(ctx)

    def _check_triggers(self) -> None:
        self._moves.check_triggers()

    # --- main loop ------------------------------------------------------------------------

    @workflow.run
    async def run(self, input: DealWorkflowInput) -> DealResult:
        ctx, moves = self._ctx, self._moves
        ctx.patches = RunPatches.decide()
        new_deal, starter = input.state is None, Doer.of(input.started_by)
        del input  # the run holds the state and the pinned pipeline, not the input
        if new_deal:
            await ctx.call(
                ActivityName.REGISTER_DEAL,
                RegisterDeal(
                    context=ctx.robot_context(ctx.pipeline.first_stage), started_at=ctx.now()
                ),
                None,
                summary="Register the deal in the store",
            )
            first = Move(stage=ctx.pipeline.first_stage.id, cause="start", by=starter)
            stage = await self._stages.enter(first)
        else:
            stage = self._stages.resume()
        while not stage.terminal:
            moves.check_triggers()
            await workflow.wait_condition(
                lambda: moves.pending is not None or self._should_continue_as_new()
            )
            if moves.pending is None:
                await workflow.wait_condition(workflow.all_handlers_finished)
                if moves.pending is None and ctx.busy == 0:
                    ctx.state.runs += 1
                    workflow.continue_as_new(
                        DealWorkflowInput(
                            deal=ctx.state.deal,
                            pipeline=ctx.pipeline,
                            state=ctx.state,
                            history_limit=self._history_limit,
                        )
                    )
                continue
            move = moves.take()
            if move is None:
                continue  # a stale trigger's move: check the current stage's triggers
            stage = await self._stages.enter(move)
            moves.entered(move)
        # Let escalations or delayed robots already running finish, and every handler too.
        await asyncio.gather(*ctx.timers)
        await workflow.wait_condition(workflow.all_handlers_finished)
        if workflow.patched(PATCH_CLOSED_RECORD):
            # The store keeps the deal for good; the namespace's retention deletes this run.
            await ctx.call(
                ActivityName.RECORD_CLOSED_DEAL, ctx.state, bool, summary="Keep the deal's record"
            )
        return DealResult(
            deal_id=ctx.state.deal_id,
            status=ctx.state.status,
            stage=ctx.state.stage,
            lost_reason=ctx.state.lost_reason,
        )

    def _should_continue_as_new(self) -> bool:
        """Long-lived deals (months of waiting, thousands of messages) start a fresh history
        before the server's limits, carrying the whole state (tasks, invoices, waiting
        timers, de-duplication keys) over."""
        if self._ctx.busy or not workflow.all_handlers_finished():
            return False
        info = workflow.info()
        if self._history_limit is not None:
            return info.get_current_history_length() > self._history_limit
        return info.is_continue_as_new_suggested()

    # --- messages -------------------------------------------------------------------------
    # Moves are updates, not signals: the caller learns at once whether the move was
    # accepted, and the validators keep bad requests out of the history entirely.

    @workflow.update(name=messages.ACCEPT)
    async def accept(self, input: AcceptInput) -> DealSnapshot:
        ctx, state, moves = self._ctx, self._ctx.state, self._moves
        # An accept sent right after the start may arrive before the deal has entered `new`.
        await workflow.wait_condition(lambda: bool(state.visits))
        not_allowed(self._may.lead(input.actor, input.by, "accept"))
        moves.refuse_if(moves.closing_problem() or moves.accept_problem())
        by = Doer.of(input.actor, input.by)
        moves.accepting_seq = state.seq
        stage = ctx.current_stage()
        trigger = stage.trigger(TriggerEvent.ACCEPTED)
        assert trigger is not None  # guaranteed by the validator
        state.accepted_at = ctx.now()
        # Added after deals were already running: the acceptance is a report event of its
        # own (who accepted, how long it took). Deals whose history has no such step replay
        # without it; tests/test_replay.py replays histories recorded before the change.
        if ctx.patches.nov_27 or workflow.patched(PATCH_ACCEPT_REPORTED):
            waited = ctx.now() - state.visits[-1].entered_at
            await ctx.write_report(
                f"{state.deal_id}:{state.seq}:accepted",
                stage,
                "deal_accepted",
                "",
                "Write the acceptance to the report",
                extra=by.report() | {"waited_seconds": waited.total_seconds()},
            )
        return await moves.submit(
            Move(trigger.to, "accepted", by=by),
            lambda: None if moves.landing_stage() is stage else moves.accept_problem(),
        )

    @accept.validator
    def _validate_accept(self, input: AcceptInput) -> None:
        self._ctx.require_open()
        not_allowed(self._may.lead(input.actor, input.by, "accept"))
        self._moves.validate_accept()

    @workflow.update(name=messages.MOVE)
    async def move_to_stage(self, input: MoveInput) -> DealSnapshot:
        actor, moves = input.actor, self._moves

        def still_applies() -> str | None:
            landing = moves.landing_stage()
            if landing.id == input.stage:
                return f"deal {self._ctx.state.deal_id} is already in stage {input.stage!r}"
            not_allowed(self._may.move(actor, input.by, landing, input.stage, input.reason))
            return None

        move = Move(input.stage, "moved", by=Doer.of(actor, input.by), reason=input.reason)
        return await moves.submit(move, still_applies)

    @move_to_stage.validator
    def _validate_move(self, input: MoveInput) -> None:
        self._ctx.require_open()
        landing = self._moves.landing_stage()
        not_allowed(self._may.move(input.actor, input.by, landing, input.stage, input.reason))
        self._moves.validate_move(input.stage, input.reason)

    @workflow.update(name=messages.CLOSE)
    async def close(self, input: CloseInput) -> DealSnapshot:
        semantics = Semantics.SUCCESS if input.outcome is Outcome.WON else Semantics.FAILURE
        target = self._ctx.pipeline.terminal_stage(semantics)
        not_allowed(self._may.lead(input.actor, input.by, f"close ({input.outcome.value})"))
        by = Doer.of(input.actor, input.by)
        return await self._moves.submit(Move(target.id, "closed", by=by, reason=input.reason))

    @close.validator
    def _validate_close(self, input: CloseInput) -> None:
        self._ctx.require_open()
        not_allowed(self._may.lead(input.actor, input.by, f"close ({input.outcome.value})"))
        if input.outcome is Outcome.LOST and not (input.reason or "").strip():
            raise invalid(f"closing deal {self._ctx.state.deal_id} as lost needs a reason")

    @workflow.update(name=messages.UPDATE_FIELDS)
    async def update_fields(self, input: UpdateFieldsInput) -> DealSnapshot:
        """Change deal fields; timers anchored on a changed field follow (workflows.edits)."""
        not_allowed(self._may.fields(input.actor, input.by))
        self._moves.refuse_if(self._moves.closing_problem())
        await self._edits.apply_fields(input.fields)
        return DealSnapshot.of(self._ctx.state)

    @update_fields.validator
    def _validate_update_fields(self, input: UpdateFieldsInput) -> None:
        self._ctx.require_open()
        not_allowed(self._may.fields(input.actor, input.by))
        self._edits.check_fields(input.fields)

    @workflow.update(name=messages.EDIT_DEAL)
    async def edit_deal(self, input: EditDealInput) -> DealSnapshot:
        return await self._edits.edit(input)

    @edit_deal.validator
    def _validate_edit_deal(self, input: EditDealInput) -> None:
        self._edits.validate_edit(input)

    @workflow.update(name=messages.COMMENT)
    async def comment(self, input: CommentInput) -> DealSnapshot:
        return await self._edits.comment(input)

    @comment.validator
    def _validate_comment(self, input: CommentInput) -> None:
        self._edits.validate_comment(input)

    @workflow.update(name=messages.MIGRATE)
    async def migrate_pipeline(self, input: MigrateInput) -> DealSnapshot:
        """Another version of the deal's pipeline, from the next stage entry on."""
        return self._migration.apply(input)

    @migrate_pipeline.validator
    def _validate_migrate(self, input: MigrateInput) -> None:
        self._migration.validate(input)

    @workflow.update(name=messages.MOVE_TO_FUNNEL)
    async def move_to_funnel(self, input: MoveToFunnelInput) -> DealSnapshot:
        """To a stage of another pipeline, whose robots run (workflows/funnels.py)."""
        return await self._funnels.move(input)

    @move_to_funnel.validator
    def _validate_move_to_funnel(self, input: MoveToFunnelInput) -> None:
        self._funnels.validate(input)

    @workflow.update(name=messages.REFRESH_SEARCH_ATTRIBUTES)
    def refresh_search_attributes(self) -> list[str]:
        """Set the search attributes again from the state (`funnel db backfill-team`)."""
        return self._visibility.refresh()

    @workflow.update(name=messages.RUN_TEMPLATE)
    async def run_template(self, input: RunTemplateInput) -> list[TaskView]:
        moves = self._moves
        not_allowed(self._may.lead(input.actor, input.by, "run the task set of"))
        moves.refuse_if(moves.closing_problem() or self._task_sets.problem(moves.landing_stage()))
        return await self._task_sets.run()

    @run_template.validator
    def _validate_run_template(self, input: RunTemplateInput) -> None:
        self._ctx.require_open()
        not_allowed(self._may.lead(input.actor, input.by, "run the task set of"))
        problem = self._task_sets.problem(self._moves.landing_stage())
        if problem is not None:
            raise invalid(problem)

    @workflow.update(name=messages.TASK_EVENT)
    async def task_event(self, input: TaskEvent) -> TaskView:
        """complete (by the executor), confirm or return (by the creator)."""
        # Checked again here: eight `complete`s sent at once all passed their validators.
        moves = self._moves
        moves.refuse_if(moves.closing_problem() or self._tasks.event_problem(input))
        task = self._ctx.state.task(input.task_id)
        assert task is not None  # the validator checked it
        not_allowed(self._may.task(input.actor, input.by, task, input.action))
        by = Doer.of(input.actor, input.by)
        status = self._tasks.record_event(task, input.action, by, input.comment)
        await self._task_status_changed(task, status, by.id)
        await self._tasks.tell(task, input.action, by.id, input.comment)
        return task

    @task_event.validator
    def _validate_task_event(self, input: TaskEvent) -> None:
        self._ctx.require_open()
        task = self._ctx.state.task(input.task_id)
        if task is not None:  # who asks first: a forged `by` is refused as such
            not_allowed(self._may.task(input.actor, input.by, task, input.action))
        problem = self._tasks.event_problem(input)
        if problem is not None:
            raise invalid(problem)

    @workflow.signal(name=messages.INVOICE_PAID)
    async def invoice_paid(self, input: InvoicePaid) -> None:
        """A payment for one of the deal's invoices. A signal, not an update: payment
        systems send and forget, and a payment must be kept even when the deal cannot use
        it (an unknown invoice, another currency) - it is then reported, not refused."""
        await self._payments.invoice_paid(input)

    @workflow.signal(name=messages.TASK_COMPLETED)
    async def task_completed(self, input: TaskCompleted) -> None:
        """The executor finished a task (a signal, for systems that cannot wait for an
        answer; the `task_event` update answers with a reason when it refuses)."""
        task = self._ctx.state.task(input.task_id)
        if task is None or task.status.closed:
            workflow.logger.warning("task_completed for unknown or closed task %s", input.task_id)
            return
        # A signal cannot answer: an actor who may not complete the task is logged, and
        # nothing changes.
        problem = self._may.task(input.actor, input.by, task, TaskAction.COMPLETE)
        if problem is not None:
            workflow.logger.warning("task_completed refused: %s", problem)
            return
        by = Doer.of(input.actor, input.by)
        status = completed_status(task, by.id)
        if task.status is status and workflow.patched(PATCH_RECHECK):
            return  # completed twice: already waiting for its creator's confirmation
        self._tasks.record_event(task, TaskAction.COMPLETE, by, None)
        await self._task_status_changed(task, status, by.id)
        await self._tasks.tell(task, TaskAction.COMPLETE, by.id, None)

    async def _task_status_changed(
        self, task: TaskView, status: TaskStatus, by: str | None
    ) -> None:
        """Write the status, create the template tasks it releases, check the triggers."""
        await self._tasks.set_status(task, status, by)
        await self._task_sets.release_dependent()
        self._moves.check_triggers()

    @workflow.query(name=messages.STATE)
    def state(self) -> DealState:
        return self._ctx.state

    @workflow.query(name=messages.PLAN)
    def plan(self) -> list[WaitingRobot]:
        """Every waiting robot, deadline and task deadline with its due time and rule."""
        waiting = [*self._ctx.state.waiting, *self._tasks.deadlines()]
        return sorted(waiting, key=lambda w: w.due_at)

    @workflow.query(name=messages.PIPELINE)
    def pipeline(self) -> Pipeline:
        return self._ctx.pipeline
