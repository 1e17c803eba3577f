"""A deal's invoices and the payments applied to them: the payment message a payment system
sends (``invoice_paid``) and what the deal keeps of each invoice."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field, computed_field

from funnel.domain.people import Actor, ActorKind, Via
from funnel.domain.text import OneLine


class InvoicePaid(BaseModel):
    """A payment applied to one of the deal's invoices. The invoice is paid once its
    payments add up to its amount; a payment without an amount pays what is outstanding."""

    model_config = ConfigDict(extra="forbid")
    invoice_id: OneLine = Field(min_length=1)
    amount: Decimal | None = Field(default=None, ge=0)
    paid_at: datetime | None = None
    payment_id: OneLine | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="the payment's own id: a payment sent twice is applied once (default:"
        " one made of the invoice, amount and paid time)",
    )
    currency: str | None = Field(default=None, pattern=r"^[A-Z]{3}$")
    prepayment: bool = Field(
        default=False,
        description="the deal has not issued this invoice yet: keep the payment for it",
    )
    actor: Actor | None = Field(
        default=None,
        description="who reports it, as authenticated (the payment webhook, a service or"
        " personal token); set by the API, never by a request body",
    )

    @property
    def implied_payment_id(self) -> str:
        if self.payment_id:
            return self.payment_id
        amount = "full" if self.amount is None else f"{self.amount:f}"
        when = self.paid_at.isoformat() if self.paid_at else ""
        return f"{self.invoice_id}/{amount}/{when}".rstrip("/")


class PaymentView(BaseModel):
    payment_id: str
    amount: Decimal
    currency: str | None = None
    paid_at: datetime
    received_at: datetime
    # Who reported it and how (None: reported without an actor, e.g. by the CLI, or before).
    by: str | None = None
    via: Via | None = None
    by_kind: ActorKind | None = None


class InvoiceView(BaseModel):
    invoice_id: str
    amount: Decimal | None = None
    currency: str | None = None
    paid_at: datetime | None = Field(
        default=None, description="when its payments added up to its amount"
    )
    received_at: datetime
    applied_in_seq: int | None = None
    payments: list[PaymentView] = Field(default_factory=list)
    prepayment: bool = False  # kept from a payment made before the deal issued it
    cancelled_at: datetime | None = None  # replaced by a new invoice for a changed amount
    replaces: str | None = None  # the invoice this one cancelled
    replaced_by: str | None = None  # on a cancelled invoice: the one issued instead

    @computed_field  # type: ignore[prop-decorator]
    @property
    def paid_amount(self) -> Decimal:
        if not self.payments and self.paid_at is not None:
            return self.amount or Decimal(0)  # paid before payments were kept one by one
        return sum((p.amount for p in self.payments), Decimal(0))

    @computed_field  # type: ignore[prop-decorator]
    @property
    def outstanding(self) -> Decimal | None:
        if self.amount is None:
            return None
        return max(self.amount - self.paid_amount, Decimal(0))

    @property
    def open(self) -> bool:
        """Issued, not cancelled, not yet paid in full: the client can still pay it."""
        return self.paid_at is None and self.cancelled_at is None


def invoice_document_key(deal_id: str, invoice_id: str) -> str:
    """The key of an invoice's document and of its e-mail to the client: one per invoice."""
    return f"{deal_id}:invoice-document:{invoice_id}"
