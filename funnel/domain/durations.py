"""Durations as pipeline files write them: "30 minutes", "4 working hours", "10 working days"."""

from __future__ import annotations

import re
from datetime import timedelta
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, model_serializer, model_validator

_PATTERN = re.compile(
    r"^\s*(?P<amount>\d+)\s*(?P<working>working\s+)?(?P<unit>minute|hour|day)s?\s*$",
    re.IGNORECASE,
)


class TimeUnit(StrEnum):
    MINUTES = "minutes"
    HOURS = "hours"
    DAYS = "days"


class Duration(BaseModel):
    """An amount of calendar or working time.

    Written in a pipeline file as a string such as ``"10 working days"`` or ``"30 minutes"``;
    serialised back to the same string so a pinned pipeline reads the same in history.
    """

    model_config = ConfigDict(frozen=True)

    amount: int
    unit: TimeUnit
    working: bool = False

    @model_validator(mode="before")
    @classmethod
    def _parse_text(cls, value: Any) -> Any:
        if isinstance(value, str):
            match = _PATTERN.match(value)
            if match is None:
                raise ValueError(
                    f"bad duration {value!r}: write it as '<number> [working] minutes|hours|days',"
                    " e.g. '10 working days' or '30 minutes'"
                )
            return {
                "amount": int(match["amount"]),
                "unit": match["unit"].lower() + "s",
                "working": match["working"] is not None,
            }
        return value

    @model_validator(mode="after")
    def _positive(self) -> Duration:
        if self.amount <= 0:
            raise ValueError(f"a duration must be positive, got {self.amount}")
        return self

    @model_serializer
    def _as_text(self) -> str:
        return str(self)

    def __str__(self) -> str:
        working = "working " if self.working else ""
        return f"{self.amount} {working}{self.unit.value}"

    def as_timedelta(self) -> timedelta:
        """The calendar length; only meaningful when ``working`` is false."""
        return timedelta(**{self.unit.value: self.amount})
