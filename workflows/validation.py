"""Checks of message inputs that need the pinned pipeline; used by update validators so a
bad request is refused before it reaches the deal's history."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from funnel.domain.models import FieldValue
from funnel.domain.pipeline import FieldType, Pipeline


class FieldProblem(ValueError):
    pass


def check_field_updates(pipeline: Pipeline, fields: dict[str, FieldValue]) -> dict[str, object]:
    """The new field values, checked against the pipeline's declared custom fields (and
    ``amount``); raises FieldProblem naming every bad field."""
    problems: list[str] = []
    clean: dict[str, object] = {}
    declared = ", ".join(["amount", *pipeline.fields]) or "amount"
    for name, value in fields.items():
        if name == "amount":
            try:
                amount = Decimal(str(value))
            except InvalidOperation:
                problems.append(f"amount: {value!r} is not a number")
                continue
            if amount < 0:
                problems.append("amount: must not be negative")
            clean[name] = amount
            continue
        kind = pipeline.fields.get(name)
        if kind is None:
            problems.append(f"{name}: not a field of pipeline {pipeline.id!r} (fields: {declared})")
            continue
        problem = _type_problem(kind, value)
        if problem:
            problems.append(f"{name}: {problem}")
        clean[name] = value
    if problems:
        raise FieldProblem("; ".join(problems))
    return clean


def _type_problem(kind: FieldType, value: FieldValue) -> str | None:
    if value is None or value == "":
        return None  # clearing a field is allowed
    try:
        if kind is FieldType.DATE:
            date.fromisoformat(str(value))
        elif kind is FieldType.DATETIME:
            datetime.fromisoformat(str(value))
        elif kind is FieldType.NUMBER and (
            isinstance(value, bool) or not isinstance(value, int | float)
        ):
            return f"{value!r} is not a number"
        elif kind is FieldType.BOOL and not isinstance(value, bool):
            return f"{value!r} is not true or false"
    except ValueError:
        return f"{value!r} is not a valid {kind.value} (use ISO 8601, e.g. 2026-12-20)"
    return None
