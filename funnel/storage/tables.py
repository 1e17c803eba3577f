"""The one table registry of the funnel database: its ``MetaData``, with one naming
convention, and the column types the tables share.

Every table module defines its tables on :data:`metadata` (the store's in
funnel/storage/store_tables.py, the outbox and documents in deliveries.py, the API's in
intake.py, the closed deals' records in closed_deals.py, the analytics tables in
analytics_tables.py, people's sign-in in people_tables.py); :func:`registry` imports them
all, so that Alembic (funnel/storage/migrate.py) compares the migrated schema with every
table in code.

Only the Alembic revisions make the schema (``funnel db upgrade``; ``funnel up``, ``funnel
api`` and the worker run them on start): nothing creates tables from this metadata, so a
table's shape in production is always the one a reviewed revision gave it.
"""

from __future__ import annotations

import importlib
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy import Dialect, MetaData
from sqlalchemy.dialects import postgresql
from sqlalchemy.types import TypeDecorator

# Stable constraint and index names, so that a revision can refer to them. The revisions
# name every index and unique constraint they create after this convention (or explicitly,
# like the analytics indexes that cover several columns); primary keys keep the database's
# own names.
metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    }
)

# The modules that define tables on `metadata`.
TABLE_MODULES = (
    "funnel.storage.store_tables",
    "funnel.storage.deliveries",
    "funnel.storage.intake",
    "funnel.storage.closed_deals",
    "funnel.storage.analytics_tables",
    "funnel.storage.people_tables",
)


def registry() -> MetaData:
    """The metadata with every table of the funnel database in it."""
    for module in TABLE_MODULES:
        importlib.import_module(module)
    return metadata


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


# A surrogate id: BIGSERIAL on PostgreSQL (report events grow forever); SQLite only
# autoincrements INTEGER.
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
# JSONB on PostgreSQL so that "is X a co-executor" is an indexable @> test.
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
MONEY = sa.Numeric(18, 2)


class MissingSchema(RuntimeError):
    """The database lacks tables this code needs: `funnel db upgrade` makes them."""


def missing_schema(what: str) -> MissingSchema:
    return MissingSchema(
        f"the database has no {what}: run `funnel db upgrade` (funnel up, funnel api and the"
        " worker do it too)"
    )
