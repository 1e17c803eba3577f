"""Inputs and results of the robot activities.

The workflow builds these and the activities in :mod:`activities` consume them. Every call
carries ``key``, the idempotency key ``<deal id>:<stage entry seq>:<robot id>``: the store's
unique constraints turn a retried or replayed call into a no-op.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from funnel.domain.calendar_spec import CalendarSpec
from funnel.domain.durations import Duration
from funnel.domain.models import DealInput, DealStatus, TaskStatus
from funnel.domain.models import DocumentView as DocumentView  # the result of RENDER_DOCUMENT
from funnel.domain.stage_plan import PlanEntry


class RobotContext(BaseModel):
    """What templates can read: ``deal``, ``contact`` and ``stage``."""

    deal: DealInput
    pipeline_id: str
    pipeline_version: str
    title: str
    stage_id: str
    stage_name: str
    lost_reason: str | None = None

    def template_vars(self) -> dict[str, Any]:
        deal = self.deal.model_dump(mode="json")
        deal.update(title=self.title, lost_reason=self.lost_reason, stage=self.stage_id)
        return {
            "deal": deal,
            "contact": deal["contact"],
            "stage": {"id": self.stage_id, "name": self.stage_name},
        }


class RegisterDeal(BaseModel):
    context: RobotContext
    started_at: datetime


class StageTransition(BaseModel):
    """A deal left one stage (if any) and entered another."""

    key: str
    context: RobotContext
    from_stage: str | None
    from_seq: int | None
    to_seq: int
    at: datetime
    cause: str
    actor: str | None = None
    reason: str | None = None
    via: str | None = None  # how the actor acted (web, api, cli, webhook, trigger)
    actor_kind: str | None = None  # person or service (None: unknown, as before actors)
    # The pipeline the deal left when it moved to another one (the context names the new).
    from_pipeline_id: str | None = None
    from_pipeline_version: str | None = None
    # What waits in the stage entered (its deadline, its timed robots) for the board; None
    # from moves recorded before the board had it.
    plan: list[PlanEntry] | None = None


class SetTitleCall(BaseModel):
    key: str
    context: RobotContext
    template: str


class NotifyCall(BaseModel):
    # Inputs scheduled by older workers carry ``deliver_inline``: ignored.
    model_config = ConfigDict(extra="ignore")

    key: str
    context: RobotContext
    recipients: list[str] = Field(min_length=1)
    message: str
    at: datetime
    # The robot's channels (inapp, webhook, email, bitrix24, telegram); None: each person's own.
    channels: list[str] | None = None


class NotifyResult(BaseModel):
    """The in-app notifications of a notify robot; its external deliveries (webhook,
    e-mail, Bitrix24) are sent inside the same activity, through the outbox. Results
    recorded by older workers carry a ``deliveries`` list: ignored, like any unknown field."""

    model_config = ConfigDict(extra="ignore")

    delivered: list[str]  # in-app notifications written by this call
    already_delivered: list[str]


class CreateTaskCall(BaseModel):
    model_config = ConfigDict(extra="ignore")  # older inputs carry ``deliver_inline``

    key: str
    task_id: str
    robot_id: str
    context: RobotContext
    title: str
    description: str = ""
    deadline: Duration | None = None
    calendar: CalendarSpec
    responsible: str
    co_executors: list[str] = Field(default_factory=list)
    created_by: str
    needs_confirmation: bool = False
    at: datetime
    observers: list[str] = Field(default_factory=list)


class CreatedTask(BaseModel):
    """A task robot's result; its Bitrix24 mirror is sent inside the same activity. Older
    results carry a ``deliveries`` list: ignored, as in NotifyResult."""

    model_config = ConfigDict(extra="ignore")

    task_id: str
    title: str
    deadline_at: datetime | None
    created: bool


class RenderDocumentCall(BaseModel):
    key: str
    context: RobotContext
    template: str  # file name under templates/documents/, e.g. "proposal.html.j2"
    name: str  # document name shown with the deal, e.g. "Commercial proposal"
    at: datetime


class SendInvoiceCall(BaseModel):
    """Render an invoice's document and e-mail it to the deal's contact (the send_invoice
    robot, or an edit that reissued the invoice). The document and the e-mail are keyed by
    the invoice, not the robot run: coming back to the stage never sends it twice."""

    key: str  # the robot run (or the edit) that asks
    context: RobotContext
    invoice_id: str
    template: str  # file name under templates/documents/, e.g. "invoice.html.j2"
    name: str  # document name shown with the deal
    subject: str  # jinja2 of the e-mail's subject
    message: str  # jinja2 of the e-mail's text
    timezone: str  # the company's: the invoice's date is its day there
    at: datetime


class ReportEventCall(BaseModel):
    key: str
    context: RobotContext
    kind: str
    details: str = ""
    at: datetime
    actor: str | None = None
    extra: dict[str, Any] = Field(default_factory=dict)


class CreateInvoiceCall(BaseModel):
    key: str
    invoice_id: str
    context: RobotContext
    at: datetime
    replaces: list[str] = Field(
        default_factory=list, description="open invoices this one cancels (a changed amount)"
    )
    timezone: str = Field(
        default="UTC", description="the company's: the day a cancelled invoice's stamp names"
    )


class CompleteDealCall(BaseModel):
    deal_id: str
    status: DealStatus
    reason: str | None = None
    at: datetime


class InvoicePaidCall(BaseModel):
    deal_id: str
    invoice_id: str
    amount: Decimal | None  # what this payment adds to the invoice
    paid_at: datetime
    payment_id: str | None = None  # None: scheduled by a worker before payments had ids
    currency: str | None = None


class TaskStatusCall(BaseModel):
    key: str
    status: TaskStatus
    by: str | None
    at: datetime


class TaskPeople(BaseModel):
    """Who an open task's people are after an edit, for the store's row of the task."""

    key: str
    responsible: str
    co_executors: list[str]
    created_by: str


class DealEditCall(BaseModel):
    """An edit of a running deal for the store: the deal as edited, and its open tasks whose
    people changed (``tasks``; deals edited before that code name in ``task_keys`` the open
    tasks that move to the new responsible)."""

    key: str
    deal: DealInput
    task_keys: list[str] = Field(default_factory=list)
    tasks: list[TaskPeople] = Field(default_factory=list)
    at: datetime
    plan: list[PlanEntry] | None = None  # the current stage's, with timers the edit moved


class DeadlineBreach(BaseModel):
    deal_id: str
    stage: str
    seq: int
    deadline_at: datetime


class ActivityName:
    """Activity type names, shared by the workflow (which calls them by name so that it
    never imports the store) and the activity definitions."""

    REGISTER_DEAL = "register_deal"
    RECORD_TRANSITION = "record_stage_transition"
    SET_TITLE = "set_deal_title"
    NOTIFY = "notify"
    CREATE_TASK = "create_task"
    WRITE_REPORT_EVENT = "write_report_event"
    CREATE_INVOICE = "create_invoice"
    COMPLETE_DEAL = "complete_deal"
    RECORD_INVOICE_PAID = "record_invoice_paid"
    RECORD_TASK_STATUS = "record_task_status"
    DUE_TIMES = "compute_due_times"
    RECORD_BREACH = "record_deadline_breach"
    RENDER_DOCUMENT = "render_document"
    SEND_INVOICE = "send_invoice"  # the invoice's document, e-mailed to the deal's contact
    RECORD_DEAL_EDIT = "record_deal_edit"  # an edit: the deal row, its tasks' responsible
    RECORD_CLOSED_DEAL = "record_closed_deal"  # its record (funnel.storage.closed_deals)
    LOAD_PIPELINE = "load_pipeline"  # a move_to_funnel robot's target, its current version
