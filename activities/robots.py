"""The robots' side effects, one activity each.

Every activity is idempotent: it writes under the business key the workflow gives it and the
store's unique constraints make a retry or a replay a no-op, so nobody is notified twice and
no task or report row is created twice. Activities are plain (sync) functions run in the
worker's thread pool because the store uses synchronous SQLAlchemy.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.dispatch import DeliveryRef, Dispatcher
from activities.integrations import IntegrationActivities, build_integrations
from funnel.domain.activity_io import (
    ActivityName,
    CompleteDealCall,
    CreatedTask,
    CreateInvoiceCall,
    CreateTaskCall,
    DeadlineBreach,
    DealEditCall,
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
from funnel.domain.calendar import WorkingCalendar
from funnel.domain.templates import TemplateProblem, render
from funnel.domain.timing import Due, DueRequest, compute_due
from funnel.storage.records import DealRecord, InvoiceIn, NotificationIn, ReportEventIn, TaskIn
from funnel.storage.store import Store


def _render(source: str, context: RobotContext) -> str:
    try:
        return render(source, context.template_vars())
    except TemplateProblem as exc:
        # Not retryable: the same template fails the same way every time.
        raise ApplicationError(str(exc), type="TemplateProblem", non_retryable=True) from exc


@activity.defn(name=ActivityName.DUE_TIMES)
def compute_due_times(requests: list[DueRequest]) -> list[Due]:
    return [compute_due(request) for request in requests]


class RobotActivities:
    def __init__(self, store: Store, integrations: IntegrationActivities | None = None) -> None:
        self._store = store
        # Default: channels, directory and documents as the environment configures them.
        self._integrations = integrations or build_integrations(store)
        self._dispatch: Dispatcher = self._integrations.dispatcher

    @property
    def store(self) -> Store:
        return self._store

    def all(self) -> list[Any]:
        return [
            self.register_deal,
            self.record_stage_transition,
            self.set_deal_title,
            self.notify,
            self.create_task,
            self.write_report_event,
            self.create_invoice,
            self.complete_deal,
            self.record_invoice_paid,
            self.record_task_status,
            self.record_deal_edit,
            self.record_deadline_breach,
            compute_due_times,
            self._integrations.render_document,
            self._integrations.send_invoice,
        ]

    @activity.defn(name=ActivityName.REGISTER_DEAL)
    def register_deal(self, call: RegisterDeal) -> None:
        ctx = call.context
        # A retry, or a deal id reused after the first deal closed, changes nothing.
        self._store.add_deal(
            DealRecord(
                deal_id=ctx.deal.deal_id,
                title=ctx.title,
                pipeline_id=ctx.pipeline_id,
                pipeline_version=ctx.pipeline_version,
                stage=ctx.stage_id,
                status="open",
                responsible=ctx.deal.responsible,
                department_head=ctx.deal.department_head,
                service=ctx.deal.service,
                amount=ctx.deal.amount,
                currency=ctx.deal.currency,
                contact_name=ctx.deal.contact.name,
                contact_company=ctx.deal.contact.company,
                started_at=call.started_at,
                sales_team=ctx.deal.sales_team,
            )
        )

    @activity.defn(name=ActivityName.RECORD_TRANSITION)
    def record_stage_transition(self, call: StageTransition) -> None:
        ctx = call.context
        details = {"cause": call.cause, "reason": call.reason}
        # Rows of moves recorded before keep their shape.
        details |= {k: v for k, v in (("via", call.via), ("actor_kind", call.actor_kind)) if v}
        events: list[ReportEventIn] = []
        # A move from another pipeline: the exit row is the old pipeline's, the entry the new.
        left = ctx
        if call.from_pipeline_id is not None and call.from_pipeline_version is not None:
            left = ctx.model_copy(
                update={
                    "pipeline_id": call.from_pipeline_id,
                    "pipeline_version": call.from_pipeline_version,
                }
            )
            details["pipeline_from"] = call.from_pipeline_id
            details["pipeline_to"] = ctx.pipeline_id
        if call.from_stage is not None:
            events.append(
                self._event(
                    call.key.removesuffix(":enter") + ":exit",
                    left,
                    call.from_stage,
                    "stage_exited",
                    call.at,
                    call.actor,
                    {**details, "seq": call.from_seq, "to": ctx.stage_id},
                )
            )
        events.append(
            self._event(
                call.key,
                ctx,
                ctx.stage_id,
                "stage_entered",
                call.at,
                call.actor,
                {**details, "seq": call.to_seq, "from": call.from_stage},
            )
        )
        self._store.record_transition(
            events,
            ctx.deal.deal_id,
            ctx.stage_id,
            entered_at=call.at,
            plan=call.plan,
            sales_team=ctx.deal.sales_team,  # deals registered before the store kept it
            pipeline=None if left is ctx else (ctx.pipeline_id, ctx.pipeline_version),
        )
        self._sync(self._dispatch.plan_deal_update(call.key, ctx, at=call.at))

    @activity.defn(name=ActivityName.SET_TITLE)
    def set_deal_title(self, call: SetTitleCall) -> str:
        title = _render(call.template, call.context)
        self._store.update_deal(call.context.deal.deal_id, title=title)
        at = activity.info().scheduled_time
        self._sync(self._dispatch.plan_deal_update(call.key, call.context, title=title, at=at))
        return title

    def _sync(self, refs: list[DeliveryRef]) -> None:
        """Mirror a store change to Bitrix24 in this activity. A refusal is written to the
        report log by the dispatcher and does not fail the robot: the store, which the
        deal's state follows, already has the change."""
        if refs:
            self._dispatch.run_inline(refs, attempt=activity.info().attempt)

    @activity.defn(name=ActivityName.NOTIFY)
    def notify(self, call: NotifyCall) -> NotifyResult:
        message = _render(call.message, call.context)
        delivered: list[str] = []
        already: list[str] = []
        for recipient in call.recipients:
            if "inapp" not in self._dispatch.channels_of(recipient, call.channels):
                continue
            created = self._store.add_notification(
                NotificationIn(
                    key=f"{call.key}:{recipient}",
                    deal_id=call.context.deal.deal_id,
                    stage=call.context.stage_id,
                    recipient=recipient,
                    message=message,
                    created_at=call.at,
                )
            )
            (delivered if created else already).append(recipient)
        refs = self._dispatch.plan_notice(
            call.key, call.context, call.recipients, message, call.channels, call.at
        )
        if refs and (refused := self._dispatch.run_inline(refs, attempt=activity.info().attempt)):
            # A 4xx or a refused recipient fails the same way every time: not retried, and
            # already written to the report log by the dispatcher.
            raise ApplicationError("; ".join(refused), type="DeliveryRejected", non_retryable=True)
        return NotifyResult(delivered=delivered, already_delivered=already)

    @activity.defn(name=ActivityName.CREATE_TASK)
    def create_task(self, call: CreateTaskCall) -> CreatedTask:
        title = _render(call.title, call.context)
        deadline_at = (
            WorkingCalendar(call.calendar).add(call.at, call.deadline) if call.deadline else None
        )
        created = self._store.add_task(
            TaskIn(
                key=call.key,
                deal_id=call.context.deal.deal_id,
                stage=call.context.stage_id,
                robot_id=call.robot_id,
                title=title,
                description=_render(call.description, call.context),
                responsible=call.responsible,
                co_executors=call.co_executors,
                created_by=call.created_by,
                needs_confirmation=call.needs_confirmation,
                deadline_at=deadline_at,
                created_at=call.at,
            )
        )
        task = {**call.model_dump(include={"responsible", "co_executors", "observers"}),
                "created_by": call.created_by, "needs_confirmation": call.needs_confirmation,
                "title": title, "description": _render(call.description, call.context),
                "deadline_at": deadline_at}  # fmt: skip
        self._sync(self._dispatch.plan_task(call.key, call.context, task, call.at))
        return CreatedTask(
            task_id=call.task_id, title=title, deadline_at=deadline_at, created=created
        )

    @activity.defn(name=ActivityName.WRITE_REPORT_EVENT)
    def write_report_event(self, call: ReportEventCall) -> None:
        details = {"text": _render(call.details, call.context), **call.extra}
        self._store.add_report_event(
            self._event(
                call.key,
                call.context,
                call.context.stage_id,
                call.kind,
                call.at,
                call.actor,
                details,
            )
        )

    @activity.defn(name=ActivityName.CREATE_INVOICE)
    def create_invoice(self, call: CreateInvoiceCall) -> None:
        self._store.add_invoice(
            InvoiceIn(
                key=call.key,
                invoice_id=call.invoice_id,
                deal_id=call.context.deal.deal_id,
                amount=call.context.deal.amount,
                currency=call.context.deal.currency,
                created_at=call.at,
                replaces=", ".join(call.replaces) or None,
            )
        )
        deal_id = call.context.deal.deal_id
        self._store.cancel_invoices(deal_id, call.replaces, replaced_by=call.invoice_id, at=call.at)
        # The client may hold a cancelled invoice's document: it says so from now on.
        self._integrations.invoices.annul(
            deal_id, call.replaces, call.invoice_id, call.at, ZoneInfo(call.timezone)
        )

    @activity.defn(name=ActivityName.COMPLETE_DEAL)
    def complete_deal(self, call: CompleteDealCall) -> None:
        self._store.update_deal(
            call.deal_id, status=call.status.value, closed_at=call.at, lost_reason=call.reason
        )

    @activity.defn(name=ActivityName.RECORD_INVOICE_PAID)
    def record_invoice_paid(self, call: InvoicePaidCall) -> None:
        self._store.mark_invoice_paid(
            call.invoice_id,
            deal_id=call.deal_id,
            amount=call.amount,
            paid_at=call.paid_at,
            payment_id=call.payment_id,
            currency=call.currency,
        )

    @activity.defn(name=ActivityName.RECORD_TASK_STATUS)
    def record_task_status(self, call: TaskStatusCall) -> None:
        self._store.set_task_status(call.key, call.status.value, by=call.by, at=call.at)

    @activity.defn(name=ActivityName.RECORD_DEAL_EDIT)
    def record_deal_edit(self, call: DealEditCall) -> None:
        deal = call.deal
        columns = {
            "responsible": deal.responsible,
            "department_head": deal.department_head,
            "service": deal.service,
            "amount": deal.amount,
            "currency": deal.currency,
            "contact_name": deal.contact.name,
            "contact_company": deal.contact.company,
            "sales_team": deal.sales_team,
        }
        if call.plan is not None:
            columns["plan"] = [e.model_dump(mode="json") for e in call.plan]
        people = [t.model_dump() for t in call.tasks]
        self._store.edit_deal(deal.deal_id, columns, call.task_keys, deal.responsible, people)

    @activity.defn(name=ActivityName.RECORD_BREACH)
    def record_deadline_breach(self, call: DeadlineBreach) -> None:
        # The flag lets reports and lists find deals whose current stage is overdue even
        # when a pipeline's escalation writes no report event of its own.
        self._store.update_deal(call.deal_id, breached=True)

    @staticmethod
    def _event(
        key: str,
        ctx: RobotContext,
        stage: str,
        kind: str,
        at: datetime,
        actor: str | None,
        details: dict[str, Any],
    ) -> ReportEventIn:
        return ReportEventIn(
            key=key,
            deal_id=ctx.deal.deal_id,
            pipeline_id=ctx.pipeline_id,
            pipeline_version=ctx.pipeline_version,
            stage=stage,
            kind=kind,
            at=at,
            actor=actor,
            details=details,
        )
