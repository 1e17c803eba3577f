"""Databases for the tests: a fresh SQLite file, or a fresh schema on the PostgreSQL server
of this machine (``FUNNEL_TEST_PG_URL``, default ``postgresql+psycopg://postgres@127.0.0.1:5432/test``).

Each PostgreSQL test gets its own schema, selected through ``search_path`` in the URL, so
anything that connects with that URL (a store, a worker, the CLI) sees only that schema and
parallel runs never collide. PostgreSQL being down fails the tests: it never skips them.

A test that needs the funnel's tables calls :func:`migrate`, which makes them the one way
the application does: by the Alembic revisions.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from funnel.storage.migrate import upgrade

PG_URL = os.environ.get("FUNNEL_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@functools.cache
def _migrated_template() -> Path:
    folder = Path(tempfile.mkdtemp(prefix="funnel-schema-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    template = folder / "funnel.db"
    upgrade(f"sqlite:///{template}")
    return template


def migrate(url: str | sa.URL) -> None:
    """Bring a test database to the head revision, as ``funnel db upgrade`` does. A SQLite
    file not made yet is a copy of one file migrated once per test process: the same
    schema, without running every revision again for each of the many tests that need one."""
    parsed = sa.make_url(url)
    db = parsed.database
    in_file = parsed.get_backend_name() == "sqlite" and db and db != ":memory:"
    if in_file and db and not db.startswith("file:") and not Path(db).exists():
        Path(db).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(_migrated_template(), db)
        return
    upgrade(url)


@contextlib.contextmanager
def isolated_pg_url() -> Iterator[str]:
    schema = f"funnel_test_{uuid.uuid4().hex[:12]}"
    engine = sa.create_engine(PG_URL)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    except sa.exc.OperationalError as exc:
        engine.dispose()
        raise RuntimeError(
            f"PostgreSQL at {PG_URL} is unreachable; start it with `pg_ctlcluster"
            " --skip-systemctl-redirect $(ls /etc/postgresql) main start`"
        ) from exc
    url = sa.make_url(PG_URL).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        engine.dispose()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'data' / 'funnel.db'}"


@pytest.fixture
def pg_url() -> Iterator[str]:
    with isolated_pg_url() as url:
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'data' / 'funnel.db'}"
    else:
        with isolated_pg_url() as url:
            yield url
