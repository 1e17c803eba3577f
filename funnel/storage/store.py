"""The funnel store: deals, notifications, tasks, invoices and report events.

Robots are Temporal activities, and Temporal runs an activity at least once: a retry after a
timeout, or a worker that died after the write but before reporting it, runs the same call
again. So every robot write carries a business key (``deal-42:3:notify_new:ivanov``) under a
UNIQUE constraint and goes in with INSERT ... ON CONFLICT DO NOTHING: the second run changes
nothing, and the method tells whether this call created the row.

The API is synchronous because activities are plain functions run in the worker's thread
pool; the engine's connection pool is shared by those threads.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar, get_args

import sqlalchemy as sa
from pydantic import BaseModel
from sqlalchemy import Column, Connection, Dialect, MetaData, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, make_url
from sqlalchemy.types import TypeDecorator

from funnel.storage.records import (
    DealRecord,
    DealStatusName,
    Invoice,
    InvoiceIn,
    Notification,
    NotificationIn,
    ReportEvent,
    ReportEventIn,
    Task,
    TaskIn,
    TaskStatusName,
)


def to_utc(value: datetime) -> datetime:
    """The same instant in UTC; a naive time is refused, since nobody can tell its zone."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"naive datetime {value.isoformat()} refused: give a time zone")
    return value.astimezone(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """TIMESTAMPTZ on PostgreSQL. SQLite has no zones and SQLAlchemy drops the offset, so
    values are written as UTC and read back as UTC-aware: both backends return the same."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else to_utc(value)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# BIGSERIAL on PostgreSQL (report events grow forever); SQLite only autoincrements INTEGER.
_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
# JSONB on PostgreSQL so that "is X a co-executor" is an indexable @> test.
_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
_MONEY = sa.Numeric(18, 2)

# Stable constraint and index names, so that a later migration can refer to them.
metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    }
)

# No foreign keys to `deals` on purpose: activities of a deal are not ordered against its
# registration (a payment may be reported for a deal this store has not seen yet), and a
# write that must never be lost should not fail on ordering.
deals = Table(
    "deals", metadata,
    Column("deal_id", sa.String, primary_key=True),
    Column("title", sa.String, nullable=False),
    Column("pipeline_id", sa.String, nullable=False),
    Column("pipeline_version", sa.String, nullable=False),
    Column("stage", sa.String, nullable=False),
    Column("status", sa.String(16), nullable=False),
    Column("responsible", sa.String, nullable=False),
    Column("department_head", sa.String, nullable=False),
    Column("service", sa.String, nullable=False),
    Column("amount", _MONEY, nullable=False),
    Column("currency", sa.String(3), nullable=False),
    Column("contact_name", sa.String, nullable=False),
    Column("contact_company", sa.String),
    Column("started_at", UTCDateTime, nullable=False),
    Column("closed_at", UTCDateTime),
    Column("lost_reason", sa.Text),
    Column("breached", sa.Boolean, nullable=False, default=False),
    sa.Index(None, "status", "responsible"),  # migration 0002
)  # fmt: skip

notifications = Table(
    "notifications", metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column("key", sa.String, nullable=False, unique=True),
    Column("deal_id", sa.String, nullable=False),
    Column("stage", sa.String, nullable=False),
    Column("recipient", sa.String, nullable=False),
    Column("message", sa.Text, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("read", sa.Boolean, nullable=False, default=False),
    sa.Index(None, "recipient", "read"),
)  # fmt: skip

tasks = Table(
    "tasks", metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column("key", sa.String, nullable=False, unique=True),
    Column("deal_id", sa.String, nullable=False, index=True),
    Column("stage", sa.String, nullable=False),
    Column("robot_id", sa.String, nullable=False),
    Column("title", sa.String, nullable=False),
    Column("description", sa.Text, nullable=False),
    Column("responsible", sa.String, nullable=False),
    Column("co_executors", _JSON, nullable=False),
    Column("created_by", sa.String, nullable=False),
    Column("needs_confirmation", sa.Boolean, nullable=False),
    Column("deadline_at", UTCDateTime),
    Column("created_at", UTCDateTime, nullable=False),
    Column("status", sa.String(32), nullable=False, default="open"),
    Column("completed_by", sa.String),
    Column("completed_at", UTCDateTime),
    Column("confirmed_by", sa.String),
)  # fmt: skip

invoices = Table(
    "invoices", metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column("key", sa.String, nullable=False, unique=True),
    Column("invoice_id", sa.String, nullable=False),
    Column("deal_id", sa.String, nullable=False),
    Column("amount", _MONEY, nullable=False),
    Column("currency", sa.String(3), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("status", sa.String(16), nullable=False, default="issued"),
    Column("paid_amount", _MONEY),
    Column("paid_at", UTCDateTime),
    # A payment can arrive before the invoice robot ran (see mark_invoice_paid), under a
    # different key: this keeps it one invoice whichever write comes first.
    sa.UniqueConstraint("deal_id", "invoice_id"),
)  # fmt: skip

# Each payment of an invoice, once (its key: deal, invoice, payment id); the invoice's
# paid_amount is their sum, and it is paid when that reaches its amount.
invoice_payments = Table(
    "invoice_payments", metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column("key", sa.String, nullable=False, unique=True),
    Column("deal_id", sa.String, nullable=False, index=True),
    Column("invoice_id", sa.String, nullable=False),
    Column("payment_id", sa.String, nullable=False),
    Column("amount", _MONEY, nullable=False),
    Column("currency", sa.String(3)),
    Column("paid_at", UTCDateTime, nullable=False),
)  # fmt: skip

report_events = Table(
    "report_events", metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column("key", sa.String, nullable=False, unique=True),
    Column("deal_id", sa.String, nullable=False, index=True),
    Column("pipeline_id", sa.String, nullable=False),
    Column("pipeline_version", sa.String, nullable=False),
    Column("stage", sa.String, nullable=False),
    Column("kind", sa.String, nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("actor", sa.String),
    Column("details", _JSON, nullable=False),
    sa.Index(None, "kind", "at"),
    sa.Index(None, "stage", "at"),
)  # fmt: skip

_DEAL_MUTABLE = ("title", "stage", "status", "closed_at", "lost_reason", "breached")
_TASK_STATUSES: tuple[str, ...] = get_args(TaskStatusName)
_DEAL_STATUSES: tuple[str, ...] = get_args(DealStatusName)
_NO_CURRENCY = "XXX"  # ISO 4217 "no currency", for a payment of a deal the store never saw
_WRITE = "funnel_write"  # execution option: this transaction will write (see _sqlite_setup)
_SCHEMA_LOCK = 7_146_815_301  # advisory lock id serialising create_schema on PostgreSQL


def _sqlite_setup(engine: sa.Engine) -> None:
    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Take BEGIN away from the sqlite3 module: it never begins before a SELECT, so a
        # read-then-write would not be one transaction (see the "begin" hook).
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        # WAL: readers never block the writer; NORMAL is durable enough under WAL;
        # busy_timeout makes concurrent writers (worker threads) wait instead of failing;
        # foreign_keys: SQLite ignores them otherwise, should a later table declare some.
        pragmas = ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON", "busy_timeout=5000")
        for pragma in pragmas:
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # A writer takes the write lock up front: a deferred transaction that read first
        # fails at once with SQLITE_BUSY if another thread wrote meanwhile (busy_timeout
        # does not help there).
        write = conn.get_execution_options().get(_WRITE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


M = TypeVar("M", bound=BaseModel)


# The robots' hot statements are built once, with bound parameters, and executed with the
# values as parameters: SQLAlchemy then reuses their compiled form, where a statement built
# per call with its values inside was constructed and hashed again each time (about half
# the CPU of a robot's store write). An UPDATE run this way sets the columns its parameters
# name.
_DEAL_ID: sa.BindParameter[str] = sa.bindparam("_deal_id")
_UPDATE_DEAL = sa.update(deals).where(deals.c.deal_id == _DEAL_ID)
_DEAL_EXISTS = sa.select(deals.c.deal_id).where(deals.c.deal_id == _DEAL_ID)
_TASK_KEY: sa.BindParameter[str] = sa.bindparam("_key")
_TASK_STATUS = sa.select(tasks.c.status).where(tasks.c.key == _TASK_KEY).with_for_update()
_UPDATE_TASK = sa.update(tasks).where(tasks.c.key == _TASK_KEY)


def _change_deal(conn: Connection, deal_id: str, changes: Mapping[str, Any]) -> None:
    """Set ``changes`` on the deal's row (none: only check that it exists)."""
    params = {**changes, "_deal_id": deal_id}
    if changes:
        found = conn.execute(_UPDATE_DEAL, params).rowcount > 0
    else:
        found = conn.execute(_DEAL_EXISTS, params).first() is not None
    if not found:
        raise KeyError(f"unknown deal {deal_id}")


def _report_values(e: ReportEventIn) -> dict[str, Any]:
    # details go through JSON mode so that datetimes or Decimals in them serialise.
    return {**e.model_dump(exclude={"details"}), **e.model_dump(mode="json", include={"details"})}


def select_columns(table: Table, model: type[BaseModel]) -> sa.Select[Any]:
    """The table's columns that the output model has (internal ids stay inside)."""
    return sa.select(*(table.c[name] for name in model.model_fields))


_DEAL_BY_ID = select_columns(deals, DealRecord).where(deals.c.deal_id == _DEAL_ID)
_TASK_BY_KEY = select_columns(tasks, Task).where(tasks.c.key == _TASK_KEY)


class Store:
    """One database, SQLite (``sqlite:///path/funnel.db``) or PostgreSQL
    (``postgresql+psycopg://...``). Thread-safe: share one instance per worker."""

    def __init__(self, url: str | URL) -> None:
        self._url = make_url(url)
        backend = self._url.get_backend_name()
        if backend not in ("sqlite", "postgresql"):
            raise ValueError(f"unsupported database {backend!r}: use sqlite or postgresql")
        db = self._url.database
        if backend == "sqlite" and db and db != ":memory:" and not db.startswith("file:"):
            Path(db).parent.mkdir(parents=True, exist_ok=True)
        self._pg = backend == "postgresql"
        # A server connection can drop (a PostgreSQL restart): test it before use. A SQLite
        # file cannot, and the ping was a tenth of the worker's store time.
        self._engine = sa.create_engine(self._url, pool_pre_ping=self._pg)
        self._inserts: dict[str, Any] = {}  # table name -> its INSERT ... ON CONFLICT DO NOTHING
        if not self._pg:
            _sqlite_setup(self._engine)

    @property
    def url(self) -> URL:
        """The database URL (its ``str()`` hides the password)."""
        return self._url

    @property
    def dialect(self) -> str:
        return self._engine.dialect.name

    def transaction(self, *, write: bool = False) -> AbstractContextManager[Connection]:
        """A transaction on this store's engine, for modules that keep their own tables in
        the same database (funnel.storage.deliveries) and must share its SQLite write locking."""
        return self._tx(write=write)

    @contextmanager
    def _tx(self, *, write: bool = False) -> Iterator[Connection]:
        with self._engine.connect() as conn:
            conn.execution_options(**{_WRITE: write})
            with conn.begin():
                yield conn

    def create_schema(self) -> None:
        # Several workers may start at once: serialise so that none trips over a table
        # another is creating (SQLite: BEGIN IMMEDIATE; PostgreSQL: DDL is transactional).
        with self._tx(write=True) as conn:
            if self._pg:
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _SCHEMA_LOCK})
            metadata.create_all(conn)

    def ping(self) -> None:
        with self._engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))

    def dispose(self) -> None:
        self._engine.dispose()

    def _all(
        self,
        model: type[M],
        query: sa.Select[Any],
        conn: Connection | None = None,
        params: Mapping[str, Any] | None = None,
    ) -> list[M]:
        with self._tx() if conn is None else nullcontext(conn) as c:
            rows = c.execute(query, dict(params or {}))
            return [model.model_validate(dict(row._mapping)) for row in rows]

    def _insert(self, table: Table) -> postgresql.Insert | sqlite.Insert:
        return postgresql.insert(table) if self._pg else sqlite.insert(table)

    def insert_new(self, conn: Connection, table: Table, values: Mapping[str, Any]) -> bool:
        """Insert the row unless one with the same unique key is there; True if inserted."""
        # No conflict target: any unique constraint (key, or invoices' deal_id+invoice_id)
        # means "already there". RETURNING yields no row then (rowcount is unreliable here:
        # psycopg reports -1 for the INSERT ... RETURNING that SQLAlchemy emits implicitly).
        # Built once per table and run with the values as parameters (see _UPDATE_DEAL).
        stmt = self._inserts.get(table.name)
        if stmt is None:
            key = next(iter(table.primary_key.columns))
            stmt = self._insert(table).on_conflict_do_nothing().returning(key)
            self._inserts[table.name] = stmt
        return conn.execute(stmt, dict(values)).first() is not None

    def _add(self, table: Table, values: Mapping[str, Any]) -> bool:
        with self._tx(write=True) as conn:
            return self.insert_new(conn, table, values)

    # --- deals ----------------------------------------------------------------------------

    def add_deal(self, deal: DealRecord) -> bool:
        """Register the deal unless a deal with its id is there (a retried registration, or
        an id reused after the first deal closed); True if this call added it."""
        return self._add(deals, deal.model_dump())

    def upsert_deal(self, deal: DealRecord) -> None:
        stmt = self._insert(deals).values(**deal.model_dump())
        # Only what changes during a deal's life: the rest is fixed when it starts.
        upsert = stmt.on_conflict_do_update(
            index_elements=[deals.c.deal_id],
            set_={name: stmt.excluded[name] for name in _DEAL_MUTABLE},
        )
        with self._tx(write=True) as conn:
            conn.execute(upsert)

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

    def inbox(self, recipient: str, *, unread_only: bool = False) -> list[Notification]:
        """Newest first."""
        n = notifications.c
        query = select_columns(notifications, Notification).where(n.recipient == recipient)
        if unread_only:
            query = query.where(n.read == sa.false())
        return self._all(Notification, query.order_by(n.created_at.desc(), n.id.desc()))

    def deal_notifications(self, deal_id: str) -> list[Notification]:
        """Every notification a deal sent, oldest first."""
        n = notifications.c
        query = select_columns(notifications, Notification).where(n.deal_id == deal_id)
        return self._all(Notification, query.order_by(n.created_at, n.id))

    def mark_read(self, notification_id: int) -> None:
        """Idempotent; KeyError if there is no such notification."""
        stmt = sa.update(notifications).where(notifications.c.id == notification_id)
        with self._tx(write=True) as conn:
            if conn.execute(stmt.values(read=True)).rowcount == 0:
                raise KeyError(f"unknown notification {notification_id}")

    # --- tasks ----------------------------------------------------------------------------

    def add_task(self, t: TaskIn) -> bool:
        return self._add(tasks, {**t.model_dump(), "status": "open"})

    def get_task(self, key: str) -> Task | None:
        return self._task(key)

    def _task(self, key: str, conn: Connection | None = None) -> Task | None:
        found = self._all(Task, _TASK_BY_KEY, conn, {"_key": key})
        return found[0] if found else None

    def tasks(
        self,
        *,
        deal_id: str | None = None,
        assignee: str | None = None,
        status: str | None = None,
        created_by: str | None = None,
    ) -> list[Task]:
        """Oldest first; ``assignee`` matches the responsible or a co-executor;
        ``created_by`` with status awaiting_confirmation: what waits for that person."""
        query = select_columns(tasks, Task)
        if deal_id is not None:
            query = query.where(tasks.c.deal_id == deal_id)
        if created_by is not None:
            query = query.where(tasks.c.created_by == created_by)
        if status is not None:
            query = query.where(tasks.c.status == status)
        if assignee is not None:
            if self._pg:
                in_team = sa.type_coerce(tasks.c.co_executors, postgresql.JSONB).contains(
                    [assignee]
                )
            else:
                member = sa.func.json_each(tasks.c.co_executors).table_valued("value")
                in_team = sa.exists(
                    sa.select(1).select_from(member).where(member.c.value == assignee)
                )
            query = query.where(sa.or_(tasks.c.responsible == assignee, in_team))
        return self._all(Task, query.order_by(tasks.c.created_at, tasks.c.id))

    def set_task_status(self, key: str, status: str, *, by: str | None, at: datetime) -> Task:
        """Move a task; setting the status it already has changes nothing (a retried
        activity must not overwrite who completed it and when)."""
        if status not in _TASK_STATUSES:
            raise ValueError(f"unknown task status {status!r}")
        at = to_utc(at)
        with self._tx(write=True) as conn:
            current = conn.execute(_TASK_STATUS, {"_key": key}).scalar()
            if current is None:
                raise KeyError(f"unknown task {key}")
            if current != status:
                changes: dict[str, Any] = {"status": status}
                if status == "open":  # reopened, e.g. the confirmation was refused
                    changes.update(completed_by=None, completed_at=None, confirmed_by=None)
                elif status == "done" and current == "awaiting_confirmation":
                    changes.update(confirmed_by=by)
                elif status == "cancelled":  # closed by compensation: nobody completed it
                    pass
                else:  # completed now (done directly, or awaiting confirmation)
                    changes.update(completed_by=by, completed_at=at, confirmed_by=None)
                conn.execute(_UPDATE_TASK, {**changes, "_key": key})
            task = self._task(key, conn)
        assert task is not None
        return task

    # --- invoices -------------------------------------------------------------------------

    def add_invoice(self, i: InvoiceIn) -> bool:
        return self._add(invoices, {**i.model_dump(), "status": "issued"})

    def mark_invoice_paid(
        self,
        invoice_id: str,
        *,
        deal_id: str,
        amount: Decimal | None,
        paid_at: datetime,
        payment_id: str | None = None,
        currency: str | None = None,
    ) -> bool:
        """Record one payment of an invoice; False if it was recorded before (nothing
        changes). The invoice is paid once its payments add up to its amount; a payment
        without an amount pays what is outstanding.

        The payment may come before the invoice robot ran (a prepayment), so an unknown
        invoice is created here; the robot's later add_invoice then finds it."""
        paid_at = to_utc(paid_at)
        with self._tx(write=True) as conn:
            deal_currency = conn.execute(
                sa.select(deals.c.currency).where(deals.c.deal_id == deal_id)
            ).scalar()
            self.insert_new(
                conn,
                invoices,
                {
                    "key": f"{deal_id}:invoice:{invoice_id}",
                    "invoice_id": invoice_id,
                    "deal_id": deal_id,
                    "amount": Decimal(0) if amount is None else amount,
                    "currency": deal_currency or _NO_CURRENCY,
                    "created_at": paid_at,
                    "status": "issued",
                },
            )
            # Locks the invoice row (PostgreSQL) so that concurrent payments add up one
            # after the other; SQLite has the whole database locked already.
            row = conn.execute(
                sa.select(invoices.c.amount, invoices.c.paid_amount, invoices.c.status)
                .where(invoices.c.deal_id == deal_id, invoices.c.invoice_id == invoice_id)
                .with_for_update()
            ).one()
            already = row.paid_amount or Decimal(0)
            if payment_id is None:  # a worker from before payments had ids: pays in full
                if row.status != "issued":
                    return False
                payment_id = "full"
            pays = amount if amount is not None else max(row.amount - already, Decimal(0))
            new = self.insert_new(
                conn,
                invoice_payments,
                {
                    "key": f"{deal_id}:{invoice_id}:{payment_id}",
                    "deal_id": deal_id,
                    "invoice_id": invoice_id,
                    "payment_id": payment_id,
                    "amount": pays,
                    "currency": currency,
                    "paid_at": paid_at,
                },
            )
            if not new:
                return False
            total = already + pays
            changes: dict[str, Any] = {"paid_amount": total}
            if row.status == "issued" and total >= row.amount:
                changes.update(status="paid", paid_at=paid_at)
            conn.execute(
                sa.update(invoices)
                .where(invoices.c.deal_id == deal_id, invoices.c.invoice_id == invoice_id)
                .values(**changes)
            )
            return True

    def cancel_invoices(self, deal_id: str, invoice_ids: Sequence[str]) -> None:
        """Mark open invoices cancelled (replaced by a new one for a changed amount)."""
        if not invoice_ids:
            return
        with self._tx(write=True) as conn:
            conn.execute(
                sa.update(invoices)
                .where(
                    invoices.c.deal_id == deal_id,
                    invoices.c.invoice_id.in_(invoice_ids),
                    invoices.c.status == "issued",
                )
                .values(status="cancelled")
            )

    def payments(self, deal_id: str) -> list[dict[str, Any]]:
        query = (
            sa.select(invoice_payments)
            .where(invoice_payments.c.deal_id == deal_id)
            .order_by(invoice_payments.c.paid_at, invoice_payments.c.id)
        )
        with self._tx() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

    def invoices(self, deal_id: str) -> list[Invoice]:
        query = select_columns(invoices, Invoice).where(invoices.c.deal_id == deal_id)
        return self._all(Invoice, query.order_by(invoices.c.created_at, invoices.c.id))

    # --- report events --------------------------------------------------------------------

    def add_report_event(self, e: ReportEventIn) -> bool:
        return self._add(report_events, _report_values(e))

    def record_transition(self, events: Sequence[ReportEventIn], deal_id: str, stage: str) -> None:
        """A stage transition's report rows (exit, entry) and the deal's new stage, in one
        write transaction: it runs on the path from a deal's event to its next robots, and
        each transaction waits its turn for SQLite's write lock."""
        with self._tx(write=True) as conn:
            for event in events:
                self.insert_new(conn, report_events, _report_values(event))
            _change_deal(conn, deal_id, {"stage": stage, "breached": False})

    def report_events(self, *, deal_id: str | None = None) -> list[ReportEvent]:
        """Ordered by time, then by insertion."""
        query = select_columns(report_events, ReportEvent)
        if deal_id is not None:
            query = query.where(report_events.c.deal_id == deal_id)
        return self._all(ReportEvent, query.order_by(report_events.c.at, report_events.c.id))
