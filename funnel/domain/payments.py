"""How a payment applies to an invoice: the arithmetic, with no I/O, so that the deal
workflow, the store and the tests agree on when an invoice is paid."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from funnel.domain.models import InvoicePaid, InvoiceView


class PaymentKind(StrEnum):
    DUPLICATE = "duplicate"  # this payment was applied before: nothing changes
    UNMATCHED = "unmatched"  # the deal never issued the invoice (and it is no prepayment)
    WRONG_CURRENCY = "wrong_currency"  # paid in another currency than the invoice's
    PREPAID = "prepaid"  # a prepayment for an invoice the deal has not issued yet
    PARTIAL = "partial"  # applied; the invoice is not paid in full yet
    PAID = "paid"  # applied; the payments now add up to the invoice amount exactly
    OVERPAID = "overpaid"  # applied; the payments now exceed the invoice amount


@dataclass(frozen=True)
class PaymentCheck:
    kind: PaymentKind
    amount: Decimal  # what this payment adds (the outstanding amount when none was given)
    total: Decimal  # paid on the invoice once this payment is applied


def check_payment(invoice: InvoiceView | None, paid: InvoicePaid) -> PaymentCheck:
    """What applying ``paid`` to ``invoice`` (None: the deal has no such invoice) does."""
    given = paid.amount
    if invoice is None:
        kind = PaymentKind.PREPAID if paid.prepayment else PaymentKind.UNMATCHED
        return PaymentCheck(kind, given or Decimal(0), given or Decimal(0))
    already = invoice.paid_amount
    if any(p.payment_id == paid.implied_payment_id for p in invoice.payments) or (
        invoice.paid_at is not None and not invoice.payments
    ):
        # The second rule: an invoice paid before payments were kept one by one.
        return PaymentCheck(PaymentKind.DUPLICATE, Decimal(0), already)
    if paid.currency and invoice.currency and paid.currency != invoice.currency:
        return PaymentCheck(PaymentKind.WRONG_CURRENCY, Decimal(0), already)
    amount = given if given is not None else (invoice.outstanding or Decimal(0))
    total = already + amount
    if invoice.amount is None or total == invoice.amount:
        kind = PaymentKind.PAID
    elif total < invoice.amount:
        kind = PaymentKind.PARTIAL
    else:
        kind = PaymentKind.OVERPAID
    return PaymentCheck(kind, amount, total)


def money(amount: Decimal | None, currency: str | None = None) -> str:
    """40000 -> "40,000"; with the currency "40,000 RUB"."""
    if amount is None:
        return "?"
    text = f"{amount:,f}" if amount != amount.to_integral() else f"{amount:,.0f}"
    return f"{text} {currency}" if currency else text
