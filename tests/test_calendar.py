"""Working-time arithmetic against the real Russian production calendar (holidays package)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import holidays
import pytest
from pydantic import ValidationError

from funnel.domain.calendar import WorkingCalendar, country_problem
from funnel.domain.calendar_spec import CalendarSpec
from funnel.domain.durations import Duration

MSK = ZoneInfo("Europe/Moscow")
BERLIN = ZoneInfo("Europe/Berlin")


def msk(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=MSK)


def dur(text: str) -> Duration:
    return Duration.model_validate(text)


@pytest.fixture
def ru() -> WorkingCalendar:
    return WorkingCalendar(CalendarSpec())


def test_holidays_data_we_rely_on() -> None:
    # If a holidays release revises these, the expected dates below must be revisited too.
    ru_2025 = holidays.country_holidays("RU", years=2025)
    ru_2026 = holidays.country_holidays("RU", years=2026)
    ru_2027 = holidays.country_holidays("RU", years=2027)
    assert date(2025, 12, 31) in ru_2025
    assert date(2026, 1, 9) in ru_2026  # substituted from Saturday 2026-01-03
    assert date(2026, 12, 31) in ru_2026  # substituted from Sunday 2026-01-04
    assert all(date(2027, 1, d) in ru_2027 for d in range(1, 9))
    assert date(2027, 1, 11) not in ru_2027
    assert ru_2025.weekend_workdays == {date(2025, 11, 1)}
    assert ru_2026.weekend_workdays == set()
    assert ru_2027.weekend_workdays == {date(2027, 2, 20)}


def test_is_working_day(ru: WorkingCalendar) -> None:
    assert ru.is_working_day(date(2026, 11, 27))  # Friday
    assert not ru.is_working_day(date(2026, 11, 28))  # Saturday
    assert not ru.is_working_day(date(2026, 11, 4))  # Unity Day, a Wednesday
    assert not ru.is_working_day(date(2026, 3, 9))  # Women's Day (Sunday) moved to Monday
    assert ru.is_working_day(date(2025, 11, 1))  # moved working Saturday
    assert not ru.is_working_day(date(2025, 11, 3))  # the Monday it bought
    with pytest.raises(TypeError):
        ru.is_working_day(msk(2026, 11, 27, 12))


def test_one_working_day_over_a_weekend(ru: WorkingCalendar) -> None:
    result = ru.add(msk(2026, 11, 27, 15), dur("1 working day"))
    assert result == msk(2026, 11, 30, 15)
    assert result.tzinfo is UTC
    assert result == datetime(2026, 11, 30, 12, tzinfo=UTC)


def test_ten_working_days_over_two_weekends(ru: WorkingCalendar) -> None:
    assert ru.add(msk(2026, 11, 27, 15), dur("10 working days")) == msk(2026, 12, 11, 15)


def test_working_days_skip_a_midweek_holiday(ru: WorkingCalendar) -> None:
    # Tue 2026-11-03 + 1: Wed 11-04 is Unity Day.
    assert ru.add(msk(2026, 11, 3, 11), dur("1 working day")) == msk(2026, 11, 5, 11)


def test_working_days_from_a_weekend_start_at_next_morning(ru: WorkingCalendar) -> None:
    assert ru.add(msk(2026, 11, 28, 10), dur("1 working day")) == msk(2026, 12, 1, 9)


def test_working_day_across_new_year_2027(ru: WorkingCalendar) -> None:
    # 12-31 is a substituted day off, Jan 1-8 are holidays, Jan 9-10 the weekend.
    assert ru.add(msk(2026, 12, 30, 10), dur("1 working day")) == msk(2027, 1, 11, 10)


def test_working_day_across_new_year_2026(ru: WorkingCalendar) -> None:
    # 2025-12-31 and 2026-01-09 are substituted days off: first working day is Monday Jan 12.
    assert ru.add(msk(2025, 12, 30, 10), dur("1 working day")) == msk(2026, 1, 12, 10)


def test_working_hours_across_new_year(ru: WorkingCalendar) -> None:
    assert ru.add(msk(2026, 12, 30, 17), dur("2 working hours")) == msk(2027, 1, 11, 10)


def test_moved_working_saturday_2025(ru: WorkingCalendar) -> None:
    assert ru.add(msk(2025, 10, 31, 12), dur("1 working day")) == msk(2025, 11, 1, 12)
    # Then Mon 11-03 (bought by that Saturday) and Tue 11-04 (Unity Day) are off.
    assert ru.add(msk(2025, 10, 31, 12), dur("2 working days")) == msk(2025, 11, 5, 12)
    assert ru.add(msk(2025, 10, 31, 17), dur("3 working hours")) == msk(2025, 11, 1, 11)


def test_moved_working_saturday_2027(ru: WorkingCalendar) -> None:
    assert ru.add(msk(2027, 2, 19, 12), dur("1 working day")) == msk(2027, 2, 20, 12)
    # Mon 02-22 is the day off it bought, Tue 02-23 is Defender of the Fatherland Day.
    assert ru.add(msk(2027, 2, 19, 12), dur("2 working days")) == msk(2027, 2, 24, 12)


def test_working_hours_over_a_weekend(ru: WorkingCalendar) -> None:
    assert ru.add(msk(2026, 11, 27, 16), dur("4 working hours")) == msk(2026, 11, 30, 11)


def test_working_minutes(ru: WorkingCalendar) -> None:
    assert ru.add(msk(2026, 11, 27, 17, 45), dur("30 working minutes")) == msk(2026, 11, 30, 9, 15)
    assert ru.add(msk(2026, 11, 27, 7), dur("90 working minutes")) == msk(2026, 11, 27, 10, 30)


def test_working_time_ending_exactly_at_close_stays_that_day(ru: WorkingCalendar) -> None:
    assert ru.add(msk(2026, 11, 27, 14), dur("4 working hours")) == msk(2026, 11, 27, 18)
    assert ru.add(msk(2026, 11, 27, 9), dur("9 working hours")) == msk(2026, 11, 27, 18)
    assert ru.add(msk(2026, 11, 26, 9), dur("18 working hours")) == msk(2026, 11, 27, 18)


def test_input_in_another_zone(ru: WorkingCalendar) -> None:
    # 22:00 UTC Friday is already 01:00 Saturday in Moscow.
    start = datetime(2026, 11, 27, 22, tzinfo=UTC)
    assert ru.next_working_moment(start) == msk(2026, 11, 30, 9)
    assert ru.add(datetime(2026, 11, 27, 12, tzinfo=UTC), dur("1 working day")) == msk(
        2026, 11, 30, 15
    )


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (msk(2026, 11, 30, 7), msk(2026, 11, 30, 9)),  # before hours
        (msk(2026, 11, 30, 9), msk(2026, 11, 30, 9)),  # opening
        (msk(2026, 11, 30, 12, 34), msk(2026, 11, 30, 12, 34)),  # within hours
        (msk(2026, 11, 27, 18), msk(2026, 11, 30, 9)),  # closing time is already after hours
        (msk(2026, 11, 27, 19), msk(2026, 11, 30, 9)),  # after hours, Friday
        (msk(2026, 11, 28, 12), msk(2026, 11, 30, 9)),  # Saturday
        (msk(2026, 11, 4, 12), msk(2026, 11, 5, 9)),  # Unity Day
        (msk(2026, 12, 31, 8), msk(2027, 1, 11, 9)),  # New Year run
    ],
)
def test_next_working_moment(ru: WorkingCalendar, moment: datetime, expected: datetime) -> None:
    result = ru.next_working_moment(moment)
    assert result == expected
    assert result.tzinfo is UTC


def test_extra_holidays_and_working_days() -> None:
    spec = CalendarSpec(
        extra_holidays=[date(2026, 11, 30)],
        extra_working_days=[date(2026, 11, 4)],
    )
    cal = WorkingCalendar(spec)
    assert not cal.is_working_day(date(2026, 11, 30))
    assert cal.is_working_day(date(2026, 11, 4))  # overrides the public holiday
    assert cal.add(msk(2026, 11, 27, 15), dur("1 working day")) == msk(2026, 12, 1, 15)
    assert cal.add(msk(2026, 11, 3, 15), dur("1 working day")) == msk(2026, 11, 4, 15)


def test_extra_working_saturday() -> None:
    cal = WorkingCalendar(CalendarSpec(extra_working_days=[date(2026, 11, 28)]))
    assert cal.add(msk(2026, 11, 27, 15), dur("1 working day")) == msk(2026, 11, 28, 15)


def test_extra_working_day_wins_over_extra_holiday() -> None:
    day = date(2026, 11, 30)
    cal = WorkingCalendar(CalendarSpec(extra_holidays=[day], extra_working_days=[day]))
    assert cal.is_working_day(day)


def test_spec_working_hours() -> None:
    cal = WorkingCalendar(CalendarSpec(work_start=time(10), work_end=time(14)))
    assert cal.next_working_moment(msk(2026, 11, 30, 9)) == msk(2026, 11, 30, 10)
    assert cal.next_working_moment(msk(2026, 11, 30, 15)) == msk(2026, 12, 1, 10)
    assert cal.add(msk(2026, 11, 30, 12), dur("6 working hours")) == msk(2026, 12, 1, 14)


def test_spec_from_pipeline_yaml_values() -> None:
    spec = CalendarSpec.model_validate(
        {"work_start": "10:00", "work_end": "19:30", "extra_holidays": ["2026-11-30"]}
    )
    assert spec.work_end == time(19, 30)
    assert spec.extra_holidays == [date(2026, 11, 30)]


def test_no_country_and_custom_weekend() -> None:
    cal = WorkingCalendar(CalendarSpec(country=None, weekend=[4, 5]))  # Friday and Saturday off
    assert cal.is_working_day(date(2026, 11, 4))
    assert cal.is_working_day(date(2026, 12, 31))
    assert cal.add(msk(2026, 11, 26, 15), dur("1 working day")) == msk(2026, 11, 29, 15)


def test_berlin_dst_working_day_keeps_wall_clock() -> None:
    cal = WorkingCalendar(CalendarSpec(timezone="Europe/Berlin", country="DE"))
    start = datetime(2026, 3, 27, 15, tzinfo=BERLIN)  # Friday, CET (+01)
    result = cal.add(start, dur("1 working day"))
    assert result == datetime(2026, 3, 30, 15, tzinfo=BERLIN)  # Monday, CEST (+02)
    assert result == datetime(2026, 3, 30, 13, tzinfo=UTC)


def test_berlin_dst_working_hours_count_elapsed_time() -> None:
    # A window spanning the spring-forward night is one hour shorter than its wall-clock length.
    spec = CalendarSpec(
        timezone="Europe/Berlin",
        country=None,
        weekend=[],
        work_start=time(0),
        work_end=time(23, 59),
    )
    cal = WorkingCalendar(spec)
    start = datetime(2026, 3, 29, 0, tzinfo=BERLIN)
    assert cal.add(start, dur("23 working hours")) == datetime(2026, 3, 30, 0, 1, tzinfo=BERLIN)


def test_non_working_duration_is_exact_elapsed_time(ru: WorkingCalendar) -> None:
    start = msk(2026, 11, 28, 23, 50)  # Saturday night
    assert ru.add(start, dur("30 minutes")) == msk(2026, 11, 29, 0, 20)
    assert ru.add(start, dur("3 days")) == msk(2026, 12, 1, 23, 50)
    berlin = WorkingCalendar(CalendarSpec(timezone="Europe/Berlin", country="DE"))
    across_dst = datetime(2026, 3, 28, 12, tzinfo=BERLIN)
    assert berlin.add(across_dst, dur("2 days")) == datetime(2026, 3, 30, 11, tzinfo=UTC)
    assert berlin.add(across_dst, dur("2 days")).tzinfo is UTC


def test_naive_datetime_rejected(ru: WorkingCalendar) -> None:
    naive = datetime(2026, 11, 27, 15)
    with pytest.raises(ValueError, match="naive"):
        ru.next_working_moment(naive)
    with pytest.raises(ValueError, match="naive"):
        ru.add(naive, dur("1 working day"))
    with pytest.raises(ValueError, match="naive"):
        ru.add(naive, dur("30 minutes"))


def test_calendar_with_every_day_off() -> None:
    cal = WorkingCalendar(CalendarSpec(country=None, weekend=[0, 1, 2, 3, 4, 5, 6]))
    with pytest.raises(ValueError, match="every day off"):
        cal.next_working_moment(msk(2026, 11, 27, 12))
    with pytest.raises(ValueError, match="every day off"):
        cal.add(msk(2026, 11, 27, 12), dur("1 working hour"))


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"timezone": "Europe/Moskva"}, ["timezone", "Europe/Moskva"]),
        ({"timezone": "../etc"}, ["timezone", "../etc"]),
        ({"work_start": time(18), "work_end": time(9)}, ["work_start", "work_end"]),
        ({"work_start": time(9), "work_end": time(9)}, ["work_start", "work_end"]),
        ({"work_start": 540}, ["work_start", "'09:00'"]),  # YAML 1.1 reads 9:00 as 540
        ({"weekend": [5, 7]}, ["weekend", "[7]"]),
        ({"holidays": []}, ["holidays", "Extra inputs"]),
    ],
)
def test_bad_spec_refused(fields: dict[str, object], named: list[str]) -> None:
    with pytest.raises(ValidationError) as caught:
        CalendarSpec.model_validate(fields)
    for text in named:
        assert text in str(caught.value)


def test_unknown_country_is_named() -> None:
    problem = country_problem(CalendarSpec(country="XX"))
    assert problem is not None and "country 'XX'" in problem
    assert country_problem(CalendarSpec(country="RU")) is None
    assert country_problem(CalendarSpec(country=None)) is None


def test_spec_is_frozen() -> None:
    with pytest.raises(ValidationError):
        CalendarSpec().timezone = "UTC"  # type: ignore[misc]
