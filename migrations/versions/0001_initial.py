"""Initial schema: the store's tables (funnel/storage/store.py), the HTTP API's
(funnel/storage/intake.py)
and the analytics tables (funnel/storage/analytics_tables.py), as they were when migrations began.

Every table and index is created only if missing: a database made earlier by
``create_schema`` (metadata.create_all) is adopted as it is.

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None

# Frozen copies of the types in code: a revision must not change when the code does.
_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
_MONEY = sa.Numeric(precision=18, scale=2)
_TS = sa.DateTime(timezone=True)


def _table(name: str, *items: sa.schema.SchemaItem) -> None:
    op.create_table(name, *items, if_not_exists=True)


def _index(table: str, *columns: str) -> None:
    op.create_index(f"ix_{table}_{'_'.join(columns)}", table, list(columns), if_not_exists=True)


def _key(table: str) -> list[sa.schema.SchemaItem]:
    """The surrogate id and the unique business key of the robot-written tables."""
    return [
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("key", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key", name=f"uq_{table}_key"),
    ]


def upgrade() -> None:
    _table(
        "deals",
        sa.Column("deal_id", sa.String(), nullable=False),
        sa.Column("title", sa.String(), nullable=False),
        sa.Column("pipeline_id", sa.String(), nullable=False),
        sa.Column("pipeline_version", sa.String(), nullable=False),
        sa.Column("stage", sa.String(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("responsible", sa.String(), nullable=False),
        sa.Column("department_head", sa.String(), nullable=False),
        sa.Column("service", sa.String(), nullable=False),
        sa.Column("amount", _MONEY, nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("contact_name", sa.String(), nullable=False),
        sa.Column("contact_company", sa.String(), nullable=True),
        sa.Column("started_at", _TS, nullable=False),
        sa.Column("closed_at", _TS, nullable=True),
        sa.Column("lost_reason", sa.Text(), nullable=True),
        sa.Column("breached", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("deal_id"),
    )
    _table(
        "invoices",
        *_key("invoices"),
        sa.Column("invoice_id", sa.String(), nullable=False),
        sa.Column("deal_id", sa.String(), nullable=False),
        sa.Column("amount", _MONEY, nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("paid_amount", _MONEY, nullable=True),
        sa.Column("paid_at", _TS, nullable=True),
        sa.UniqueConstraint("deal_id", "invoice_id", name="uq_invoices_deal_id_invoice_id"),
    )
    _table(
        "notifications",
        *_key("notifications"),
        sa.Column("deal_id", sa.String(), nullable=False),
        sa.Column("stage", sa.String(), nullable=False),
        sa.Column("recipient", sa.String(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("read", sa.Boolean(), nullable=False),
    )
    _index("notifications", "recipient", "read")
    _table(
        "report_events",
        *_key("report_events"),
        sa.Column("deal_id", sa.String(), nullable=False),
        sa.Column("pipeline_id", sa.String(), nullable=False),
        sa.Column("pipeline_version", sa.String(), nullable=False),
        sa.Column("stage", sa.String(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("at", _TS, nullable=False),
        sa.Column("actor", sa.String(), nullable=True),
        sa.Column("details", _JSON, nullable=False),
    )
    _index("report_events", "deal_id")
    _index("report_events", "kind", "at")
    _index("report_events", "stage", "at")
    _table(
        "tasks",
        *_key("tasks"),
        sa.Column("deal_id", sa.String(), nullable=False),
        sa.Column("stage", sa.String(), nullable=False),
        sa.Column("robot_id", sa.String(), nullable=False),
        sa.Column("title", sa.String(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("responsible", sa.String(), nullable=False),
        sa.Column("co_executors", _JSON, nullable=False),
        sa.Column("created_by", sa.String(), nullable=False),
        sa.Column("needs_confirmation", sa.Boolean(), nullable=False),
        sa.Column("deadline_at", _TS, nullable=True),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("completed_by", sa.String(), nullable=True),
        sa.Column("completed_at", _TS, nullable=True),
        sa.Column("confirmed_by", sa.String(), nullable=True),
    )
    _index("tasks", "deal_id")

    # The HTTP API's tables.
    _table(
        "api_leads",
        sa.Column("lead_id", sa.String(), nullable=False),
        sa.Column("deal_id", sa.String(), nullable=False),
        sa.Column("email", sa.String(), nullable=True),
        sa.Column("phone", sa.String(), nullable=True),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("company", sa.String(), nullable=True),
        sa.Column("source", sa.String(), nullable=True),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.PrimaryKeyConstraint("lead_id"),
    )
    _index("api_leads", "created_at")
    _index("api_leads", "email")
    _index("api_leads", "phone")
    _table(
        "api_payments",
        sa.Column("payment_id", sa.String(), nullable=False),
        sa.Column("invoice_id", sa.String(), nullable=False),
        sa.Column("deal_id", sa.String(), nullable=False),
        sa.Column("amount", _MONEY, nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("paid_at", _TS, nullable=True),
        sa.Column("received_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("payment_id"),
    )
    _index("api_payments", "deal_id")

    # The analytics tables (derived data, rebuilt from report_events at any time).
    _table(
        "analytics_clock",
        sa.Column("calendar_id", sa.String(length=16), nullable=False),
        sa.Column("day", sa.Integer(), nullable=False),
        *(sa.Column(n, sa.Float(), nullable=False) for n in ("cum", "s1", "e1", "s2", "e2")),
        sa.Column("split", sa.Float(), nullable=False),
        sa.Column("off_a", sa.Integer(), nullable=False),
        sa.Column("off_b", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("calendar_id", "day"),
    )
    _table(
        "analytics_state",
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("value", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    _table(
        "analytics_visits",
        sa.Column("deal_id", sa.String(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("stage", sa.String(), nullable=False),
        sa.Column("pipeline_id", sa.String(), nullable=False),
        sa.Column("pipeline_version", sa.String(), nullable=False),
        sa.Column("responsible", sa.String(), nullable=False),
        sa.Column("department_head", sa.String(), nullable=False),
        sa.Column("started_epoch", sa.Float(), nullable=False),
        sa.Column("entered_at", _TS, nullable=False),
        sa.Column("entered_epoch", sa.Float(), nullable=False),
        sa.Column("entered_w", sa.Float(), nullable=True),
        sa.Column("exited_at", _TS, nullable=True),
        sa.Column("exited_epoch", sa.Float(), nullable=True),
        sa.Column("exit_to", sa.String(), nullable=True),
        sa.Column("calendar_seconds", sa.Float(), nullable=True),
        sa.Column("working_seconds", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("deal_id", "seq"),
    )
    _index("analytics_visits", "pipeline_id", "stage", "exited_epoch")
    _index("analytics_visits", "pipeline_id", "started_epoch")


def downgrade() -> None:
    # Dropping a table drops its indexes. Only for an empty test database: this deletes data.
    for name in (
        "analytics_visits", "analytics_state", "analytics_clock", "api_payments", "api_leads",
        "tasks", "report_events", "notifications", "invoices", "deals",
    ):  # fmt: skip
        op.drop_table(name)
