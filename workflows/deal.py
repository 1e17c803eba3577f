"""DealWorkflow: one deal walking the stages of its pinned pipeline.

On entering a stage the workflow runs the stage's immediate robots in order, arms a durable
timer for every delayed robot and for the stage deadline, then waits for the event that
moves the deal on (a manager's move, acceptance, a paid invoice, the stage's tasks done).
Leaving a stage wakes its timers, which then see the deal has moved and do nothing (so the
timers are cancelled and nothing waiting from an old stage ever fires).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from funnel.activity_io import (
        ActivityName,
        CompleteDealCall,
        CreatedTask,
        CreateInvoiceCall,
        CreateTaskCall,
        DeadlineBreach,
        DueTimesCall,
        InvoicePaidCall,
        NotifyCall,
        NotifyResult,
        RegisterDeal,
        ReportEventCall,
        RobotContext,
        SetTitleCall,
        StageTransition,
        TaskStatusCall,
    )
    from funnel.models import (
        AcceptInput,
        CloseInput,
        DealResult,
        DealState,
        DealStatus,
        DealWorkflowInput,
        InvoicePaid,
        InvoiceView,
        MoveInput,
        Outcome,
        ReportEventView,
        RobotFailure,
        RunTemplateInput,
        StageVisit,
        TaskCompleted,
        TaskStatus,
        TaskView,
        WaitingRobot,
    )
    from funnel.pipeline import (
        ROLE_HEAD,
        ROLE_RESPONSIBLE,
        ROLE_SALES_TEAM,
        CompleteDealRobot,
        CreateInvoiceRobot,
        CreateTaskRobot,
        NotifyRobot,
        ReportEventRobot,
        Robot,
        Semantics,
        SetTitleRobot,
        Stage,
        TaskTemplate,
        TriggerEvent,
    )
    from funnel.search_attributes import (
        DEAL_AMOUNT,
        DEAL_BREACHED,
        DEAL_RESPONSIBLE,
        DEAL_STAGE,
    )

T = TypeVar("T")

DEADLINE_KEY = "__deadline__"

# Robots write to the store or to people: retry with backoff for as long as it takes (a
# database outage must delay a robot, never lose it); a bad template is not retried.
ROBOT_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=1),
    non_retryable_error_types=["TemplateProblem"],
)
ROBOT_TIMEOUT = timedelta(seconds=30)


@dataclass
class _Move:
    stage: str
    cause: str
    actor: str | None = None
    reason: str | None = None


@workflow.defn(name="DealWorkflow")
class DealWorkflow:
    @workflow.init
    def __init__(self, input: DealWorkflowInput) -> None:
        self._deal = input.deal
        self._pipeline = input.pipeline
        self._state = DealState(
            deal_id=input.deal.deal_id,
            pipeline_id=input.pipeline.id,
            pipeline_version=input.pipeline.version,
            title=f"Deal {input.deal.deal_id}",
            stage=input.pipeline.first_stage.id,
        )
        # The next stage move, set by a message handler or a trigger and applied by the
        # run loop; a lock keeps concurrent manager moves from overwriting each other.
        self._next: _Move | None = None
        self._entered: _Move | None = None  # the last move the run loop has carried out
        self._move_lock = asyncio.Lock()
        self._timers: list[asyncio.Task[None]] = []

    # --- main loop ------------------------------------------------------------------------

    @workflow.run
    async def run(self, input: DealWorkflowInput) -> DealResult:
        await self._call(
            ActivityName.REGISTER_DEAL,
            RegisterDeal(context=self._context(self._pipeline.first_stage), started_at=self._now()),
            None,
            summary="Register the deal in the store",
        )
        move = _Move(stage=self._pipeline.first_stage.id, cause="start")
        while True:
            stage = await self._enter(move)
            self._entered = move
            if stage.terminal:
                break
            self._check_triggers()
            await workflow.wait_condition(lambda: self._next is not None)
            assert self._next is not None
            move, self._next = self._next, None
        # Let escalations or delayed robots already running finish, and every handler too.
        await asyncio.gather(*self._timers)
        await workflow.wait_condition(workflow.all_handlers_finished)
        return DealResult(
            deal_id=self._deal.deal_id,
            status=self._state.status,
            stage=self._state.stage,
            lost_reason=self._state.lost_reason,
        )

    async def _enter(self, move: _Move) -> Stage:
        now = self._now()
        stage = self._pipeline.stage(move.stage)
        previous = self._state.visits[-1] if self._state.visits else None
        if previous is not None:
            previous.exited_at = now
            previous.exit_cause = move.cause
        seq = self._state.seq + 1
        visit = StageVisit(seq=seq, stage=stage.id, entered_at=now, cause=move.cause)
        self._state.visits.append(visit)
        self._state.stage = stage.id
        self._state.waiting = []  # the old stage's timers wake up and see they are stale
        self._state.breached = False
        if stage.semantics is Semantics.SUCCESS:
            self._state.status = DealStatus.WON
        elif stage.semantics is Semantics.FAILURE:
            self._state.status = DealStatus.LOST
            self._state.lost_reason = move.reason
        workflow.upsert_search_attributes(
            [
                DEAL_STAGE.value_set(stage.id),
                DEAL_RESPONSIBLE.value_set(self._deal.responsible),
                DEAL_AMOUNT.value_set(float(self._deal.amount)),
                DEAL_BREACHED.value_set(False),
            ]
        )
        workflow.set_current_details(f"**{stage.name}** since {now:%Y-%m-%d %H:%M} UTC")

        delayed = [r for r in stage.robots if r.delay is not None]
        durations = {r.id: r.delay for r in delayed if r.delay is not None}
        if stage.deadline is not None:
            durations[DEADLINE_KEY] = stage.deadline.after
        due = await self._due_times(now, durations) if durations else {}
        visit.deadline_at = due.get(DEADLINE_KEY)

        key = f"{self._deal.deal_id}:{seq}:enter"
        await self._call(
            ActivityName.RECORD_TRANSITION,
            StageTransition(
                key=key,
                context=self._context(stage),
                from_stage=previous.stage if previous else None,
                from_seq=previous.seq if previous else None,
                to_seq=seq,
                at=now,
                cause=move.cause,
                actor=move.actor,
                reason=move.reason,
            ),
            None,
            summary=f"Record the move to {stage.name}",
        )
        self._state.report_events.append(
            ReportEventView(key=key, kind="stage_entered", stage=stage.id, at=now)
        )

        # Immediate robots run in order and finish before the deal can move on: entering
        # a stage is atomic, so a quick manager never makes "at once" robots disappear.
        for robot in stage.robots:
            if robot.delay is None:
                await self._run_robot(seq, stage, robot)
        for robot in delayed:
            self._state.waiting.append(
                WaitingRobot(
                    seq=seq,
                    stage=stage.id,
                    robot_id=robot.id,
                    title=robot.title,
                    due_at=due[robot.id],
                )
            )
            self._start_timer(self._run_later(seq, stage, robot, due[robot.id]))
        if visit.deadline_at is not None:
            self._start_timer(self._watch_deadline(seq, stage, visit.deadline_at))
        return stage

    def _start_timer(self, coro: Any) -> None:
        self._timers = [t for t in self._timers if not t.done()]
        self._timers.append(asyncio.create_task(coro))

    async def _sleep_in_stage(self, seq: int, until: datetime, summary: str) -> bool:
        """Wait until ``until`` unless the deal leaves the stage visit first; True if the
        time came with the deal still there. Leaving cancels the durable timer."""
        remaining = until - self._now()
        if remaining > timedelta(0):
            try:
                await workflow.wait_condition(
                    lambda: self._state.seq != seq, timeout=remaining, timeout_summary=summary
                )
                return False
            except TimeoutError:
                pass
        return self._state.seq == seq

    async def _run_later(self, seq: int, stage: Stage, robot: Robot, due_at: datetime) -> None:
        if await self._sleep_in_stage(seq, due_at, f"{robot.title} at {due_at:%Y-%m-%d %H:%M}Z"):
            self._state.waiting = [w for w in self._state.waiting if w.robot_id != robot.id]
            await self._run_robot(seq, stage, robot)

    async def _watch_deadline(self, seq: int, stage: Stage, deadline_at: datetime) -> None:
        summary = f"Deadline of {stage.name} at {deadline_at:%Y-%m-%d %H:%M}Z"
        if not await self._sleep_in_stage(seq, deadline_at, summary):
            return
        self._state.visits[-1].breached = True
        self._state.breached = True
        self._state.breach_count += 1
        workflow.upsert_search_attributes([DEAL_BREACHED.value_set(True)])
        await self._call(
            ActivityName.RECORD_BREACH,
            DeadlineBreach(
                deal_id=self._deal.deal_id, stage=stage.id, seq=seq, deadline_at=deadline_at
            ),
            None,
            summary=f"Mark the deal overdue in {stage.name}",
        )
        assert stage.deadline is not None
        for robot in stage.deadline.escalate:
            await self._run_robot(seq, stage, robot)

    async def _due_times(self, start: datetime, durations: dict[str, Any]) -> dict[str, datetime]:
        # A local activity: cheap, and its result is recorded, so replay never recomputes
        # a due time with newer holiday data.
        result: dict[str, datetime] = await workflow.execute_local_activity(
            ActivityName.DUE_TIMES,
            DueTimesCall(calendar=self._pipeline.calendar, start=start, durations=durations),
            result_type=dict[str, datetime],
            start_to_close_timeout=timedelta(seconds=10),
            summary="Compute due times in working time",
        )
        return result

    # --- robots ---------------------------------------------------------------------------

    async def _run_robot(self, seq: int, stage: Stage, robot: Robot) -> None:
        key = f"{self._deal.deal_id}:{seq}:{robot.id}"
        context = self._context(stage)
        now = self._now()
        try:
            match robot:
                case SetTitleRobot():
                    self._state.title = await self._call(
                        ActivityName.SET_TITLE,
                        SetTitleCall(key=key, context=context, template=robot.template),
                        str,
                        summary=robot.title,
                    )
                case NotifyRobot():
                    await self._call(
                        ActivityName.NOTIFY,
                        NotifyCall(
                            key=key,
                            context=context,
                            recipients=self._people(robot.to),
                            message=robot.message,
                            at=now,
                        ),
                        NotifyResult,
                        summary=robot.title,
                    )
                case CreateTaskRobot():
                    await self._create_task(
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
                    await self._call(
                        ActivityName.WRITE_REPORT_EVENT,
                        ReportEventCall(
                            key=key,
                            context=context,
                            kind=robot.kind,
                            details=robot.details,
                            at=now,
                        ),
                        None,
                        summary=robot.title,
                    )
                    self._state.report_events.append(
                        ReportEventView(key=key, kind=robot.kind, stage=stage.id, at=now)
                    )
                case CreateInvoiceRobot():
                    invoice_id = f"{self._deal.deal_id}-{seq}"
                    await self._call(
                        ActivityName.CREATE_INVOICE,
                        CreateInvoiceCall(key=key, invoice_id=invoice_id, context=context, at=now),
                        None,
                        summary=robot.title,
                    )
                    if self._state.invoice(invoice_id) is None:
                        self._state.invoices.append(
                            InvoiceView(
                                invoice_id=invoice_id, amount=self._deal.amount, received_at=now
                            )
                        )
                case CompleteDealRobot():
                    await self._call(
                        ActivityName.COMPLETE_DEAL,
                        CompleteDealCall(
                            deal_id=self._deal.deal_id,
                            status=self._state.status,
                            reason=self._state.lost_reason,
                            at=now,
                        ),
                        None,
                        summary=robot.title,
                    )
        except ActivityError as err:
            # A robot that cannot run (e.g. a template naming a missing field) must not
            # stop the deal: it is recorded and shown in the state.
            cause = err.cause.message if isinstance(err.cause, ApplicationError) else str(err)
            self._state.failures.append(
                RobotFailure(seq=seq, stage=stage.id, robot_id=robot.id, error=cause, at=now)
            )
            workflow.logger.warning("robot %s failed: %s", robot.id, cause)

    async def _create_task(
        self,
        seq: int,
        stage: Stage,
        robot_id: str,
        summary: str,
        key: str,
        *,
        title: str,
        description: str,
        deadline: Any,
        responsible: str,
        co_executors: list[str],
        created_by: str,
        needs_confirmation: bool,
    ) -> None:
        task_id = f"{seq}-{robot_id}"
        created = await self._call(
            ActivityName.CREATE_TASK,
            CreateTaskCall(
                key=key,
                task_id=task_id,
                robot_id=robot_id,
                context=self._context(stage),
                title=title,
                description=description,
                deadline=deadline,
                calendar=self._pipeline.calendar,
                responsible=self._person(responsible),
                co_executors=self._people(co_executors),
                created_by=self._person(created_by),
                needs_confirmation=needs_confirmation,
                at=self._now(),
            ),
            CreatedTask,
            summary=summary,
        )
        if self._state.task(task_id) is None:
            self._state.tasks.append(
                TaskView(
                    task_id=task_id,
                    key=key,
                    seq=seq,
                    stage=stage.id,
                    title=created.title,
                    responsible=self._person(responsible),
                    co_executors=self._people(co_executors),
                    created_by=self._person(created_by),
                    needs_confirmation=needs_confirmation,
                    deadline_at=created.deadline_at,
                )
            )

    async def _call(self, name: str, arg: Any, result_type: type[T] | None, *, summary: str) -> T:
        result: T = await workflow.execute_activity(
            name,
            arg,
            result_type=result_type,
            start_to_close_timeout=ROBOT_TIMEOUT,
            retry_policy=ROBOT_RETRY,
            summary=summary,
        )
        return result

    def _context(self, stage: Stage) -> RobotContext:
        return RobotContext(
            deal=self._deal,
            pipeline_id=self._pipeline.id,
            pipeline_version=self._pipeline.version,
            title=self._state.title,
            stage_id=stage.id,
            stage_name=stage.name,
            lost_reason=self._state.lost_reason,
        )

    def _people(self, refs: list[str]) -> list[str]:
        """Roles (responsible, head, sales_team) resolved to employee ids, in order, once."""
        people: list[str] = []
        for ref in refs:
            ids = self._deal.sales_team if ref == ROLE_SALES_TEAM else [self._person(ref)]
            people += [p for p in ids if p not in people]
        return people

    def _person(self, ref: str) -> str:
        if ref == ROLE_RESPONSIBLE:
            return self._deal.responsible
        if ref == ROLE_HEAD:
            return self._deal.department_head
        return ref

    def _now(self) -> datetime:
        return workflow.now()

    # --- moves and triggers ---------------------------------------------------------------

    def _check_triggers(self) -> None:
        """Move the deal on by itself when the stage's trigger condition holds, including
        events that arrived before the deal reached the stage (an invoice paid early)."""
        if self._state.status is not DealStatus.OPEN or self._next is not None:
            return
        stage = self._current_stage()
        seq = self._state.seq
        paid_trigger = stage.trigger(TriggerEvent.INVOICE_PAID)
        if paid_trigger is not None:
            for invoice in self._state.invoices:
                if invoice.paid_at is not None and invoice.applied_in_seq is None:
                    invoice.applied_in_seq = seq
                    self._next = _Move(
                        paid_trigger.to, "invoice_paid", reason=f"invoice {invoice.invoice_id} paid"
                    )
                    return
        done_trigger = stage.trigger(TriggerEvent.TASKS_DONE)
        if done_trigger is not None:
            tasks = [t for t in self._state.tasks if t.seq == seq]
            if tasks and all(t.status is TaskStatus.DONE for t in tasks):
                self._next = _Move(done_trigger.to, "tasks_done", reason="all stage tasks done")

    async def _move(self, move: _Move) -> DealState:
        async with self._move_lock:
            await workflow.wait_condition(lambda: self._next is None)
            if self._state.status is not DealStatus.OPEN:
                raise ApplicationError(
                    f"deal {self._deal.deal_id} is already closed ({self._state.status})",
                    type="DealClosed",
                )
            self._next = move
            await workflow.wait_condition(lambda: self._entered is move)
            return self._state

    def _current_stage(self) -> Stage:
        return self._pipeline.stage(self._state.stage)

    def _require_open(self) -> None:
        if self._state.status is not DealStatus.OPEN:
            raise ApplicationError(
                f"deal {self._deal.deal_id} is closed ({self._state.status.value}) and cannot"
                " change any more",
                type="DealClosed",
            )

    # --- messages -------------------------------------------------------------------------
    # Moves are updates, not signals: the caller learns at once whether the move was
    # accepted, and the validators keep bad requests out of the history entirely.

    @workflow.update
    async def accept(self, input: AcceptInput) -> DealState:
        trigger = self._current_stage().trigger(TriggerEvent.ACCEPTED)
        assert trigger is not None  # guaranteed by the validator
        self._state.accepted_at = self._now()
        return await self._move(_Move(trigger.to, "accepted", actor=input.by))

    @accept.validator
    def _validate_accept(self, input: AcceptInput) -> None:
        self._require_open()
        if self._current_stage().trigger(TriggerEvent.ACCEPTED) is None:
            where = [s.id for s in self._pipeline.stages if s.trigger(TriggerEvent.ACCEPTED)]
            raise ApplicationError(
                f"deal {self._deal.deal_id} is in stage {self._state.stage!r}, where there is"
                f" nothing to accept (accept works in: {', '.join(where) or 'no stage'})",
                type="InvalidMove",
            )

    @workflow.update
    async def move_to_stage(self, input: MoveInput) -> DealState:
        return await self._move(_Move(input.stage, "moved", actor=input.by, reason=input.reason))

    @move_to_stage.validator
    def _validate_move(self, input: MoveInput) -> None:
        self._require_open()
        if not self._pipeline.has_stage(input.stage):
            known = ", ".join(s.id for s in self._pipeline.stages)
            raise ApplicationError(
                f"unknown stage {input.stage!r}; the stages of pipeline"
                f" {self._pipeline.id!r} are: {known}",
                type="InvalidMove",
            )
        if input.stage == self._state.stage:
            raise ApplicationError(
                f"deal {self._deal.deal_id} is already in stage {input.stage!r}",
                type="InvalidMove",
            )
        target = self._pipeline.stage(input.stage)
        if target.semantics is Semantics.FAILURE and not (input.reason or "").strip():
            raise ApplicationError(
                f"moving deal {self._deal.deal_id} to {input.stage!r} needs a reason",
                type="InvalidMove",
            )

    @workflow.update
    async def close(self, input: CloseInput) -> DealState:
        semantics = Semantics.SUCCESS if input.outcome is Outcome.WON else Semantics.FAILURE
        target = self._pipeline.terminal_stage(semantics)
        return await self._move(_Move(target.id, "closed", actor=input.by, reason=input.reason))

    @close.validator
    def _validate_close(self, input: CloseInput) -> None:
        self._require_open()
        if input.outcome is Outcome.LOST and not (input.reason or "").strip():
            raise ApplicationError(
                f"closing deal {self._deal.deal_id} as lost needs a reason", type="InvalidMove"
            )

    @workflow.update
    async def run_template(self, input: RunTemplateInput) -> list[TaskView]:
        seq = self._state.seq
        stage = self._current_stage()
        if self._state.template_run_in_seq != seq:
            # Marked before the activities run so that a second request while they run
            # returns the same set instead of creating another.
            self._state.template_run_in_seq = seq
            for template in self._task_set(stage):
                await self._create_task_from_template(seq, stage, template)
            self._check_triggers()
        else:
            await workflow.wait_condition(
                lambda: all(self._state.task(f"{seq}-{t.id}") for t in self._task_set(stage))
            )
        return [t for t in self._state.tasks if t.seq == seq]

    @run_template.validator
    def _validate_run_template(self, input: RunTemplateInput) -> None:
        self._require_open()
        stage = self._current_stage()
        if not stage.task_sets:
            where = [s.id for s in self._pipeline.stages if s.task_sets]
            raise ApplicationError(
                f"stage {stage.id!r} has no task template (templates are in: "
                f"{', '.join(where) or 'no stage'})",
                type="InvalidMove",
            )
        if self._deal.service not in stage.task_sets and "default" not in stage.task_sets:
            raise ApplicationError(
                f"no task set for service {self._deal.service!r} in stage {stage.id!r}"
                f" (known: {', '.join(stage.task_sets)})",
                type="InvalidMove",
            )

    def _task_set(self, stage: Stage) -> list[TaskTemplate]:
        return stage.task_sets.get(self._deal.service) or stage.task_sets.get("default", [])

    async def _create_task_from_template(
        self, seq: int, stage: Stage, template: TaskTemplate
    ) -> None:
        key = f"{self._deal.deal_id}:{seq}:template:{template.id}"
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

    @workflow.signal
    async def invoice_paid(self, input: InvoicePaid) -> None:
        existing = self._state.invoice(input.invoice_id)
        if existing is not None and existing.paid_at is not None:
            return  # a duplicate delivery changes nothing
        paid_at = input.paid_at or self._now()
        if existing is None:
            existing = InvoiceView(
                invoice_id=input.invoice_id, amount=input.amount, received_at=self._now()
            )
            self._state.invoices.append(existing)
        existing.paid_at = paid_at
        if input.amount is not None:
            existing.amount = input.amount
        self._check_triggers()
        await self._call(
            ActivityName.RECORD_INVOICE_PAID,
            InvoicePaidCall(
                deal_id=self._deal.deal_id,
                invoice_id=input.invoice_id,
                amount=input.amount,
                paid_at=paid_at,
            ),
            None,
            summary=f"Record invoice {input.invoice_id} as paid",
        )

    @workflow.signal
    async def task_completed(self, input: TaskCompleted) -> None:
        """The executor finished a task. A task that needs its creator's confirmation waits
        for the creator (who confirms by completing it too)."""
        task = self._state.task(input.task_id)
        if task is None or task.status is TaskStatus.DONE:
            workflow.logger.warning("task_completed for unknown or done task %s", input.task_id)
            return
        by_creator = input.by is not None and input.by == task.created_by
        if task.needs_confirmation and not by_creator:
            task.status = TaskStatus.AWAITING_CONFIRMATION
        else:
            task.status = TaskStatus.DONE
        self._check_triggers()
        await self._call(
            ActivityName.RECORD_TASK_STATUS,
            TaskStatusCall(
                key=task.key,
                status=task.status,
                by=input.by,
                at=self._now(),
            ),
            None,
            summary=f"Task {task.task_id}: {task.status.value}",
        )

    @workflow.query
    def state(self) -> DealState:
        return self._state
