"""The analytics tables: derived data only, rebuilt from ``report_events`` at any time.

``analytics_visits`` has one row per stage visit (a ``stage_entered`` event and, once the
deal moves on, its ``stage_exited`` event, matched on deal and visit number). Calendar and
working seconds are computed once, when the exit is folded in, so a report over a million
events reads one narrow table instead of pairing events and walking calendars per query.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy import Column, MetaData, Table

from funnel.store import UTCDateTime

metadata = MetaData(naming_convention={"ix": "ix_%(table_name)s_%(column_0_N_name)s"})

_EPOCH = sa.Float  # seconds since 1970 (UTC): one comparable number on both backends

visits = Table(
    "analytics_visits", metadata,
    Column("deal_id", sa.String, primary_key=True),
    Column("seq", sa.Integer, primary_key=True),
    Column("stage", sa.String, nullable=False),
    Column("pipeline_id", sa.String, nullable=False),
    Column("pipeline_version", sa.String, nullable=False),
    # Copied from the deal (fixed when it starts) so that filters need no join.
    Column("responsible", sa.String, nullable=False),
    Column("department_head", sa.String, nullable=False),
    Column("started_epoch", _EPOCH, nullable=False),
    Column("entered_at", UTCDateTime, nullable=False),
    Column("entered_epoch", _EPOCH, nullable=False),
    Column("entered_w", _EPOCH),  # the working clock at entry (see analytics.workclock)
    Column("exited_at", UTCDateTime),
    Column("exited_epoch", _EPOCH),
    Column("exit_to", sa.String),
    Column("calendar_seconds", _EPOCH),
    Column("working_seconds", _EPOCH),
    sa.Index(None, "pipeline_id", "stage", "exited_epoch"),
    sa.Index(None, "pipeline_id", "started_epoch"),
)  # fmt: skip

clock = Table(
    "analytics_clock", metadata,
    Column("calendar_id", sa.String(16), primary_key=True),
    Column("day", sa.Integer, primary_key=True),
    Column("cum", sa.Float, nullable=False),
    Column("s1", sa.Float, nullable=False),
    Column("e1", sa.Float, nullable=False),
    Column("s2", sa.Float, nullable=False),
    Column("e2", sa.Float, nullable=False),
    Column("split", sa.Float, nullable=False),
    Column("off_a", sa.Integer, nullable=False),
    Column("off_b", sa.Integer, nullable=False),
)  # fmt: skip

# name -> value: "watermark" (the last report event folded into the visits) and "calendar".
state = Table(
    "analytics_state", metadata,
    Column("name", sa.String, primary_key=True),
    Column("value", sa.String, nullable=False),
)  # fmt: skip
