"""Analytics summary rows kept at fold time (analytics/summary.py) and the indexes the speed
report reads its percentiles from: every report over a million events answers in under a
second (docs/analytics.md, "Speed").

Derived data only: the tables start empty and the next report folds every event into them
(the "layout" state row of analytics/refresh.py tells it to).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_TS = sa.DateTime(timezone=True)
_VISITS = "analytics_visits"
_VISIT_INDEXES = {
    "ix_analytics_visits_calendar_order": [
        "pipeline_id", "stage", "calendar_seconds", "working_seconds", "exited_epoch",
        "responsible", "department_head",
    ],
    "ix_analytics_visits_working_order": [
        "pipeline_id", "stage", "working_seconds", "exited_epoch", "responsible",
        "department_head",
    ],
    "ix_analytics_visits_pipeline_id_exit_to": ["pipeline_id", "exit_to"],
}  # fmt: skip


def _people() -> list[sa.Column[str]]:
    return [
        sa.Column("responsible", sa.String(), nullable=False),
        sa.Column("department_head", sa.String(), nullable=False),
    ]


def upgrade() -> None:
    for name, columns in _VISIT_INDEXES.items():
        op.create_index(name, _VISITS, columns, if_not_exists=True)
    op.create_table(
        "analytics_stage_bits",
        sa.Column("pipeline_id", sa.String(), nullable=False),
        sa.Column("stage", sa.String(), nullable=False),
        sa.Column("bit", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("pipeline_id", "stage"),
        if_not_exists=True,
    )
    op.create_table(
        "analytics_deals",
        sa.Column("deal_id", sa.String(), nullable=False),
        sa.Column("pipeline_id", sa.String(), nullable=False),
        *_people(),
        sa.Column("started_epoch", sa.Float(), nullable=False),
        sa.Column("stages", sa.BigInteger(), nullable=False),
        sa.Column("breaches", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("deal_id"),
        if_not_exists=True,
    )
    op.create_index(
        "ix_analytics_deals_cohort", "analytics_deals",
        ["pipeline_id", "started_epoch", "responsible", "department_head", "stages"],
        if_not_exists=True,
    )  # fmt: skip
    op.create_table(
        "analytics_breaches",
        sa.Column("event_id", _ID, nullable=False),
        sa.Column("deal_id", sa.String(), nullable=False),
        sa.Column("pipeline_id", sa.String(), nullable=False),
        sa.Column("stage", sa.String(), nullable=False),
        sa.Column("at", _TS, nullable=False),
        *_people(),
        sa.PrimaryKeyConstraint("event_id"),
        if_not_exists=True,
    )
    op.create_index(
        "ix_analytics_breaches_deal_id", "analytics_breaches", ["deal_id"], if_not_exists=True
    )
    op.create_index(
        "ix_analytics_breaches_at", "analytics_breaches",
        ["pipeline_id", "at", "stage", "responsible", "department_head"], if_not_exists=True,
    )  # fmt: skip
    op.create_table(
        "analytics_escalations",
        sa.Column("notification_id", _ID, nullable=False),
        sa.Column("deal_id", sa.String(), nullable=False),
        sa.Column("pipeline_id", sa.String(), nullable=False),
        sa.Column("stage", sa.String(), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        *_people(),
        sa.PrimaryKeyConstraint("notification_id"),
        if_not_exists=True,
    )
    op.create_index(
        "ix_analytics_escalations_at", "analytics_escalations",
        ["pipeline_id", "created_at", "stage", "responsible", "department_head"],
        if_not_exists=True,
    )  # fmt: skip


def downgrade() -> None:
    for table in (
        "analytics_escalations", "analytics_breaches", "analytics_deals", "analytics_stage_bits"
    ):  # fmt: skip
        op.drop_table(table)
    for name in _VISIT_INDEXES:
        op.drop_index(name, table_name=_VISITS)
    # The derived tables of 0003 and before stay; the next report's refresh sees the older
    # layout and folds every event again.
    op.execute(sa.text("DELETE FROM analytics_state WHERE name = 'layout'"))
