"""A working-time clock the database can read: one row per UTC day of a company calendar.

Working time between two instants is W(exit) - W(enter), where W(t) counts the working
seconds since an arbitrary origin. Each row holds W at the start of its UTC day and the
(at most two) working windows that overlap that day, clipped to it; a local working day can
straddle two UTC days and one UTC day can touch two local working days (late zones, DST).
Looking a moment up is an equality join on ``floor(epoch / 86400)``: no range join, no
per-row Python. The rows come from :class:`funnel.domain.calendar.WorkingCalendar`, so the reports
use the same holidays and moved working days as the deadlines.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from pydantic import BaseModel

from funnel.domain.calendar import WorkingCalendar
from funnel.domain.calendar_spec import CalendarSpec

DAY = 86_400
# Deals older than FIRST_YEAR or newer than LAST_YEAR fall off the clock (working time NULL).
FIRST_YEAR = 2010
LAST_YEAR = 2045


class ClockRow(BaseModel):
    day: int  # floor(epoch / 86400)
    cum: float  # working seconds from the origin to the start of this UTC day
    s1: float
    e1: float
    s2: float
    e2: float
    split: float  # epoch of the local midnight inside this UTC day (day end if none)
    off_a: int  # UTC offset in seconds before `split`
    off_b: int  # ... and from `split` on


def calendar_id(spec: CalendarSpec) -> str:
    return hashlib.sha256(spec.model_dump_json().encode()).hexdigest()[:16]


def _epoch(moment: datetime) -> float:
    return moment.timestamp()


def _offset(local: datetime) -> int:
    return int((local.utcoffset() or timedelta()).total_seconds())


def _windows(spec: CalendarSpec, first: date, last: date) -> Iterator[tuple[float, float]]:
    cal = WorkingCalendar(spec)
    zone = ZoneInfo(spec.timezone)
    day = first
    while day <= last:
        if cal.is_working_day(day):
            start = datetime.combine(day, spec.work_start, tzinfo=zone)
            end = datetime.combine(day, spec.work_end, tzinfo=zone)
            yield _epoch(start), _epoch(end)
        day += timedelta(days=1)


def clock_rows(
    spec: CalendarSpec, first_year: int = FIRST_YEAR, last_year: int = LAST_YEAR
) -> list[ClockRow]:
    zone = ZoneInfo(spec.timezone)
    # One local day of margin on each side so the first and last UTC days are complete.
    windows = list(_windows(spec, date(first_year - 1, 12, 31), date(last_year + 1, 1, 1)))
    first_day = int(datetime(first_year, 1, 1, tzinfo=UTC).timestamp()) // DAY
    last_day = int(datetime(last_year, 12, 31, tzinfo=UTC).timestamp()) // DAY
    rows: list[ClockRow] = []
    cum = 0.0  # the origin is the first UTC day: only differences of W mean anything
    w = 0
    for day in range(first_day, last_day + 1):
        lo, hi = day * DAY, (day + 1) * DAY
        while w < len(windows) and windows[w][1] <= lo:
            w += 1
        parts: list[tuple[float, float]] = []
        k = w
        while k < len(windows) and windows[k][0] < hi:
            parts.append((max(windows[k][0], lo), min(windows[k][1], hi)))
            k += 1
        if len(parts) > 2:
            raise ValueError(f"calendar {spec.timezone}: over two working windows in a UTC day")
        parts += [(float(lo), float(lo))] * (2 - len(parts))
        local_lo = datetime.fromtimestamp(lo, zone)
        local_hi = datetime.fromtimestamp(hi - 1, zone)
        split = float(hi)
        if local_lo.date() != local_hi.date():
            split = _epoch(datetime.combine(local_hi.date(), time(0), tzinfo=zone))
        rows.append(
            ClockRow(
                day=day,
                cum=cum,
                s1=parts[0][0],
                e1=parts[0][1],
                s2=parts[1][0],
                e2=parts[1][1],
                split=split,
                off_a=_offset(local_lo),
                off_b=_offset(local_hi),
            )
        )
        cum += sum(e - s for s, e in parts)
    return rows


def ensure_clock(conn: sa.Connection, table: sa.Table, spec: CalendarSpec) -> str:
    """Fill the clock for ``spec`` once; returns its id."""
    cid = calendar_id(spec)
    present = conn.execute(
        sa.select(sa.func.count()).select_from(table).where(table.c.calendar_id == cid)
    ).scalar_one()
    if not present:
        rows = [{"calendar_id": cid, **r.model_dump()} for r in clock_rows(spec)]
        for i in range(0, len(rows), 5000):
            conn.execute(sa.insert(table), rows[i : i + 5000])
    return cid
