"""The board's durations and rules in words, in the viewer's language: "3 рабочих дня",
"2 h 15 min", "after 10 working days", "2 working days before field contract_due".

Plural forms follow CLDR (Babel): a text with forms lists them separated by "|" in the
language's CLDR order (Russian: one, few, many, other; English: one, other).
"""

from __future__ import annotations

from datetime import timedelta
from functools import cache

from babel import Locale

from funnel.domain.durations import Duration
from funnel.domain.pipeline import Robot, Stage
from funnel.domain.robot_rules import Direction, Start, Timing
from web.i18n import Language, text

_FORMS: dict[Language, tuple[str, ...]] = {
    "ru": ("one", "few", "many", "other"),
    "en": ("one", "other"),
}


@cache
def _locale(language: Language) -> Locale:
    return Locale.parse(language)


def plural(key: str, n: int, language: Language) -> str:
    """The form of text ``key`` for the number ``n``, with {n} filled in."""
    forms = text(key, language).split("|")
    category = _locale(language).plural_form(n)
    order = _FORMS[language]
    index = order.index(category) if category in order else len(order) - 1
    return forms[min(index, len(forms) - 1)].format(n=n)


def duration(value: Duration, language: Language) -> str:
    working = "working_" if value.working else ""
    return plural(f"board_{working}{value.unit.value}", value.amount, language)


def working_span(span: timedelta, working_day: timedelta, language: Language) -> str:
    """Working time: whole working days once there is one, else hours and minutes."""
    if span >= working_day:  # to the nearest day: "in 10 working days" just after entry
        return plural("board_working_days", round(span / working_day), language)
    minutes = int(span.total_seconds() // 60)
    if minutes < 1:
        return text("board_under_a_minute", language)
    hours, minutes = divmod(minutes, 60)
    if not hours:
        return text("board_minutes_short", language, m=minutes)
    if not minutes:
        return text("board_hours_short", language, h=hours)
    return text("board_hours_minutes_short", language, h=hours, m=minutes)


def timing(rule: Timing, language: Language) -> str:
    """When a robot (or a deadline) is due, counted from the stage entry."""
    parts: list[str] = []
    if rule.relative_to is not None:
        field = rule.relative_to.removeprefix("fields.")
        if rule.delay is None:
            parts.append(text("board_on_field", language, field=field))
        else:
            before = rule.direction is Direction.BEFORE
            key = "board_before_field" if before else "board_after_field"
            parts.append(text(key, language, span=duration(rule.delay, language), field=field))
    elif rule.delay is not None:
        parts.append(text("board_after", language, span=duration(rule.delay, language)))
    if rule.at_time is not None:
        parts.append(text("board_at_time", language, time=f"{rule.at_time:%H:%M}"))
    if rule.responsible_working_time:
        parts.append(text("board_in_working_time", language))
    return ", ".join(parts) or text("board_at_once", language)


def robot_line(robot: Robot, chained: bool, language: Language) -> str:
    """One robot of a stage, as the board's preview lists it."""
    when = timing(robot, language)
    if chained:
        when = text("board_after_previous", language, when=when)
    line = text("board_robot_line", language, title=robot.title_in(language), when=when)
    if robot.condition is not None:
        line += " " + text("board_if_condition", language)
    return line


def stage_preview(stage: Stage, language: Language) -> list[str]:
    """What entering the stage does: its robots in order, then its deadline."""
    lines: list[str] = []
    for index, robot in enumerate(stage.robots):
        previous = stage.robots[index - 1] if index else None
        chained = (
            previous is not None and robot.start is Start.AFTER_PREVIOUS and not previous.immediate
        )
        lines.append(robot_line(robot, chained, language))
    if stage.deadline is not None:
        lines.append(
            text("board_deadline_line", language, when=timing(stage.deadline.timing, language))
        )
    return lines
