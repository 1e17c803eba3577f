"""The ``calendar:`` section of a pipeline file.

Kept apart from :mod:`funnel.domain.calendar` (the arithmetic, which needs the ``holidays`` data)
because the spec travels inside every pinned pipeline and is decoded in the workflow
sandbox, where importing ``holidays`` is not allowed. Whether ``country`` names a known
calendar is checked when the pipeline file loads (:func:`funnel.domain.calendar.country_problem`).
"""

from __future__ import annotations

from datetime import date, time
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, field_validator, model_validator


class CalendarSpec(BaseModel):
    """The ``calendar:`` section of a pipeline file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    timezone: str = "Europe/Moscow"
    country: str | None = "RU"
    work_start: time = time(9, 0)
    work_end: time = time(18, 0)
    weekend: list[int] = [5, 6]
    extra_holidays: list[date] = []
    extra_working_days: list[date] = []

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"timezone {value!r} is not a known IANA zone, e.g. 'Europe/Moscow'"
            ) from None
        return value

    @field_validator("work_start", "work_end", mode="before")
    @classmethod
    def _no_sexagesimal(cls, value: Any) -> Any:
        # YAML 1.1 reads an unquoted 9:00 as the integer 540 and pydantic would take that as
        # seconds (00:09): refuse numbers so the mistake is loud instead of a 9-minute day.
        if isinstance(value, int | float):
            raise ValueError(f"write working hours as a quoted string such as '09:00', got {value}")
        return value

    @field_validator("weekend")
    @classmethod
    def _weekday_numbers(cls, value: list[int]) -> list[int]:
        bad = [day for day in value if not 0 <= day <= 6]
        if bad:
            raise ValueError(f"weekend days must be 0 (Monday) .. 6 (Sunday), got {bad}")
        return value

    @model_validator(mode="after")
    def _day_is_not_empty(self) -> CalendarSpec:
        if self.work_start.tzinfo is not None or self.work_end.tzinfo is not None:
            raise ValueError("work_start and work_end are wall-clock times: give no UTC offset")
        if self.work_start >= self.work_end:
            raise ValueError(
                f"work_start ({self.work_start}) must be earlier than work_end ({self.work_end})"
            )
        return self
