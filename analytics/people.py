"""The discipline, managers and trend reports: deadlines kept, results per manager, and the
same figures per week or month of the deals' start."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from analytics.context import Ctx, percentiles, ratio
from analytics.models import (
    Breach,
    DisciplineReport,
    DisciplineRow,
    ManagerRow,
    ManagersReport,
    TrendReport,
    TrendRow,
)
from analytics.workclock import DAY
from funnel.storage.analytics_tables import breach_rows, clock, deal_rows, escalation_rows
from funnel.storage.store import deals, tasks

d = deals.c
br = breach_rows.c
RECENT_BREACHES = 50


def _deal_filters(ctx: Ctx) -> list[Any]:
    return [d.pipeline_id == ctx.pipeline_id, *ctx.people(d.responsible, d.department_head)]


def _by_stage_and_manager(conn: sa.Connection, q: sa.Select[Any]) -> list[tuple[str, str, int]]:
    return [(stage, who, int(n or 0)) for stage, who, n in conn.execute(q)]


def _breach_filters(ctx: Ctx) -> list[Any]:
    """Breaches of the pipeline in the period, of the chosen people (folded rows)."""
    return [
        br.pipeline_id == ctx.pipeline_id,
        *ctx.time_range(br.at),
        *ctx.people(br.responsible, br.department_head),
    ]


def discipline(conn: sa.Connection, ctx: Ctx) -> DisciplineReport:
    on_deal = deals.join  # readability below
    breaches = (
        sa.select(br.stage, br.responsible, sa.func.count())
        .where(*_breach_filters(ctx))
        .group_by(br.stage, br.responsible)
    )
    n = escalation_rows.c
    escalations = (
        sa.select(n.stage, n.responsible, sa.func.count())
        .where(
            n.pipeline_id == ctx.pipeline_id,
            *ctx.time_range(n.created_at),
            *ctx.people(n.responsible, n.department_head),
        )
        .group_by(n.stage, n.responsible)
    )
    t = tasks.c
    end = min(ctx.filters.date_to or datetime.now(UTC), ctx.now or datetime.now(UTC))
    overdue = sa.and_(t.completed_at.is_(None), t.deadline_at < end)
    late = t.completed_at > t.deadline_at
    task_q = (
        sa.select(
            t.stage, t.responsible,
            sa.func.sum(sa.case((overdue, 1), else_=0)),
            sa.func.sum(sa.case((late, 1), else_=0)),
        )
        .select_from(on_deal(tasks, d.deal_id == t.deal_id))
        .where(t.deadline_at.is_not(None), *ctx.time_range(t.deadline_at), *_deal_filters(ctx))
        .group_by(t.stage, t.responsible)
    )  # fmt: skip
    # The database did the counting; this only folds (stage, manager) cells into the two
    # margins, a few dozen rows at most.
    cells: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for stage, who, count in _by_stage_and_manager(conn, breaches):
        cells[stage, who][0] += count
    for stage, who, count in _by_stage_and_manager(conn, escalations):
        cells[stage, who][1] += count
    for stage, who, over, lat in conn.execute(task_q):
        cells[stage, who][2] += int(over or 0)
        cells[stage, who][3] += int(lat or 0)

    def margin(pick: int) -> list[DisciplineRow]:
        sums: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
        for key, vals in cells.items():
            sums[key[pick]] = [a + b for a, b in zip(sums[key[pick]], vals, strict=True)]
        return [_row(k, vals) for k, vals in sums.items()]

    order = {sid: i for i, sid in enumerate(s.id for s in ctx.pipeline.stages)}
    stages = sorted(margin(0), key=lambda r: (order.get(r.key, len(order)), r.key))
    managers = sorted(margin(1), key=lambda r: (-r.breaches, r.key))
    total = [sum(vals[i] for vals in cells.values()) for i in range(4)]
    recent_q = (
        sa.select(br.deal_id, d.title, br.stage, br.at, br.responsible)
        .select_from(breach_rows.join(deals, d.deal_id == br.deal_id))
        .where(*_breach_filters(ctx))
        .order_by(br.at.desc(), br.event_id.desc())
        .limit(RECENT_BREACHES)
    )
    recent = [
        Breach(deal_id=r.deal_id, title=r.title, stage=r.stage, at=r.at,
               responsible=r.responsible, web_ui=ctx.link(r.deal_id))
        for r in conn.execute(recent_q)
    ]  # fmt: skip
    return DisciplineReport(
        filters=ctx.filters,
        pipeline=ctx.pipeline_id,
        totals=_row("all", total),
        stages=stages,
        managers=managers,
        recent_breaches=recent,
    )


def _row(key: str, vals: list[int]) -> DisciplineRow:
    return DisciplineRow(
        key=key, breaches=vals[0], escalations=vals[1], tasks_overdue=vals[2], tasks_late=vals[3]
    )


def _outcomes(ctx: Ctx, key: Any, where: list[Any], closed_in_period: bool) -> sa.Select[Any]:
    """Per ``key``: started, open, won, lost, amount won (SQL aggregates over deals)."""
    closed = _all(ctx.time_range(d.closed_at)) if closed_in_period else sa.true()
    started = _all(ctx.time_range(d.started_at)) if closed_in_period else sa.true()
    won = sa.and_(d.status == "won", closed)
    return (
        sa.select(
            key.label("key"),
            sa.func.sum(sa.case((started, 1), else_=0)).label("started"),
            sa.func.sum(sa.case((sa.and_(started, d.status == "open"), 1), else_=0)).label("open"),
            sa.func.sum(sa.case((won, 1), else_=0)).label("won"),
            sa.func.sum(sa.case((sa.and_(d.status == "lost", closed), 1), else_=0)).label("lost"),
            sa.func.coalesce(sa.func.sum(sa.case((won, d.amount), else_=0)), 0).label("amount"),
        )
        .where(*where)
        .group_by(key)
    )  # fmt: skip


def _cycles(ctx: Ctx, key: Any, where: list[Any]) -> sa.Select[Any]:
    """Median start-to-won time per key, over won deals matching ``where``."""
    cycle = ctx.d.epoch(d.closed_at) - ctx.d.epoch(d.started_at)
    base = (
        sa.select(key.label("key"), cycle.label("cycle"))
        .where(*where, d.status == "won", d.closed_at.is_not(None))
        .subquery("cycles")
    )
    return percentiles(ctx, base, "key", {"median": ("cycle", 0.5)})


def managers(conn: sa.Connection, ctx: Ctx) -> ManagersReport:
    where = _deal_filters(ctx)
    rows = list(conn.execute(_outcomes(ctx, d.responsible, where, closed_in_period=True)))
    cycles = _pairs(conn, _cycles(ctx, d.responsible, [*where, *ctx.time_range(d.closed_at)]))
    breach_q = (
        sa.select(br.responsible, sa.func.count())
        .where(*_breach_filters(ctx))
        .group_by(br.responsible)
    )
    breaches = _pairs(conn, breach_q)
    out = [
        ManagerRow(
            responsible=r.key, deals_started=int(r.started or 0), open_now=int(r.open or 0),
            won=int(r.won or 0), lost=int(r.lost or 0),
            win_rate=ratio(int(r.won or 0), int(r.won or 0) + int(r.lost or 0)),
            amount_won=float(r.amount or 0), median_cycle_seconds=_num(cycles.get(r.key)),
            breaches=int(breaches.get(r.key, 0)),
        )
        for r in rows
        if r.started or r.won or r.lost
    ]  # fmt: skip
    out.sort(key=lambda m: (-m.amount_won, -m.won, m.responsible))
    return ManagersReport(filters=ctx.filters, pipeline=ctx.pipeline_id, managers=out)


def _period(ctx: Ctx, cid: str) -> tuple[Any, Callable[[Any], Any], Any]:
    """The local day each deal started on (days since 1970 in the calendar's zone), how a
    day becomes its week (Monday) or month label, and the clock join."""
    c = clock.alias("tc")
    started = ctx.d.epoch(d.started_at)
    local = started + sa.case((started < c.c.split, c.c.off_a), else_=c.c.off_b)
    day = ctx.d.floor_div(local, DAY)

    def label(day: Any) -> Any:
        if ctx.filters.by == "week":  # the Monday: 1970-01-01 was a Thursday
            return ctx.d.day_label(day - (day + 3) % 7)
        return ctx.d.month_label(day)

    join = deals.join(c, sa.and_(c.c.calendar_id == cid, c.c.day == ctx.d.floor_div(started, DAY)))
    return day, label, join


def trend(conn: sa.Connection, ctx: Ctx, cid: str) -> TrendReport:
    day, label_of, join = _period(ctx, cid)
    where = [*_deal_filters(ctx), *ctx.time_range(d.started_at)]
    # One pass over the deals grouped by start day (each deal's breaches from its summary
    # row), then the few hundred days grouped by week or month: the label is computed per
    # day, not per deal.
    a = deal_rows.c
    days = (
        _outcomes(ctx, day, where, closed_in_period=False)
        .add_columns(sa.func.coalesce(sa.func.sum(a.breaches), 0).label("breaches"))
        .select_from(join.outerjoin(deal_rows, a.deal_id == d.deal_id))
        .subquery("days")
    )
    label = label_of(days.c.key)
    sums = ("started", "open", "won", "lost", "amount", "breaches")
    outcomes = sa.select(
        label.label("key"), *(sa.func.sum(days.c[name]).label(name) for name in sums)
    ).group_by(label)
    rows = list(conn.execute(outcomes))
    label = label_of(day)
    cycle = ctx.d.epoch(d.closed_at) - ctx.d.epoch(d.started_at)
    base = (
        sa.select(label.label("key"), cycle.label("cycle")).select_from(join)
        .where(*where, d.status == "won", d.closed_at.is_not(None)).subquery("cycles")
    )  # fmt: skip
    cycles = _pairs(conn, percentiles(ctx, base, "key", {"median": ("cycle", 0.5)}))
    periods = [
        TrendRow(
            period=r.key, deals_started=int(r.started or 0), won=int(r.won or 0),
            lost=int(r.lost or 0), open_now=int(r.open or 0),
            win_rate=ratio(int(r.won or 0), int(r.won or 0) + int(r.lost or 0)),
            amount_won=float(r.amount or 0), median_cycle_seconds=_num(cycles.get(r.key)),
            breaches=int(r.breaches or 0),
        )
        for r in rows
    ]  # fmt: skip
    periods.sort(key=lambda p: p.period)
    return TrendReport(
        filters=ctx.filters, pipeline=ctx.pipeline_id, by=ctx.filters.by, periods=periods
    )


def _pairs(conn: sa.Connection, query: sa.Select[Any]) -> dict[Any, Any]:
    return {key: value for key, value in conn.execute(query)}


def _all(conditions: list[Any]) -> Any:
    return sa.and_(*conditions) if conditions else sa.true()


def _num(value: Any) -> float | None:
    return None if value is None else round(float(value), 3)
