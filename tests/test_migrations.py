"""Alembic migrations on SQLite and PostgreSQL: from an empty database, from the previous
revision with data in it, and adopting a database made by create_all before migrations; one
table registry; the processes that start on a database migrate it, the others refuse one
that is not."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.script import ScriptDirectory

from funnel.storage import tables
from funnel.storage.migrate import (
    alembic_config,
    downgrade,
    head_revision,
    require_schema,
    schema_differences,
    schema_status,
    target_metadata,
    upgrade,
)
from funnel.storage.store import Store
from funnel.storage.tables import MissingSchema

ROOT = Path(__file__).resolve().parents[1]

ALL_TABLES = {
    "deals", "notifications", "tasks", "invoices", "report_events",
    "api_leads", "api_payments", "analytics_visits", "analytics_clock", "analytics_state",
    "deliveries", "documents", "invoice_payments", "closed_deals",
    "people_passwords", "people_sessions", "people_invitations", "people_tokens",
    "people_sign_in_failures",
}  # fmt: skip
STORE_TABLES = {"deals", "notifications", "tasks", "invoices", "invoice_payments", "report_events"}


def _inspect(url: str) -> tuple[set[str], set[str]]:
    engine = sa.create_engine(url)
    try:
        insp = sa.inspect(engine)
        return set(insp.get_table_names()), {i["name"] or "" for i in insp.get_indexes("deals")}
    finally:
        engine.dispose()


def test_one_linear_history() -> None:
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    assert len(script.get_heads()) == 1
    assert [r.revision for r in script.walk_revisions()][-1] == "0001"


def test_upgrade_from_empty_database(db_url: str) -> None:
    assert schema_status(db_url).current is None
    upgrade(db_url)
    status = schema_status(db_url)
    assert status.at_head and status.current == head_revision()
    tables, _ = _inspect(db_url)
    assert tables >= ALL_TABLES
    # The migrated schema is exactly the tables in code (a model change without a revision
    # fails here).
    differences = schema_differences(db_url)
    assert not differences, (
        f"tables in code differ from the migrated schema: {differences}; add a revision with"
        " `funnel db revision -m 'what changed'` (see funnel/storage/migrate.py)"
    )
    # The store works on it, and a second upgrade is a no-op.
    store = Store(db_url)
    try:
        assert store.inbox("nobody") == []
    finally:
        store.dispose()
    upgrade(db_url)
    assert schema_status(db_url).at_head


def test_upgrade_from_previous_revision_keeps_data(db_url: str) -> None:
    upgrade(db_url, "0001")
    engine = sa.create_engine(db_url)
    row = {
        "deal_id": "D-1", "title": "t", "pipeline_id": "p", "pipeline_version": "v",
        "stage": "new", "status": "open", "responsible": "ivanov", "department_head": "h",
        "service": "s", "amount": 10, "currency": "RUB", "contact_name": "Anna",
        "started_at": sa.func.now(), "breached": False,
    }  # fmt: skip
    try:
        with engine.begin() as conn:
            conn.execute(sa.table("deals", *(sa.column(k) for k in row)).insert().values(row))
        assert "ix_deals_status_responsible" not in _inspect(db_url)[1]
        upgrade(db_url)
        assert schema_status(db_url).at_head
        assert "ix_deals_status_responsible" in _inspect(db_url)[1]
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT contact_name FROM deals")).scalar() == "Anna"
        # And back: the downgrade of 0002 removes only the index.
        downgrade(db_url, "0001")
        assert "ix_deals_status_responsible" not in _inspect(db_url)[1]
        assert schema_status(db_url).current == "0001"
    finally:
        engine.dispose()


def test_adopts_a_database_made_by_create_all(db_url: str) -> None:
    # A deployment from before migrations: the store made its tables with create_all, the
    # API and analytics tables did not exist yet.
    from funnel.storage import store_tables

    if db_url.startswith("sqlite"):
        Path(sa.make_url(db_url).database or "").parent.mkdir(parents=True)
    engine = sa.create_engine(db_url)
    try:
        with engine.begin() as conn:
            tables.metadata.create_all(
                conn, tables=[t for t in tables.metadata.sorted_tables if t.name in STORE_TABLES]
            )
    finally:
        engine.dispose()
    assert {t.name for t in tables.metadata.sorted_tables} >= STORE_TABLES
    assert store_tables.deals.metadata is tables.metadata
    assert schema_status(db_url).current is None
    upgrade(db_url)
    assert schema_status(db_url).at_head
    assert _inspect(db_url)[0] >= ALL_TABLES
    assert schema_differences(db_url) == []


def test_one_table_registry() -> None:
    # Every table of the funnel database is in the one MetaData of funnel/storage/tables.py,
    # which is what Alembic compares the migrated schema with.
    registry = target_metadata()
    assert registry is tables.metadata
    assert {t.name for t in registry.sorted_tables} >= ALL_TABLES
    import funnel.storage as package

    for path in sorted(Path(package.__file__).parent.glob("*.py")):
        module = __import__(f"funnel.storage.{path.stem}", fromlist=["_"])
        for value in vars(module).values():
            if isinstance(value, sa.Table):
                assert value.metadata is tables.metadata, f"{path.name}: {value.name}"
            assert not isinstance(value, sa.MetaData) or value is tables.metadata, path.name


def test_only_the_migrations_make_the_schema() -> None:
    # No code path beside Alembic creates tables (metadata.create_all): the schema a
    # process finds is always the one the revisions made.
    found = []
    for path in sorted(ROOT.glob("**/*.py")):
        relative = path.relative_to(ROOT)
        if relative.parts[0] in {".venv", "tests", "build", "migrations"}:
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Attribute) and node.attr in {"create_all", "create_schema"}:
                found.append(f"{relative}:{node.lineno}")
    assert not found, found


def test_a_database_not_migrated_is_refused_by_name(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'funnel.db'}"
    with pytest.raises(MissingSchema, match="funnel db upgrade"):
        require_schema(url)
    upgrade(url, "0006")
    with pytest.raises(MissingSchema, match="funnel db upgrade"):
        require_schema(url)
    upgrade(url)
    require_schema(url)


@pytest.mark.postgresql
def test_workers_starting_together_take_turns(pg_url: str) -> None:
    # Every worker process runs the migrations on start; the advisory lock makes one do the
    # work while the others wait and then find the database at head.
    funnel = str(Path(sys.executable).parent / "funnel")
    env = {**os.environ, "FUNNEL_DATABASE_URL": pg_url}
    runs = [
        subprocess.Popen([funnel, "db", "upgrade"], env=env, stdout=subprocess.PIPE, text=True)
        for _ in range(4)
    ]
    for run in runs:
        out, _ = run.communicate(timeout=60)
        assert run.returncode == 0 and f"at revision {head_revision()}" in out
    assert schema_status(pg_url).at_head
