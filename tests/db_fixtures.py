"""Databases for the tests: a fresh SQLite file, or a fresh schema on the PostgreSQL server
of this machine (``FUNNEL_TEST_PG_URL``, default ``postgresql+psycopg://postgres@127.0.0.1:5432/test``).

Each PostgreSQL test gets its own schema, selected through ``search_path`` in the URL, so
anything that connects with that URL (a store, a worker, the CLI) sees only that schema and
parallel runs never collide. PostgreSQL being down fails the tests: it never skips them.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

PG_URL = os.environ.get("FUNNEL_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


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
