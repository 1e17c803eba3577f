"""What every report query needs: the dialect, the pipeline's stages and the filters."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from analytics.models import Filters
from analytics.sql import Dialect, Expr, percentile_cols
from funnel.client.read_scope import ReadScope
from funnel.domain.pipeline import NotifyRobot, Pipeline, Semantics

UI_BASE = "http://127.0.0.1:8233"
SUCCESS_ORDER = 1_000  # a won deal has moved past every process stage


@dataclass
class Ctx:
    d: Dialect
    pipeline: Pipeline
    filters: Filters
    ui_base: str = UI_BASE
    now: datetime | None = None
    scope: ReadScope | None = None  # a person's reports count their deals only
    names: dict[str, str] = field(init=False)

    def __post_init__(self) -> None:
        self.names = {s.id: s.name for s in self.pipeline.stages}

    @property
    def pipeline_id(self) -> str:
        return self.pipeline.id

    def stage_ids(self, semantics: Semantics) -> list[str]:
        return [s.id for s in self.pipeline.stages if s.semantics is semantics]

    def order(self, stage: Any) -> Expr:
        """Position of a stage in the current pipeline: process stages 0..n-1, won last,
        lost and retired stages NULL (they are not "further" than anything)."""
        whens: dict[str, int] = {sid: i for i, sid in enumerate(self.stage_ids(Semantics.PROCESS))}
        whens.update({sid: SUCCESS_ORDER for sid in self.stage_ids(Semantics.SUCCESS)})
        return sa.case(whens, value=stage, else_=sa.null())

    def escalation_robots(self) -> list[str]:
        return escalation_robots(self.pipeline)

    def epoch_range(self, epoch: Any) -> list[Expr]:
        f = self.filters
        out: list[Expr] = []
        if f.date_from is not None:
            out.append(epoch >= f.date_from.timestamp())
        if f.date_to is not None:
            out.append(epoch < f.date_to.timestamp())
        return out

    def time_range(self, column: Any) -> list[Expr]:
        f = self.filters
        out: list[Expr] = []
        if f.date_from is not None:
            out.append(column >= f.date_from)
        if f.date_to is not None:
            out.append(column < f.date_to)
        return out

    def people(self, responsible: Any, head: Any) -> list[Expr]:
        f = self.filters
        out: list[Expr] = []
        if f.responsible is not None:
            out.append(responsible == f.responsible)
        if f.department is not None:
            out.append(head == f.department)
        if self.scope is not None:
            # The report tables have no sales team: a person's deals by responsible and head.
            theirs = [responsible.in_(sorted(self.scope.responsibles))]
            if self.scope.head is not None:
                theirs.append(head == self.scope.head)
            out.append(sa.or_(*theirs))
        return out

    def link(self, deal_id: str) -> str:
        return f"{self.ui_base}/namespaces/default/workflows/deal-{deal_id}"


def escalation_robots(pipeline: Pipeline) -> list[str]:
    return sorted({
        r.id for s in pipeline.stages if s.deadline
        for r in s.deadline.escalate if isinstance(r, NotifyRobot)
    })  # fmt: skip


def ratio(part: int | None, whole: int | None) -> float | None:
    return None if part is None or not whole else round(part / whole, 4)


def percentiles(
    ctx: Ctx, base: sa.Subquery, key: str, values: dict[str, tuple[str, float]]
) -> sa.Select[Any]:
    """``key`` plus the named percentiles of ``base``'s columns, one row per key, in SQL.
    ``values`` maps an output name to (column of base, p)."""
    if ctx.d.pg:
        cols = {
            name: percentile_cols(ctx.d, base.c[col], {name: p})[name]
            for name, (col, p) in values.items()
        }
        return sa.select(base.c[key], *(c.label(n) for n, c in cols.items())).group_by(base.c[key])
    columns = sorted({col for col, _ in values.values()})
    ranked = sa.select(
        base.c[key],
        *(base.c[c] for c in columns),
        *(
            sa.func.row_number()
            .over(partition_by=base.c[key], order_by=base.c[c])
            .label(f"rank_{c}")
            for c in columns
        ),
        sa.func.count().over(partition_by=base.c[key]).label("n"),
    ).subquery("ranked")
    out = []
    for name, (col, p) in values.items():
        expr = percentile_cols(
            ctx.d, ranked.c[col], {name: p}, ranked.c[f"rank_{col}"], ranked.c.n
        )[name]
        out.append(expr.label(name))
    return sa.select(ranked.c[key], *out).group_by(ranked.c[key])


def ordered_percentile(
    conn: sa.Connection, column: Any, where: list[Any], n: int, p: float
) -> float | None:
    """``percentile_cont(p)`` of ``column`` over the ``n`` rows matching ``where``, read in
    index order: the one or two rows around position p*(n-1), by ``ORDER BY .. LIMIT 2
    OFFSET k`` from whichever end is nearer, interpolated as PostgreSQL does. With an index
    on (equality columns of ``where``, column, other filtered columns) this walks at most
    half the group's index entries and never sorts nor reads the table."""
    if n <= 0:
        return None
    x = p * (n - 1)
    k = int(x)  # floor: x >= 0
    frac = x - k
    need = 2 if frac > 0 and k + 1 < n else 1
    if k < n - 1 - k:
        q = sa.select(column).where(*where).order_by(column).offset(k).limit(need)
        values = [float(val) for val in conn.execute(q).scalars()]
    else:  # nearer the top: walk down from the largest
        first = n - k - need  # descending position of the higher of the two
        q = sa.select(column).where(*where).order_by(column.desc()).offset(first).limit(need)
        values = [float(val) for val in conn.execute(q).scalars()][::-1]
    if len(values) < need:
        return None  # the rows changed under us; cannot happen inside one transaction
    if need == 1:
        return values[0]
    return values[0] + (values[1] - values[0]) * frac
