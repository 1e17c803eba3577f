"""Shared fixtures: real Temporal servers, a worker per test, databases per test."""

from tests.db_fixtures import db_url, pg_url, sqlite_url
from tests.temporal_fixtures import dev_env, pusk, store, ts_env

__all__ = ["db_url", "dev_env", "pg_url", "pusk", "sqlite_url", "store", "ts_env"]
