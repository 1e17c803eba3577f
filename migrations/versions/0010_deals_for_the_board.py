"""The board of deals (the workspace's `/`): when a deal entered its stage, what waits there
(its timed robots and deadline with their due times), its sales team, and when its row last
changed, indexed for the board's columns and its live updates.

Open deals get their stage entry time from their `stage_entered` report events and their
last change from it (or from their start or close); their plan and sales team come with
their next stage entry or edit.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | None = None
depends_on: str | None = None

_TS = sa.DateTime(timezone=True)
_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
_COLUMNS = (
    ("stage_entered_at", _TS),
    ("plan", _JSON),
    ("sales_team", _JSON),
    ("updated_at", _TS),
)
_INDEXES = {
    "ix_deals_updated_at": ["updated_at"],
    "ix_deals_status_stage_stage_entered_at": ["status", "stage", "stage_entered_at"],
}


def upgrade() -> None:
    present = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("deals")}
    for name, type_ in _COLUMNS:
        if name not in present:  # a database made by create_all of this code has them
            op.add_column("deals", sa.Column(name, type_, nullable=True))
    op.execute(
        "UPDATE deals SET stage_entered_at = (SELECT MAX(r.at) FROM report_events r"
        " WHERE r.deal_id = deals.deal_id AND r.kind = 'stage_entered'"
        " AND r.stage = deals.stage) WHERE stage_entered_at IS NULL"
    )
    op.execute(
        "UPDATE deals SET updated_at = COALESCE(closed_at, stage_entered_at, started_at)"
        " WHERE updated_at IS NULL"
    )
    for name, columns in _INDEXES.items():
        op.create_index(name, "deals", columns, if_not_exists=True)


def downgrade() -> None:
    for name in _INDEXES:
        op.drop_index(name, table_name="deals")
    with op.batch_alter_table("deals") as batch:
        for name, _ in reversed(_COLUMNS):
            batch.drop_column(name)
