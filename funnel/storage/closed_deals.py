"""The record of a closed deal: the store keeps it for good, Temporal only within retention.

A deal's workflow is the engine while the deal lives. Once it is closed, the namespace's
retention (24 hours on a bare dev server, 30 days by ``funnel up``, whatever a cluster says)
deletes its workflow and event history, and with them the ``state`` query and the robot-run
log the API read. So when a deal closes, its final state and its robot runs are written here,
once (insert-if-new, like every robot write: a retried activity changes nothing), and every
reader falls back to this row when the workflow is gone (funnel/client/deals.py).

The columns are what closed deals are listed by (stage won/lost, responsible, period); the
whole final ``DealState`` and the robot runs are in ``record``.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

import sqlalchemy as sa
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from sqlalchemy import Column, Table
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import NoSuchTableError, OperationalError, ProgrammingError

from funnel.domain.models import DealState, DealStatus
from funnel.domain.robot_runs import ActivityRun
from funnel.storage.base import json_list_has
from funnel.storage.store import Store
from funnel.storage.tables import MONEY, MissingSchema, UTCDateTime, metadata, missing_schema

__all__ = ["ClosedDeal", "ClosedDeals", "ClosedSummary", "MissingSchema", "WorkflowEnd"]

# How the deal's last workflow run ended: "completed" (won or lost), or an end no workflow
# code ran at (recorded by `funnel db backfill-closed` from the history).
WorkflowEnd = Literal["completed", "failed", "terminated", "timed_out", "canceled"]

closed_deals = Table(
    "closed_deals", metadata,
    Column("deal_id", sa.String, primary_key=True),
    Column("status", sa.String(16), nullable=False),  # won, lost, or the workflow's end
    Column("stage", sa.String, nullable=False),
    Column("pipeline_id", sa.String, nullable=False),
    Column("responsible", sa.String, nullable=False),
    Column("department_head", sa.String, nullable=False),
    Column("amount", MONEY, nullable=False),
    Column("currency", sa.String(3), nullable=False),
    Column("title", sa.String, nullable=False),
    Column("breached", sa.Boolean, nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("closed_at", UTCDateTime, nullable=False),
    Column("workflow_end", sa.String(16), nullable=False),
    Column("recorded_at", UTCDateTime, nullable=False),
    Column("record", sa.JSON, nullable=False),  # {"state": DealState, "robot_runs": [...]}
    sa.Index(None, "stage", "closed_at"),
    sa.Index(None, "responsible", "closed_at"),
    sa.Index(None, "closed_at"),
    sa.Index(None, "pipeline_id", "closed_at"),  # migration 0011
)  # fmt: skip


class ClosedDeal(BaseModel):
    """One closed deal as kept for good: its final state and every robot run."""

    model_config = ConfigDict(extra="forbid")

    state: DealState
    robot_runs: list[ActivityRun] = Field(default_factory=list)
    workflow_end: WorkflowEnd = "completed"
    closed_at: AwareDatetime
    recorded_at: AwareDatetime

    @property
    def deal_id(self) -> str:
        return self.state.deal_id

    @property
    def status(self) -> str:
        """won / lost; a deal whose workflow ended without closing it: how it ended."""
        if self.state.status is not DealStatus.OPEN:
            return self.state.status.value
        return self.workflow_end

    def row(self) -> dict[str, Any]:
        state = self.state
        visits = state.visits
        return {
            "deal_id": state.deal_id,
            "status": self.status,
            "stage": state.stage,
            "pipeline_id": state.pipeline_id,
            "responsible": state.deal.responsible,
            "department_head": state.deal.department_head,
            "amount": state.deal.amount,
            "currency": state.deal.currency,
            "title": state.title,
            "breached": state.breached,
            "started_at": visits[0].entered_at if visits else self.closed_at,
            "closed_at": self.closed_at,
            "workflow_end": self.workflow_end,
            "recorded_at": self.recorded_at,
            "record": {
                "state": state.model_dump(mode="json"),
                "robot_runs": [r.model_dump(mode="json") for r in self.robot_runs],
            },
        }

    @classmethod
    def from_row(cls, row: sa.Row[Any]) -> ClosedDeal:
        return cls(
            state=DealState.model_validate(row.record["state"]),
            robot_runs=[ActivityRun.model_validate(r) for r in row.record["robot_runs"]],
            workflow_end=row.workflow_end,
            closed_at=row.closed_at,
            recorded_at=row.recorded_at,
        )


class ClosedSummary(BaseModel):
    """A line of a listing of closed deals (the record's columns)."""

    deal_id: str
    status: str
    stage: str
    responsible: str
    amount: Decimal
    breached: bool
    closed_at: AwareDatetime
    workflow_end: WorkflowEnd
    pipeline_id: str


_COLUMNS = [closed_deals.c[name] for name in ClosedSummary.model_fields]
_BY_ID = sa.select(closed_deals).where(closed_deals.c.deal_id == sa.bindparam("_deal_id"))


class ClosedDeals:
    """The closed deals' records, on the engine of a :class:`Store` (same database)."""

    def __init__(self, store: Store) -> None:
        self._store = store

    @property
    def store(self) -> Store:
        return self._store

    def add(self, record: ClosedDeal) -> bool:
        """Keep the record unless the deal has one (a retried or replayed write, or the
        backfill of a deal already recorded); True if this call wrote it."""
        with self._store.transaction(write=True) as conn:
            return self._store.insert_new(conn, closed_deals, record.row())

    def get(self, deal_id: str) -> ClosedDeal | None:
        try:
            with self._store.transaction() as conn:
                row = conn.execute(_BY_ID, {"_deal_id": deal_id}).first()
        except (OperationalError, ProgrammingError, NoSuchTableError) as exc:
            raise _schema_problem(exc) from exc
        return None if row is None else ClosedDeal.from_row(row)

    def find(
        self,
        *,
        stage: str | None = None,
        responsible: str | None = None,
        breached: bool | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        responsibles: Collection[str] | None = None,
        head: str | None = None,
        member: str | None = None,
        pipeline: str | None = None,
        offset: int = 0,
        limit: int = 100,
    ) -> list[ClosedSummary]:
        """Closed deals, newest closed first; ``since``/``until`` bound the closing time
        (``until`` excluded). With ``responsibles`` (a person's read scope) only the deals
        of these responsibles, or whose department_head is ``head``, or whose sales team
        has ``member``."""
        c = closed_deals.c
        query = sa.select(*_COLUMNS)
        if stage is not None:
            query = query.where(c.stage == stage)
        if responsible is not None:
            query = query.where(c.responsible == responsible)
        if breached is not None:
            query = query.where(c.breached == breached)
        if pipeline is not None:
            query = query.where(c.pipeline_id == pipeline)
        if since is not None:
            query = query.where(c.closed_at >= since)
        if until is not None:
            query = query.where(c.closed_at < until)
        if responsibles is not None:
            query = query.where(self._in_scope(responsibles, head, member))
        query = query.order_by(c.closed_at.desc(), c.deal_id).offset(offset).limit(limit)
        try:
            with self._store.transaction() as conn:
                rows = conn.execute(query).all()
        except (OperationalError, ProgrammingError, NoSuchTableError) as exc:
            raise _schema_problem(exc) from exc
        return [ClosedSummary.model_validate(dict(r._mapping)) for r in rows]

    def _in_scope(
        self, responsibles: Collection[str], head: str | None, member: str | None
    ) -> sa.ColumnElement[bool]:
        c = closed_deals.c
        either: list[sa.ColumnElement[bool]] = [c.responsible.in_(sorted(responsibles))]
        if head is not None:
            either.append(c.department_head == head)
        if member is not None:
            # The sales team has no column: it is in the recorded state.
            on_postgresql = self._store.dialect == "postgresql"
            if on_postgresql:
                team = sa.cast(c.record, postgresql.JSONB)["state"]["deal"]["sales_team"]
            else:
                team = sa.func.json_extract(c.record, "$.state.deal.sales_team")
            either.append(json_list_has(team, member, on_postgresql=on_postgresql))
        return sa.or_(*either)

    def delete(self, deal_id: str) -> bool:
        """Drop a deal's record (tests; an operator who must record it again); True if there
        was one."""
        stmt = sa.delete(closed_deals).where(closed_deals.c.deal_id == deal_id)
        with self._store.transaction(write=True) as conn:
            return conn.execute(stmt).rowcount > 0


def _schema_problem(exc: Exception) -> Exception:
    text = str(exc).lower()
    if "closed_deals" in text and ("no such table" in text or "does not exist" in text):
        return missing_schema("closed_deals table")
    return exc
