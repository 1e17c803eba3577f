"""The analytics tables: derived data only, rebuilt from ``report_events`` at any time.

``analytics_visits`` has one row per stage visit (a ``stage_entered`` event and, once the
deal moves on, its ``stage_exited`` event, matched on deal and visit number). Calendar and
working seconds are computed once, when the exit is folded in, so a report over a million
events reads one narrow table instead of pairing events and walking calendars per query.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy import Column, Table

from funnel.storage.tables import ID, UTCDateTime, metadata

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
    # Percentiles are read from these in order (ORDER BY .. LIMIT 2 OFFSET k); they carry
    # every column the speed report filters on, so walking them never reads the table.
    sa.Index(
        "ix_analytics_visits_calendar_order", "pipeline_id", "stage", "calendar_seconds",
        "working_seconds", "exited_epoch", "responsible", "department_head",
    ),
    sa.Index(
        "ix_analytics_visits_working_order", "pipeline_id", "stage", "working_seconds",
        "exited_epoch", "responsible", "department_head",
    ),
    sa.Index(None, "pipeline_id", "exit_to"),  # the funnel's lost deals
)  # fmt: skip

# One bit per stage id of a pipeline (all its versions), in the order they were first seen.
stage_bits = Table(
    "analytics_stage_bits", metadata,
    Column("pipeline_id", sa.String, primary_key=True),
    Column("stage", sa.String, primary_key=True),
    Column("bit", sa.Integer, nullable=False),
)  # fmt: skip

MAX_BIT = 62  # masks are signed 64-bit integers on both backends

# One row per deal and pipeline (a deal moved to another funnel has one in each), kept at
# fold time: the stages it ever entered there as a bit mask (the funnel reads 100,000 of
# these instead of grouping every visit), its breaches there, and its start day.
deal_rows = Table(
    "analytics_deals", metadata,
    Column("deal_id", sa.String, primary_key=True),
    Column("pipeline_id", sa.String, primary_key=True),
    Column("responsible", sa.String, nullable=False),
    Column("department_head", sa.String, nullable=False),
    Column("started_epoch", _EPOCH, nullable=False),
    Column("stages", sa.BigInteger, nullable=False),  # sum of 2**bit over the stages entered
    Column("breaches", sa.Integer, nullable=False),  # its deadline_breached events
    sa.Index(
        "ix_analytics_deals_cohort", "pipeline_id", "started_epoch", "responsible",
        "department_head", "stages",
    ),
)  # fmt: skip

# One row per deadline_breached event, with the deal's responsible and department head
# copied in (they are fixed when the deal starts): the breach counts need no join.
breach_rows = Table(
    "analytics_breaches", metadata,
    Column("event_id", ID, primary_key=True),
    Column("deal_id", sa.String, nullable=False),
    Column("pipeline_id", sa.String, nullable=False),
    Column("stage", sa.String, nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("responsible", sa.String, nullable=False),
    Column("department_head", sa.String, nullable=False),
    sa.Index(None, "deal_id"),
    sa.Index("ix_analytics_breaches_at", "pipeline_id", "at", "stage", "responsible",
             "department_head"),
)  # fmt: skip

# One row per escalation (a notification sent by a stage deadline's notify robot, as named
# by the pipeline file; the state row "robots" says which), with the deal's people.
escalation_rows = Table(
    "analytics_escalations", metadata,
    Column("notification_id", ID, primary_key=True),
    Column("deal_id", sa.String, nullable=False),
    Column("pipeline_id", sa.String, nullable=False),
    Column("stage", sa.String, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("responsible", sa.String, nullable=False),
    Column("department_head", sa.String, nullable=False),
    sa.Index("ix_analytics_escalations_at", "pipeline_id", "created_at", "stage",
             "responsible", "department_head"),
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
