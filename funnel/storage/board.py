"""The board's reads (the workspace's ``/``): the open deals of one pipeline by stage, as one
reader with their filters sees them.

A board for a head with thousands of open deals must render in a blink, so it never walks the
deals one by one: one aggregate query gives each column its count and sum (of every matching
deal), one windowed query the first cards of every column (longest in the stage first), and
the live updates ask for the rows changed since a moment (``deals.updated_at``, indexed).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from pydantic import AwareDatetime, BaseModel, ConfigDict

from funnel.domain.stage_plan import PlanEntry
from funnel.storage.base import folded, json_list_has
from funnel.storage.store import Store
from funnel.storage.store_tables import deals

_c = deals.c


@dataclass(frozen=True)
class BoardQuery:
    """Which deals a board shows: the open deals of ``pipeline_id`` in the ``stages`` (its
    columns) that the reader may read and that pass the filters."""

    pipeline_id: str
    stages: tuple[str, ...]
    responsibles: frozenset[str] | None = None  # filter: deals of these people (None: anyone)
    breached: bool = False  # filter: overdue deals only
    text: str | None = None  # filter: in the title, the company or the contact's name
    # The reader's scope (funnel.client.read_scope), None: every deal.
    readable_by: frozenset[str] | None = None  # deals of these responsibles
    head: str | None = None  # ... or whose department_head this is
    member: str | None = None  # ... or whose sales team has this person


class BoardCard(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    deal_id: str
    title: str
    contact_name: str
    contact_company: str | None
    amount: Decimal
    currency: str
    responsible: str
    stage: str
    status: str
    breached: bool
    stage_entered_at: AwareDatetime | None
    plan: list[PlanEntry] | None
    updated_at: AwareDatetime | None


class ChangedCard(BoardCard):
    shown: bool  # it belongs on the board (open, in a column, passing the filters)


@dataclass(frozen=True)
class ColumnTotal:
    stage: str
    currency: str
    count: int
    amount: Decimal


_CARD_COLUMNS = [_c[name] for name in BoardCard.model_fields]


class BoardReader:
    def __init__(self, store: Store) -> None:
        self._store = store
        self._pg = store.dialect == "postgresql"

    def totals(self, query: BoardQuery) -> list[ColumnTotal]:
        """Per column and currency: how many deals, and the sum of their amounts."""
        select = (
            sa.select(_c.stage, _c.currency, sa.func.count(), sa.func.sum(_c.amount))
            .where(*self._shown(query))
            .group_by(_c.stage, _c.currency)
        )
        with self._store.transaction() as conn:
            rows = conn.execute(select).all()
        return [ColumnTotal(r[0], r[1], int(r[2]), Decimal(r[3] or 0)) for r in rows]

    def cards(
        self, query: BoardQuery, limit: int, *, stage: str | None = None, offset: int = 0
    ) -> list[BoardCard]:
        """The cards of every column (or of ``stage``), ``limit`` a column from ``offset``,
        longest in their stage first."""
        position = (
            sa.func.row_number()
            .over(
                partition_by=_c.stage,
                order_by=(_c.stage_entered_at.asc().nulls_first(), _c.deal_id),
            )
            .label("position")
        )
        where = self._shown(query)
        if stage is not None:
            where.append(_c.stage == stage)
        # Ranked on the narrow columns only, then the few cards' rows read by their key:
        # sorting every matching deal with its title and plan costs several times more.
        ranked = sa.select(_c.deal_id, position).where(*where).subquery()
        select = (
            sa.select(*_CARD_COLUMNS)
            .join(ranked, ranked.c.deal_id == _c.deal_id)
            .where(ranked.c.position > offset, ranked.c.position <= offset + limit)
            .order_by(_c.stage, ranked.c.position)
        )
        return self._read(BoardCard, select)

    def changed(self, query: BoardQuery, since: datetime, limit: int = 200) -> list[ChangedCard]:
        """The reader's deals whose rows changed after ``since`` (moved, closed, edited,
        breached), oldest change first, each saying whether the board shows it now: of any
        pipeline, so that a deal moved to another funnel leaves this board."""
        shown = sa.case((sa.and_(*self._shown(query)), sa.true()), else_=sa.false())
        select = (
            sa.select(*_CARD_COLUMNS, shown.label("shown"))
            .where(_c.updated_at > since)
            .order_by(_c.updated_at)
            .limit(limit)
        )
        scope = self._scope(query)
        if scope is not None:
            select = select.where(scope)
        return self._read(ChangedCard, select)

    def _read(self, model: type[BoardCard], select: sa.Select[Any]) -> list[Any]:
        with self._store.transaction() as conn:
            return [model.model_validate(dict(r._mapping)) for r in conn.execute(select)]

    def _shown(self, query: BoardQuery) -> list[sa.ColumnElement[bool]]:
        where: list[sa.ColumnElement[bool]] = [
            _c.status == "open",
            _c.pipeline_id == query.pipeline_id,
            _c.stage.in_(query.stages),
        ]
        if query.responsibles is not None:
            where.append(_c.responsible.in_(sorted(query.responsibles)))
        if query.breached:
            where.append(_c.breached == sa.true())
        if query.text:
            needle = query.text.lower()
            where.append(
                sa.or_(
                    *(
                        folded(column, on_postgresql=self._pg).contains(needle, autoescape=True)
                        for column in (_c.title, _c.contact_company, _c.contact_name)
                    )
                )
            )
        scope = self._scope(query)
        if scope is not None:
            where.append(scope)
        return where

    def _scope(self, query: BoardQuery) -> sa.ColumnElement[bool] | None:
        if query.readable_by is None:
            return None
        either: list[sa.ColumnElement[bool]] = [_c.responsible.in_(sorted(query.readable_by))]
        if query.head is not None:
            either.append(_c.department_head == query.head)
        if query.member is not None:
            either.append(json_list_has(_c.sales_team, query.member, on_postgresql=self._pg))
        return sa.or_(*either)


def column_totals(
    totals: Sequence[ColumnTotal],
) -> dict[str, tuple[int, list[tuple[str, Decimal]]]]:
    """stage -> (deals, [(currency, sum)...]) from the totals' rows."""
    by_stage: dict[str, tuple[int, list[tuple[str, Decimal]]]] = {}
    for row in totals:
        count, sums = by_stage.get(row.stage, (0, []))
        by_stage[row.stage] = (count + row.count, [*sums, (row.currency, row.amount)])
    return by_stage
