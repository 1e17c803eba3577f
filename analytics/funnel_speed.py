"""The funnel report (where deals go and where they are lost) and the speed report (how long
they stay in each stage). The funnel reads the per-deal summary rows (``analytics_deals``),
the speed report ``analytics_visits`` in index order; see docs/analytics.md for the counting
rules and the design."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from analytics.context import Ctx, ordered_percentile, ratio
from analytics.models import (
    FunnelReport,
    FunnelStage,
    LostReason,
    SpeedReport,
    SpeedStage,
    Timing,
)
from funnel.domain.pipeline import Semantics
from funnel.storage.analytics_tables import deal_rows, stage_bits, visits
from funnel.storage.store import deals

v = visits.c


def _cohort(ctx: Ctx) -> list[Any]:
    """Visits of the deals started in the period (the funnel counts cohorts)."""
    return [
        v.pipeline_id == ctx.pipeline_id,
        *ctx.epoch_range(v.started_epoch),
        *ctx.people(v.responsible, v.department_head),
    ]


def _stage_list(ctx: Ctx, seen: set[str]) -> list[tuple[str, str, str]]:
    """(id, name, semantics): the current pipeline's stages in order (process, then won and
    lost), then stages only older versions had."""
    ordered = sorted(ctx.pipeline.stages, key=lambda s: list(Semantics).index(s.semantics))
    out = [(s.id, s.name, s.semantics.value) for s in ordered]
    out += [(sid, sid, "retired") for sid in sorted(seen - set(ctx.names))]
    return out


def _stage_masks(conn: sa.Connection, ctx: Ctx) -> dict[str, tuple[int, int]]:
    """stage -> (its bit, the bits of every stage further than it), for the pipeline's
    stages in ``analytics_stage_bits``. Further: a later process stage of the current order,
    or won (the furthest). Lost and retired stages have no order: nothing is further."""
    bits = {
        stage: 1 << bit
        for stage, bit in conn.execute(
            sa.select(stage_bits.c.stage, stage_bits.c.bit).where(
                stage_bits.c.pipeline_id == ctx.pipeline_id
            )
        )
    }
    process = ctx.stage_ids(Semantics.PROCESS)
    won = sum(bits.get(s, 0) for s in ctx.stage_ids(Semantics.SUCCESS))
    further = {
        s: won + sum(bits.get(t, 0) for t in process[i + 1 :]) for i, s in enumerate(process)
    }
    return {stage: (bit, further.get(stage, 0)) for stage, bit in bits.items()}


def funnel(conn: sa.Connection, ctx: Ctx) -> FunnelReport:
    lost_ids = ctx.stage_ids(Semantics.FAILURE)
    # The cohort's deals grouped by (stages entered, status, current stage, still in this
    # pipeline): a few hundred groups out of 100,000 per-deal rows; each stage's counts are
    # sums over the groups. A deal moved to another funnel is won or open there, not here.
    a = deal_rows.c
    here = (deals.c.pipeline_id == a.pipeline_id).label("here")
    groups = (
        sa.select(
            a.stages, deals.c.status, deals.c.stage.label("now"), here, sa.func.count().label("n")
        )
        .select_from(deal_rows.join(deals, deals.c.deal_id == a.deal_id))
        .where(
            a.pipeline_id == ctx.pipeline_id,
            *ctx.epoch_range(a.started_epoch),
            *ctx.people(a.responsible, a.department_head),
        )
        .group_by(a.stages, deals.c.status, deals.c.stage, here)
        .subquery("groups")
    )
    g = groups.c
    masks = _stage_masks(conn, ctx)
    rows: dict[str, Any] = {}
    if masks:
        b = stage_bits.c
        bit = sa.case({s: sa.literal(m[0], sa.BigInteger) for s, m in masks.items()}, value=b.stage)
        further = sa.case(
            {s: sa.literal(m[1], sa.BigInteger) for s, m in masks.items()}, value=b.stage
        )
        has = g.stages.op("&")(bit) != 0

        def count_if(*conds: Any) -> Any:
            return sa.func.coalesce(sa.func.sum(sa.case((sa.and_(has, *conds), g.n), else_=0)), 0)

        counts = (
            sa.select(
                b.stage,
                count_if().label("entered"),
                count_if(g.stages.op("&")(further) != 0).label("moved_on"),
                count_if(g.status == "won", g.here).label("won"),
                count_if(g.status == "open", g.now == b.stage, g.here).label("open_now"),
            )
            .select_from(stage_bits.join(groups, sa.true()))
            .where(b.pipeline_id == ctx.pipeline_id)
            .group_by(b.stage)
        )
        rows = {r.stage: r for r in conn.execute(counts) if r.entered}

    # Lost deals per stage and reason: the few visits that went to a lost stage (an index on
    # (pipeline, exit_to)); a deal has one reason, so the reasons add up to the stage's lost.
    reasons_q = (
        sa.select(v.stage, deals.c.lost_reason, sa.func.count(sa.distinct(v.deal_id)))
        .select_from(visits.join(deals, deals.c.deal_id == v.deal_id))
        .where(*_cohort(ctx), v.exit_to.in_(lost_ids))
        .group_by(v.stage, deals.c.lost_reason)
        .order_by(v.stage, sa.func.count(sa.distinct(v.deal_id)).desc(), deals.c.lost_reason)
    )
    reasons: dict[str, list[LostReason]] = {}
    lost_at: dict[str, int] = {}
    for stage, reason, n in conn.execute(reasons_q):
        reasons.setdefault(stage, []).append(LostReason(reason=reason or "(none)", deals=n))
        lost_at[stage] = lost_at.get(stage, 0) + n

    d = deals.c
    totals_q = (
        sa.select(d.status, sa.func.count())
        .where(
            d.pipeline_id == ctx.pipeline_id,
            *ctx.time_range(d.started_at),
            *ctx.people(d.responsible, d.department_head),
        )
        .group_by(d.status)
    )
    totals = {status: n for status, n in conn.execute(totals_q)}

    stages: list[FunnelStage] = []
    for sid, name, semantics in _stage_list(ctx, set(rows)):
        r = rows.get(sid)
        entered = int(r.entered) if r else 0
        process = semantics == Semantics.PROCESS.value
        moved_on = (int(r.moved_on) if r else 0) if process else None
        won = int(r.won) if r else 0
        lost = lost_at.get(sid, 0)
        stages.append(FunnelStage(
            stage=sid, name=name, semantics=semantics, entered=entered, moved_on=moved_on,
            conversion_next=ratio(moved_on, entered), won=won,
            conversion_won=ratio(won, entered), lost=lost, drop_off=ratio(lost, entered),
            open_now=int(r.open_now) if r else 0, lost_reasons=reasons.get(sid, []),
        ))  # fmt: skip
    return FunnelReport(
        filters=ctx.filters, pipeline=ctx.pipeline_id, deals=sum(totals.values()),
        won=totals.get("won", 0), lost=totals.get("lost", 0), open=totals.get("open", 0),
        stages=stages,
    )  # fmt: skip


def speed(conn: sa.Connection, ctx: Ctx) -> SpeedReport:
    where = [
        v.pipeline_id == ctx.pipeline_id,
        v.exited_epoch.is_not(None),
        v.working_seconds.is_not(None),
        *ctx.epoch_range(v.exited_epoch),
        *ctx.people(v.responsible, v.department_head),
    ]
    means = (
        sa.select(
            v.stage, sa.func.count().label("n"),
            sa.func.avg(v.calendar_seconds).label("cal_mean"),
            sa.func.avg(v.working_seconds).label("work_mean"),
        ).where(*where).group_by(v.stage)
    )  # fmt: skip
    stats: dict[str, dict[str, Any]] = {}
    for r in conn.execute(means):
        row = stats[r.stage] = {"n": r.n, "cal_mean": r.cal_mean, "work_mean": r.work_mean}
        for prefix, column in (("cal", v.calendar_seconds), ("work", v.working_seconds)):
            for name, p in (("median", 0.5), ("p90", 0.9)):
                row[f"{prefix}_{name}"] = ordered_percentile(
                    conn, column, [*where, v.stage == r.stage], r.n, p
                )
    process = ctx.stage_ids(Semantics.PROCESS)
    now_q = (
        sa.select(v.stage, sa.func.count())
        .select_from(visits.join(deals, deals.c.deal_id == v.deal_id))
        .where(
            v.pipeline_id == ctx.pipeline_id,
            v.exited_epoch.is_(None),
            deals.c.status == "open",
            *ctx.people(v.responsible, v.department_head),
        )
        .group_by(v.stage)
    )
    now = {stage: n for stage, n in conn.execute(now_q)}

    def timing(r: dict[str, Any] | None, prefix: str) -> Timing:
        if r is None:
            return Timing(median=None, p90=None, mean=None)
        return Timing(
            median=_f(r[f"{prefix}_median"]),
            p90=_f(r[f"{prefix}_p90"]),
            mean=_f(r[f"{prefix}_mean"]),
        )

    stages = [
        SpeedStage(stage=sid, name=ctx.names.get(sid, sid),
                   visits=stats[sid]["n"] if sid in stats else 0, in_stage_now=now.get(sid, 0),
                   calendar=timing(stats.get(sid), "cal"), working=timing(stats.get(sid), "work"))
        for sid in process + sorted(set(stats) - set(process))
    ]  # fmt: skip
    timed = [s for s in stages if s.working.median is not None]
    bottleneck = max(
        timed, key=lambda s: (s.working.median or 0, s.working.mean or 0), default=None
    )
    return SpeedReport(
        filters=ctx.filters,
        pipeline=ctx.pipeline_id,
        bottleneck=bottleneck.stage if bottleneck else None,
        stages=stages,
    )


def _f(value: Any) -> float | None:
    return None if value is None else round(float(value), 3)
