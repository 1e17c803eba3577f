"""The funnel report (where deals go and where they are lost) and the speed report (how long
they stay in each stage). Both read ``analytics_visits``; see docs/analytics.md for the
counting rules."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from analytics.context import Ctx, percentiles, ratio
from analytics.models import (
    FunnelReport,
    FunnelStage,
    LostReason,
    SpeedReport,
    SpeedStage,
    Timing,
)
from analytics.schema import visits
from funnel.pipeline import Semantics
from funnel.store import deals

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


def funnel(conn: sa.Connection, ctx: Ctx) -> FunnelReport:
    lost_ids = ctx.stage_ids(Semantics.FAILURE)
    lost_here = sa.case((v.exit_to.in_(lost_ids), 1), else_=0)
    # One row per deal and stage (a re-entry is still one deal), with the furthest stage
    # the deal ever reached.
    per_stage = (
        sa.select(
            v.deal_id, v.stage,
            sa.func.max(lost_here).label("lost_here"),
            sa.func.max(sa.func.max(ctx.order(v.stage)))
            .over(partition_by=v.deal_id).label("reach"),
        )
        .where(*_cohort(ctx))
        .group_by(v.deal_id, v.stage)
        .subquery("per_stage")
    )  # fmt: skip
    p = per_stage.c
    one = sa.literal(1)
    counts = (
        sa.select(
            p.stage,
            sa.func.count().label("entered"),
            sa.func.sum(sa.case((p.reach > ctx.order(p.stage), one), else_=0)).label("moved_on"),
            sa.func.sum(sa.case((deals.c.status == "won", one), else_=0)).label("won"),
            sa.func.sum(p.lost_here).label("lost"),
            sa.func.sum(
                sa.case((sa.and_(deals.c.status == "open", deals.c.stage == p.stage), one), else_=0)
            ).label("open_now"),
        )
        .select_from(per_stage.join(deals, deals.c.deal_id == p.deal_id))
        .group_by(p.stage)
    )
    rows = {r.stage: r for r in conn.execute(counts)}

    reasons_q = (
        sa.select(v.stage, deals.c.lost_reason, sa.func.count(sa.distinct(v.deal_id)))
        .select_from(visits.join(deals, deals.c.deal_id == v.deal_id))
        .where(*_cohort(ctx), v.exit_to.in_(lost_ids))
        .group_by(v.stage, deals.c.lost_reason)
        .order_by(v.stage, sa.func.count(sa.distinct(v.deal_id)).desc(), deals.c.lost_reason)
    )
    reasons: dict[str, list[LostReason]] = {}
    for stage, reason, n in conn.execute(reasons_q):
        reasons.setdefault(stage, []).append(LostReason(reason=reason or "(none)", deals=n))

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
        entered = r.entered if r else 0
        process = semantics == Semantics.PROCESS.value
        moved_on = (r.moved_on if r else 0) if process else None
        won = r.won if r else 0
        lost = r.lost if r else 0
        stages.append(FunnelStage(
            stage=sid, name=name, semantics=semantics, entered=entered, moved_on=moved_on,
            conversion_next=ratio(moved_on, entered), won=won,
            conversion_won=ratio(won, entered), lost=lost, drop_off=ratio(lost, entered),
            open_now=r.open_now if r else 0, lost_reasons=reasons.get(sid, []),
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
    base = (
        sa.select(v.stage, v.calendar_seconds.label("cal"), v.working_seconds.label("work"))
        .where(*where)
        .subquery("finished")
    )
    pcts = percentiles(ctx, base, "stage", {
        "cal_median": ("cal", 0.5), "cal_p90": ("cal", 0.9),
        "work_median": ("work", 0.5), "work_p90": ("work", 0.9),
    }).subquery("pcts")  # fmt: skip
    means = (
        sa.select(
            base.c.stage, sa.func.count().label("n"),
            sa.func.avg(base.c.cal).label("cal_mean"), sa.func.avg(base.c.work).label("work_mean"),
        ).group_by(base.c.stage).subquery("means")
    )  # fmt: skip
    stats = {
        r.stage: r
        for r in conn.execute(
            sa.select(means, *(c for c in pcts.c if c.name != "stage")).select_from(
                means.join(pcts, pcts.c.stage == means.c.stage)
            )
        )
    }
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

    def timing(r: Any, prefix: str) -> Timing:
        if r is None:
            return Timing(median=None, p90=None, mean=None)
        return Timing(
            median=_f(getattr(r, f"{prefix}_median")),
            p90=_f(getattr(r, f"{prefix}_p90")),
            mean=_f(getattr(r, f"{prefix}_mean")),
        )

    stages = [
        SpeedStage(stage=sid, name=ctx.names.get(sid, sid),
                   visits=stats[sid].n if sid in stats else 0, in_stage_now=now.get(sid, 0),
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
