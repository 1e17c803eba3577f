"""Rows of the funnel store as pydantic models: what activities hand to and get from
:class:`funnel.storage.store.Store`.

Inputs forbid unknown fields, so that a typo in an activity fails loudly instead of being
dropped. Every time is ``AwareDatetime``: a naive time has no place in a store shared by
workers in different time zones, so it is refused here, at the boundary. Outputs are read
from rows (``from_attributes``) and always carry UTC times.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, computed_field

DealStatusName = Literal["open", "won", "lost"]
TaskStatusName = Literal["open", "awaiting_confirmation", "done", "cancelled"]
InvoiceStatusName = Literal["issued", "paid", "cancelled"]

_IN = ConfigDict(extra="forbid")
_OUT = ConfigDict(extra="forbid", from_attributes=True)


class DealRecord(BaseModel):
    """The deal as the store keeps it (both written and read back)."""

    model_config = _OUT

    deal_id: str
    title: str
    pipeline_id: str
    pipeline_version: str
    stage: str
    status: DealStatusName
    responsible: str
    department_head: str
    service: str
    amount: Decimal
    currency: str
    contact_name: str
    contact_company: str | None
    started_at: AwareDatetime
    closed_at: AwareDatetime | None = None
    lost_reason: str | None = None
    breached: bool = False
    sales_team: list[str] | None = None  # None: registered before the store kept it


class NotificationIn(BaseModel):
    model_config = _IN

    key: str
    deal_id: str
    stage: str
    recipient: str  # employee id
    message: str
    created_at: AwareDatetime


class Notification(NotificationIn):
    model_config = _OUT

    id: int
    read: bool


class TaskIn(BaseModel):
    model_config = _IN

    key: str
    deal_id: str
    stage: str
    robot_id: str
    title: str
    description: str
    responsible: str
    co_executors: list[str] = Field(default_factory=list)
    created_by: str
    needs_confirmation: bool
    deadline_at: AwareDatetime | None
    created_at: AwareDatetime


class Task(TaskIn):
    model_config = _OUT

    status: TaskStatusName
    completed_by: str | None
    completed_at: AwareDatetime | None
    confirmed_by: str | None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def task_id(self) -> str:
        """The deal workflow's id of the task (``3-signed_contract_task``): the stage
        visit's seq (the key's first part after the deal id) and the robot or template id."""
        seq = self.key.removeprefix(f"{self.deal_id}:").split(":", 1)[0]
        return f"{seq}-{self.robot_id}"


class InvoiceIn(BaseModel):
    model_config = _IN

    key: str
    invoice_id: str
    deal_id: str
    amount: Decimal
    currency: str
    created_at: AwareDatetime
    replaces: str | None = None  # the invoice(s) this one cancelled (a changed amount)


class Invoice(InvoiceIn):
    model_config = _OUT

    status: InvoiceStatusName
    paid_amount: Decimal | None
    paid_at: AwareDatetime | None
    replaced_by: str | None = None  # set when it is cancelled for a new one
    cancelled_at: AwareDatetime | None = None


class ReportEventIn(BaseModel):
    model_config = _IN

    key: str
    deal_id: str
    pipeline_id: str
    pipeline_version: str
    stage: str
    # "stage_entered", "stage_exited", "deadline_breached", "robot", "deal_won", "deal_lost"
    kind: str
    at: AwareDatetime
    actor: str | None = None
    details: dict[str, Any] = Field(default_factory=dict)


class ReportEvent(ReportEventIn):
    model_config = _OUT

    id: int
