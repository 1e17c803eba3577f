"""The store's invoices and their payments: issued by the invoice robot, paid in one or
more payments (a payment may come first), cancelled when replaced (funnel/storage/store.py)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from funnel.storage.base import StoreBase, select_columns
from funnel.storage.records import Invoice, InvoiceIn
from funnel.storage.store_tables import deals, invoice_payments, invoices
from funnel.storage.tables import to_utc

_NO_CURRENCY = "XXX"  # ISO 4217 "no currency", for a payment of a deal the store never saw


class InvoiceMethods(StoreBase):
    """The invoices part of :class:`funnel.storage.store.Store`."""

    def add_invoice(self, i: InvoiceIn) -> bool:
        return self._add(invoices, {**i.model_dump(), "status": "issued"})

    def mark_invoice_paid(
        self,
        invoice_id: str,
        *,
        deal_id: str,
        amount: Decimal | None,
        paid_at: datetime,
        payment_id: str | None = None,
        currency: str | None = None,
    ) -> bool:
        """Record one payment of an invoice; False if it was recorded before (nothing
        changes). The invoice is paid once its payments add up to its amount; a payment
        without an amount pays what is outstanding.

        The payment may come before the invoice robot ran (a prepayment), so an unknown
        invoice is created here; the robot's later add_invoice then finds it."""
        paid_at = to_utc(paid_at)
        with self._tx(write=True) as conn:
            deal_currency = conn.execute(
                sa.select(deals.c.currency).where(deals.c.deal_id == deal_id)
            ).scalar()
            self.insert_new(
                conn,
                invoices,
                {
                    "key": f"{deal_id}:invoice:{invoice_id}",
                    "invoice_id": invoice_id,
                    "deal_id": deal_id,
                    "amount": Decimal(0) if amount is None else amount,
                    "currency": deal_currency or _NO_CURRENCY,
                    "created_at": paid_at,
                    "status": "issued",
                },
            )
            # Locks the invoice row (PostgreSQL) so that concurrent payments add up one
            # after the other; SQLite has the whole database locked already.
            row = conn.execute(
                sa.select(invoices.c.amount, invoices.c.paid_amount, invoices.c.status)
                .where(invoices.c.deal_id == deal_id, invoices.c.invoice_id == invoice_id)
                .with_for_update()
            ).one()
            already = row.paid_amount or Decimal(0)
            if payment_id is None:  # a worker from before payments had ids: pays in full
                if row.status != "issued":
                    return False
                payment_id = "full"
            pays = amount if amount is not None else max(row.amount - already, Decimal(0))
            new = self.insert_new(
                conn,
                invoice_payments,
                {
                    "key": f"{deal_id}:{invoice_id}:{payment_id}",
                    "deal_id": deal_id,
                    "invoice_id": invoice_id,
                    "payment_id": payment_id,
                    "amount": pays,
                    "currency": currency,
                    "paid_at": paid_at,
                },
            )
            if not new:
                return False
            total = already + pays
            changes: dict[str, Any] = {"paid_amount": total}
            if row.status == "issued" and total >= row.amount:
                changes.update(status="paid", paid_at=paid_at)
            conn.execute(
                sa.update(invoices)
                .where(invoices.c.deal_id == deal_id, invoices.c.invoice_id == invoice_id)
                .values(**changes)
            )
            return True

    def cancel_invoices(
        self,
        deal_id: str,
        invoice_ids: Sequence[str],
        *,
        replaced_by: str | None = None,
        at: datetime | None = None,
    ) -> None:
        """Mark open invoices cancelled (replaced by ``replaced_by`` for a changed amount)."""
        if not invoice_ids:
            return
        with self._tx(write=True) as conn:
            conn.execute(
                sa.update(invoices)
                .where(
                    invoices.c.deal_id == deal_id,
                    invoices.c.invoice_id.in_(invoice_ids),
                    invoices.c.status == "issued",
                )
                .values(
                    status="cancelled",
                    replaced_by=replaced_by,
                    cancelled_at=None if at is None else to_utc(at),
                )
            )

    def invoice(self, deal_id: str, invoice_id: str) -> Invoice | None:
        query = select_columns(invoices, Invoice).where(
            invoices.c.deal_id == deal_id, invoices.c.invoice_id == invoice_id
        )
        return next(iter(self._all(Invoice, query)), None)

    def payments(self, deal_id: str) -> list[dict[str, Any]]:
        query = (
            sa.select(invoice_payments)
            .where(invoice_payments.c.deal_id == deal_id)
            .order_by(invoice_payments.c.paid_at, invoice_payments.c.id)
        )
        with self._tx() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

    def invoices(self, deal_id: str) -> list[Invoice]:
        query = select_columns(invoices, Invoice).where(invoices.c.deal_id == deal_id)
        return self._all(Invoice, query.order_by(invoices.c.created_at, invoices.c.id))
