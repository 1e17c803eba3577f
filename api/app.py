"""The FastAPI application: ``create_app(settings, deal_client, store)``.

Routers: deals (api/deals.py), documents, tasks, lead intake and the payment webhook
(api/intake.py), people's sign-in (api/sign_in.py), and the reports and dashboard
(analytics/router.py, scope ``reports:read``), and the workspace's pages, static files and
/docs (web/pages.py). Handlers find what they need on
``request.app.state``: ``settings``, ``deal_client``, ``store`` (the funnel store), ``intake``
(the API's own tables), ``documents``, ``people`` and ``personal_tokens`` (sign-in,
funnel/storage/people.py) and ``directory`` (loaded on first use).
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from fastapi import Depends, FastAPI, HTTPException, status
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from analytics.router import router as analytics_router
from api import deal_edits, deals, funnels, inbox, intake, sign_in
from api import documents as documents_api
from api import tasks as tasks_api
from api.auth import REPORTS_READ, require_scope
from api.read_scope import read_scope
from api.schemas import Health, Problem
from funnel.client.deals import DealClient
from funnel.runtime.settings import Settings
from funnel.storage.closed_deals import ClosedDeals
from funnel.storage.deliveries import DeliveryStore
from funnel.storage.intake import IntakeStore
from funnel.storage.migrate import require_schema
from funnel.storage.people import People
from funnel.storage.personal_tokens import PersonalTokens
from funnel.storage.store import Store
from web.pages import mount_workspace

HEALTH_TIMEOUT_SECONDS = 3.0


class BodyLimit:
    """Refuse request bodies over ``limit`` bytes with 413, whether announced by
    Content-Length or streamed in chunks, before any handler buffers them."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length" and value.isdigit() and int(value) > self.limit:
                await self._refuse(send)
                return
        seen = 0
        started = refused = False

        async def limited_receive() -> Message:
            nonlocal seen, refused
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit and not refused:
                    # Answer 413 now and tell the app the client went away: raising here
                    # would be caught by FastAPI's body parsing and turned into a 400.
                    refused = True
                    if not started:
                        await self._refuse(send)
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if refused:
                return  # the 413 is the answer; drop whatever the app still sends
            started = started or message["type"] == "http.response.start"
            await send(message)

        await self.app(scope, limited_receive, guarded_send)

    async def _refuse(self, send: Send) -> None:
        response = JSONResponse(
            {"detail": f"request body larger than {self.limit} bytes"},
            status_code=status.HTTP_413_CONTENT_TOO_LARGE,
        )
        await response({"type": "http"}, _no_receive, send)


async def _no_receive() -> Message:
    return {"type": "http.disconnect"}


def create_app(settings: Settings, deal_client: DealClient, store: Store) -> FastAPI:
    # The migrations made the schema (funnel api and funnel up run them first): refuse a
    # database without it now, naming `funnel db upgrade`, not on the first request.
    require_schema(store.url)
    intake_store = IntakeStore(store)
    documents = DeliveryStore(store)
    if deal_client.records is None:
        # A closed deal past the namespace's retention is read from its record in this store.
        deal_client.records = ClosedDeals(store)

    app = FastAPI(
        title="Sales funnel API",
        version="1.0.0",
        description=(
            "Start deals and turn outside events (web-form leads, payments, managers' moves)"
            " into messages of the deals' Temporal workflows. Every endpoint but"
            " /healthz, /auth/sign-in, /auth/invitations and the signed /webhooks/payments"
            " needs 'Authorization: Bearer <token>' (a service or personal token) or the"
            " session cookie of /auth/sign-in (with X-CSRF-Token on changes), with the scope"
            " named in its description."
        ),
        # /docs is served by the workspace from the vendored Swagger UI (no CDN); ReDoc
        # would load from one, so it is off.
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.deal_client = deal_client
    app.state.store = store
    app.state.intake = intake_store
    app.state.documents = documents
    app.state.people = People(store)
    app.state.personal_tokens = PersonalTokens(store)
    app.add_middleware(BodyLimit, limit=settings.api_max_body_bytes)

    app.include_router(sign_in.router)
    app.include_router(deals.router)
    app.include_router(deal_edits.router)
    app.include_router(funnels.router)  # GET /pipelines, POST /deals/{id}/move-to-funnel
    app.include_router(documents_api.router)
    app.include_router(intake.router)
    app.include_router(tasks_api.router)
    app.include_router(tasks_api.deal_tasks)
    app.include_router(inbox.router)  # a person's own notifications
    app.include_router(analytics_router, dependencies=[Depends(require_scope(REPORTS_READ))])
    mount_workspace(app)
    # Reports and the dashboard count the caller's deals only (a person's scope).
    app.state.read_scope = read_scope

    @app.get(
        "/healthz",
        tags=["health"],
        responses={503: {"model": Problem, "description": "Temporal or the database is down"}},
        summary="Answers 200 only when the Temporal server and the database answer",
    )
    async def healthz() -> Health:
        temporal, database = await asyncio.gather(
            _check_temporal(deal_client), _check_database(store, intake_store)
        )
        if temporal != "ok" or database != "ok":
            raise HTTPException(
                status.HTTP_503_SERVICE_UNAVAILABLE,
                detail=f"temporal: {temporal}; database: {database}",
                headers={"Retry-After": "5"},
            )
        return Health(status="ok", temporal=temporal, database=database)

    return app


async def _check_temporal(deal_client: DealClient) -> str:
    try:
        service = deal_client.temporal_client.service_client
        ok = await asyncio.wait_for(
            service.check_health(timeout=timedelta(seconds=HEALTH_TIMEOUT_SECONDS)),
            HEALTH_TIMEOUT_SECONDS + 0.5,
        )
    except Exception as exc:  # any failure means "not healthy"; say which
        return f"unreachable ({type(exc).__name__}: {exc})"
    return "ok" if ok else "not serving"


async def _check_database(store: Store, intake_store: IntakeStore) -> str:
    def ping() -> None:
        store.ping()
        intake_store.ping()

    try:
        await asyncio.wait_for(asyncio.to_thread(ping), HEALTH_TIMEOUT_SECONDS)
    except Exception as exc:
        return f"unreachable ({type(exc).__name__})"
    return "ok"
