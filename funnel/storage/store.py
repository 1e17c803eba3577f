"""The funnel store: deals, notifications, tasks, invoices and report events.

Robots are Temporal activities, and Temporal runs an activity at least once: a retry after a
timeout, or a worker that died after the write but before reporting it, runs the same call
again. So every robot write carries a business key (``deal-42:3:notify_new:ivanov``) under a
UNIQUE constraint and goes in with INSERT ... ON CONFLICT DO NOTHING: the second run changes
nothing, and the method tells whether this call created the row.

The tables are in funnel/storage/store_tables.py, the engine and transactions in
funnel/storage/base.py; the tasks' and the invoices' methods in store_tasks.py and
store_invoices.py. The schema is the migrations' (``funnel db upgrade``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, get_args

import sqlalchemy as sa
from sqlalchemy import Connection

from funnel.domain.stage_plan import PlanEntry
from funnel.storage.base import select_columns
from funnel.storage.records import (
    DealRecord,
    DealStatusName,
    Notification,
    NotificationIn,
    ReportEvent,
    ReportEventIn,
)
from funnel.storage.store_invoices import InvoiceMethods
from funnel.storage.store_tables import (
    deals,
    invoice_payments,
    invoices,
    notifications,
    report_events,
    tasks,
)
from funnel.storage.store_tasks import TaskMethods
from funnel.storage.tables import UTCDateTime, to_utc

# What callers imported from here before the tables and types had modules of their own.
__all__ = [
    "Store",
    "UTCDateTime",
    "deals",
    "invoice_payments",
    "invoices",
    "notifications",
    "report_events",
    "select_columns",
    "tasks",
    "to_utc",
]

_DEAL_MUTABLE = ("title", "stage", "status", "closed_at", "lost_reason", "breached", "updated_at")
_DEAL_STATUSES: tuple[str, ...] = get_args(DealStatusName)

# The robots' hot statements are built once, with bound parameters, and executed with the
# values as parameters: SQLAlchemy then reuses their compiled form from its cache, where a
# statement built per call with its values inside would be constructed and hashed again on
# every robot write, on the path from a deal's event to its next robots. An UPDATE run this
# way sets the columns its parameters name.
_DEAL_ID: sa.BindParameter[str] = sa.bindparam("_deal_id")
_UPDATE_DEAL = sa.update(deals).where(deals.c.deal_id == _DEAL_ID)
_DEAL_EXISTS = sa.select(deals.c.deal_id).where(deals.c.deal_id == _DEAL_ID)
_DEAL_BY_ID = select_columns(deals, DealRecord).where(deals.c.deal_id == _DEAL_ID)


def _change_deal(conn: Connection, deal_id: str, changes: Mapping[str, Any]) -> None:
    """Set ``changes`` on the deal's row (none: only check that it exists); a change
    stamps ``updated_at``, which the board's live updates follow."""
    params = {**changes, "updated_at": _now(), "_deal_id": deal_id}
    if changes:
        found = conn.execute(_UPDATE_DEAL, params).rowcount > 0
    else:
        found = conn.execute(_DEAL_EXISTS, params).first() is not None
    if not found:
        raise KeyError(f"unknown deal {deal_id}")


def _now() -> datetime:
    return datetime.now(UTC)


def _plan_value(plan: Sequence[PlanEntry] | None) -> list[dict[str, Any]] | None:
    return None if plan is None else [e.model_dump(mode="json") for e in plan]


def _report_values(e: ReportEventIn) -> dict[str, Any]:
    # details go through JSON mode so that datetimes or Decimals in them serialise.
    return {**e.model_dump(exclude={"details"}), **e.model_dump(mode="json", include={"details"})}


def _first_row(deal: DealRecord) -> dict[str, Any]:
    """A new deal's row: it entered its first stage when it started."""
    return {**deal.model_dump(), "stage_entered_at": deal.started_at, "updated_at": _now()}


