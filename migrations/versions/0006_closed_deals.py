"""The closed deals' records (funnel/storage/closed_deals.py): one row per deal once it is
closed, with
its final state and every robot run, so that a deal stays readable after the namespace's
retention deleted its workflow. Deals closed before this revision get theirs from
`funnel db backfill-closed` while their workflows are still within retention.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | None = None
depends_on: str | None = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "closed_deals",
        sa.Column("deal_id", sa.String(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("stage", sa.String(), nullable=False),
        sa.Column("pipeline_id", sa.String(), nullable=False),
        sa.Column("responsible", sa.String(), nullable=False),
        sa.Column("department_head", sa.String(), nullable=False),
        sa.Column("amount", sa.Numeric(precision=18, scale=2), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("title", sa.String(), nullable=False),
        sa.Column("breached", sa.Boolean(), nullable=False),
        sa.Column("started_at", _TS, nullable=False),
        sa.Column("closed_at", _TS, nullable=False),
        sa.Column("workflow_end", sa.String(length=16), nullable=False),
        sa.Column("recorded_at", _TS, nullable=False),
        sa.Column("record", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("deal_id"),
        if_not_exists=True,
    )
    for columns in (["stage", "closed_at"], ["responsible", "closed_at"], ["closed_at"]):
        op.create_index(
            f"ix_closed_deals_{'_'.join(columns)}", "closed_deals", columns, if_not_exists=True
        )


def downgrade() -> None:
    op.drop_table("closed_deals")
