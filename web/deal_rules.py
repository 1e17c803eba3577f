"""The rule behind a waiting timer, in the viewer's language: "2 рабочих дня до поля
contract_due (2027-01-20)", "5 working days after Dec 1, 2026, 9:30 AM".

The deal reports each rule in English words (WaitingRobot.rule); the card says it again
from the timing itself, and falls back to the deal's words for what it cannot say.
"""

from __future__ import annotations

from babel import Locale
from babel.units import format_unit

from funnel.domain.durations import Duration
from funnel.domain.models import DealInput, WaitingRobot
from funnel.domain.robot_rules import Direction
from web.formatting import moment
from web.i18n import Language, text


def duration_words(duration: Duration, language: Language) -> str:
    """'2 рабочих дня', '10 working days', '30 minutes'."""
    if not duration.working:
        unit = f"duration-{duration.unit.value.removesuffix('s')}"
        return format_unit(duration.amount, unit, length="long", locale=language)
    form = Locale.parse(language).plural_form(duration.amount)
    key = f"deal_working_{duration.unit.value}_{form}"
    if text(key, language) == key:  # English has no "few"/"many": its plural is "other"
        key = f"deal_working_{duration.unit.value}_other"
    return text(key, language, n=duration.amount)


def field_value(deal: DealInput, anchor: str) -> str:
    name = anchor.removeprefix("fields.")
    value = deal.fields.get(name)
    return "" if value is None else str(value)


def rule_words(entry: WaitingRobot, deal: DealInput, language: Language, timezone: str) -> str:
    if entry.kind == "task_deadline":
        return text("deal_rule_task_deadline", language)
    timing = entry.timing
    parts: list[str] = []
    if timing.relative_to is not None:
        field = timing.relative_to.removeprefix("fields.")
        value = field_value(deal, timing.relative_to)
        if timing.delay is not None:
            key = (
                "deal_rule_before_field"
                if timing.direction is Direction.BEFORE
                else "deal_rule_after_field"
            )
            delay = duration_words(timing.delay, language)
            parts.append(text(key, language, delay=delay, field=field, value=value))
        else:
            parts.append(text("deal_rule_at_field", language, field=field, value=value))
    elif timing.delay is not None:
        delay = duration_words(timing.delay, language)
        # The base is the stage entry, or the end of the robot before (after_previous).
        base = moment(entry.base, timezone, language)
        parts.append(text("deal_rule_after", language, delay=delay, base=base))
    if timing.at_time is not None:
        parts.append(text("deal_rule_at_time", language, time=f"{timing.at_time:%H:%M}"))
    if timing.responsible_working_time:
        parts.append(text("deal_rule_working_time", language))
    return ", ".join(parts) or entry.rule
