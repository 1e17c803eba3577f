"""The company's requisites printed on its invoices, and the checks Russian bank details allow.

A typo in an INN or an account number makes a client's bank refuse or misdirect the payment,
so every number is checked when the settings file is read (funnel/runtime/invoice_settings.py),
not when the first client tries to pay: the INN by its check digits, the KPP and the BIK by
their form, the settlement and correspondent accounts by their control key against the BIK
(the Bank of Russia's weights 7, 1, 3).
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from funnel.domain.text import OneLine

_INN10_WEIGHTS = (2, 4, 10, 3, 5, 9, 4, 6, 8)
_INN11_WEIGHTS = (7, 2, 4, 10, 3, 5, 9, 4, 6, 8)
_INN12_WEIGHTS = (3, 7, 2, 4, 10, 3, 5, 9, 4, 6, 8)
_ACCOUNT_WEIGHTS = ((7, 1, 3) * 8)[:23]  # the BIK part (3 digits) and the account (20)
NO_VAT = ("none", "без ндс", "no")


def _digits(value: str) -> list[int]:
    return [int(c) for c in value]


def _check_digit(digits: list[int], weights: tuple[int, ...]) -> int:
    return sum(d * w for d, w in zip(digits, weights, strict=False)) % 11 % 10


def inn_problem(inn: str) -> str | None:
    """What is wrong with an INN (10 digits: an organisation, 12: a person), or None."""
    if not re.fullmatch(r"\d{10}|\d{12}", inn):
        return f"{inn!r} is not 10 digits (an organisation) or 12 digits (an individual)"
    d = _digits(inn)
    if len(d) == 10:
        ok = _check_digit(d, _INN10_WEIGHTS) == d[9]
    else:
        ok = _check_digit(d, _INN11_WEIGHTS) == d[10] and _check_digit(d, _INN12_WEIGHTS) == d[11]
    return None if ok else f"{inn!r} fails the INN check digits (a digit mistyped?)"


def _key_holds(number: str) -> bool:
    return sum(d * w for d, w in zip(_digits(number), _ACCOUNT_WEIGHTS, strict=True)) % 10 == 0


def account_problem(account: str, bik: str) -> str | None:
    """A settlement account (20 digits) against its bank's BIK, or None when it holds."""
    if not re.fullmatch(r"\d{20}", account):
        return f"{account!r} is not 20 digits"
    if not _key_holds(bik[-3:] + account):
        return f"{account!r} does not match the bank's BIK {bik} (control key; a digit mistyped?)"
    return None


def correspondent_account_problem(account: str, bik: str) -> str | None:
    """The bank's correspondent account (20 digits, 301...) against its BIK, or None."""
    if not re.fullmatch(r"301\d{17}", account):
        return f"{account!r} is not 20 digits starting with 301"
    if not _key_holds("0" + bik[4:6] + account):
        return f"{account!r} does not match the BIK {bik} (control key; a digit mistyped?)"
    return None


def _vat_rate(value: Any) -> Any:
    if isinstance(value, str) and value.strip().lower() in NO_VAT:
        return None
    return value


VatRate = Annotated[Decimal | None, BeforeValidator(_vat_rate)]


class Bank(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: OneLine = Field(min_length=1, description="e.g. ПАО Сбербанк, г. Москва")
    bik: str = Field(description="9 digits, 04... for a bank in Russia")
    correspondent_account: str = Field(description="20 digits, 301...")

    @field_validator("bik")
    @classmethod
    def _bik(cls, value: str) -> str:
        if not re.fullmatch(r"04\d{7}", value):
            raise ValueError(f"{value!r} is not a BIK: 9 digits starting with 04")
        return value

    @model_validator(mode="after")
    def _correspondent(self) -> Bank:
        if problem := correspondent_account_problem(self.correspondent_account, self.bik):
            raise ValueError(f"correspondent_account: {problem}")
        return self


class Company(BaseModel):
    """The seller on the invoice: name, tax numbers, address, bank, and its VAT."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: OneLine = Field(min_length=1, description="full name, e.g. ООО «ПУСК»")
    inn: str
    kpp: str | None = Field(default=None, description="9 digits; an organisation must have it")
    address: OneLine = Field(min_length=1)
    bank: Bank
    account: str = Field(description="the settlement account (расчётный счёт), 20 digits")
    vat_rate: VatRate = Field(
        ge=0, le=100, description="percent included in the amount (e.g. 22), or none: без НДС"
    )
    head: OneLine | None = Field(default=None, description="who signs as the head")
    accountant: OneLine | None = Field(default=None, description="who signs as the accountant")
    phone: OneLine | None = None
    email: OneLine | None = None

    @field_validator("inn")
    @classmethod
    def _inn(cls, value: str) -> str:
        if (problem := inn_problem(value)) is not None:
            raise ValueError(problem)
        return value

    @field_validator("kpp")
    @classmethod
    def _kpp(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"\d{4}[\dA-Z]{2}\d{3}", value):
            raise ValueError(f"{value!r} is not a KPP: 9 characters, like 770101001")
        return value

    @model_validator(mode="after")
    def _together(self) -> Company:
        if len(self.inn) == 10 and self.kpp is None:
            raise ValueError("kpp: an organisation (10-digit INN) needs its KPP")
        if (problem := account_problem(self.account, self.bank.bik)) is not None:
            raise ValueError(f"account: {problem}")
        return self

    @property
    def vat_label(self) -> str:
        if self.vat_rate is None:
            return "Без НДС"
        rate = f"{self.vat_rate.normalize():f}".replace(".", ",")
        return f"В том числе НДС {rate} %"
