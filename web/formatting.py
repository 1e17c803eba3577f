"""Dates, times and money in the viewer's language and time zone (Babel's CLDR data), so
that a Moscow head and a Novosibirsk manager each read their own clock."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from babel.dates import format_datetime, format_timedelta
from babel.numbers import format_currency, format_decimal

from web.i18n import Language


def money(amount: Decimal | float | int | None, currency: str, language: Language) -> str:
    if amount is None:
        return ""
    return format_currency(amount, currency, locale=language, format_type="standard")


def number(value: Decimal | float | int, language: Language) -> str:
    return format_decimal(value, locale=language)


def moment(value: datetime | None, timezone: str, language: Language) -> str:
    """A moment in the viewer's zone, e.g. '1 дек. 2026 г., 14:30' / 'Dec 1, 2026, 2:30 PM'."""
    if value is None:
        return ""
    return format_datetime(value.astimezone(ZoneInfo(timezone)), "medium", locale=language)


def span(delta: timedelta, language: Language) -> str:
    """A duration in words: '3 дня', '2 hours'."""
    return format_timedelta(delta, locale=language, threshold=1.1)
