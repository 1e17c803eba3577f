"""Summary rows kept at fold time next to the visits, so that no report groups a million rows:

- ``analytics_stage_bits``: one bit per stage id of a pipeline;
- ``analytics_deals``: per deal the stages it entered (a bit mask), its breaches and the
  cohort columns (the funnel and the trend read 100,000 of these instead of every visit);
- ``analytics_breaches`` and ``analytics_escalations``: the breach events and the escalation
  notifications with the deal's pipeline and people copied in (no join with ``deals``).

Every step is idempotent (insert-if-absent, or an upsert recomputed from all of a deal's
visits), so re-reading a window of events or notifications is safe.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from analytics.sql import Dialect
from funnel.storage.analytics_tables import (
    MAX_BIT,
    breach_rows,
    deal_rows,
    escalation_rows,
    stage_bits,
    visits,
)
from funnel.storage.store import deals, notifications, report_events

BREACH = "deadline_breached"
e = report_events.c
d = deals.c


def _insert(dialect: Dialect, table: sa.Table) -> Any:
    return (postgresql.insert if dialect.pg else sqlite.insert)(table)


def is_escalation(robots: list[str], key: Any) -> Any:
    """Notification keys are "<deal>:<visit>:<robot>:<recipient>" (activities/robots.py)."""
    return sa.or_(*(key.like(f"%:{r}:%") for r in robots)) if robots else sa.false()


def fold_events(conn: sa.Connection, dialect: Dialect, low: int, top: int) -> None:
    """After the visits of events ``(low, top]`` are folded: new stage bits, the breach rows,
    then the summary row of every deal those events touched."""
    batch = sa.and_(e.id > low, e.id <= top)
    _add_stage_bits(conn, batch)

    breaches = (
        sa.select(e.id, e.deal_id, e.pipeline_id, e.stage, e.at, d.responsible, d.department_head)
        .select_from(report_events.join(deals, d.deal_id == e.deal_id))
        .where(batch, e.kind == BREACH)
    )
    names = ["event_id", "deal_id", "pipeline_id", "stage", "at", "responsible",
             "department_head"]  # fmt: skip
    conn.execute(
        _insert(dialect, breach_rows).from_select(names, breaches).on_conflict_do_nothing()
    )

    v = visits.c
    b = stage_bits.c
    touched = sa.select(e.deal_id).where(batch).distinct()
    mask = sa.cast(sa.literal(1, sa.BigInteger), sa.BigInteger).op("<<")(b.bit)
    breach_count = (
        sa.select(sa.func.count())
        .where(breach_rows.c.deal_id == v.deal_id, breach_rows.c.pipeline_id == v.pipeline_id)
        .scalar_subquery()
    )
    rows = (
        sa.select(
            v.deal_id, v.pipeline_id, sa.func.min(v.responsible),
            sa.func.min(v.department_head), sa.func.min(v.started_epoch),
            sa.cast(sa.func.sum(sa.distinct(mask)), sa.BigInteger), breach_count,
        )
        .select_from(visits.join(
            stage_bits, sa.and_(b.pipeline_id == v.pipeline_id, b.stage == v.stage)
        ))
        .where(v.deal_id.in_(touched))
        .group_by(v.deal_id, v.pipeline_id)
    )  # fmt: skip
    cols = ["deal_id", "pipeline_id", "responsible", "department_head", "started_epoch",
            "stages", "breaches"]  # fmt: skip
    upsert = _insert(dialect, deal_rows).from_select(cols, rows)
    conn.execute(
        upsert.on_conflict_do_update(
            index_elements=["deal_id", "pipeline_id"],
            set_={c: getattr(upsert.excluded, c) for c in cols[1:]},
        )
    )


def _add_stage_bits(conn: sa.Connection, batch: Any) -> None:
    """Give each stage id first seen in this batch the next free bit of its pipeline. A few
    distinct (pipeline, stage) pairs: the loop is over stages, not rows."""
    known: dict[str, set[str]] = {}
    for pipeline_id, stage in conn.execute(sa.select(stage_bits.c.pipeline_id, stage_bits.c.stage)):
        known.setdefault(pipeline_id, set()).add(stage)
    seen = conn.execute(
        sa.select(e.pipeline_id, e.stage)
        .where(batch, e.kind == "stage_entered")
        .distinct()
        .order_by(e.pipeline_id, e.stage)
    )
    new = []
    for pipeline_id, stage in seen:
        have = known.setdefault(pipeline_id, set())
        if stage in have:
            continue
        if len(have) > MAX_BIT:
            raise ValueError(
                f"pipeline {pipeline_id!r} has over {MAX_BIT + 1} stage ids across its"
                " versions; the funnel's per-deal stage mask cannot hold them"
            )
        new.append({"pipeline_id": pipeline_id, "stage": stage, "bit": len(have)})
        have.add(stage)
    if new:
        conn.execute(sa.insert(stage_bits), new)


def fold_notifications(
    conn: sa.Connection, dialect: Dialect, robots: list[str], low: int, top: int
) -> None:
    n = notifications.c
    rows = (
        sa.select(n.id, n.deal_id, d.pipeline_id, n.stage, n.created_at, d.responsible,
                  d.department_head)
        .select_from(notifications.join(deals, d.deal_id == n.deal_id))
        .where(n.id > low, n.id <= top, is_escalation(robots, n.key))
    )  # fmt: skip
    names = ["notification_id", "deal_id", "pipeline_id", "stage", "created_at", "responsible",
             "department_head"]  # fmt: skip
    conn.execute(
        _insert(dialect, escalation_rows).from_select(names, rows).on_conflict_do_nothing()
    )