class Store(TaskMethods, InvoiceMethods):
    """One database, SQLite (``sqlite:///path/funnel.db``) or PostgreSQL
    (``postgresql+psycopg://...``), migrated to the code's schema (``funnel db upgrade``).
    Thread-safe: share one instance per worker."""

    # --- deals ----------------------------------------------------------------------------

    def add_deal(self, deal: DealRecord) -> bool:
        """Register the deal unless a deal with its id is there (a retried registration, or
        an id reused after the first deal closed); True if this call added it."""
        return self._add(deals, _first_row(deal))

    def upsert_deal(self, deal: DealRecord) -> None:
        stmt = self._insert(deals).values(**_first_row(deal))
        # Only what changes during a deal's life: the rest is fixed when it starts.
        upsert = stmt.on_conflict_do_update(
            index_elements=[deals.c.deal_id],
            set_={name: stmt.excluded[name] for name in _DEAL_MUTABLE},
        )
        with self._tx(write=True) as conn:
            conn.execute(upsert)

    def edit_deal(
        self,
        deal_id: str,
        columns: Mapping[str, Any],
        task_keys: Sequence[str],
        responsible: str,
        task_people: Sequence[Mapping[str, Any]] = (),
    ) -> None:
        """An edit of a running deal: its row's edited columns, its open tasks ``task_keys``
        moved to the new responsible, and each of ``task_people`` (``key``, ``responsible``,
        ``co_executors``, ``created_by``) given its new people, in one transaction. Setting
        values again changes nothing, so a retried activity is harmless."""
        with self._tx(write=True) as conn:
            _change_deal(conn, deal_id, columns)
            if task_keys:
                moved = sa.update(tasks).where(tasks.c.key.in_(list(task_keys)))
                conn.execute(moved.values(responsible=responsible))
            for task in task_people:
                people = {k: task[k] for k in ("responsible", "co_executors", "created_by")}
                conn.execute(sa.update(tasks).where(tasks.c.key == task["key"]).values(**people))

    def update_deal(
        self,
        deal_id: str,
        *,
        title: str | None = None,
        stage: str | None = None,
        status: str | None = None,
        closed_at: datetime | None = None,
        lost_reason: str | None = None,
        breached: bool | None = None,
    ) -> None:
        """Change the given fields (None means "leave as is")."""
        if status is not None and status not in _DEAL_STATUSES:
            raise ValueError(f"unknown deal status {status!r}")
        given = {
            "title": title,
            "stage": stage,
            "status": status,
            "closed_at": None if closed_at is None else to_utc(closed_at),
            "lost_reason": lost_reason,
            "breached": breached,
        }
        changes = {name: value for name, value in given.items() if value is not None}
        with self._tx(write=bool(changes)) as conn:
            _change_deal(conn, deal_id, changes)

    def get_deal(self, deal_id: str) -> DealRecord | None:
        found = self._all(DealRecord, _DEAL_BY_ID, params={"_deal_id": deal_id})
        return found[0] if found else None

    # --- notifications --------------------------------------------------------------------

    def add_notification(self, n: NotificationIn) -> bool:
        return self._add(notifications, n.model_dump())

    def inbox(
        self, recipient: str, *, unread_only: bool = False, limit: int | None = None
    ) -> list[Notification]:
        """Newest first; ``limit``: only that many of the newest."""
        n = notifications.c
        query = select_columns(notifications, Notification).where(n.recipient == recipient)
        if unread_only:
            query = query.where(n.read == sa.false())
        query = query.order_by(n.created_at.desc(), n.id.desc())
        return self._all(Notification, query if limit is None else query.limit(limit))

    def unread_count(self, recipient: str) -> int:
        n = notifications.c
        query = sa.select(sa.func.count()).where(n.recipient == recipient, n.read == sa.false())
        with self._tx() as conn:
            return int(conn.execute(query).scalar_one())

    def deal_notifications(self, deal_id: str) -> list[Notification]:
        """Every notification a deal sent, oldest first."""
        n = notifications.c
        query = select_columns(notifications, Notification).where(n.deal_id == deal_id)
        return self._all(Notification, query.order_by(n.created_at, n.id))

    def mark_read(self, notification_id: int, *, recipient: str | None = None) -> None:
        """Idempotent; KeyError if there is no such notification (of ``recipient``, when
        given: a person marks only their own)."""
        stmt = sa.update(notifications).where(notifications.c.id == notification_id)
        if recipient is not None:
            stmt = stmt.where(notifications.c.recipient == recipient)
        with self._tx(write=True) as conn:
            if conn.execute(stmt.values(read=True)).rowcount == 0:
                raise KeyError(f"unknown notification {notification_id}")

    def mark_all_read(self, recipient: str) -> int:
        """Every unread notification of the recipient; how many were unread."""
        n = notifications.c
        stmt = sa.update(notifications).where(n.recipient == recipient, n.read == sa.false())
        with self._tx(write=True) as conn:
            return conn.execute(stmt.values(read=True)).rowcount

    # --- report events --------------------------------------------------------------------

    def add_report_event(self, e: ReportEventIn) -> bool:
        return self._add(report_events, _report_values(e))

    def record_transition(
        self,
        events: Sequence[ReportEventIn],
        deal_id: str,
        stage: str,
        *,
        entered_at: datetime | None = None,
        plan: Sequence[PlanEntry] | None = None,
        sales_team: Sequence[str] | None = None,
        pipeline: tuple[str, str] | None = None,
    ) -> None:
        """A stage transition's report rows (exit, entry) and the deal's new stage, when it
        entered it, what waits there (None: nothing known, the former stage's plan is
        dropped), its sales team and, when it moved to another pipeline, that ``pipeline``
        (id and version), in one write transaction: it runs on the path from a deal's event
        to its next robots, and each transaction waits its turn for SQLite's write lock."""
        changes: dict[str, Any] = {"stage": stage, "breached": False, "plan": _plan_value(plan)}
        if entered_at is not None:
            changes["stage_entered_at"] = to_utc(entered_at)
        if sales_team is not None:
            changes["sales_team"] = list(sales_team)
        if pipeline is not None:
            changes |= {"pipeline_id": pipeline[0], "pipeline_version": pipeline[1]}
        with self._tx(write=True) as conn:
            for event in events:
                self.insert_new(conn, report_events, _report_values(event))
            _change_deal(conn, deal_id, changes)

    def report_events(self, *, deal_id: str | None = None) -> list[ReportEvent]:
        """Ordered by time, then by insertion."""
        query = select_columns(report_events, ReportEvent)
        if deal_id is not None:
            query = query.where(report_events.c.deal_id == deal_id)
        return self._all(ReportEvent, query.order_by(report_events.c.at, report_events.c.id))
