"""The store on SQLite and PostgreSQL: every write is idempotent by its business key."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from pydantic import ValidationError

from funnel.storage.records import (
    DealRecord,
    NotificationIn,
    ReportEventIn,
    TaskIn,
)
from funnel.storage.store import Store
from tests.db_fixtures import migrate

T0 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
MSK = timezone(timedelta(hours=3))


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    migrate(db_url)
    store = Store(db_url)
    yield store
    store.dispose()


def deal(**changes: Any) -> DealRecord:
    values: dict[str, Any] = {
        "deal_id": "42",
        "title": "Deal 42",
        "pipeline_id": "pusk",
        "pipeline_version": "3",
        "stage": "new",
        "status": "open",
        "responsible": "ivanov",
        "department_head": "petrov",
        "service": "audit",
        "amount": Decimal("150000.50"),
        "currency": "RUB",
        "contact_name": "Anna",
        "contact_company": "Roga",
        "started_at": T0,
    }
    return DealRecord(**{**values, **changes})


def notification(key: str, recipient: str = "ivanov", at: datetime = T0) -> NotificationIn:
    return NotificationIn(
        key=key, deal_id="42", stage="new", recipient=recipient, message=key, created_at=at
    )


def task(key: str = "42:1:call:ivanov", **changes: Any) -> TaskIn:
    values: dict[str, Any] = {
        "key": key,
        "deal_id": "42",
        "stage": "new",
        "robot_id": "call",
        "title": "Call the client",
        "description": "",
        "responsible": "ivanov",
        "co_executors": ["sidorov", "smirnova"],
        "created_by": "robot",
        "needs_confirmation": True,
        "deadline_at": T0 + timedelta(hours=4),
        "created_at": T0,
    }
    return TaskIn(**{**values, **changes})


def event(key: str, at: datetime = T0, **details: Any) -> ReportEventIn:
    return ReportEventIn(
        key=key,
        deal_id="42",
        pipeline_id="pusk",
        pipeline_version="3",
        stage="new",
        kind="stage_entered",
        at=at,
        actor="ivanov",
        details=details,
    )


def test_schema_is_idempotent_and_reachable(store: Store, db_url: str) -> None:
    migrate(db_url)  # at head already: nothing to do
    store.ping()
    assert store.dialect == db_url.split(":")[0].split("+")[0]
    assert store.url == sa.make_url(db_url)


def test_sqlite_connection_settings(sqlite_url: str) -> None:
    store = Store(sqlite_url)  # the parent directory does not exist yet
    migrate(sqlite_url)
    assert Path(sa.make_url(sqlite_url).database or "").parent.is_dir()
    with store._engine.connect() as conn:
        pragma = {
            name: conn.exec_driver_sql(f"PRAGMA {name}").scalar()
            for name in ("journal_mode", "synchronous", "foreign_keys", "busy_timeout")
        }
    assert pragma == {
        "journal_mode": "wal",
        "synchronous": 1,
        "foreign_keys": 1,
        "busy_timeout": 5000,
    }
    store.dispose()


def test_unsupported_database_is_refused() -> None:
    with pytest.raises(ValueError, match="unsupported"):
        Store("mysql://localhost/funnel")


# --- idempotent writes -------------------------------------------------------------------


def test_notification_twice_is_one_row(store: Store) -> None:
    assert store.add_notification(notification("42:1:notify:ivanov")) is True
    assert store.add_notification(notification("42:1:notify:ivanov")) is False
    assert len(store.inbox("ivanov")) == 1


def test_task_twice_is_one_row(store: Store) -> None:
    assert store.add_task(task()) is True
    assert store.add_task(task(title="changed on retry")) is False
    [only] = store.tasks(deal_id="42")
    assert only.title == "Call the client"
    assert only.status == "open"
    assert only.co_executors == ["sidorov", "smirnova"]
    assert only.deadline_at == T0 + timedelta(hours=4)


def test_report_event_twice_is_one_row(store: Store) -> None:
    assert store.add_report_event(event("42:1:entered")) is True
    assert store.add_report_event(event("42:1:entered")) is False
    assert len(store.report_events(deal_id="42")) == 1


def test_a_transition_is_one_write_and_a_retry_adds_nothing(store: Store) -> None:
    """Exit and entry rows and the deal's new stage go in one transaction: retried, nothing
    is doubled; for a deal the store does not know, nothing is written at all."""
    store.upsert_deal(deal())
    rows = [event("42:2:exit"), event("42:2:enter")]
    for _ in range(2):
        store.record_transition(rows, "42", "proposal")
    assert [e.key for e in store.report_events(deal_id="42")] == ["42:2:exit", "42:2:enter"]
    record = store.get_deal("42")
    assert record is not None and record.stage == "proposal" and not record.breached
    with pytest.raises(KeyError, match="unknown deal 43"):
        store.record_transition([event("43:2:enter")], "43", "proposal")
    assert "43:2:enter" not in [e.key for e in store.report_events()]  # rolled back


def test_concurrent_retries_create_one_row(store: Store) -> None:
    """Worker threads racing on one key: exactly one of them creates the row."""
    with ThreadPoolExecutor(8) as pool:
        created = list(pool.map(lambda _: store.add_notification(notification("k")), range(16)))
    assert created.count(True) == 1
    assert len(store.inbox("ivanov")) == 1


# --- deals -------------------------------------------------------------------------------


def test_upsert_deal_inserts_then_updates_the_changing_fields(store: Store) -> None:
    assert store.get_deal("42") is None
    store.upsert_deal(deal())
    assert store.get_deal("42") == deal()
    closed = T0 + timedelta(days=2)
    store.upsert_deal(
        deal(
            title="Deal 42: audit",
            stage="lost",
            status="lost",
            closed_at=closed,
            lost_reason="too expensive",
            breached=True,
            responsible="someone else",  # fixed at start: not updated
        )
    )
    got = store.get_deal("42")
    assert got is not None
    assert (got.title, got.stage, got.status, got.lost_reason, got.breached) == (
        "Deal 42: audit",
        "lost",
        "lost",
        "too expensive",
        True,
    )
    assert got.closed_at == closed and got.closed_at.tzinfo == UTC
    assert got.responsible == "ivanov"
    assert got.amount == Decimal("150000.50")


def test_update_deal_changes_only_given_fields(store: Store) -> None:
    store.upsert_deal(deal())
    store.update_deal("42", stage="offer", breached=True)
    store.update_deal("42")  # nothing given: a no-op for a known deal
    got = store.get_deal("42")
    assert got is not None
    assert (got.stage, got.breached, got.title, got.status) == ("offer", True, "Deal 42", "open")
    store.update_deal("42", status="won", closed_at=T0.astimezone(MSK))
    got = store.get_deal("42")
    assert got is not None and got.status == "won" and got.closed_at == T0


def test_update_unknown_deal_raises(store: Store) -> None:
    with pytest.raises(KeyError, match="unknown deal nope"):
        store.update_deal("nope", stage="offer")
    with pytest.raises(KeyError):
        store.update_deal("nope")
    with pytest.raises(ValueError):
        store.update_deal("nope", status="maybe")


def test_money_keeps_its_cents(store: Store) -> None:
    store.upsert_deal(deal(amount=Decimal("1234567890123.45")))
    got = store.get_deal("42")
    assert got is not None and got.amount == Decimal("1234567890123.45")


# --- notifications -----------------------------------------------------------------------


def test_inbox_newest_first_and_unread(store: Store) -> None:
    for i in range(3):
        store.add_notification(notification(f"n{i}", at=T0 + timedelta(minutes=i)))
    store.add_notification(notification("other", recipient="petrov"))
    inbox = store.inbox("ivanov")
    assert [n.key for n in inbox] == ["n2", "n1", "n0"]
    assert not any(n.read for n in inbox)
    store.mark_read(inbox[0].id)
    store.mark_read(inbox[0].id)  # idempotent
    assert [n.key for n in store.inbox("ivanov", unread_only=True)] == ["n1", "n0"]
    assert [n.read for n in store.inbox("ivanov")] == [True, False, False]
    assert [n.key for n in store.inbox("petrov")] == ["other"]
    with pytest.raises(KeyError):
        store.mark_read(10**9)


# --- tasks -------------------------------------------------------------------------------


def test_task_lifecycle_with_confirmation(store: Store) -> None:
    store.add_task(task())
    done_at = T0 + timedelta(hours=1)
    t = store.set_task_status("42:1:call:ivanov", "awaiting_confirmation", by="ivanov", at=done_at)
    assert (t.status, t.completed_by, t.completed_at, t.confirmed_by) == (
        "awaiting_confirmation",
        "ivanov",
        done_at,
        None,
    )
    # A retried activity changes nothing, even with another time.
    again = store.set_task_status(
        "42:1:call:ivanov", "awaiting_confirmation", by="ivanov", at=done_at + timedelta(hours=1)
    )
    assert again == t
    t = store.set_task_status("42:1:call:ivanov", "done", by="petrov", at=T0 + timedelta(hours=2))
    assert (t.status, t.completed_by, t.completed_at, t.confirmed_by) == (
        "done",
        "ivanov",
        done_at,
        "petrov",
    )
    assert store.get_task("42:1:call:ivanov") == t


def test_task_done_directly_and_reopened(store: Store) -> None:
    store.add_task(task(needs_confirmation=False))
    t = store.set_task_status("42:1:call:ivanov", "done", by="sidorov", at=T0)
    assert (t.status, t.completed_by, t.confirmed_by) == ("done", "sidorov", None)
    t = store.set_task_status("42:1:call:ivanov", "open", by="petrov", at=T0)
    assert (t.status, t.completed_by, t.completed_at) == ("open", None, None)


def test_task_status_errors(store: Store) -> None:
    with pytest.raises(KeyError):
        store.set_task_status("nope", "done", by=None, at=T0)
    store.add_task(task())
    with pytest.raises(ValueError):
        store.set_task_status("42:1:call:ivanov", "finished", by=None, at=T0)
    assert store.get_task("nope") is None


def test_tasks_filters(store: Store) -> None:
    store.add_task(task("a"))
    store.add_task(task("b", deal_id="43", responsible="sidorov", co_executors=[]))
    store.add_task(task("c", co_executors=["kuznetsov"], created_at=T0 + timedelta(hours=1)))
    store.set_task_status("c", "done", by="ivanov", at=T0)
    assert [t.key for t in store.tasks()] == ["a", "b", "c"]
    assert [t.key for t in store.tasks(deal_id="42")] == ["a", "c"]
    assert [t.key for t in store.tasks(assignee="ivanov")] == ["a", "c"]
    assert [t.key for t in store.tasks(assignee="sidorov")] == ["a", "b"]
    assert [t.key for t in store.tasks(assignee="kuznetsov")] == ["c"]
    assert [t.key for t in store.tasks(assignee="smirn")] == []  # no substring match
    assert [t.key for t in store.tasks(assignee="ivanov", status="open")] == ["a"]


# --- invoices: tests/test_store_invoices.py ----------------------------------------------


# --- report events and time --------------------------------------------------------------


def test_report_events_round_trip(store: Store) -> None:
    details = {"from": "new", "seq": 3, "nested": {"ok": True, "list": [1, None, "x"]}}
    store.add_report_event(event("e2", at=T0.astimezone(MSK) + timedelta(minutes=5), **details))
    store.add_report_event(event("e1", at=T0, when=T0, money=Decimal("1.50")))
    store.add_report_event(
        event("e3", at=T0 + timedelta(minutes=5)).model_copy(update={"deal_id": "43"})
    )
    got = store.report_events(deal_id="42")
    assert [e.key for e in got] == ["e1", "e2"]
    assert got[1].details == details
    assert got[0].details == {"when": "2025-03-03T09:00:00Z", "money": "1.50"}
    assert got[1].at == T0 + timedelta(minutes=5)
    assert all(e.at.tzinfo == UTC for e in got)
    assert [e.key for e in store.report_events()] == ["e1", "e2", "e3"]


def test_naive_datetimes_are_refused(store: Store) -> None:
    naive = datetime(2025, 3, 3, 9, 0)
    with pytest.raises(ValidationError):
        notification("n", at=naive)
    with pytest.raises(ValidationError):
        deal(started_at=naive)
    store.upsert_deal(deal())
    store.add_task(task())
    calls: list[Callable[[], object]] = [
        lambda: store.update_deal("42", closed_at=naive),
        lambda: store.set_task_status("42:1:call:ivanov", "done", by=None, at=naive),
        lambda: store.mark_invoice_paid("1", deal_id="42", amount=None, paid_at=naive),
    ]
    for call in calls:
        with pytest.raises(ValueError, match="naive"):
            call()
    # Below the models too: the column type itself refuses a naive time.
    sneaky = NotificationIn.model_construct(
        **{**notification("n").model_dump(), "created_at": naive}
    )
    with pytest.raises(sa.exc.StatementError, match="naive"):
        store.add_notification(sneaky)
    assert store.inbox("ivanov") == []
