"""What an invoice document says: its number and date, the amount in figures and in Russian
words, the VAT line, the invoice it replaces and the payment link; and the stamp the
document of a cancelled invoice gets.

The amount in words comes from num2words (``lang="ru"``, ``to="currency"``) in the form
Russian invoices print: "Сто тысяч рублей 00 копеек".
"""

from __future__ import annotations

import datetime as dt
import html
import re
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from num2words import num2words
from num2words.lang_RU import Num2Word_RU
from pydantic import BaseModel

from funnel.domain.requisites import Company

CENT = Decimal("0.01")
# Where a template wants the cancelled stamp; without it the stamp goes after <body>.
STATUS_MARK = "<!-- invoice-status -->"
_BODY = re.compile(r"<body[^>]*>", re.IGNORECASE)
_MONTHS = (
    "января", "февраля", "марта", "апреля", "мая", "июня",
    "июля", "августа", "сентября", "октября", "ноября", "декабря",
)  # fmt: skip


def figures(amount: Decimal) -> str:
    """100000 -> "100 000,00" (no-break spaces between the thousands)."""
    return f"{amount.quantize(CENT, ROUND_HALF_UP):,.2f}".replace(",", "\u00a0").replace(".", ",")


def amount_in_words(amount: Decimal, currency: str) -> str:
    """100000 RUB -> "Сто тысяч рублей 00 копеек". A currency num2words has no Russian
    names for keeps its code: "Сто тысяч CNY 00"."""
    amount = amount.quantize(CENT, ROUND_HALF_UP)
    if currency in Num2Word_RU.CURRENCY_FORMS:
        words = num2words(
            amount, lang="ru", to="currency", currency=currency, cents=False, separator=""
        )
    else:
        whole, cents = divmod(int(amount * 100), 100)
        words = f"{num2words(whole, lang='ru')} {currency} {cents:02d}"
    text = str(words)
    return text[:1].upper() + text[1:]


def long_date(day: dt.date) -> str:
    """2026-12-01 -> "1 декабря 2026 г."."""
    return f"{day.day} {_MONTHS[day.month - 1]} {day.year} г."


def vat_included(amount: Decimal, rate: Decimal | None) -> Decimal | None:
    """The VAT inside ``amount`` at ``rate`` percent (None: the seller pays no VAT)."""
    if rate is None:
        return None
    return (amount * rate / (100 + rate)).quantize(CENT, ROUND_HALF_UP)


class InvoiceSheet(BaseModel):
    """The invoice as its document and its e-mail show it (the templates' ``invoice``)."""

    number: str
    date: str  # "1 декабря 2026 г."
    short_date: str  # "01.12.2026"
    amount: Decimal
    currency: str
    amount_figures: str
    amount_words: str
    vat_label: str
    vat_figures: str | None  # None: без НДС
    replaces: str | None = None
    payment_url: str | None = None

    @classmethod
    def of(
        cls,
        *,
        number: str,
        day: dt.date,
        amount: Decimal,
        currency: str,
        company: Company,
        replaces: str | None = None,
        payment_url: str | None = None,
    ) -> InvoiceSheet:
        vat = vat_included(amount, company.vat_rate)
        return cls(
            number=number,
            date=long_date(day),
            short_date=day.strftime("%d.%m.%Y"),
            amount=amount,
            currency=currency,
            amount_figures=figures(amount),
            amount_words=amount_in_words(amount, currency),
            vat_label=company.vat_label,
            vat_figures=None if vat is None else figures(vat),
            replaces=replaces,
            payment_url=payment_url,
        )

    def template_vars(self, company: Company) -> dict[str, Any]:
        return {
            "invoice": self.model_dump(mode="json"),
            "company": company.model_dump(mode="json"),
        }


def annulled(document: str, *, replaced_by: str | None, day: dt.date) -> str:
    """The HTML of a cancelled invoice: as issued, with the stamp АННУЛИРОВАН / ANNULLED
    (and the invoice that replaces it) where the template put ``STATUS_MARK``."""
    note = f" Заменён счётом № {html.escape(replaced_by)}." if replaced_by else ""
    stamp = (
        '<div class="invoice-annulled" style="border: 3px solid #c00; color: #c00;'
        ' padding: 6pt; margin-bottom: 8pt; font-size: 16pt; text-align: center">'
        f"СЧЁТ АННУЛИРОВАН (ANNULLED) {long_date(day)}{note}</div>"
    )
    if STATUS_MARK in document:
        return document.replace(STATUS_MARK, stamp, 1)
    if (body := _BODY.search(document)) is not None:
        return document[: body.end()] + stamp + document[body.end() :]
    return stamp + document
