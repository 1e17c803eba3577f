"""``/my/breaches``: a head's (and an admin's) view of today's deadline breaches in the deals
they read: the deals overdue in their stage now, longest first, then those that overran a
deadline today and have moved on since. A manager is told it is not theirs (403)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from funnel.domain.people import Role
from web.i18n import text
from web.render import page
from web.viewer import CurrentViewer
from web.work_common import people_names, refused, stage_names, start_of_today, work_reads

router = APIRouter(include_in_schema=False)

OVERSEERS = (Role.HEAD, Role.ADMIN)


@router.get("/my/breaches", response_class=HTMLResponse)
async def breaches(request: Request, viewer: CurrentViewer) -> HTMLResponse:
    if viewer.role not in OVERSEERS:
        return refused(request, viewer, text("work_breaches_heads_only", viewer.language))
    scope = viewer.scope
    found = await asyncio.to_thread(
        work_reads(request).breaches,
        since=start_of_today(viewer),
        responsibles=None if scope is None else scope.responsibles,
        head=None if scope is None else scope.head,
    )
    return page(
        request,
        viewer,
        "work_breaches.html.jinja",
        standing=[b for b in found if b.standing],
        moved_on=[b for b in found if not b.standing],
        now=datetime.now(UTC),
        people=people_names(request),
        stages=stage_names(request, viewer.language),
    )
