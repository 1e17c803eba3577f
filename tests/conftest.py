"""Shared fixtures: real Temporal servers, a worker per test, databases per test."""

from tests.db_fixtures import db_url, pg_url, sqlite_url
from tests.integration_fixtures import dispatcher, http_receiver, smtp_receiver
from tests.temporal_fixtures import dev_env, pusk, store, ts_env

__all__ = [
    "db_url",
    "dev_env",
    "dispatcher",
    "http_receiver",
    "pg_url",
    "pusk",
    "smtp_receiver",
    "sqlite_url",
    "store",
    "ts_env",
]
