"""What an invoice says and the settings behind it: the amount in Russian words with the
right currency forms, the VAT inside the amount, the company's requisites checked with the
field named, and a payment link template refused at start with a clear error."""

from __future__ import annotations

import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml

from funnel.domain.invoice_sheet import amount_in_words, figures, vat_included
from funnel.domain.payment_links import payment_link
from funnel.runtime.invoice_settings import (
    DEFAULT_COMPANY,
    InvoiceSettings,
    InvoiceSetupError,
    load_invoice_setup,
)
from starter.doctor import check_invoices

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    ("amount", "currency", "words"),
    [
        ("100000", "RUB", "Сто тысяч рублей 00 копеек"),
        ("1.01", "RUB", "Один рубль 01 копейка"),
        ("2", "RUB", "Два рубля 00 копеек"),
        ("21.21", "RUB", "Двадцать один рубль 21 копейка"),
        ("1001", "RUB", "Одна тысяча один рубль 00 копеек"),
        ("5.05", "RUB", "Пять рублей 05 копеек"),
        ("1234567.89", "RUB", "Один миллион двести тридцать четыре тысячи пятьсот шестьдесят"
         " семь рублей 89 копеек"),
        ("1234.5", "USD", "Одна тысяча двести тридцать четыре доллара 50 центов"),
        ("100000", "CNY", "Сто тысяч CNY 00"),  # no Russian names for it: the code stays
    ],
)  # fmt: skip
def test_the_amount_in_words(amount: str, currency: str, words: str) -> None:
    assert amount_in_words(Decimal(amount), currency) == words


def test_the_vat_inside_the_amount_and_the_figures() -> None:
    assert vat_included(Decimal(100000), Decimal(20)) == Decimal("16666.67")
    assert vat_included(Decimal(250000), Decimal(22)) == Decimal("45081.97")
    assert vat_included(Decimal(100000), None) is None
    assert figures(Decimal("1234567.5")) == "1\u00a0234\u00a0567,50"


def _company(tmp_path: Path, **changes: Any) -> InvoiceSettings:
    data = yaml.safe_load(DEFAULT_COMPANY.read_text(encoding="utf-8"))
    for key, value in changes.items():
        if value is None:
            data.pop(key)
        else:
            data[key] = value
    path = tmp_path / "company.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return InvoiceSettings(company=path)


def test_the_shipped_requisites_pass_and_say_their_vat(tmp_path: Path) -> None:
    assert load_invoice_setup(_company(tmp_path)).company.vat_label == "В том числе НДС 22 %"
    no_vat = load_invoice_setup(_company(tmp_path, vat_rate="none")).company
    assert no_vat.vat_rate is None and no_vat.vat_label == "Без НДС"
    assert load_invoice_setup(_company(tmp_path, vat_rate=20)).company.vat_rate == 20


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"inn": "7701234561"}, "inn: '7701234561' fails the INN check digits"),
        ({"inn": "77012345"}, "inn: '77012345' is not 10 digits"),
        ({"kpp": None}, "kpp: an organisation (10-digit INN) needs its KPP"),
        ({"account": "40702810600000012346"}, "account: '40702810600000012346' does not match"
         " the bank's BIK 044525999"),
        ({"bank": {"name": "Банк", "bik": "44525999", "correspondent_account":
          "30101810600000000999"}}, "bank.bik: '44525999' is not a BIK"),
        ({"bank": {"name": "Банк", "bik": "044525999", "correspondent_account":
          "30101810600000000998"}}, "bank: correspondent_account: '30101810600000000998' does"
         " not match the BIK 044525999"),
        ({"vat_rate": None}, "vat_rate: Field required"),
        ({"vat_rate": -5}, "vat_rate: Input should be greater than or equal to 0"),
    ],
)  # fmt: skip
def test_wrong_requisites_are_refused_with_the_field_named(
    tmp_path: Path, changes: dict[str, Any], problem: str
) -> None:
    with pytest.raises(InvoiceSetupError, match="FUNNEL_COMPANY") as refused:
        load_invoice_setup(_company(tmp_path, **changes))
    assert problem in str(refused.value)


def test_a_missing_requisites_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(InvoiceSetupError, match=r"FUNNEL_COMPANY .*nowhere.yaml: No such file"):
        load_invoice_setup(InvoiceSettings(company=tmp_path / "nowhere.yaml"))


@pytest.mark.parametrize(
    ("template", "problem"),
    [
        ("https://pay.example/{invoce_id}", "unknown placeholder {invoce_id} (known: {invoice_id},"
         " {amount}, {currency}, {deal_id})"),
        ("https://pay.example/{amount}", "it must name {invoice_id}"),
        ("pay.example/{invoice_id}", "it must be an http:// or https:// URL with a host"),
        ("https://pay.example/{invoice_id", "expected '}' before end of string"),
        ("https://pay.example/{invoice_id:>9}", "placeholder {invoice_id} takes no format"),
    ],
)  # fmt: skip
def test_a_bad_payment_link_template_is_refused(template: str, problem: str) -> None:
    with pytest.raises(InvoiceSetupError, match="FUNNEL_PAYMENT_URL_TEMPLATE") as refused:
        load_invoice_setup(InvoiceSettings(payment_url_template=template))
    assert problem in str(refused.value)


def test_the_payment_link_encodes_each_value() -> None:
    link = payment_link(
        "https://pay.example/i/{invoice_id}?sum={amount}&cur={currency}&deal={deal_id}",
        invoice_id="D 1/4",
        amount=Decimal("99.5"),
        currency="RUB",
        deal_id="D&1",
    )
    assert link == "https://pay.example/i/D%201%2F4?sum=99.50&cur=RUB&deal=D%261"


def test_funnel_up_refuses_a_bad_payment_link_template_before_starting(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "FUNNEL_HOME": str(tmp_path),
        "FUNNEL_PAYMENT_URL_TEMPLATE": "https://pay.example/{invoiceid}",
    }
    env.pop("TEMPORAL_ADDRESS", None)
    done = subprocess.run(
        [sys.executable, "-m", "starter.cli", "up", "--headless"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0
    assert "FUNNEL_PAYMENT_URL_TEMPLATE 'https://pay.example/{invoiceid}': unknown placeholder" in (
        done.stderr
    )
    assert not (tmp_path / "temporal.db").exists()  # refused before the server started


def test_doctor_reports_the_invoice_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FUNNEL_PAYMENT_URL_TEMPLATE", "https://pay.example/{invoice_id}")
    ok = check_invoices()
    assert ok.status == "OK" and "ООО «ПУСК», INN 7701234560" in ok.detail
    assert "payment link: https://pay.example/{invoice_id}" in ok.detail
    monkeypatch.setenv("FUNNEL_PAYMENT_URL_TEMPLATE", "https://pay.example/{id}")
    bad = check_invoices()
    assert bad.status == "FAIL" and "unknown placeholder {id}" in bad.detail
