"""The robots of a stage visit, as the deal workflow runs them.

Each robot gets a *flow*: wait for the robot above it (``start: after_previous``), wait for
its due time on a durable timer (recomputed when a date field it follows changes), check its
condition, run its activity, and record what happened in ``state.robot_runs``. Every flow ends
with exactly one record, which is what lets a continued-as-new run rebuild the flows that
were still pending.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from funnel.domain.activity_io import (
        ActivityName,
        CompleteDealCall,
        CreatedTask,
        CreateInvoiceCall,
        CreateTaskCall,
        NotifyCall,
        NotifyResult,
        RenderDocumentCall,
        ReportEventCall,
        RobotContext,
        SetTitleCall,
        TaskStatusCall,
    )
    from funnel.domain.conditions import deal_values, holds
    from funnel.domain.durations import Duration
    from funnel.domain.models import (
        DealState,
        DealStatus,
        DocumentView,
        InvoiceView,
        ReportEventView,
        RobotRun,
        RunOutcome,
        TaskAction,
        TaskStatus,
        TaskView,
        WaitingRobot,
    )
    from funnel.domain.pipeline import (
        ROLE_HEAD,
        ROLE_RESPONSIBLE,
        ROLE_SALES_TEAM,
        CompleteDealRobot,
        CreateInvoiceRobot,
        CreateTaskRobot,
        NotifyRobot,
        Pipeline,
        RenderDocumentRobot,
        ReportEventRobot,
        Robot,
        SetTitleRobot,
        Stage,
    )
    from funnel.domain.robot_rules import OnLeave, OnReentry, Start, Timing
    from funnel.domain.text import literal
    from funnel.domain.timing import Due, DueRequest
    from funnel.runtime.metrics import record_robot_failure

T = TypeVar("T")

# Coming back to a stage that issues an invoice reuses the one still open (contract ->
# proposal -> contract left two collectable invoices). Checked only when an open invoice
# exists. Retire once no deal started before 2026-12-01 is open.
PATCH_ONE_OPEN_INVOICE = "one-open-invoice"
# A task due within a minute of its stage's deadline is told with the stage's breach, not
# in a second message (the shipped contract stage had both at 5 working days). Checked only
# then. Retire once no deal started before 2026-12-01 is open.
PATCH_ONE_ALARM = "one-alarm-per-breach"
# The confirmation loop tells people: the creator that a task awaits confirmation, the
# executor why it was returned. Checked only when someone is to be told. Retire once no deal
# started before 2026-12-01 is open.
PATCH_CONFIRMATION_LOOP = "confirmation-loop-notices"
ONE_ALARM_WINDOW = timedelta(minutes=1)

# Robots write to the store or to people: retry with backoff for as long as it takes (a
# database outage must delay a robot, never lose it); a bad template is not retried.
ROBOT_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=1),
    non_retryable_error_types=["TemplateProblem"],
)
# A robot's attempt may send its deliveries to several channels in turn, each client allowed
# 10 s (integration settings): 30 s covers that. An attempt cut off by a killed worker is
# retried only when this expires: it is what a crash costs a robot.
ROBOT_TIMEOUT = timedelta(seconds=30)


def robot_key(deal_id: str, seq: int, robot_id: str) -> str:
    """The idempotency key of a robot's effects in one stage visit."""
    return f"{deal_id}:{seq}:{robot_id}"


