"""Documents keep their HTML (the document of record) and the PDF made from it on the first
download (funnel/runtime/pdf.py), so that the API serves both from any node.

Documents rendered before this revision keep their files only: their rows get no HTML. A
column already there (the table made by DeliveryStore.create_schema of this code) is kept.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    present = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("documents")}
    new: list[sa.Column[object]] = [
        sa.Column("html", sa.Text(), nullable=True),
        sa.Column("pdf", sa.LargeBinary(), nullable=True),
    ]
    with op.batch_alter_table("documents") as batch:
        for column in new:
            if column.name not in present:
                batch.add_column(column)


def downgrade() -> None:
    with op.batch_alter_table("documents") as batch:
        batch.drop_column("pdf")
        batch.drop_column("html")
