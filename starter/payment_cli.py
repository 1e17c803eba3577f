"""Reporting a payment from the CLI: checked against the deal's invoices before it is sent
(the deal would only report a payment it cannot apply), then read back to say what it did."""

from __future__ import annotations

import asyncio
from typing import Any

from funnel.client.deals import DealClient
from funnel.domain.models import InvoicePaid, InvoiceView
from funnel.domain.payments import money
from starter.cli_support import Failure

READ_BACK_SECONDS = 5.0  # a signal is applied asynchronously: how long to wait to show it


async def send_payment(client: DealClient, deal_id: str, paid: InvoicePaid) -> dict[str, Any]:
    """Send the payment; the invoice as the deal has it afterwards (JSON-ready)."""
    state = await client.state(deal_id)
    invoice = state.invoice(paid.invoice_id)
    if invoice is None and not paid.prepayment:
        issued = ", ".join(i.invoice_id for i in state.invoices) or "none yet"
        raise Failure(
            f"deal {deal_id} has not issued invoice {paid.invoice_id!r} (its invoices:"
            f" {issued}); nothing was sent. A payment made before its invoice: --prepayment"
        )
    if invoice is not None and paid.currency and invoice.currency not in (None, paid.currency):
        raise Failure(
            f"invoice {paid.invoice_id} is in {invoice.currency}, the payment in"
            f" {paid.currency}; nothing was sent"
        )
    await client.invoice_paid(deal_id, paid)
    payment_id = paid.implied_payment_id
    deadline = asyncio.get_running_loop().time() + READ_BACK_SECONDS
    while True:
        now = (await client.state(deal_id)).invoice(paid.invoice_id)
        applied = now is not None and any(p.payment_id == payment_id for p in now.payments)
        if applied or asyncio.get_running_loop().time() > deadline:
            return _view(now or invoice)
        await asyncio.sleep(0.1)


def _view(invoice: InvoiceView | None) -> dict[str, Any]:
    return {} if invoice is None else invoice.model_dump(mode="json")


def payment_line(deal_id: str, invoice_id: str, invoice: dict[str, Any]) -> str:
    if not invoice:
        return f"payment of invoice {invoice_id} sent to deal {deal_id}"
    view = InvoiceView.model_validate(invoice)
    paid = money(view.paid_amount, view.currency)
    if view.paid_at is not None:
        return f"invoice {invoice_id} of deal {deal_id}: paid in full ({paid})"
    due = money(view.amount, view.currency)
    return (
        f"invoice {invoice_id} of deal {deal_id}: {paid} of {due} paid,"
        f" {money(view.outstanding, view.currency)} outstanding"
    )
