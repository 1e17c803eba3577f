"""What the HTTP API takes and returns. Requests forbid unknown fields, so that a typo in a
client is a 422 naming the field instead of a value silently dropped."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from funnel.client.listing import Source
from funnel.domain.models import (
    DEAL_ID_PATTERN,
    DealState,
    FieldValue,
    InvoiceView,
    Outcome,
    ReportEventView,
    StageVisit,
    TaskView,
    WaitingRobot,
)
from funnel.domain.robot_runs import ActivityRun as ActivityRun
from funnel.domain.text import FreeText, OneLine

_IN = ConfigDict(extra="forbid")
# Who acts is the authenticated caller, never the body: a `by` may only repeat the caller's
# own id. A person naming someone else, or a service token naming anyone, is refused (409).
_BY = Field(
    default=None,
    description="optional: the caller's own id; naming anyone else is refused (409), a"
    " service token never acts as a person",
)


class Problem(BaseModel):
    """The body of every error answer (besides FastAPI's own 422 list of bad fields)."""

    detail: str


# --- deals ------------------------------------------------------------------------------


class DealOut(DealState):
    """The deal's state as the workflow reports it, plus where to see it in the Web UI."""

    ui_link: str | None = Field(description="the deal's workflow in the Temporal Web UI")
    source: Source = Field(
        default="workflow",
        description="where the answer was read: the deal's workflow, or its record in the"
        " store once the namespace's retention deleted the workflow of the closed deal",
    )


class DealSummaryOut(BaseModel):
    deal_id: str
    stage: str | None
    responsible: str | None
    amount: float | None
    breached: bool | None
    status: str = Field(description="the workflow's status: running, completed, ...")
    ui_link: str | None
    source: Source = Field(
        default="workflow",
        description="workflow: an open deal, found through Temporal visibility; record: a"
        " closed deal, listed from the store",
    )
    closed_at: datetime | None = Field(default=None, description="when a closed deal closed")
    pipeline: str | None = Field(
        default=None,
        description="the pipeline's id (null: an open deal started before deals were listed"
        " by pipeline, until `funnel db backfill-team`)",
    )


class DealPage(BaseModel):
    deals: list[DealSummaryOut]
    next_page_token: str | None = Field(
        description="pass as page_token for the next page; null on the last page"
    )


class HistoryOut(BaseModel):
    deal_id: str
    ui_link: str | None
    visits: list[StageVisit] = Field(description="stage entries and exits, oldest first")
    robot_runs: list[ActivityRun] = Field(
        description="every robot activity and its result, oldest first (a failure has its error)"
    )
    escalations: list[ReportEventView] = Field(description="deadline breaches written")
    source: Source = Field(
        default="workflow",
        description="where the answer was read: the deal's workflow, or its record in the"
        " store once the namespace's retention deleted the workflow of the closed deal",
    )


class PlanOut(BaseModel):
    """What is going to happen to the deal while it stays in its current stage."""

    deal_id: str
    ui_link: str | None
    stage: str
    status: str
    deadline_at: datetime | None
    breached: bool
    waiting: list[WaitingRobot] = Field(description="delayed robots armed, soonest first")
    open_tasks: list[TaskView]
    unpaid_invoices: list[InvoiceView]
    note: str | None = Field(default=None, description="why nothing will happen (a closed deal)")
    source: Source = Field(
        default="workflow",
        description="where the answer was read: the deal's workflow, or its record in the"
        " store once the namespace's retention deleted the workflow of the closed deal",
    )


class AcceptBody(BaseModel):
    model_config = _IN
    by: OneLine | None = _BY


class MoveBody(BaseModel):
    model_config = _IN
    stage: OneLine = Field(min_length=1, max_length=64)
    reason: FreeText | None = None
    by: OneLine | None = _BY


class InvoicePaidBody(BaseModel):
    model_config = _IN
    amount: Decimal | None = Field(
        default=None, ge=0, description="default: what is outstanding on the invoice"
    )
    paid_at: AwareDatetime | None = None
    payment_id: OneLine | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="the payment's own id; the same payment sent twice is applied once",
    )
    currency: str | None = Field(default=None, pattern=r"^[A-Z]{3}$")
    prepayment: bool = Field(
        default=False, description="paid before the deal issued the invoice: keep it for it"
    )


class TaskCompleteBody(BaseModel):
    model_config = _IN
    by: OneLine | None = _BY


