"""The board (``/``): one column per stage of one pipeline (a selector for the others) with
its deals' count and sum, a card per open deal, won and lost as drop zones; the pipeline and
the filters in the query string.

Three routes: the page, the next cards of a column ("show more", a fragment htmx puts in
place) and the changes since a moment, which the page polls every second so that a deal
moved by itself or by someone else shows in its new column without a reload. Moves go
through the deals API (board.js), never through here.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import AwareDatetime

from api.auth import directory
from funnel.domain.pipeline import Pipeline
from funnel.domain.text import NO_CONTROL_CHARACTERS
from funnel.runtime.pipelines import UnknownPipeline, current_pipelines
from funnel.runtime.settings import Settings
from funnel.storage.board import BoardQuery, BoardReader, column_totals
from funnel.storage.directory import Directory, Employee
from web import board_view
from web.board_view import PAGE, BoardWords, Filters
from web.render import fragment
from web.viewer import CurrentViewer, Viewer

router = APIRouter(include_in_schema=False)

# A row written a moment before the poll read it may commit a moment after: each poll asks
# again for what changed shortly before its cursor (the page skips what it already has).
OVERLAP = timedelta(seconds=3)

Text = Annotated[str | None, Query(max_length=200, pattern=NO_CONTROL_CHARACTERS)]


@dataclass(frozen=True)
class Board:
    """One request's board: who looks, through which filters, at which pipeline."""

    request: Request
    viewer: Viewer
    filters: Filters
    pipeline: Pipeline
    pipelines: list[Pipeline]  # the funnels to choose from (the selector)
    people: Directory
    query: BoardQuery
    reader: BoardReader

    def words(self, now: datetime) -> BoardWords:
        return BoardWords(self.viewer, self.people, self.pipeline, now)

    def render(self, template: str, **values: Any) -> str:
        return fragment(self.request, self.viewer, template, **values)

    def choices(self) -> tuple[list[Employee], list[str]]:
        """The people and departments the filters offer: those of the viewer's scope."""
        scope = self.viewer.scope
        people = [e for e in self.people if scope is None or e.id in scope.responsibles]
        departments = sorted({e.department for e in people if e.department})
        return sorted(people, key=lambda e: e.name), departments


def board_of(
    request: Request,
    viewer: CurrentViewer,
    responsible: Text = None,
    department: Text = None,
    breached: Text = None,
    q: Text = None,
    pipeline: Text = None,
) -> Board:
    """The board the request asks for: its pipeline (default: the default one) and filters
    from the query string."""
    settings: Settings = request.app.state.settings
    pipelines = current_pipelines(settings)
    filters = Filters.parse(responsible, department, breached, q, pipeline).with_defaults(viewer)
    try:
        funnel = pipelines.get(filters.pipeline)
    except UnknownPipeline as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=str(exc)) from exc
    people = directory(request)
    query = board_view.board_query(filters, viewer, people, funnel)
    reader = BoardReader(request.app.state.store)
    return Board(request, viewer, filters, funnel, list(pipelines), people, query, reader)


TheBoard = Annotated[Board, Depends(board_of)]


@router.get("/", response_class=HTMLResponse)
async def board(found: TheBoard) -> HTMLResponse:
    return HTMLResponse(await asyncio.to_thread(_page, found))


def _page(board: Board) -> str:
    now = datetime.now(UTC)
    words = board.words(now)
    totals = column_totals(board.reader.totals(board.query))
    cards = board.reader.cards(board.query, PAGE)
    columns, closing = board_view.columns(board.pipeline, words, totals, cards)
    people, departments = board.choices()
    return board.render(
        "board.html.jinja",
        columns=columns,
        closing=closing,
        filters=board.filters,
        query_string=board.filters.query_string(),
        people=people,
        departments=departments,
        pipelines=board.pipelines,
        pipeline=board.pipeline,
        cursor=now.isoformat(),
        page_size=PAGE,
    )


@router.get("/board/cards", response_class=HTMLResponse)
async def more_cards(
    found: TheBoard,
    stage: Annotated[str, Query(max_length=64, pattern=NO_CONTROL_CHARACTERS)],
    offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
) -> HTMLResponse:
    """The next cards of a column (its "show more"), and its button again if more remain."""
    if stage not in found.query.stages:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"the board has no column {stage!r}")
    return HTMLResponse(await asyncio.to_thread(_more, found, stage, offset))


def _more(board: Board, stage: str, offset: int) -> str:
    words = board.words(datetime.now(UTC))
    cards = board.reader.cards(board.query, PAGE + 1, stage=stage, offset=offset)
    return board.render(
        "board_more.html.jinja",
        cards=[words.card(c) for c in cards[:PAGE]],
        stage=stage,
        next_offset=offset + PAGE if len(cards) > PAGE else None,
        query_string=board.filters.query_string(),
    )


@router.get("/board/changes")
async def changes(found: TheBoard, since: AwareDatetime) -> JSONResponse:
    """The viewer's deals changed since ``since`` (the cursor of the last answer): each
    with its card, or none when it left the board (closed, filtered out), and the columns'
    totals again when anything changed."""
    return JSONResponse(await asyncio.to_thread(_changes, found, since))


def _changes(board: Board, since: datetime) -> dict[str, Any]:
    changed = board.reader.changed(board.query, since - OVERLAP)
    cursor = max([since, *(c.updated_at for c in changed if c.updated_at)])
    answer: dict[str, Any] = {"cursor": cursor.isoformat(), "cards": [], "columns": {}}
    if not changed:
        return answer
    words = board.words(datetime.now(UTC))
    for card in changed:
        view = words.card(card)
        answer["cards"].append(
            {
                "deal_id": card.deal_id,
                "stage": card.stage if card.shown else None,
                "version": view.version,
                "html": board.render("board_card.html.jinja", card=view) if card.shown else None,
            }
        )
    totals = column_totals(board.reader.totals(board.query))
    for stage in board.query.stages:
        count, sums = totals.get(stage, (0, []))
        answer["columns"][stage] = {"count": words.count(count), "sums": words.sums(sums)}
    return answer
