"""Working-time arithmetic: "4 working hours" and "10 working days" on a company calendar.

Pure and deterministic (no I/O, no clock reads) so workflow code can call it on replay and get
the same deadline. The public-holiday data comes from the ``holidays`` package, so a package
upgrade that revises a production calendar changes results: pin it alongside the workflows.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays

from funnel.domain.calendar_spec import CalendarSpec
from funnel.domain.durations import Duration, TimeUnit

# How far we look for the next working day before declaring the calendar has none at all.
_SEARCH_LIMIT_DAYS = 366 * 3


@lru_cache(maxsize=256)
def _country_year(country: str, year: int) -> tuple[frozenset[date], frozenset[date]]:
    """(public days off, moved working weekend days) of one country's year. Building the
    ``holidays`` table is the dearest step of a due-time computation and a calendar is made
    per computation: every worker process builds each year once."""
    public = holidays.country_holidays(country, years=year)
    # Only countries with government-decreed day swaps (RU, BY, ...) fill this in.
    moved = getattr(public, "weekend_workdays", None) or ()
    return frozenset(public.keys()), frozenset(moved)


class WorkingCalendar:
    """Answers "is this a working day" and "when is start + duration" for one ``CalendarSpec``.

    Every datetime in must be timezone-aware; every datetime out is in UTC.
    """

    def __init__(self, spec: CalendarSpec) -> None:
        self._spec = spec
        self._zone = ZoneInfo(spec.timezone)
        self._weekend = frozenset(spec.weekend)
        self._extra_holidays = frozenset(spec.extra_holidays)
        self._extra_working = frozenset(spec.extra_working_days)
        self._exceptions_by_year: dict[int, list[tuple[date, int]]] = {}

    def _public(self, year: int) -> tuple[frozenset[date], frozenset[date]]:
        """(public days off, moved working weekend days) of ``year``; built once per process."""
        if self._spec.country is None:
            return frozenset(), frozenset()
        return _country_year(self._spec.country, year)

    def is_working_day(self, day: date) -> bool:
        # A datetime is a date too, but its calendar day depends on the zone: make callers choose.
        if isinstance(day, datetime):
            raise TypeError("is_working_day takes a date; convert the datetime to local time first")
        if day in self._extra_working:
            return True
        if day in self._extra_holidays:
            return False
        days_off, moved_workdays = self._public(day.year)
        if day in days_off:
            return False
        if day in moved_workdays:
            return True
        return day.weekday() not in self._weekend

    def next_working_moment(self, moment: datetime) -> datetime:
        local = self._local(moment)
        day = local.date()
        if self.is_working_day(day):
            if local.time() < self._spec.work_start:
                return self._at(day, self._spec.work_start)
            if local.time() < self._spec.work_end:
                return local.astimezone(UTC)
        return self._at(self._next_working_day(day), self._spec.work_start)

    def add(self, start: datetime, duration: Duration) -> datetime:
        if not duration.working:
            # Plain elapsed time: aware arithmetic in UTC so DST shifts cannot stretch it.
            return self._local(start).astimezone(UTC) + duration.as_timedelta()
        begin = self.next_working_moment(start)
        if duration.unit is TimeUnit.DAYS:
            local = begin.astimezone(self._zone)
            day = local.date()
            for _ in range(duration.amount):
                day = self._next_working_day(day)
            return self._at(day, local.time())
        return self._add_working_time(begin, duration.as_timedelta())

    def _add_working_time(self, begin: datetime, remaining: timedelta) -> datetime:
        # Subtract in UTC: same-tzinfo aware datetimes subtract as wall clocks, ignoring DST.
        current = begin
        while True:
            day = current.astimezone(self._zone).date()
            window_end = self._at(day, self._spec.work_end)
            available = window_end - current
            if remaining <= available:
                # Exactly filling the window ends at work_end, not at tomorrow's work_start.
                return current + remaining
            remaining -= available
            current = self._at(self._next_working_day(day), self._spec.work_start)

    @property
    def working_day(self) -> timedelta:
        """The length of one working day (work_start to work_end)."""
        day = date(2000, 1, 3)
        return datetime.combine(day, self._spec.work_end) - datetime.combine(
            day, self._spec.work_start
        )

    def working_time(self, start: datetime, end: datetime) -> timedelta:
        """The working time between two moments (zero when ``end`` is not after ``start``):
        how long a deal has been in its stage as the deadlines count it."""
        begin, finish = self.next_working_moment(start), self._local(end).astimezone(UTC)
        if finish <= begin:
            return timedelta(0)
        first, last = begin.astimezone(self._zone).date(), finish.astimezone(self._zone).date()
        if first == last:
            return min(finish, self._at(first, self._spec.work_end)) - begin
        # The first and the last day in part, the days between whole: a board counts this
        # for hundreds of deals at once, so no moment arithmetic per day.
        total = self._at(first, self._spec.work_end) - begin
        total += self.working_days(first + timedelta(days=1), last) * self.working_day
        if self.is_working_day(last):
            opened = self._at(last, self._spec.work_start)
            total += max(min(finish, self._at(last, self._spec.work_end)) - opened, timedelta(0))
        return total

    def working_days(self, start: date, end: date) -> int:
        """How many working days there are from ``start`` up to ``end`` (excluded): whole
        weeks by arithmetic, then the days that break the weekly rule (holidays, moved
        working days), so a deal months in its stage costs no more than a new one."""
        days = (end - start).days
        if days <= 0:
            return 0
        weeks, rest = divmod(days, 7)
        count = weeks * (7 - len(self._weekend))
        tail = start + timedelta(days=weeks * 7)
        count += sum((tail + timedelta(days=n)).weekday() not in self._weekend for n in range(rest))
        for year in range(start.year, end.year + 1):
            count += sum(change for day, change in self._exceptions(year) if start <= day < end)
        return count

    def _exceptions(self, year: int) -> list[tuple[date, int]]:
        """The days of ``year`` whose working status is not their weekday's: +1 a working
        day on a weekend, -1 a day off on a weekday."""
        found = self._exceptions_by_year.get(year)
        if found is None:
            candidates = {*self._public(year)[0], *self._public(year)[1]}
            candidates |= {d for d in self._extra_holidays | self._extra_working if d.year == year}
            found = []
            for day in sorted(d for d in candidates if d.year == year):
                working, usual = self.is_working_day(day), day.weekday() not in self._weekend
                if working != usual:
                    found.append((day, 1 if working else -1))
            self._exceptions_by_year[year] = found
        return found

    def previous_working_moment(self, moment: datetime) -> datetime:
        """``moment`` itself inside working time, else the end of the last working window
        before it (the mirror of :meth:`next_working_moment`)."""
        local = self._local(moment)
        day = local.date()
        if self.is_working_day(day):
            if local.time() >= self._spec.work_end:
                return self._at(day, self._spec.work_end)
            if local.time() > self._spec.work_start:
                return local.astimezone(UTC)
        return self._at(self._next_working_day(day, step=-1), self._spec.work_end)

    def subtract(self, end: datetime, duration: Duration) -> datetime:
        """The moment ``duration`` before ``end``: "2 working days before contract_due"."""
        if not duration.working:
            return self._local(end).astimezone(UTC) - duration.as_timedelta()
        finish = self.previous_working_moment(end)
        if duration.unit is TimeUnit.DAYS:
            local = finish.astimezone(self._zone)
            day = local.date()
            for _ in range(duration.amount):
                day = self._next_working_day(day, step=-1)
            return self._at(day, local.time())
        remaining = duration.as_timedelta()
        current = finish
        while True:
            day = current.astimezone(self._zone).date()
            available = current - self._at(day, self._spec.work_start)
            if remaining <= available:
                return current - remaining
            remaining -= available
            current = self._at(self._next_working_day(day, step=-1), self._spec.work_end)

    def at_time_of_day(self, moment: datetime, wall: time, *, working_day: bool) -> datetime:
        """The first ``wall`` o'clock (calendar zone) at or after ``moment``, on a working
        day when asked."""
        local = self._local(moment)
        day = local.date()
        if local.time() > wall or (working_day and not self.is_working_day(day)):
            day = self._next_working_day(day) if working_day else day + timedelta(days=1)
        return self._at(day, wall)

    def _next_working_day(self, day: date, step: int = 1) -> date:
        for offset in range(1, _SEARCH_LIMIT_DAYS + 1):
            candidate = day + timedelta(days=offset * step)
            if self.is_working_day(candidate):
                return candidate
        raise ValueError(
            f"no working day within {_SEARCH_LIMIT_DAYS} days after {day}:"
            " the calendar has every day off"
        )

    def _local(self, moment: datetime) -> datetime:
        if moment.tzinfo is None or moment.utcoffset() is None:
            raise ValueError(f"naive datetime {moment.isoformat()}: pass a timezone-aware one")
        return moment.astimezone(self._zone)

    def _at(self, day: date, wall: time) -> datetime:
        # Build the wall-clock time in the calendar's zone, then convert: zoneinfo picks the
        # offset that applies on that date, which is what makes DST days come out right.
        return datetime.combine(day, wall, tzinfo=self._zone).astimezone(UTC)


def country_problem(spec: CalendarSpec) -> str | None:
    """Why ``spec.country`` cannot be used, or None when it names a known calendar."""
    if spec.country is None:
        return None
    try:
        holidays.country_holidays(spec.country)
    except NotImplementedError:
        return (
            f"country {spec.country!r} has no public-holiday calendar in the holidays package;"
            " use an ISO code such as 'RU', or null for no public holidays"
        )
    return None
