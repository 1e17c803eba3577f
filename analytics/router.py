"""HTTP face of the reports: ``GET /reports/{kind}`` (JSON) and ``GET /dashboard`` (HTML).

The app that includes this router provides the :class:`Analytics` instance through the
``get_analytics`` dependency (``app.dependency_overrides[get_analytics] = ...``) or by
setting ``app.state.analytics``; by default one is built from the settings on first use.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from analytics.cli import filters_for
from analytics.models import (
    DisciplineReport,
    Filters,
    FunnelReport,
    Report,
    ReportKind,
    SpeedReport,
)
from analytics.render import duration, pct
from analytics.service import Analytics
from funnel.client.read_scope import ReadScope

router = APIRouter(tags=["analytics"])
_templates = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(["html", "jinja"]),
)
_templates.filters["duration"] = duration
_templates.filters["pct"] = pct


def get_analytics(request: Request) -> Analytics:
    found: Analytics | None = getattr(request.app.state, "analytics", None)
    if found is None:
        from funnel.runtime.pipelines import Pipelines
        from funnel.runtime.settings import Settings

        # The API's own settings when it has them (its database), else the environment's.
        settings = getattr(request.app.state, "settings", None) or Settings()
        found = Analytics(
            settings.effective_database_url,
            Pipelines.from_settings(settings),
            ui_base=f"http://127.0.0.1:{settings.ui_port}",
        )
        request.app.state.analytics = found
    return found


AnalyticsDep = Annotated[Analytics, Depends(get_analytics)]


def get_read_scope(request: Request) -> ReadScope | None:
    """Whose deals the reports count: all by default; the API sets ``app.state.read_scope``
    to the function that gives the caller's scope (api/app.py), which analytics cannot
    compute (it is below the API). Not a dependency override: FastAPI rebuilds the
    dependencies of every request of every route while an app has any override."""
    scope_of: Callable[[Request], ReadScope | None] | None = getattr(
        request.app.state, "read_scope", None
    )
    return scope_of(request) if scope_of is not None else None


ScopeDep = Annotated[ReadScope | None, Depends(get_read_scope)]


def _filters(
    analytics: AnalyticsDep,
    date_from: Annotated[date | None, Query(alias="from", description="first day")] = None,
    date_to: Annotated[date | None, Query(alias="to", description="last day, included")] = None,
    by: Literal["week", "month"] = "month",
    pipeline: Annotated[str | None, Query(description="default: the default pipeline")] = None,
    responsible: str | None = None,
    department: str | None = None,
) -> Filters:
    if date_from and date_to and date_from > date_to:
        raise HTTPException(422, f"from ({date_from}) is after to ({date_to})")
    if pipeline is not None and pipeline not in analytics.pipelines:
        known = ", ".join(analytics.pipelines.ids)
        raise HTTPException(422, f"unknown pipeline {pipeline!r}; the pipelines are: {known}")
    return filters_for(
        analytics,
        date_from=date_from,
        date_to=date_to,
        by=by,
        pipeline=pipeline,
        responsible=responsible,
        department=department,
    )


FiltersDep = Annotated[Filters, Depends(_filters)]


@router.get("/reports/{kind}", response_model=None)
def get_report(
    kind: ReportKind, analytics: AnalyticsDep, filters: FiltersDep, scope: ScopeDep
) -> Report:
    """One report as JSON; the same figures as ``funnel report KIND --json``."""
    return analytics.report(kind, filters, scope=scope)


@router.get("/dashboard", response_class=HTMLResponse)
def dashboard(
    request: Request, analytics: AnalyticsDep, filters: FiltersDep, scope: ScopeDep
) -> HTMLResponse:
    """The head of sales' morning page: funnel, time in stage, breaches; one pipeline at a
    time (``?pipeline=``), with a link to each of the others."""
    funnel = analytics.report("funnel", filters, scope=scope)
    speed = analytics.report("speed", filters, scope=scope)
    discipline = analytics.report("discipline", filters, scope=scope)
    assert isinstance(funnel, FunnelReport)
    assert isinstance(speed, SpeedReport)
    assert isinstance(discipline, DisciplineReport)
    html = _templates.get_template("dashboard.html.jinja").render(
        **_view(funnel, speed, discipline), funnels=_funnel_links(request, analytics)
    )
    return HTMLResponse(html)


def _funnel_links(request: Request, analytics: Analytics) -> list[dict[str, str]]:
    """The pipeline selector: each pipeline's dashboard, the other query parameters kept."""
    links = []
    for pipeline in analytics.pipelines:
        query = {**request.query_params, "pipeline": pipeline.id}
        links.append({"id": pipeline.id, "name": pipeline.name, "href": f"?{urlencode(query)}"})
    return links


def _view(funnel: FunnelReport, speed: SpeedReport, discipline: DisciplineReport) -> dict[str, Any]:
    """Bar geometry for the charts: widths as percentages of the largest value."""
    shown = [s for s in funnel.stages if s.entered or s.semantics in ("process", "success")]
    top = max((s.entered for s in shown), default=0) or 1
    bars = [{"s": s, "width": 100 * s.entered / top, "lost": 100 * s.lost / top} for s in shown]
    longest = max((s.calendar.median or 0 for s in speed.stages), default=0) or 1
    timing = [
        {
            "s": s,
            "cal": 100 * (s.calendar.median or 0) / longest,
            "work": 100 * (s.working.median or 0) / longest,
        }
        for s in speed.stages
    ]
    return {
        "funnel": funnel,
        "speed": speed,
        "discipline": discipline,
        "bars": bars,
        "timing": timing,
    }
