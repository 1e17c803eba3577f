"""Index deals by status and responsible: "the open deals of this manager" (the API's deal
list, a manager's morning view) no longer scans every deal ever made.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

from __future__ import annotations

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    # if_not_exists: a database made by create_schema with the current code has it already.
    op.create_index(
        "ix_deals_status_responsible", "deals", ["status", "responsible"], if_not_exists=True
    )


def downgrade() -> None:
    op.drop_index("ix_deals_status_responsible", table_name="deals")
