"""Several funnels: a deal may move to another pipeline, so the funnel report's per-deal row
is one per deal and pipeline (a deal moved from one funnel to another is counted in both),
and closed deals are listed by pipeline through an index.

``analytics_deals`` is derived data: it is made again empty, and the next report folds every
event into it (analytics/refresh.py, layout "3").

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | None = None
depends_on: str | None = None

_COHORT = ["pipeline_id", "started_epoch", "responsible", "department_head", "stages"]
_CLOSED_INDEX = "ix_closed_deals_pipeline_id_closed_at"


def _deals_table(*key: str) -> None:
    op.create_table(
        "analytics_deals",
        sa.Column("deal_id", sa.String(), nullable=False),
        sa.Column("pipeline_id", sa.String(), nullable=False),
        sa.Column("responsible", sa.String(), nullable=False),
        sa.Column("department_head", sa.String(), nullable=False),
        sa.Column("started_epoch", sa.Float(), nullable=False),
        sa.Column("stages", sa.BigInteger(), nullable=False),
        sa.Column("breaches", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(*key),
    )
    op.create_index("ix_analytics_deals_cohort", "analytics_deals", _COHORT)


def _refold() -> None:
    # The next report's refresh sees no layout and folds every event again.
    op.execute(sa.text("DELETE FROM analytics_state WHERE name = 'layout'"))


def upgrade() -> None:
    op.drop_table("analytics_deals")
    _deals_table("deal_id", "pipeline_id")
    _refold()
    op.create_index(_CLOSED_INDEX, "closed_deals", ["pipeline_id", "closed_at"])


def downgrade() -> None:
    op.drop_index(_CLOSED_INDEX, table_name="closed_deals")
    op.drop_table("analytics_deals")
    _deals_table("deal_id")
    _refold()
