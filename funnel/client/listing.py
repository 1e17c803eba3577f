"""Listing deals: open deals through Temporal visibility, closed deals from the store.

A closed deal's workflow leaves visibility with the namespace's retention, its record in the
store (funnel/storage/closed_deals.py) stays: so closed deals are always listed from the records,
and open deals (running workflows) from visibility as before. A listing walks the open deals
first, then the closed ones, newest closed first; a page cursor says which part it is in.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from temporalio.client import Client, WorkflowExecution, WorkflowExecutionStatus

from funnel.client.errors import BadFilter, visibility_literal
from funnel.client.read_scope import ReadScope
from funnel.domain import messages
from funnel.domain.search_attributes import (
    DEAL_AMOUNT,
    DEAL_BREACHED,
    DEAL_PIPELINE,
    DEAL_RESPONSIBLE,
    DEAL_STAGE,
)
from funnel.storage.closed_deals import ClosedDeals, ClosedSummary, MissingSchema

Source = Literal["workflow", "record"]
StatusFilter = Literal["open", "closed"]

DEAL_WORKFLOWS = f"WorkflowType = {visibility_literal(messages.WORKFLOW_TYPE)}"
# Every end of a deal's workflow but "running" and "continued as new" (a run of a chain).
ENDED_DEAL_WORKFLOWS = (
    f"{DEAL_WORKFLOWS} AND ExecutionStatus != 'Running' AND ExecutionStatus != 'ContinuedAsNew'"
)


@dataclass(frozen=True)
class DealSummary:
    deal_id: str
    stage: str | None
    responsible: str | None
    amount: float | None
    breached: bool | None
    status: str  # the workflow's: running, or how it ended (completed, terminated, ...)
    source: Source = "workflow"
    closed_at: datetime | None = None
    pipeline: str | None = None  # None: an open deal started before DealPipeline


@dataclass(frozen=True)
class DealFilter:
    stage: str | None = None
    responsible: str | None = None
    breached: bool | None = None
    status: StatusFilter | None = None
    since: datetime | None = None  # closed at or after (closed deals only)
    until: datetime | None = None  # closed before
    scope: ReadScope | None = None  # the person's deals only (None: all)
    pipeline: str | None = None  # the deals of this pipeline only

    def __post_init__(self) -> None:
        for name in ("since", "until"):
            value: datetime | None = getattr(self, name)
            if value is not None and value.utcoffset() is None:
                raise BadFilter(f"{name} {value.isoformat()} has no time zone: give one")
        if self.status == "open" and (self.since or self.until):
            raise BadFilter("since/until select deals by when they closed: not with status open")

    @property
    def wants_open(self) -> bool:
        return self.status != "closed" and self.since is None and self.until is None

    @property
    def wants_closed(self) -> bool:
        return self.status != "open"

    def visibility_query(self) -> str:
        clauses = [DEAL_WORKFLOWS, "ExecutionStatus = 'Running'"]
        if self.stage:
            clauses.append(f"DealStage = {visibility_literal(self.stage)}")
        if self.responsible:
            clauses.append(f"DealResponsible = {visibility_literal(self.responsible)}")
        if self.breached is not None:
            clauses.append(f"DealDeadlineBreached = {str(self.breached).lower()}")
        if self.pipeline:
            clauses.append(f"DealPipeline = {visibility_literal(self.pipeline)}")
        if self.scope is not None:
            clauses.append(_scope_clause(self.scope))
        return " AND ".join(clauses)

    def describe(self) -> str:
        """Every filter, for binding a page token to the listing it came from."""
        period = [d.isoformat() if d else "" for d in (self.since, self.until)]
        return "|".join([self.visibility_query(), self.status or "", *period])


def _scope_clause(scope: ReadScope) -> str:
    """The scope in visibility terms. The department_head is not a search attribute: a
    head's deals are found by their responsibles (the department in the directory)."""
    people = ", ".join(visibility_literal(p) for p in sorted(scope.responsibles))
    either = [f"DealResponsible IN ({people})"]
    if scope.member is not None:
        # DealTeam is a keyword list: '=' means "has this member".
        either.append(f"DealTeam = {visibility_literal(scope.member)}")
    return "(" + " OR ".join(either) + ")"


