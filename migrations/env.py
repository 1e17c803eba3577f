"""Alembic environment: run by funnel/migrate.py, which passes the database URL (or an open
connection) in ``config.attributes`` rather than an alembic.ini."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context

from funnel.migrate import SCHEMA_LOCK, target_metadata

config = context.config


def _run(connection: sa.Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata(),
        # SQLite cannot ALTER most things: batch mode recreates the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            # Several workers may start at once: one migrates, the others wait, then find
            # the database at head. Transaction-scoped, so it is released on commit.
            connection.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": SCHEMA_LOCK})
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = sa.create_engine(config.attributes["url"], poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            _run(conn)
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (--sql) migrations are not supported: run `funnel db upgrade`")
run_migrations_online()
