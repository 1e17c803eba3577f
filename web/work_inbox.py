"""``/my/inbox``: the viewer's in-app notifications, newest first, unread ones marked; the
buttons mark them read through the API (``/inbox``). ``/my/inbox/unread`` is the count the
navigation's badge polls."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from api.auth import SESSION_COOKIE
from funnel.storage.records import Notification
from funnel.storage.work_reads import DealBrief
from web.render import page
from web.viewer import CurrentViewer, SignInFirst, current_viewer
from web.work_common import stage_names, store, work_reads

router = APIRouter(include_in_schema=False)

SHOWN = 200  # the newest; older ones stay in the API (GET /inbox)
# htmx stops polling on this status: a page left open after signing out stops asking.
STOP_POLLING = 286


@router.get("/my/inbox", response_class=HTMLResponse)
async def my_inbox(request: Request, viewer: CurrentViewer) -> HTMLResponse:
    def read() -> tuple[list[Notification], int, dict[str, DealBrief]]:
        notes = store(request).inbox(viewer.id, limit=SHOWN)
        deals = work_reads(request).deal_briefs({n.deal_id for n in notes})
        return notes, store(request).unread_count(viewer.id), deals

    notes, unread, deals = await asyncio.to_thread(read)
    return page(
        request,
        viewer,
        "work_inbox.html.jinja",
        notifications=notes,
        unread=unread,
        deals=deals,
        stages=stage_names(request, viewer.language),
        shown=SHOWN,
    )


@router.get("/my/inbox/unread", response_class=HTMLResponse)
async def unread_badge(request: Request) -> HTMLResponse:
    """The count as text (nothing when zero: the badge hides itself when empty)."""
    try:
        viewer = await current_viewer(request, request.cookies.get(SESSION_COOKIE))
    except SignInFirst:
        # Not the sign-in page's redirect: htmx would put that page into the badge.
        return HTMLResponse("", status_code=STOP_POLLING)
    count = await asyncio.to_thread(store(request).unread_count, viewer.id)
    return HTMLResponse(str(count) if count else "")
