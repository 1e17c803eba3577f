"""Invoices sent to clients: an invoice row says which invoice it replaced, and a cancelled
one which invoice replaced it and when; a document row says which invoice it is and when
that invoice was cancelled (its HTML carries the ANNULLED stamp since).

Rows from before keep what they had; the new columns are empty for them.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | None = None
depends_on: str | None = None

_TS = sa.DateTime(timezone=True)
_INVOICES = (("replaces", sa.String()), ("replaced_by", sa.String()), ("cancelled_at", _TS))
_DOCUMENTS = (("invoice_id", sa.String()), ("cancelled_at", _TS))


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    for table, columns in (("invoices", _INVOICES), ("documents", _DOCUMENTS)):
        # A store table made by create_all of this code (before migrations) has them already.
        present = {c["name"] for c in inspector.get_columns(table)}
        for name, kind in columns:
            if name not in present:
                op.add_column(table, sa.Column(name, kind, nullable=True))


def downgrade() -> None:
    for table, columns in (("invoices", _INVOICES), ("documents", _DOCUMENTS)):
        with op.batch_alter_table(table) as batch:
            for name, _ in reversed(columns):
                batch.drop_column(name)
