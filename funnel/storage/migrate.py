"""Database schema migrations (Alembic), driven from code: ``funnel db upgrade``, ``funnel up``
and the worker call :func:`upgrade`; ``funnel doctor`` calls :func:`schema_status`.

The revisions live in the ``migrations`` package (installed with the project, so the Docker
image has them), and they alone make the schema: the processes that start on a database
(``funnel up``, ``funnel api``, the worker, the one-shot CLI commands that open the store)
run :func:`upgrade`, and a component handed a database checks it with
:func:`require_schema`. They cover every table of the one table registry
(funnel/storage/tables.py). A change to one of those tables needs a new revision:
tests/test_migrations.py fails until the migrated schema matches the tables in code again.
Make one with ``funnel db revision -m "what changed"`` and review what it generated.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import URL, make_url

import migrations
from funnel.storage.tables import missing_schema, registry

MIGRATIONS_DIR = Path(migrations.__file__).resolve().parent
SCHEMA_LOCK = 7_146_815_310  # PostgreSQL advisory lock id: one migrator at a time
_ALEMBIC_LOCK = threading.Lock()


def target_metadata() -> sa.MetaData:
    """The tables in code, for autogenerate and for the "schema matches" check."""
    return registry()


def include_object(
    obj: object, name: str | None, kind: str, reflected: bool, compare_to: object
) -> bool:
    """Compare only the tables the code knows: a table in the database that no code defines
    (another tool's, or one whose module is not installed) is neither reported nor dropped."""
    return not (kind == "table" and reflected and compare_to is None)


def alembic_config(url: str | URL) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # Passed as an attribute, not as sqlalchemy.url: a password with '%' would break
    # the ini interpolation.
    config.attributes["url"] = url
    return config


def _prepare(url: str | URL) -> str | URL:
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise ValueError(f"unsupported database {backend!r}: use sqlite or postgresql")
    db = parsed.database
    if backend == "sqlite" and db and db != ":memory:" and not db.startswith("file:"):
        Path(db).parent.mkdir(parents=True, exist_ok=True)
    return url


def upgrade(url: str | URL, revision: str = "head") -> None:
    """Bring the database to ``revision``; at that revision already, nothing changes. A
    database whose tables were made by ``metadata.create_all`` before migrations existed is
    adopted: the first revisions create only what is missing."""
    # Alembic keeps its `context`/`op` proxies in module globals: one run per process at a
    # time. Between processes (several workers) the PostgreSQL advisory lock in env.py orders.
    with _ALEMBIC_LOCK:
        command.upgrade(alembic_config(_prepare(url)), revision)


def downgrade(url: str | URL, revision: str) -> None:
    with _ALEMBIC_LOCK:
        command.downgrade(alembic_config(_prepare(url)), revision)


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    assert head is not None, "the migrations package has no revision"
    return head


@dataclass(frozen=True)
class SchemaStatus:
    current: str | None
    head: str

    @property
    def at_head(self) -> bool:
        return self.current == self.head


def schema_status(url: str | URL) -> SchemaStatus:
    """Where the database is; raises SQLAlchemy's OperationalError if it is unreachable."""
    parsed = make_url(url)
    db = parsed.database
    is_file = parsed.get_backend_name() == "sqlite" and db and db != ":memory:"
    if is_file and db and not db.startswith("file:") and not Path(db).exists():
        # Do not create an empty file just by looking: nothing is there yet.
        return SchemaStatus(current=None, head=head_revision())
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            current = MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()
    return SchemaStatus(current=current, head=head_revision())


def require_schema(url: str | URL) -> None:
    """Refuse a database the migrations have not brought to this code's schema (never
    migrated, or at an older revision), naming the command that does it. A database at a
    revision this code does not know was migrated by newer code: its tables are kept
    compatible, so it is accepted."""
    status = schema_status(url)
    if status.at_head:
        return
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    known = {r.revision for r in script.walk_revisions()}
    if status.current is None:
        raise missing_schema("schema yet")
    if status.current in known:
        raise missing_schema(f"tables of revision {status.head} (it is at {status.current})")


def schema_differences(url: str) -> list[object]:
    """What differs between the database and the tables in code (empty: they match)."""
    from alembic.autogenerate import compare_metadata

    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            opts = {"compare_type": True, "include_object": include_object}
            context = MigrationContext.configure(conn, opts=opts)
            return list(compare_metadata(context, target_metadata()))
    finally:
        engine.dispose()
