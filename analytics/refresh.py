"""Fold new report events into ``analytics_visits``, in SQL, before a report reads them.

Incremental: a watermark remembers the last event id folded in, so a report on a quiet
database costs one indexed lookup. Both steps are idempotent (insert-if-absent keyed on deal
and visit number; the exit sets the same values again), which is what makes re-reading safe:
on PostgreSQL ids come from a sequence and a transaction can commit an event with a smaller
id after a larger one became visible, so a refresh re-reads the last ``REREAD`` ids below
the watermark. It does so only when something changed: the state also keeps how many ids
that window held, and a refresh that finds the same top id and the same count (two index
counts) has nothing to fold. SQLite has one writer at a time, so its ids commit in order.
The summary rows of analytics/summary.py are folded in the same transaction; escalation
notifications have their own watermark.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from analytics.sql import Dialect, Expr
from analytics.summary import fold_events, fold_notifications
from analytics.workclock import DAY, ensure_clock
from funnel.domain.calendar_spec import CalendarSpec
from funnel.storage.analytics_tables import (
    breach_rows,
    clock,
    deal_rows,
    escalation_rows,
    stage_bits,
    state,
    visits,
)
from funnel.storage.store import deals, notifications, report_events

REREAD = 10_000
LAYOUT = "3"  # the derived tables' layout: another value folds everything again
DERIVED = (visits, deal_rows, stage_bits, breach_rows, escalation_rows)
_LOCK = 7_146_815_302  # advisory lock id: one refresh at a time on PostgreSQL


def working_clock(d: Dialect, epoch: Expr, c: sa.FromClause) -> Expr:
    """W(t): working seconds since the clock's origin, from the clock row of t's UTC day."""
    return (
        c.c.cum
        + d.greatest(0.0, d.least(epoch, c.c.e1) - c.c.s1)
        + d.greatest(0.0, d.least(epoch, c.c.e2) - c.c.s2)
    )


def _get(conn: sa.Connection, name: str) -> str | None:
    return conn.execute(sa.select(state.c.value).where(state.c.name == name)).scalar()


def watermark(conn: sa.Connection) -> int:
    """The last report event id folded in (0: none yet)."""
    return int(_get(conn, "watermark") or 0)


def _put(conn: sa.Connection, name: str, value: str) -> None:
    conn.execute(sa.delete(state).where(state.c.name == name))
    conn.execute(sa.insert(state).values(name=name, value=value))


def _window(conn: sa.Connection, d: Dialect, ids: Any, name: str) -> tuple[int, int] | None:
    """The ids ``(low, top]`` to fold for watermark ``name``, or None when nothing changed."""
    mark = int(_get(conn, name) or 0)
    top = conn.execute(sa.select(sa.func.max(ids))).scalar() or 0
    if not d.pg:
        return (mark, top) if top > mark else None
    if top <= mark and _get(conn, f"{name}_window") == str(_count(conn, ids, mark)):
        return None
    return max(0, mark - REREAD), top


def _count(conn: sa.Connection, ids: Any, mark: int) -> int:
    """How many ids the re-read window below ``mark`` holds (an index-only count)."""
    where = sa.and_(ids > max(0, mark - REREAD), ids <= mark)
    return int(conn.execute(sa.select(sa.func.count()).where(where)).scalar_one())


def _advance(conn: sa.Connection, d: Dialect, ids: Any, name: str, top: int) -> None:
    mark = max(top, int(_get(conn, name) or 0))
    _put(conn, name, str(mark))
    if d.pg:
        _put(conn, f"{name}_window", str(_count(conn, ids, mark)))


def refresh(conn: sa.Connection, spec: CalendarSpec, robots: list[str]) -> int:
    """Fold every report event and escalation not yet seen; returns the events' watermark.
    Runs inside the caller's write transaction. ``robots``: the escalation robot ids."""
    d = Dialect(conn.dialect.name)
    if d.pg:
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK})
    cid = ensure_clock(conn, clock, spec)
    if _get(conn, "calendar") != cid or _get(conn, "layout") != LAYOUT:
        # Another calendar (every working duration is stale) or a new layout of the
        # derived tables: fold everything again.
        for table in DERIVED:
            conn.execute(sa.delete(table))
        for name in ("watermark", "notes"):
            _put(conn, name, "0")
        _put(conn, "calendar", cid)
        _put(conn, "layout", LAYOUT)
    if _get(conn, "robots") != ",".join(robots):
        conn.execute(sa.delete(escalation_rows))
        _put(conn, "notes", "0")
        _put(conn, "robots", ",".join(robots))
    notes = _window(conn, d, notifications.c.id, "notes")
    if notes is not None:
        fold_notifications(conn, d, robots, *notes)
        _advance(conn, d, notifications.c.id, "notes", notes[1])
    events = _window(conn, d, report_events.c.id, "watermark")
    if events is not None:
        _fold_visits(conn, d, cid, *events)
        fold_events(conn, d, *events)
        _advance(conn, d, report_events.c.id, "watermark", events[1])
    return int(_get(conn, "watermark") or 0)


def _fold_visits(conn: sa.Connection, d: Dialect, cid: str, low: int, top: int) -> None:
    e = report_events.c
    at = d.epoch(e.at)
    c = clock.alias("c")
    on_clock = sa.and_(c.c.calendar_id == cid, c.c.day == d.floor_div(at, DAY))
    batch = sa.and_(e.id > low, e.id <= top)
    seq = e.details["seq"].as_integer()

    entered = (
        sa.select(
            e.deal_id, seq, e.stage, e.pipeline_id, e.pipeline_version,
            sa.func.coalesce(deals.c.responsible, ""),
            sa.func.coalesce(deals.c.department_head, ""),
            sa.func.coalesce(d.epoch(deals.c.started_at), at),
            e.at, at, working_clock(d, at, c),
        )
        .select_from(report_events)
        .outerjoin(deals, deals.c.deal_id == e.deal_id)
        .outerjoin(c, on_clock)
        .where(batch, e.kind == "stage_entered")
    )  # fmt: skip
    names = [
        "deal_id",
        "seq",
        "stage",
        "pipeline_id",
        "pipeline_version",
        "responsible",
        "department_head",
        "started_epoch",
        "entered_at",
        "entered_epoch",
        "entered_w",
    ]
    insert = (postgresql.insert if d.pg else sqlite.insert)(visits)
    conn.execute(insert.from_select(names, entered).on_conflict_do_nothing())

    exited = (
        sa.select(
            e.deal_id.label("deal_id"),
            seq.label("seq"),
            e.at.label("at"),
            at.label("ep"),
            working_clock(d, at, c).label("w"),
            e.details["to"].as_string().label("to"),
        )
        .select_from(report_events)
        .outerjoin(c, on_clock)
        .where(batch, e.kind == "stage_exited")
        .subquery("x")
    )
    v = visits.c
    conn.execute(
        sa.update(visits)
        .where(v.deal_id == exited.c.deal_id, v.seq == exited.c.seq)
        .values(
            exited_at=exited.c.at,
            exited_epoch=exited.c.ep,
            exit_to=exited.c.to,
            calendar_seconds=exited.c.ep - v.entered_epoch,
            working_seconds=exited.c.w - v.entered_w,
        )
    )