class StageRobots:
    """Mixin of :class:`workflows.deal.DealWorkflow`: everything about running robots."""

    _pipeline: Pipeline
    _state: DealState
    _timers: list[asyncio.Task[None]]
    _busy: int
    _task_writes: asyncio.Lock

    # --- flows ----------------------------------------------------------------------------

    def _start_flows(self, seq: int, stage: Stage) -> list[asyncio.Task[None]]:
        """Start a flow per robot of the stage; returns the flows the entry must wait for
        (robots due at once, not behind a timed robot), so "at once" means at once."""
        blocking: list[asyncio.Task[None]] = []
        previous: asyncio.Task[None] | None = None
        previous_immediate = True
        for robot in stage.robots:
            chained = robot.start is Start.AFTER_PREVIOUS
            immediate = robot.immediate and (previous_immediate or not chained)
            flow = self._spawn(self._robot_flow(seq, stage, robot, previous if chained else None))
            if immediate:
                blocking.append(flow)
            previous, previous_immediate = flow, immediate
        return blocking

    def _spawn(self, coro: Any) -> asyncio.Task[None]:
        self._timers = [t for t in self._timers if not t.done()]
        task: asyncio.Task[None] = asyncio.create_task(coro)
        self._timers.append(task)
        return task

    async def _robot_flow(
        self, seq: int, stage: Stage, robot: Robot, previous: asyncio.Task[None] | None
    ) -> None:
        if previous is not None:
            await previous  # flows never raise: a failed robot is recorded, not thrown
            if self._state.seq != seq and robot.on_leave is not OnLeave.KEEP:
                self._record(seq, stage, robot.id, RunOutcome.CANCELLED)
                return
        if robot.on_reentry is OnReentry.FIRST_ENTRY and self._entered_before(stage.id, seq):
            self._record(seq, stage, robot.id, RunOutcome.SKIPPED_REENTRY)
            return
        key = robot_key(self._state.deal_id, seq, robot.id)
        if not robot.immediate:
            if self._state.waiting_entry(key) is None:  # not already armed by a former run
                # Counted from the stage entry, or from the end of the robot above it.
                base = self._now() if previous is not None else self._entered_at(seq)
                due = await self._due(key, robot, base)
                if due.due_at is None:
                    self._record(seq, stage, robot.id, RunOutcome.SKIPPED_NO_DATE, due.rule)
                    return
                self._state.waiting.append(
                    WaitingRobot(
                        key=key,
                        seq=seq,
                        stage=stage.id,
                        robot_id=robot.id,
                        title=robot.title,
                        due_at=due.due_at,
                        rule=due.rule,
                        base=base,
                        timing=Timing.model_validate(robot.model_dump(include=_TIMING_FIELDS)),
                        on_leave=robot.on_leave,
                    )
                )
            if not await self._wait_for(key):
                return  # the deal left the stage: recorded as cancelled by the move
        elif self._state.seq != seq and robot.on_leave is not OnLeave.KEEP:
            self._record(seq, stage, robot.id, RunOutcome.CANCELLED)
            return
        values = deal_values(self._state.deal, title=self._state.title, stage=self._state.stage)
        if not holds(robot.condition, values, self._pipeline):
            self._record(seq, stage, robot.id, RunOutcome.SKIPPED_CONDITION)
            return
        await self._run_robot(seq, stage, robot, key)

    async def _wait_for(self, key: str) -> bool:
        """Sleep until the waiting entry's due time; True when it came. The entry may be
        removed (its stage was left: False) or get a new due time (a date field changed:
        sleep again) while waiting."""
        while True:
            entry = self._state.waiting_entry(key)
            if entry is None:
                return False
            due_at = entry.due_at
            remaining = due_at - self._now()
            if remaining <= timedelta(0):
                break

            def moved(entry: WaitingRobot = entry, due_at: datetime = due_at) -> bool:
                return self._state.waiting_entry(key) is not entry or entry.due_at != due_at

            try:
                await workflow.wait_condition(
                    moved,
                    timeout=remaining,
                    timeout_summary=f"{entry.title} at {due_at:%Y-%m-%d %H:%M}Z",
                )
            except TimeoutError:
                break
        self._state.waiting = [w for w in self._state.waiting if w.key != key]
        return True

    async def _due(self, key: str, timing: Timing, base: datetime) -> Due:
        return (await self._due_many([(key, timing, base)]))[0]

    async def _due_many(self, items: list[tuple[str, Timing, datetime]]) -> list[Due]:
        # A local activity: the holiday data lives outside the sandbox, and the recorded
        # result means replay never recomputes a due time with newer holiday data.
        requests = [
            DueRequest(
                key=key,
                base=base,
                timing=Timing.model_validate(timing.model_dump(include=_TIMING_FIELDS)),
                anchor_value=self._field_text(timing.relative_to),
                calendar=self._pipeline.calendar,
                responsible_calendar=self._pipeline.calendar_for(self._state.deal.responsible),
            )
            for key, timing, base in items
        ]
        result: list[Due] = await workflow.execute_local_activity(
            ActivityName.DUE_TIMES,
            requests,
            result_type=list[Due],
            start_to_close_timeout=timedelta(seconds=10),
            summary="Compute due times in working time",
        )
        return result

    def _field_text(self, path: str | None) -> str | None:
        if path is None:
            return None
        value = self._state.deal.fields.get(path.removeprefix("fields."))
        return None if value is None or value == "" else str(value)

    def _entered_at(self, seq: int) -> datetime:
        return next(v.entered_at for v in self._state.visits if v.seq == seq)

    def _entered_before(self, stage_id: str, seq: int) -> bool:
        return any(v.stage == stage_id and v.seq < seq for v in self._state.visits)

    def _record(
        self, seq: int, stage: Stage, robot_id: str, outcome: RunOutcome, error: str | None = None
    ) -> None:
        self._state.robot_runs.append(
            RobotRun(
                seq=seq,
                stage=stage.id,
                robot_id=robot_id,
                outcome=outcome,
                at=self._now(),
                error=error,
            )
        )

    # --- running one robot ---------------------------------------------------------------

    async def _run_robot(
        self,
        seq: int,
        stage: Stage,
        robot: Robot,
        key: str,
        outcome: RunOutcome = RunOutcome.DONE,
    ) -> None:
        context = self._context(stage)
        now = self._now()
        self._busy += 1
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
                            channels=robot.channels,
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
                    await self._write_report(key, stage, robot.kind, robot.details, robot.title)
                case CreateInvoiceRobot():
                    outcome = await self._issue_invoice(seq, key, context, robot.title, outcome)
                case RenderDocumentRobot():
                    document = await self._call(
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
                    if all(d.path != document.path for d in self._state.documents):
                        self._state.documents.append(document)
                case CompleteDealRobot():
                    await self._call(
                        ActivityName.COMPLETE_DEAL,
                        CompleteDealCall(
                            deal_id=self._state.deal_id,
                            status=self._state.status,
                            reason=self._state.lost_reason,
                            at=now,
                        ),
                        None,
                        summary=robot.title,
                    )
            self._record(seq, stage, robot.id, outcome)
        except ActivityError as err:
            # A robot that cannot run (e.g. a template naming a missing field) must not
            # stop the deal: it is recorded and shown in the state.
            cause = err.cause.message if isinstance(err.cause, ApplicationError) else str(err)
            self._record(seq, stage, robot.id, RunOutcome.FAILED, cause)
            record_robot_failure(workflow.metric_meter(), robot.type, stage.id)
            workflow.logger.warning("robot %s failed: %s", robot.id, cause)
        finally:
            self._busy -= 1

    async def _issue_invoice(
        self, seq: int, key: str, context: RobotContext, summary: str, outcome: RunOutcome
    ) -> RunOutcome:
        """One collectable invoice per deal: coming back to the stage reuses the invoice
        still open for the same amount; for a changed amount that one is cancelled and a new
        one issued. Deals recorded before issued one per entry (PATCH_ONE_OPEN_INVOICE)."""
        amount = self._state.deal.amount
        currency = self._state.deal.currency
        still_open = [i for i in self._state.invoices if i.open and not i.prepayment]
        same = next((i for i in still_open if i.amount == amount and i.currency == currency), None)
        if still_open and not workflow.patched(PATCH_ONE_OPEN_INVOICE):
            still_open, same = [], None
        if same is not None:
            return RunOutcome.REUSED
        invoice_id = f"{self._state.deal_id}-{seq}"
        now = self._now()
        # A partly paid invoice is never cancelled: its payments stay with it.
        replaced = [
            i.invoice_id for i in still_open if i.invoice_id != invoice_id and not i.payments
        ]
        if self._state.invoice(invoice_id) is None:
            # Known to the deal before the store has it, so that a payment arriving while
            # the robot runs is applied to it, not reported as unknown.
            self._state.invoices.append(
                InvoiceView(
                    invoice_id=invoice_id, amount=amount, currency=currency, received_at=now
                )
            )
        await self._call(
            ActivityName.CREATE_INVOICE,
            CreateInvoiceCall(
                key=key, invoice_id=invoice_id, context=context, at=now, replaces=replaced
            ),
            None,
            summary=summary,
        )
        for invoice in still_open:
            if invoice.invoice_id in replaced:
                invoice.cancelled_at = now
        return outcome

    async def _write_report(
        self,
        key: str,
        stage: Stage,
        kind: str,
        details: str,
        summary: str,
        extra: dict[str, Any] | None = None,
    ) -> None:
        now = self._now()
        await self._call(
            ActivityName.WRITE_REPORT_EVENT,
            ReportEventCall(
                key=key,
                context=self._context(stage),
                kind=kind,
                details=details,
                at=now,
                extra=extra or {},
            ),
            None,
            summary=summary,
        )
        self._state.report_events.append(
            ReportEventView(key=key, kind=kind, stage=stage.id, at=now)
        )

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
        deadline: Duration | None,
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
            task = TaskView(
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
            self._state.tasks.append(task)
            self._watch_task(task)

    def _watch_task(self, task: TaskView) -> None:
        if task.deadline_at is not None and not task.overdue:
            self._spawn(self._task_overdue_flow(task))

    async def _task_overdue_flow(self, task: TaskView) -> None:
        """A task still open at its deadline escalates like a stage deadline: the executor
        and the head are told and the report gets a `task_overdue` event."""
        assert task.deadline_at is not None
        remaining = task.deadline_at - self._now()
        if remaining > timedelta(0):
            try:
                await workflow.wait_condition(
                    lambda: task.status.closed or self._state.status is not _OPEN,
                    timeout=remaining,
                    timeout_summary=f"Task {task.task_id} due {task.deadline_at:%Y-%m-%d %H:%M}Z",
                )
                return
            except TimeoutError:
                pass
        if task.status.closed or self._state.status is not _OPEN:
            return
        task.overdue = True
        stage = self._pipeline.stage(task.stage) if self._pipeline.has_stage(task.stage) else None
        if stage is None:
            return
        self._busy += 1
        try:
            if self._stage_breach_covers(task, stage) and workflow.patched(PATCH_ONE_ALARM):
                # The stage deadline of the same visit falls in the same minute and tells
                # the same people: one breach, one message. The report still gets the task.
                await self._write_report(
                    f"{task.key}:overdue:report",
                    stage,
                    "task_overdue",
                    task.task_id,
                    f"Write the overdue task {task.task_id} to the report",
                    extra={"told_with": "the stage deadline breach"},
                )
                return
            await self._call(
                ActivityName.NOTIFY,
                NotifyCall(
                    key=f"{task.key}:overdue",
                    context=self._context(stage),
                    recipients=self._people([task.responsible, ROLE_HEAD]),
                    message=f"Task overdue: {task.title} (deal {{{{ deal.title }}}})",
                    at=self._now(),
                ),
                NotifyResult,
                summary=f"Task {task.task_id} overdue: notify executor and head",
            )
            await self._write_report(
                f"{task.key}:overdue:report",
                stage,
                "task_overdue",
                task.task_id,
                f"Write the overdue task {task.task_id} to the report",
            )
        except ActivityError as err:
            workflow.logger.warning("task overdue escalation failed: %s", err)
        finally:
            self._busy -= 1

    async def _tell_about_task(
        self, task: TaskView, action: TaskAction, by: str | None, comment: str | None
    ) -> None:
        """The confirmation loop: a task done by its executor that needs confirmation is
        announced to its creator; a returned task is announced to its executor with the
        reason (and the reason goes to the report). Deals recorded before told nobody
        (PATCH_CONFIRMATION_LOOP, checked only when there is someone to tell)."""
        awaiting = action is TaskAction.COMPLETE and task.status is TaskStatus.AWAITING_CONFIRMATION
        returned = action is TaskAction.RETURN
        if not (awaiting or returned) or not workflow.patched(PATCH_CONFIRMATION_LOOP):
            return
        if not self._pipeline.has_stage(task.stage):
            return
        stage = self._pipeline.stage(task.stage)
        who = literal(by or "someone")
        title = literal(task.title)
        if awaiting:
            key = f"{task.key}:to-confirm:{task.returned}"
            recipients = [task.created_by]
            message = (
                f"{title} is done by {who} and awaits your confirmation"
                " (deal {{ deal.title }})."
            )
        else:
            key = f"{task.key}:returned:{task.returned}"
            recipients = [task.responsible, *task.co_executors]
            reason = f": {literal(comment.strip())}" if comment and comment.strip() else ""
            message = f"{title} was returned by {who}{reason} (deal {{{{ deal.title }}}})."
        self._busy += 1
        try:
            await self._call(
                ActivityName.NOTIFY,
                NotifyCall(
                    key=key,
                    context=self._context(stage),
                    recipients=recipients,
                    message=message,
                    at=self._now(),
                ),
                NotifyResult,
                summary=f"Task {task.task_id}: {'to confirm' if awaiting else 'returned'}",
            )
            if returned:
                await self._write_report(
                    f"{key}:report",
                    stage,
                    "task_returned",
                    task.task_id,
                    f"Write the return of task {task.task_id} to the report",
                    extra={"by": by, "comment": comment},
                )
        except ActivityError as err:
            workflow.logger.warning("task notice failed: %s", err)
        finally:
            self._busy -= 1

    def _stage_breach_covers(self, task: TaskView, stage: Stage) -> bool:
        """The task's visit is the current one, and its stage deadline, which notifies
        people too, falls within a minute of the task's deadline."""
        if task.seq != self._state.seq or not self._state.visits or task.deadline_at is None:
            return False
        escalate = stage.deadline.escalate if stage.deadline else []
        if not any(isinstance(robot, NotifyRobot) for robot in escalate):
            return False
        stage_deadline = self._state.visits[-1].deadline_at
        if stage_deadline is None:
            return False
        return abs(stage_deadline - task.deadline_at) <= ONE_ALARM_WINDOW

    async def _set_task_status(self, task: TaskView, status: TaskStatus, by: str | None) -> None:
        task.status = status
        # One status write at a time, in the order the events came: two quick events (done,
        # then confirmed) must not reach the store the other way round.
        async with self._task_writes:
            await self._call(
                ActivityName.RECORD_TASK_STATUS,
                TaskStatusCall(key=task.key, status=status, by=by, at=self._now()),
                None,
                summary=f"Task {task.task_id}: {status.value}",
            )

    async def _call_local(self, name: str, arg: Any, *, summary: str) -> None:
        """A store write as a local activity: run by this worker within the workflow task,
        retried as robots are (a database outage delays it, never loses it)."""
        await workflow.execute_local_activity(
            name,
            arg,
            start_to_close_timeout=ROBOT_TIMEOUT,
            retry_policy=ROBOT_RETRY,
            summary=summary,
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
            deal=self._state.deal,
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
            ids = self._state.deal.sales_team if ref == ROLE_SALES_TEAM else [self._person(ref)]
            people += [p for p in ids if p not in people]
        return people

    def _person(self, ref: str) -> str:
        if ref == ROLE_RESPONSIBLE:
            return self._state.deal.responsible
        if ref == ROLE_HEAD:
            return self._state.deal.department_head
        return ref

    def _now(self) -> datetime:
        return workflow.now()


_OPEN = DealStatus.OPEN
_TIMING_FIELDS = {"delay", "relative_to", "direction", "at_time", "responsible_working_time"}
