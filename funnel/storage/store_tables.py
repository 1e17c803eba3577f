"""The store's tables: deals, notifications, tasks, invoices and their payments, report
events (funnel/storage/store.py reads and writes them). Registered in the one table registry
(funnel/storage/tables.py); the revisions in migrations/ make them.

Every robot-written table has a business ``key`` under a UNIQUE constraint: a retried
activity's INSERT ... ON CONFLICT DO NOTHING finds its row and changes nothing.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy import Column, Table

from funnel.storage.tables import ID, JSON, MONEY, UTCDateTime, metadata

# No foreign keys to `deals` on purpose: activities of a deal are not ordered against its
# registration (a payment may be reported for a deal this store has not seen yet), and a
# write that must never be lost should not fail on ordering.
deals = Table(
    "deals", metadata,
    Column("deal_id", sa.String, primary_key=True),
    Column("title", sa.String, nullable=False),
    Column("pipeline_id", sa.String, nullable=False),
    Column("pipeline_version", sa.String, nullable=False),
    Column("stage", sa.String, nullable=False),
    Column("status", sa.String(16), nullable=False),
    Column("responsible", sa.String, nullable=False),
    Column("department_head", sa.String, nullable=False),
    Column("service", sa.String, nullable=False),
    Column("amount", MONEY, nullable=False),
    Column("currency", sa.String(3), nullable=False),
    Column("contact_name", sa.String, nullable=False),
    Column("contact_company", sa.String),
    Column("started_at", UTCDateTime, nullable=False),
    Column("closed_at", UTCDateTime),
    Column("lost_reason", sa.Text),
    Column("breached", sa.Boolean, nullable=False, default=False),
    # For the board (migration 0010): when the deal entered its stage, what waits there
    # (funnel.domain.stage_plan), who else works on it, and when its row last changed
    # (the board's live updates ask for rows changed since).
    Column("stage_entered_at", UTCDateTime),
    Column("plan", JSON),
    Column("sales_team", JSON),
    Column("updated_at", UTCDateTime, index=True),
    sa.Index(None, "status", "responsible"),  # migration 0002
    sa.Index(None, "status", "stage", "stage_entered_at"),  # a column of the board
)  # fmt: skip

notifications = Table(
    "notifications", metadata,
    Column("id", ID, primary_key=True, autoincrement=True),
    Column("key", sa.String, nullable=False, unique=True),
    Column("deal_id", sa.String, nullable=False),
    Column("stage", sa.String, nullable=False),
    Column("recipient", sa.String, nullable=False),
    Column("message", sa.Text, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("read", sa.Boolean, nullable=False, default=False),
    sa.Index(None, "recipient", "read"),
)  # fmt: skip

tasks = Table(
    "tasks", metadata,
    Column("id", ID, primary_key=True, autoincrement=True),
    Column("key", sa.String, nullable=False, unique=True),
    Column("deal_id", sa.String, nullable=False, index=True),
    Column("stage", sa.String, nullable=False),
    Column("robot_id", sa.String, nullable=False),
    Column("title", sa.String, nullable=False),
    Column("description", sa.Text, nullable=False),
    Column("responsible", sa.String, nullable=False),
    Column("co_executors", JSON, nullable=False),
    Column("created_by", sa.String, nullable=False),
    Column("needs_confirmation", sa.Boolean, nullable=False),
    Column("deadline_at", UTCDateTime),
    Column("created_at", UTCDateTime, nullable=False),
    Column("status", sa.String(32), nullable=False, default="open"),
    Column("completed_by", sa.String),
    Column("completed_at", UTCDateTime),
    Column("confirmed_by", sa.String),
)  # fmt: skip

invoices = Table(
    "invoices", metadata,
    Column("id", ID, primary_key=True, autoincrement=True),
    Column("key", sa.String, nullable=False, unique=True),
    Column("invoice_id", sa.String, nullable=False),
    Column("deal_id", sa.String, nullable=False),
    Column("amount", MONEY, nullable=False),
    Column("currency", sa.String(3), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("status", sa.String(16), nullable=False, default="issued"),
    Column("paid_amount", MONEY),
    Column("paid_at", UTCDateTime),
    Column("replaces", sa.String),  # migration 0009: the invoice(s) this one cancelled
    Column("replaced_by", sa.String),  # and, on a cancelled one, the invoice replacing it
    Column("cancelled_at", UTCDateTime),
    # A payment can arrive before the invoice robot ran (see mark_invoice_paid), under a
    # different key: this keeps it one invoice whichever write comes first.
    sa.UniqueConstraint("deal_id", "invoice_id"),
)  # fmt: skip

# Each payment of an invoice, once (its key: deal, invoice, payment id); the invoice's
# paid_amount is their sum, and it is paid when that reaches its amount.
invoice_payments = Table(
    "invoice_payments", metadata,
    Column("id", ID, primary_key=True, autoincrement=True),
    Column("key", sa.String, nullable=False, unique=True),
    Column("deal_id", sa.String, nullable=False, index=True),
    Column("invoice_id", sa.String, nullable=False),
    Column("payment_id", sa.String, nullable=False),
    Column("amount", MONEY, nullable=False),
    Column("currency", sa.String(3)),
    Column("paid_at", UTCDateTime, nullable=False),
)  # fmt: skip

report_events = Table(
    "report_events", metadata,
    Column("id", ID, primary_key=True, autoincrement=True),
    Column("key", sa.String, nullable=False, unique=True),
    Column("deal_id", sa.String, nullable=False, index=True),
    Column("pipeline_id", sa.String, nullable=False),
    Column("pipeline_version", sa.String, nullable=False),
    Column("stage", sa.String, nullable=False),
    Column("kind", sa.String, nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("actor", sa.String),
    Column("details", JSON, nullable=False),
    sa.Index(None, "kind", "at"),
    sa.Index(None, "stage", "at"),
)  # fmt: skip
