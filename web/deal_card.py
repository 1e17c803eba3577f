"""The deal card (``/deals/{id}``): header, actions, the plan, the timeline, tasks,
invoices and documents of one deal.

The page shares its URL with the API's ``GET /deals/{id}``: a browser's navigation
(``Accept: text/html``, no bearer token) gets the page, every other client the JSON
(web/page_routes.py). It reads the one deal's workflow through DealClient (its state, its plan,
its robot runs, its pinned pipeline), falling back to the closed deal's record
once retention deleted the workflow, and the store's report rows and documents. A deal
outside the viewer's scope answers 403 with the API's reason. Every change the card makes
goes through the JSON API (web/static/workspace/deal.js).
"""

from __future__ import annotations

import asyncio
import re

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.responses import HTMLResponse

from api.auth import directory
from api.errors import temporal
from funnel.client.deals import DealClient, DealError, DealRead
from funnel.domain.models import DEAL_ID_PATTERN
from funnel.domain.pipeline import Pipeline
from funnel.runtime.pipeline_loader import PipelineError
from funnel.runtime.pipelines import current_pipelines
from funnel.runtime.settings import Settings
from funnel.storage.deliveries import DeliveryStore
from funnel.storage.store import Store
from web.deal_view import Read, build_card
from web.page_routes import BrowserPage
from web.render import page
from web.viewer import CurrentViewer, Viewer

router = APIRouter(include_in_schema=False, route_class=BrowserPage)


async def _pipeline(deals: DealClient, deal_id: str) -> Pipeline | None:
    """The pipeline version the deal runs on, while its workflow answers."""
    try:
        return await deals.pipeline(deal_id)
    except DealError:
        return None


async def _loaded(request: Request, pipeline_id: str) -> Pipeline | None:
    """For a deal whose workflow is gone: its pipeline's file as it is now, if it is still
    loaded (stage names)."""
    settings: Settings = request.app.state.settings
    try:
        loaded = await asyncio.to_thread(current_pipelines, settings)
        return loaded.get(pipeline_id)
    except PipelineError:
        return None


async def read_deal(request: Request, viewer: Viewer, deal_id: str) -> Read:
    """Everything the card shows of the deal, or an HTTPException with the API's status and
    reason (404 unknown, 403 not one of the viewer's deals, 503 Temporal down)."""
    if not re.match(DEAL_ID_PATTERN, deal_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no deal {deal_id!r}")
    deals: DealClient = request.app.state.deal_client
    store: Store = request.app.state.store
    documents: DeliveryStore = request.app.state.documents
    found: DealRead
    (found, runs), plan, pipeline, reported, rendered = await asyncio.gather(
        temporal(request, deals.robot_runs(deal_id)),
        temporal(request, deals.plan(deal_id)),
        _pipeline(deals, deal_id),
        asyncio.to_thread(store.report_events, deal_id=deal_id),
        asyncio.to_thread(documents.documents, deal_id),
    )
    scope = viewer.scope
    if scope is not None and not scope.allows(found.state.deal):
        raise HTTPException(status.HTTP_403_FORBIDDEN, scope.refusal(deal_id))
    if pipeline is None:
        pipeline = await _loaded(request, found.state.pipeline_id)
    return Read(
        state=found.state,
        source=found.source,
        pipeline=pipeline,
        runs=runs,
        plan=plan,
        reported=reported,
        documents=rendered,
        ui_link=deals.ui_link(deal_id),
    )


@router.get("/deals/{deal_id}", response_class=HTMLResponse)
async def deal_card(request: Request, deal_id: str, viewer: CurrentViewer) -> HTMLResponse:
    try:
        found = await read_deal(request, viewer, deal_id)
    except HTTPException as exc:
        return page(
            request,
            viewer,
            "deal_refused.html.jinja",
            status_code=exc.status_code,
            deal_id=deal_id,
            reason=str(exc.detail),
        )
    card = build_card(found, viewer, directory(request))
    return page(request, viewer, "deal_card.html.jinja", card=card)
