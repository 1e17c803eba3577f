"""The board (``/``): one column per stage of the pipeline, a card per open deal."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from web.render import page
from web.viewer import CurrentViewer

router = APIRouter(include_in_schema=False)


@router.get("/", response_class=HTMLResponse)
async def board(request: Request, viewer: CurrentViewer) -> HTMLResponse:
    return page(request, viewer, "board.html.jinja")