@dataclass(frozen=True)
class Cursor:
    """Where the next page starts: in the open deals (Temporal's visibility page token) or
    in the closed ones (an offset into the records)."""

    phase: Literal["open", "closed"]
    token: bytes = b""
    offset: int = 0

    def encode(self) -> bytes:
        return b"o" + self.token if self.phase == "open" else b"c" + str(self.offset).encode()

    @classmethod
    def decode(cls, raw: bytes) -> Cursor | None:
        kind, rest = raw[:1], raw[1:]
        if kind == b"o" and rest:
            return cls("open", token=rest)
        if kind == b"c" and rest.isdigit():
            return cls("closed", offset=int(rest))
        return None


@dataclass
class Page:
    deals: list[DealSummary] = field(default_factory=list)
    next: Cursor | None = None


def _from_visibility(execution: WorkflowExecution) -> DealSummary:
    attrs = execution.typed_search_attributes
    return DealSummary(
        deal_id=execution.id.removeprefix("deal-"),
        stage=attrs.get(DEAL_STAGE),
        responsible=attrs.get(DEAL_RESPONSIBLE),
        amount=attrs.get(DEAL_AMOUNT),
        breached=attrs.get(DEAL_BREACHED),
        status=(execution.status or WorkflowExecutionStatus.RUNNING).name.lower(),
        pipeline=attrs.get(DEAL_PIPELINE),
    )


def _from_record(record: ClosedSummary) -> DealSummary:
    return DealSummary(
        deal_id=record.deal_id,
        stage=record.stage,
        responsible=record.responsible,
        amount=float(record.amount),
        breached=record.breached,
        status=record.workflow_end,
        source="record",
        closed_at=record.closed_at,
        pipeline=record.pipeline_id,
    )


async def _closed(
    records: ClosedDeals | None, filt: DealFilter, offset: int, limit: int
) -> list[DealSummary]:
    if records is None or limit <= 0:
        return []
    try:
        found = await asyncio.to_thread(
            records.find,
            stage=filt.stage,
            responsible=filt.responsible,
            breached=filt.breached,
            since=filt.since,
            until=filt.until,
            responsibles=filt.scope.responsibles if filt.scope else None,
            head=filt.scope.head if filt.scope else None,
            member=filt.scope.member if filt.scope else None,
            pipeline=filt.pipeline,
            offset=offset,
            limit=limit,
        )
    except MissingSchema:
        return []  # a database not migrated yet has no closed deal recorded
    return [_from_record(r) for r in found]


async def list_page(
    client: Client,
    records: ClosedDeals | None,
    filt: DealFilter,
    cursor: Cursor | None,
    page_size: int,
) -> Page:
    """One page of deals; ``page.next`` is None on the last page."""
    page = Page()
    if cursor is None:
        cursor = Cursor("open") if filt.wants_open else Cursor("closed")
    if cursor.phase == "open":
        executions = client.list_workflows(
            filt.visibility_query(), page_size=page_size, next_page_token=cursor.token or None
        )
        await executions.fetch_next_page()
        page.deals = [_from_visibility(e) for e in executions.current_page or []]
        if executions.next_page_token:
            page.next = Cursor("open", token=executions.next_page_token)
            return page
        if not filt.wants_closed:
            return page
        cursor = Cursor("closed")
    room = page_size - len(page.deals)
    closed = await _closed(records, filt, cursor.offset, room)
    # A deal recorded a moment before its workflow's end reached visibility: once.
    listed = {d.deal_id for d in closed}
    page.deals = [d for d in page.deals if d.deal_id not in listed] + closed
    if room > 0 and len(closed) == room:
        page.next = Cursor("closed", offset=cursor.offset + room)
    elif room <= 0 and filt.wants_closed and records is not None:
        page.next = Cursor("closed", offset=cursor.offset)
    return page
