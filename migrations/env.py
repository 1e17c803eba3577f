"""Alembic environment: run by funnel/storage/migrate.py, which passes the database URL (or an open
connection) in ``config.attributes`` rather than an alembic.ini."""

from __future__ import annotations

from typing import Any, Literal

import sqlalchemy as sa
from alembic import context
from sqlalchemy.types import TypeDecorator

from funnel.storage.migrate import SCHEMA_LOCK, include_object, target_metadata

config = context.config


def _render_item(kind: str, obj: Any, _autogen: Any) -> str | Literal[False]:
    # A revision is frozen: our TypeDecorators (UTCDateTime) are written as the plain type
    # they store, not as an import of today's code.
    if kind == "type" and isinstance(obj, TypeDecorator):
        return f"sa.{obj.impl!r}"
    return False


def _skip_empty(_context: Any, _revision: Any, directives: list[Any]) -> None:
    # `funnel db revision` with nothing changed writes no empty revision file.
    if directives and directives[0].upgrade_ops.is_empty():
        directives[:] = []


def _run(connection: sa.Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata(),
        # SQLite cannot ALTER most things: batch mode recreates the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        render_item=_render_item,
        include_object=include_object,
        process_revision_directives=_skip_empty,
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
