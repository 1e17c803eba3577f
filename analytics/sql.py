"""The few SQL pieces that differ between PostgreSQL and SQLite, each with one meaning."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

Expr = ColumnElement[Any]
_PG_EPOCH_DATE: ColumnElement[Any] = sa.literal_column("DATE '1970-01-01'")


class Dialect:
    def __init__(self, name: str) -> None:
        self.pg = name == "postgresql"

    def epoch(self, column: Any) -> Expr:
        """Seconds since 1970 of a UTCDateTime column (SQLite keeps them as UTC text)."""
        if self.pg:
            return sa.cast(sa.extract("epoch", column), sa.Float)
        return (sa.func.julianday(column) - 2440587.5) * 86400.0

    def floor_div(self, value: Any, by: int) -> Expr:
        if self.pg:
            return sa.cast(sa.func.floor(value / by), sa.Integer)
        # Epochs here are positive, where CAST truncation is floor.
        return sa.cast(value / by, sa.Integer)

    def greatest(self, *values: Any) -> Expr:
        return sa.func.greatest(*values) if self.pg else sa.func.max(*values)

    def least(self, *values: Any) -> Expr:
        return sa.func.least(*values) if self.pg else sa.func.min(*values)

    def month_label(self, local_day: Any) -> Expr:
        """'YYYY-MM' of a day number (days since 1970-01-01)."""
        if self.pg:
            return sa.func.to_char(_PG_EPOCH_DATE + local_day, "YYYY-MM")
        return sa.func.strftime("%Y-%m", local_day * 86400, "unixepoch")

    def day_label(self, local_day: Any) -> Expr:
        """'YYYY-MM-DD' of a day number."""
        if self.pg:
            return sa.func.to_char(_PG_EPOCH_DATE + local_day, "YYYY-MM-DD")
        return sa.func.date(local_day * 86400, "unixepoch")


def percentile_cols(
    d: Dialect, value: Any, ps: dict[str, float], rank: Any = None, n: Any = None
) -> dict[str, Expr]:
    """Aggregates giving ``percentile_cont(p)`` of ``value`` per group.

    PostgreSQL has the ordered-set aggregate. SQLite has none, so the caller ranks the rows
    in a subquery (``rank`` = ROW_NUMBER() over the group ordered by value, ``n`` = the
    group's row count) and this picks the two neighbouring ranks and interpolates exactly as
    percentile_cont does: position 1 + p*(n-1)."""
    if d.pg:
        return {name: sa.func.percentile_cont(p).within_group(value) for name, p in ps.items()}
    assert rank is not None and n is not None
    out: dict[str, Expr] = {}
    for name, p in ps.items():
        pos = 1 + p * (n - 1)
        low = sa.cast(pos, sa.Integer)  # floor: positions are >= 1
        frac = pos - low
        v_low = sa.func.max(sa.case((rank == low, value)))
        v_high = sa.func.max(sa.case((rank == low + 1, value)))
        out[name] = v_low + sa.func.coalesce(frac * (v_high - v_low), 0.0)
    return out
