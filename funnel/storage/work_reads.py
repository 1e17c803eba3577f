"""What a person's own work pages read from the store besides tasks and the inbox: a line
about each deal their tasks belong to, and the deadline breaches of the deals a head
oversees (the deals table's ``breached`` flag and the ``deadline_breached`` report events).

One query each, whatever the number of deals: a page never asks the deals' workflows.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

import sqlalchemy as sa
from pydantic import AwareDatetime, BaseModel, ConfigDict

from funnel.storage.store import Store
from funnel.storage.store_tables import deals, report_events
from funnel.storage.tables import to_utc

BREACH = "deadline_breached"  # the report event kind of PUSK's escalations


class DealBrief(BaseModel):
    """Enough of a deal to name it in a list."""

    model_config = ConfigDict(from_attributes=True)

    deal_id: str
    title: str
    stage: str
    status: str
    contact_company: str | None


class Breach(BaseModel):
    """A deal that overran a stage deadline: still overdue in that stage (``standing``),
    or overran it today and has moved on or closed since."""

    deal_id: str
    title: str
    stage: str  # the stage whose deadline passed
    current_stage: str
    status: str
    responsible: str
    department_head: str
    since: AwareDatetime | None  # the breach's report event; None if the pipeline writes none
    standing: bool


_BRIEF = sa.select(*(deals.c[name] for name in DealBrief.model_fields))
_DEAL_COLUMNS = (
    deals.c.deal_id,
    deals.c.title,
    deals.c.stage.label("current_stage"),
    deals.c.status,
    deals.c.responsible,
    deals.c.department_head,
)


class WorkReads:
    """Reads on the engine of a :class:`Store` (the same database)."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def deal_briefs(self, deal_ids: Collection[str]) -> dict[str, DealBrief]:
        if not deal_ids:
            return {}
        query = _BRIEF.where(deals.c.deal_id.in_(sorted(set(deal_ids))))
        with self._store.transaction() as conn:
            rows = conn.execute(query).all()
        return {row.deal_id: DealBrief.model_validate(row._mapping) for row in rows}

    def breaches(
        self,
        *,
        since: datetime,
        responsibles: Collection[str] | None = None,
        head: str | None = None,
    ) -> list[Breach]:
        """Open deals overdue in their current stage, longest overdue first, then the
        breaches at or after ``since`` of deals that have left that stage, newest first.
        With ``responsibles`` (a person's read scope) only the deals of these responsibles
        or whose department head is ``head``."""
        d, e = deals.c, report_events.c
        scope = _scope(responsibles, head)
        standing = d.breached.is_(True) & (d.status == "open")
        latest = (
            sa.select(sa.func.max(e.at))
            .where(e.deal_id == d.deal_id, e.kind == BREACH, e.stage == d.stage)
            .scalar_subquery()
        )
        now_query = sa.select(*_DEAL_COLUMNS, d.stage, latest.label("since")).where(standing, scope)
        moved_on = (
            sa.select(*_DEAL_COLUMNS, e.stage, e.at.label("since"))
            .join(report_events, e.deal_id == d.deal_id)
            .where(e.kind == BREACH, e.at >= to_utc(since), scope)
            .where(sa.not_(standing & (e.stage == d.stage)))
        )
        with self._store.transaction() as conn:
            overdue = [Breach(**r._mapping, standing=True) for r in conn.execute(now_query)]
            earlier = [Breach(**r._mapping, standing=False) for r in conn.execute(moved_on)]
        oldest = datetime.max.replace(tzinfo=since.tzinfo)
        overdue.sort(key=lambda b: (b.since or oldest, b.deal_id))
        earlier.sort(key=lambda b: (b.since or oldest, b.deal_id), reverse=True)
        return overdue + earlier


def _scope(responsibles: Collection[str] | None, head: str | None) -> sa.ColumnElement[bool]:
    if responsibles is None:
        return sa.true()
    theirs = deals.c.responsible.in_(sorted(responsibles))
    return theirs if head is None else sa.or_(theirs, deals.c.department_head == head)
