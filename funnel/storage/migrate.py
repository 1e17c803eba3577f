"""Database schema migrations (Alembic), driven from code: ``funnel db upgrade``, ``funnel up``
and the worker call :func:`upgrade`; ``funnel doctor`` calls :func:`schema_status`.

The revisions live in the ``migrations`` package (installed with the project, so the Docker
image has them). They cover every table of the funnel database: the store's
(funnel/storage/store.py),
the robots' outbox and documents (funnel/storage/deliveries.py), the closed deals' records
(funnel/storage/closed_deals.py), the HTTP API's (funnel/storage/intake.py)
and the analytics tables (funnel/storage/analytics_tables.py). A change
to one of those tables needs a new revision: tests/test_migrations.py fails until the
migrated schema matches the tables in code again. Make one with
``funnel db revision -m "what changed"`` and review what it generated.
"""

from __future__ import annotations

import importlib.util
import threading
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import make_url

import migrations

MIGRATIONS_DIR = Path(migrations.__file__).resolve().parent
SCHEMA_LOCK = 7_146_815_310  # PostgreSQL advisory lock id: one migrator at a time
_ALEMBIC_LOCK = threading.Lock()


def target_metadata() -> list[sa.MetaData]:
    """The tables in code, for autogenerate and for the "schema matches" check."""
    from funnel.storage.analytics_tables import metadata as analytics_metadata
    from funnel.storage.intake import metadata as api_metadata
    from funnel.storage.store import metadata as store_metadata

    tables = [store_metadata, api_metadata, analytics_metadata]
    # The robots' outbox and documents (funnel/storage/deliveries.py, revision 0003).
    if importlib.util.find_spec("funnel.storage.deliveries") is not None:
        from funnel.storage.deliveries import metadata as deliveries_metadata

        tables.append(deliveries_metadata)
    # The closed deals' records (funnel/storage/closed_deals.py, revision 0006).
    if importlib.util.find_spec("funnel.storage.closed_deals") is not None:
        from funnel.storage.closed_deals import metadata as closed_metadata

        tables.append(closed_metadata)
    return tables


def include_object(
    obj: object, name: str | None, kind: str, reflected: bool, compare_to: object
) -> bool:
    """Compare only the tables the code knows: a table in the database that no code defines
    (another tool's, or one whose module is not installed) is neither reported nor dropped."""
    return not (kind == "table" and reflected and compare_to is None)


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # Passed as an attribute, not as sqlalchemy.url: a password with '%' would break
    # the ini interpolation.
    config.attributes["url"] = url
    return config


def _prepare(url: str) -> str:
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise ValueError(f"unsupported database {backend!r}: use sqlite or postgresql")
    db = parsed.database
    if backend == "sqlite" and db and db != ":memory:" and not db.startswith("file:"):
        Path(db).parent.mkdir(parents=True, exist_ok=True)
    return url


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database to ``revision``. A database whose tables were made by
    ``create_schema`` before migrations existed is adopted: the first revision creates only
    what is missing."""
    # Alembic keeps its `context`/`op` proxies in module globals: one run per process at a
    # time. Between processes (several workers) the PostgreSQL advisory lock in env.py orders.
    with _ALEMBIC_LOCK:
        command.upgrade(alembic_config(_prepare(url)), revision)


def downgrade(url: str, revision: str) -> None:
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


def schema_status(url: str) -> SchemaStatus:
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


def schema_differences(url: str) -> list[object]:
    """What differs between the database and the tables in code (empty: they match)."""
    from alembic.autogenerate import compare_metadata

    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            opts = {"compare_type": True, "include_object": include_object}
            context = MigrationContext.configure(conn, opts=opts)
            # A list of MetaData works (Alembic's env.py takes one too); its stub says one.
            return list(compare_metadata(context, target_metadata()))  # type: ignore[arg-type]
    finally:
        engine.dispose()
