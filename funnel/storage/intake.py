"""The API's own tables, on the funnel's database: web-form leads and payment deliveries.

``leads`` lets the intake see that an e-mail or phone already came in within the dedup
window; ``payments`` is keyed by the payment system's payment id, so a redelivered webhook
is recognised and acknowledged without touching the deal again.

Reading which deal issued an invoice uses the funnel store's ``invoices`` table (written by
the invoice robot) read-only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Column, Table
from sqlalchemy.dialects import postgresql, sqlite

from funnel.storage.store import Store
from funnel.storage.store_tables import invoices as funnel_invoices
from funnel.storage.tables import MONEY, UTCDateTime, metadata

leads = Table(
    "api_leads", metadata,
    Column("lead_id", sa.String, primary_key=True),
    Column("deal_id", sa.String, nullable=False),
    Column("email", sa.String, index=True),
    Column("phone", sa.String, index=True),
    Column("name", sa.String, nullable=False),
    Column("company", sa.String),
    Column("source", sa.String),
    Column("created_at", UTCDateTime, nullable=False, index=True),
    # "pending" until the deal's workflow is started; a failed start deletes the row.
    Column("status", sa.String(16), nullable=False),
)  # fmt: skip

payments = Table(
    "api_payments", metadata,
    Column("payment_id", sa.String, primary_key=True),
    Column("invoice_id", sa.String, nullable=False),
    Column("deal_id", sa.String, nullable=False, index=True),
    Column("amount", MONEY),
    Column("currency", sa.String(3)),
    Column("paid_at", UTCDateTime),
    Column("received_at", UTCDateTime, nullable=False),
)  # fmt: skip

_LEAD_LOCK = 7_146_815_303  # PostgreSQL advisory lock id: one lead intake at a time


@dataclass(frozen=True)
class LeadMatch:
    lead_id: str
    deal_id: str


class IntakeStore:
    """Thread-safe; the API calls it from worker threads (``asyncio.to_thread``)."""

    def __init__(self, store: Store) -> None:
        # The funnel store's engine and transactions: one connection pool per database, and
        # the same SQLite write locking (BEGIN IMMEDIATE) for the dedup check and insert.
        self._store = store
        self._pg = store.dialect == "postgresql"
        self._tx = store.transaction

    def ping(self) -> None:
        self._store.ping()

    # --- leads ----------------------------------------------------------------------------

    def claim_lead(
        self,
        *,
        lead_id: str,
        deal_id: str,
        email: str | None,
        phone: str | None,
        name: str,
        company: str | None,
        source: str | None,
        window: timedelta,
    ) -> LeadMatch | None:
        """Record a new lead as pending, or return the earlier lead with the same e-mail or
        phone within ``window``. One intake at a time (BEGIN IMMEDIATE on SQLite, an
        advisory lock on PostgreSQL), so two submissions of one form never both win."""
        now = datetime.now(UTC)
        same = []
        if email:
            same.append(leads.c.email == email)
        if phone:
            same.append(leads.c.phone == phone)
        with self._tx(write=True) as conn:
            if self._pg:
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LEAD_LOCK})
            if same:
                earlier = conn.execute(
                    sa.select(leads.c.lead_id, leads.c.deal_id)
                    .where(sa.or_(*same), leads.c.created_at >= now - window)
                    .order_by(leads.c.created_at)
                    .limit(1)
                ).first()
                if earlier is not None:
                    return LeadMatch(lead_id=earlier.lead_id, deal_id=earlier.deal_id)
            conn.execute(
                sa.insert(leads).values(
                    lead_id=lead_id,
                    deal_id=deal_id,
                    email=email,
                    phone=phone,
                    name=name,
                    company=company,
                    source=source,
                    created_at=now,
                    status="pending",
                )
            )
        return None

    def lead_started(self, lead_id: str) -> None:
        with self._tx(write=True) as conn:
            conn.execute(
                sa.update(leads).where(leads.c.lead_id == lead_id).values(status="started")
            )

    def drop_lead(self, lead_id: str) -> None:
        """The deal could not be started: forget the lead so that the form can be resent."""
        with self._tx(write=True) as conn:
            conn.execute(sa.delete(leads).where(leads.c.lead_id == lead_id))

    # --- payments -------------------------------------------------------------------------

    def payment(self, payment_id: str) -> dict[str, Any] | None:
        with self._tx() as conn:
            row = conn.execute(
                sa.select(payments).where(payments.c.payment_id == payment_id)
            ).first()
        return None if row is None else dict(row._mapping)

    def record_payment(
        self,
        *,
        payment_id: str,
        invoice_id: str,
        deal_id: str,
        amount: Decimal | None,
        currency: str | None,
        paid_at: datetime | None,
    ) -> bool:
        """Record an applied payment; False if it was recorded already (a concurrent
        delivery of the same payment won the race)."""
        values = {
            "payment_id": payment_id,
            "invoice_id": invoice_id,
            "deal_id": deal_id,
            "amount": amount,
            "currency": currency,
            "paid_at": paid_at,
            "received_at": datetime.now(UTC),
        }
        insert = postgresql.insert if self._pg else sqlite.insert
        stmt = insert(payments).values(**values).on_conflict_do_nothing()
        with self._tx(write=True) as conn:
            return conn.execute(stmt.returning(payments.c.payment_id)).first() is not None

    def deals_of_invoice(self, invoice_id: str) -> dict[str, str]:
        """The deals whose invoice robot issued ``invoice_id`` (normally exactly one), each
        with the invoice's currency."""
        query = sa.select(funnel_invoices.c.deal_id, funnel_invoices.c.currency).where(
            funnel_invoices.c.invoice_id == invoice_id
        )
        try:
            with self._tx() as conn:
                return {row.deal_id: row.currency for row in conn.execute(query)}
        except (sa.exc.OperationalError, sa.exc.ProgrammingError):
            # No worker has created the funnel tables yet (a database outage fails ping()
            # and /healthz instead): no invoice is known.
            self.ping()
            return {}
