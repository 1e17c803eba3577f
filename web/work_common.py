"""What the pages of my work share: the store, the people's and the stages' names, and the
page that says why a person may not see something."""

from __future__ import annotations

from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import HTMLResponse

from api.auth import directory
from funnel.domain.pipeline import Pipeline
from funnel.runtime.pipelines import Pipelines, current_pipelines
from funnel.runtime.settings import Settings
from funnel.storage.store import Store
from funnel.storage.work_reads import WorkReads
from web.render import page
from web.viewer import Viewer


def store(request: Request) -> Store:
    found: Store = request.app.state.store
    return found


def work_reads(request: Request) -> WorkReads:
    return WorkReads(store(request))


def pipelines(request: Request) -> Pipelines:
    """The pipelines new deals may run in, read now (as POST /deals reads them)."""
    settings: Settings = request.app.state.settings
    return current_pipelines(settings)


def pipeline(request: Request) -> Pipeline:
    """The default pipeline, the one new deals get unless they name another."""
    return pipelines(request).default


def stage_names(request: Request, language: str) -> dict[str, str]:
    """Stage id -> its name in the viewer's language (the pipelines' ``names``), over every
    pipeline (the default one's where two share an id)."""
    return pipelines(request).stage_names(language)


def people_names(request: Request) -> dict[str, str]:
    """Employee id -> name; an id the directory no longer has shows as itself."""
    return {employee.id: employee.name for employee in directory(request)}


def start_of_today(viewer: Viewer) -> datetime:
    """Midnight of the viewer's today, in their time zone."""
    zone = ZoneInfo(viewer.timezone)
    return datetime.combine(datetime.now(UTC).astimezone(zone).date(), time(), tzinfo=zone)


def refused(request: Request, viewer: Viewer, reason: str) -> HTMLResponse:
    """403 as a page a person reads: what they asked for and why not."""
    return page(request, viewer, "work_refused.html.jinja", status_code=403, reason=reason)
