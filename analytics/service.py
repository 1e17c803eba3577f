"""The one entry point the CLI, the API and the dashboard share: ``Analytics.report``."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import URL, make_url

from analytics import funnel_speed, people
from analytics.context import UI_BASE, Ctx, escalation_robots
from analytics.models import Filters, Report, ReportKind
from analytics.refresh import DERIVED, refresh, watermark
from analytics.sql import Dialect
from analytics.workclock import calendar_id
from funnel.client.read_scope import ReadScope
from funnel.domain.pipeline import Pipeline
from funnel.runtime.pipelines import Pipelines
from funnel.storage.migrate import require_schema

VACUUM_AFTER = 50_000  # event ids folded in one refresh that make it a bulk fold (analyze)


class Analytics:
    """Reports over one store database, one pipeline at a time (the filters' ``pipeline``,
    else the default one). Working time is counted on the default pipeline's calendar (the
    company's). Thread-safe; share one instance."""

    def __init__(
        self, url: str | URL, pipelines: Pipelines | Pipeline, *, ui_base: str = UI_BASE
    ) -> None:
        self._url = make_url(url)
        self._engine = sa.create_engine(self._url, pool_pre_ping=True)
        self._pg = self._engine.dialect.name == "postgresql"
        if isinstance(pipelines, Pipeline):
            pipelines = Pipelines.of(pipelines)
        self.pipelines = pipelines
        self.ui_base = ui_base
        if not self._pg:
            _sqlite_setup(self._engine)
        self._ready = False

    @property
    def pipeline(self) -> Pipeline:
        """The default pipeline: its calendar is the reports' working time."""
        return self.pipelines.default

    def dispose(self) -> None:
        self._engine.dispose()

    @contextmanager
    def _tx(self, *, write: bool) -> Iterator[sa.Connection]:
        with self._engine.connect() as conn:
            conn.execution_options(analytics_write=write)
            with conn.begin():
                yield conn

    def refresh(self) -> int:
        """Fold new report events into the visits table; the reports call it themselves.
        Raises MissingSchema (naming `funnel db upgrade`) on a database not migrated."""
        if not self._ready:
            require_schema(self._url)
            self._ready = True
        with self._tx(write=True) as conn:
            before = watermark(conn)
            robots = sorted({r for p in self.pipelines for r in escalation_robots(p)})
            after = refresh(conn, self.pipeline.calendar, robots)
        if after - before >= VACUUM_AFTER:
            self._vacuum()
        return after

    def _vacuum(self) -> None:
        """After a large fold: the derived tables' planner statistics (without them SQLite
        picks the wrong index for the funnel's lost deals) and, on PostgreSQL, their
        visibility maps (so the percentile walks are index-only scans instead of a heap
        visit per entry), instead of waiting for autovacuum. VACUUM needs autocommit."""
        if not self._pg:
            with self._tx(write=True) as conn:
                for table in DERIVED:
                    conn.exec_driver_sql(f"ANALYZE {table.name}")
            return
        with self._engine.connect() as conn:
            conn = conn.execution_options(isolation_level="AUTOCOMMIT")
            for table in DERIVED:
                conn.exec_driver_sql(f"VACUUM (ANALYZE) {table.name}")

    def report(
        self,
        kind: ReportKind,
        filters: Filters | None = None,
        *,
        now: datetime | None = None,
        scope: ReadScope | None = None,
    ) -> Report:
        """``scope``: the deals of one person only (funnel/client/read_scope.py). A filter
        naming a pipeline not loaded raises UnknownPipeline, which lists those that are."""
        filters = filters or Filters()
        pipeline = self.pipelines.get(filters.pipeline)
        self.refresh()
        ctx = Ctx(
            Dialect(self._engine.dialect.name),
            pipeline,
            filters,
            ui_base=self.ui_base,
            now=now,
            scope=scope,
        )
        with self._tx(write=False) as conn:
            if kind == "funnel":
                return funnel_speed.funnel(conn, ctx)
            if kind == "speed":
                return funnel_speed.speed(conn, ctx)
            if kind == "discipline":
                return people.discipline(conn, ctx)
            if kind == "managers":
                return people.managers(conn, ctx)
            if kind == "trend":
                return people.trend(conn, ctx, calendar_id(self.pipeline.calendar))
        raise ValueError(f"unknown report {kind!r}")

    def local_midnight(self, day: date) -> datetime:
        """A calendar date as the instant it starts in the pipeline calendar's zone."""
        return datetime.combine(day, time(0), tzinfo=ZoneInfo(self.pipeline.calendar.timezone))


def _sqlite_setup(engine: sa.Engine) -> None:
    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # BEGIN is ours (see below)
        cursor = dbapi_conn.cursor()
        for pragma in ("journal_mode=WAL", "busy_timeout=5000"):
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        # The refresh writes after reading: take the write lock first, as the store does.
        write = conn.get_execution_options().get("analytics_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")
