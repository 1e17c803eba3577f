"""The store's invoices on SQLite and PostgreSQL: an invoice is one row whichever of its
robot and its first payment comes first, and each payment counts once."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from decimal import Decimal

import pytest

from funnel.storage.records import InvoiceIn
from funnel.storage.store import Store
from tests.db_fixtures import migrate
from tests.test_store import T0, deal


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    migrate(db_url)
    store = Store(db_url)
    yield store
    store.dispose()


def invoice(invoice_id: str = "42-1", key: str = "42:1:issue_invoice") -> InvoiceIn:
    return InvoiceIn(
        key=key,
        invoice_id=invoice_id,
        deal_id="42",
        amount=Decimal("150000.50"),
        currency="RUB",
        created_at=T0,
    )


def test_invoice_twice_is_one_row(store: Store) -> None:
    assert store.add_invoice(invoice()) is True
    assert store.add_invoice(invoice()) is False
    [only] = store.invoices("42")
    assert (only.status, only.amount, only.paid_at) == ("issued", Decimal("150000.50"), None)


def test_invoice_paid_once(store: Store) -> None:
    store.add_invoice(invoice())
    paid_at = T0 + timedelta(days=1)
    assert store.mark_invoice_paid("42-1", deal_id="42", amount=None, paid_at=paid_at) is True
    assert store.mark_invoice_paid("42-1", deal_id="42", amount=None, paid_at=T0) is False
    [only] = store.invoices("42")
    assert (only.status, only.paid_amount, only.paid_at) == ("paid", Decimal("150000.50"), paid_at)


def test_payment_before_the_invoice_robot(store: Store) -> None:
    store.upsert_deal(deal())
    assert store.mark_invoice_paid("42-1", deal_id="42", amount=Decimal("100"), paid_at=T0)
    assert store.add_invoice(invoice()) is False  # the robot ran late: still one invoice
    [only] = store.invoices("42")
    assert (only.key, only.currency, only.amount, only.paid_amount) == (
        "42:invoice:42-1",
        "RUB",
        Decimal("100"),
        Decimal("100"),
    )
    assert store.mark_invoice_paid("9-1", deal_id="9", amount=None, paid_at=T0)
    [unknown] = store.invoices("9")
    assert (unknown.currency, unknown.amount, unknown.status) == ("XXX", Decimal(0), "paid")


def test_concurrent_payments_pay_once(store: Store) -> None:
    store.add_invoice(invoice())

    def pay(_: int) -> bool:
        return store.mark_invoice_paid("42-1", deal_id="42", amount=None, paid_at=T0)

    with ThreadPoolExecutor(8) as pool:
        assert list(pool.map(pay, range(16))).count(True) == 1
