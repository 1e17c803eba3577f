"""Evaluate robot and trigger conditions against a deal. Pure and deterministic: the
workflow calls it when a robot is due, so the deal's fields as they are then decide."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from funnel.domain.models import DealInput
from funnel.domain.pipeline import FieldType, Pipeline
from funnel.domain.robot_rules import Condition, Join, Rule


def deal_values(deal: DealInput, *, title: str, stage: str) -> dict[str, Any]:
    values: dict[str, Any] = {
        "deal_id": deal.deal_id,
        "title": title,
        "stage": stage,
        "service": deal.service,
        "amount": float(deal.amount),
        "currency": deal.currency,
        "responsible": deal.responsible,
        "department_head": deal.department_head,
        "sales_team": list(deal.sales_team),
        "contact.name": deal.contact.name,
        "contact.company": deal.contact.company,
        "contact.phone": deal.contact.phone,
        "contact.email": deal.contact.email,
    }
    values.update({f"fields.{name}": value for name, value in deal.fields.items()})
    return values


def holds(condition: Condition | None, values: dict[str, Any], pipeline: Pipeline) -> bool:
    if condition is None:
        return True
    results = (
        _join(
            group.join,
            [_rule(r, values.get(r.field), pipeline.field_type(r.field)) for r in group.rules],
        )
        for group in condition.groups
    )
    return _join(condition.join, list(results))


def _join(join: Join, results: list[bool]) -> bool:
    return all(results) if join is Join.AND else any(results)


def _rule(rule: Rule, actual: Any, kind: FieldType | None) -> bool:
    op = rule.op
    if op in ("empty", "!empty"):
        is_empty = actual is None or actual == "" or actual == []
        return is_empty if op == "empty" else not is_empty
    if op in ("contains", "!contains"):
        found = _contains(actual, rule.value)
        return found if op == "contains" else not found
    if op in ("in", "!in"):
        options = [_coerce(v, kind) for v in rule.value] if isinstance(rule.value, list) else []
        inside = _coerce(actual, kind) in options
        return inside if op == "in" else not inside
    left, right = _coerce(actual, kind), _coerce(rule.value, kind)
    if op == "=":
        return bool(left == right)
    if op == "!=":
        return bool(left != right)
    if left is None or right is None:
        return False  # an unset field is neither greater nor smaller than anything
    try:
        return bool(
            {">": left > right, ">=": left >= right, "<": left < right, "<=": left <= right}[op]
        )
    except TypeError:
        return False


def _contains(actual: Any, needle: Any) -> bool:
    if isinstance(actual, list):
        return needle in actual
    if actual is None or needle is None:
        return False
    return str(needle).casefold() in str(actual).casefold()


def _coerce(value: Any, kind: FieldType | None) -> Any:
    """Compare like with like: numbers as numbers, dates as dates, whatever YAML or JSON
    made of them."""
    if value is None:
        return None
    try:
        if kind is FieldType.NUMBER:
            return float(value)
        if kind is FieldType.DATE:
            return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])
        if kind is FieldType.DATETIME:
            return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
        if kind is FieldType.BOOL:
            return value if isinstance(value, bool) else str(value).lower() in ("true", "1", "yes")
    except ValueError:
        return value
    return value