class RunTemplateBody(BaseModel):
    model_config = _IN
    by: OneLine | None = _BY


# The close and fields bodies: CloseInput and UpdateFieldsInput without their ``actor``,
# which the API sets from the signed-in caller and a body must never bring.


class CloseBody(BaseModel):
    model_config = _IN
    outcome: Outcome
    reason: FreeText | None = None
    by: OneLine | None = _BY


class FieldsBody(BaseModel):
    """New values of custom fields (and ``amount``); timers anchored on them follow."""

    model_config = _IN
    fields: dict[str, FieldValue] = Field(min_length=1)
    by: OneLine | None = Field(
        default=None,
        description="optional: a person's own id (anyone else: 409); ignored for a service"
        " token, which changes fields as itself",
    )


class Sent(BaseModel):
    """A message the deal's workflow takes asynchronously: it was delivered, not applied
    yet; read the deal to see its effect."""

    deal_id: str
    sent: bool = True
    ui_link: str | None


class TasksOut(BaseModel):
    deal_id: str
    tasks: list[TaskView]
    ui_link: str | None


# --- leads ------------------------------------------------------------------------------


class LeadIn(BaseModel):
    """A web-form submission (the form trigger of Bitrix24)."""

    model_config = _IN

    name: OneLine = Field(min_length=1, max_length=200)
    phone: OneLine | None = Field(default=None, max_length=40)
    email: OneLine | None = Field(default=None, max_length=254, pattern=r"^[^@\s]+@[^@\s]+$")
    company: OneLine | None = Field(default=None, max_length=200)
    comment: FreeText | None = Field(default=None, max_length=5000)
    source: OneLine | None = Field(default=None, max_length=200, description="form, landing, ...")
    service: OneLine | None = Field(
        default=None, min_length=1, max_length=100, description="default: FUNNEL_LEAD_SERVICE"
    )

    @model_validator(mode="after")
    def _reachable(self) -> LeadIn:
        if not normal_email(self.email) and not normal_phone(self.phone):
            raise ValueError("a lead needs an e-mail or a phone number with digits")
        return self


def normal_email(email: str | None) -> str | None:
    return (email.strip().lower() or None) if email else None


def normal_phone(phone: str | None) -> str | None:
    """Digits only, so that "+7 (900) 1-2" and "+79001 2" are one phone."""
    digits = "".join(ch for ch in phone or "" if ch.isdigit())
    return digits or None


class LeadOut(BaseModel):
    lead_id: str
    deal_id: str
    duplicate: bool = Field(description="true: an earlier lead with this e-mail or phone")
    ui_link: str | None
    deal: DealOut | None = Field(description="the deal started (null for a duplicate)")


# --- payments ---------------------------------------------------------------------------


class PaymentEvent(BaseModel):
    """What a payment system posts to /webhooks/payments (signed, see docs/http-api.md)."""

    model_config = _IN

    payment_id: OneLine = Field(min_length=1, max_length=200)
    invoice_id: OneLine = Field(min_length=1, max_length=200)
    deal_id: str | None = Field(
        default=None, pattern=DEAL_ID_PATTERN, description="default: the deal of the invoice"
    )
    status: Literal["paid"] = "paid"
    amount: Decimal | None = Field(default=None, ge=0)
    currency: str | None = Field(default=None, pattern=r"^[A-Z]{3}$")
    paid_at: AwareDatetime | None = None
    prepayment: bool = Field(
        default=False, description="paid before the deal issued the invoice: keep it for it"
    )


class PaymentAck(BaseModel):
    payment_id: str
    deal_id: str
    invoice_id: str
    duplicate: bool = Field(description="true: this payment was already applied, nothing changed")


class Health(BaseModel):
    status: Literal["ok"]
    temporal: str
    database: str


class DocumentOut(BaseModel):
    """A document a robot rendered for the deal; its HTML is the document of record."""

    key: str
    name: str
    template: str
    sha256: str = Field(description="SHA-256 of the HTML, as in the deal's history")
    created_at: datetime
    html_url: str
    pdf_url: str = Field(description="made from the HTML on the first download, then kept")
    invoice_id: str | None = Field(default=None, description="set on an invoice's document")
    cancelled_at: datetime | None = Field(
        default=None,
        description="the invoice was cancelled: its HTML and PDF carry the ANNULLED stamp",
    )
