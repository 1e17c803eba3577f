"""When a robot runs and whether it runs: timing, conditions and policies.

These are the settings a Bitrix24 robot has (run at once / after a delay / before or after a
date field / at a time of day / in the responsible's working time; after the previous robot
or in parallel; a condition group on deal fields), plus explicit policies for what Bitrix24
leaves implicit: re-entering a stage, leaving it, and skipping over it. Defaults match
Bitrix24 so that a pipeline ported from it behaves the same.
"""

from __future__ import annotations

from datetime import time
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from funnel.domain.durations import Duration

FieldValue = str | int | float | bool | None

Operator = Literal[
    "=", "!=", ">", ">=", "<", "<=", "in", "!in", "contains", "!contains", "empty", "!empty"
]
UNARY_OPERATORS = ("empty", "!empty")
LIST_OPERATORS = ("in", "!in")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Rule(_Strict):
    """``field op value``; fields are deal fields (``amount``, ``service``...), contact fields
    (``contact.email``) or the pipeline's custom fields (``fields.contract_due``)."""

    field: str = Field(min_length=1)
    op: Operator
    value: FieldValue | list[FieldValue] = None

    @model_validator(mode="after")
    def _value_fits_operator(self) -> Rule:
        if self.op in LIST_OPERATORS and not isinstance(self.value, list):
            raise ValueError(f"operator {self.op!r} needs a list value, e.g. [a, b]")
        if self.op not in LIST_OPERATORS and isinstance(self.value, list):
            raise ValueError(f"operator {self.op!r} takes one value, not a list")
        if self.op not in UNARY_OPERATORS and self.op not in LIST_OPERATORS and self.value is None:
            raise ValueError(f"operator {self.op!r} needs a value")
        return self


class Join(StrEnum):
    AND = "and"
    OR = "or"


class RuleGroup(_Strict):
    join: Join = Join.AND
    rules: list[Rule] = Field(min_length=1)


class Condition(_Strict):
    """Groups of rules; rules inside a group and the groups themselves are joined by
    ``and`` or ``or``. Checked when the robot is due, not only when the stage is entered."""

    join: Join = Join.AND
    groups: list[RuleGroup] = Field(min_length=1)

    @model_validator(mode="before")
    @classmethod
    def _single_group_shorthand(cls, value: Any) -> Any:
        # `condition: {rules: [...]}` is a condition with one group.
        if isinstance(value, dict) and "rules" in value and "groups" not in value:
            return {"groups": [value]}
        return value

    def fields(self) -> list[str]:
        return [rule.field for group in self.groups for rule in group.rules]


class Direction(StrEnum):
    BEFORE = "before"
    AFTER = "after"


class Start(StrEnum):
    AFTER_PREVIOUS = "after_previous"  # Bitrix24's default: wait for the robot above
    WITH_STAGE = "with_stage"  # in parallel: counted from the stage entry


class OnReentry(StrEnum):
    EVERY_ENTRY = "every_entry"  # Bitrix24: re-entering a stage runs all its robots again
    FIRST_ENTRY = "first_entry"  # only the first time the deal enters the stage


class OnLeave(StrEnum):
    CANCEL = "cancel"  # Bitrix24: leaving a stage cancels its waiting robots
    KEEP = "keep"  # still runs at its time after the deal has moved on
    COMPENSATE = "compensate"  # cancel, and undo what it did (cancel the task it created)


class OnSkip(StrEnum):
    IGNORE = "ignore"  # Bitrix24: a stage the deal jumps over runs nothing
    CATCH_UP = "catch_up"  # run it (at once) when the deal jumps over its stage


class Timing(_Strict):
    """When a robot is due, relative to its base moment: the stage entry, the end of the
    previous robot (``start: after_previous``), or a date field of the deal."""

    delay: Duration | None = None
    relative_to: str | None = Field(
        default=None, description="a date/datetime field: the delay counts before or after it"
    )
    direction: Direction = Direction.AFTER
    at_time: time | None = Field(default=None, description="then at this time of day")
    responsible_working_time: bool = Field(
        default=False, description="then wait for the responsible's working time"
    )

    @field_validator("at_time", mode="before")
    @classmethod
    def _quoted_time(cls, value: Any) -> Any:
        if isinstance(value, int | float):  # YAML 1.1 reads 10:00 as 600
            raise ValueError(f"write the time of day quoted, such as '10:00', got {value}")
        return value

    @model_validator(mode="after")
    def _direction_needs_anchor(self) -> Timing:
        if self.direction is Direction.BEFORE and self.relative_to is None:
            raise ValueError("direction 'before' needs relative_to (a date field of the deal)")
        return self

    @property
    def immediate(self) -> bool:
        return (
            self.delay is None
            and self.relative_to is None
            and self.at_time is None
            and not self.responsible_working_time
        )

    def describe(self) -> str:
        parts: list[str] = []
        anchor = f"field {self.relative_to}" if self.relative_to else "its start"
        if self.delay is not None:
            parts.append(f"{self.delay} {self.direction.value} {anchor}")
        elif self.relative_to is not None:
            parts.append(f"at field {self.relative_to}")
        if self.at_time is not None:
            parts.append(f"at {self.at_time:%H:%M}")
        if self.responsible_working_time:
            parts.append("in the responsible's working time")
        return ", ".join(parts) or "at once"
