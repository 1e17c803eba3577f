"""Each payment of an invoice is kept with its own id: an invoice is paid when its payments
add up to its amount (a partial payment no longer pays it in full). Invoices can be
cancelled (replaced by a new one for a changed amount).

Invoices paid before this revision keep their paid_amount and status; they get no payment
rows.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | None = None
depends_on: str | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    if "invoice_payments" in sa.inspect(op.get_bind()).get_table_names():
        return  # made by create_schema of this code
    op.create_table(
        "invoice_payments",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("key", sa.String(), nullable=False),
        sa.Column("deal_id", sa.String(), nullable=False),
        sa.Column("invoice_id", sa.String(), nullable=False),
        sa.Column("payment_id", sa.String(), nullable=False),
        sa.Column("amount", sa.Numeric(18, 2), nullable=False),
        sa.Column("currency", sa.String(3), nullable=True),
        sa.Column("paid_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("key", name="uq_invoice_payments_key"),
    )
    op.create_index("ix_invoice_payments_deal_id", "invoice_payments", ["deal_id"])


def downgrade() -> None:
    op.drop_index("ix_invoice_payments_deal_id", table_name="invoice_payments")
    op.drop_table("invoice_payments")
