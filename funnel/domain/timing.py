"""Due times of robots and deadlines, computed from their timing rules on the working
calendar. Runs inside a local activity (it needs the holiday data), so its answers are
recorded in the deal's history and replay never recomputes them."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from pydantic import BaseModel

from funnel.domain.calendar import WorkingCalendar
from funnel.domain.calendar_spec import CalendarSpec
from funnel.domain.robot_rules import Direction, Timing


class DueRequest(BaseModel):
    key: str
    base: datetime  # the stage entry, or the end of the previous robot
    timing: Timing
    anchor_value: str | None = None  # the value of `timing.relative_to` on the deal, if any
    calendar: CalendarSpec
    responsible_calendar: CalendarSpec | None = None


class Due(BaseModel):
    """``due_at`` is None when the rule cannot be met (its date field is empty)."""

    key: str
    due_at: datetime | None
    rule: str


def compute_due(request: DueRequest) -> Due:
    timing = request.timing
    calendar = WorkingCalendar(request.calendar)
    start = request.base
    rule = timing.describe()
    if timing.relative_to is not None:
        anchor = _anchor(request.anchor_value, request.calendar)
        if anchor is None:
            return Due(key=request.key, due_at=None, rule=f"{rule}: the field is empty")
        start = anchor
        rule += f" ({timing.relative_to} = {request.anchor_value})"
    moment = start
    if timing.delay is not None:
        if timing.direction is Direction.BEFORE:
            moment = calendar.subtract(start, timing.delay)
        else:
            moment = calendar.add(start, timing.delay)
    if timing.at_time is not None:
        working_day = timing.delay is not None and timing.delay.working
        moment = calendar.at_time_of_day(moment, timing.at_time, working_day=working_day)
    if timing.responsible_working_time:
        own = WorkingCalendar(request.responsible_calendar or request.calendar)
        moment = own.next_working_moment(moment)
    return Due(key=request.key, due_at=moment, rule=rule)


def _anchor(value: str | None, spec: CalendarSpec) -> datetime | None:
    """A date field means the start of that working day in the company's zone; a datetime
    without a zone is company time too."""
    if not value:
        return None
    zone = ZoneInfo(spec.timezone)
    try:
        if len(value) <= 10:
            return datetime.combine(date.fromisoformat(value), spec.work_start, tzinfo=zone)
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=zone)
