"""What every store of the funnel database stands on: one engine per database, its
transactions (with SQLite's write locking) and the idempotent insert every robot write uses.

The API is synchronous because activities are plain functions run in the worker's thread
pool; the engine's connection pool is shared by those threads.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa
from pydantic import BaseModel
from sqlalchemy import Connection, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, make_url

_WRITE = "funnel_write"  # execution option: this transaction will write (see _sqlite_setup)

M = TypeVar("M", bound=BaseModel)


FOLD = "funnel_fold"  # SQLite function: Python's lower() of a text


def _fold(value: str | None) -> str | None:
    return None if value is None else value.lower()


def folded(expr: sa.ColumnElement[Any], *, on_postgresql: bool) -> sa.ColumnElement[str]:
    """``expr`` in lower case for a case-insensitive search, in every alphabet: lower() on
    PostgreSQL (Unicode-aware), Python's on SQLite; compare with ``text.lower()``."""
    if on_postgresql:
        return sa.func.lower(expr)
    return sa.func.funnel_fold(expr, type_=sa.String)


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
        # SQLite's lower() and LIKE fold ASCII only: a search for "ромашка" must find
        # "Ромашка" (see folded()).
        dbapi_conn.create_function(FOLD, 1, _fold, deterministic=True)

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # A writer takes the write lock up front: a deferred transaction that read first
        # fails at once with SQLITE_BUSY if another thread wrote meanwhile (busy_timeout
        # does not help there).
        write = conn.get_execution_options().get(_WRITE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def json_list_has(
    items: sa.ColumnElement[Any], value: str, *, on_postgresql: bool
) -> sa.ColumnElement[bool]:
    """``value`` is an element of the JSON list ``items`` (a sales team, co-executors):
    JSONB containment on PostgreSQL (indexable), ``json_each`` on SQLite."""
    if on_postgresql:
        return sa.type_coerce(items, postgresql.JSONB).contains([value])
    member = sa.func.json_each(items).table_valued("value")
    return sa.exists(sa.select(1).select_from(member).where(member.c.value == value))


def select_columns(table: Table, model: type[BaseModel]) -> sa.Select[Any]:
    """The table's columns that the output model has (internal ids stay inside)."""
    return sa.select(*(table.c[name] for name in model.model_fields))


class StoreBase:
    """One database, SQLite (``sqlite:///path/funnel.db``) or PostgreSQL
    (``postgresql+psycopg://...``), whose schema the migrations made. Thread-safe: share
    one instance per worker."""

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
        # file cannot drop, and a ping before every checkout would only slow the robots'
        # writes down.
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
        # Built once per table and run with the values as parameters (see
        # funnel.storage.store._UPDATE_DEAL).
        stmt = self._inserts.get(table.name)
        if stmt is None:
            key = next(iter(table.primary_key.columns))
            stmt = self._insert(table).on_conflict_do_nothing().returning(key)
            self._inserts[table.name] = stmt
        return conn.execute(stmt, dict(values)).first() is not None

    def _add(self, table: Table, values: Mapping[str, Any]) -> bool:
        with self._tx(write=True) as conn:
            return self.insert_new(conn, table, values)
