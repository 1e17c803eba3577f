"""``/deals``: start deals, send them messages, read their state, history and plan, list them.

A closed deal whose workflow the namespace's retention deleted is read from its record in the
store; every answer says which (``source``). Open deals are listed through Temporal
visibility, closed deals from the store.

Moves, acceptance, closing and the template are workflow updates: the answer is the deal's
state after the workflow applied them, or 409 with the workflow's reason. Paid invoices and
completed tasks are signals: 202, and their effect shows in the deal a moment later.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from typing import Annotated, Literal

from fastapi import APIRouter, Body, Depends, HTTPException, Path, Query, Request, status
from pydantic import AwareDatetime

from api.auth import DEALS_READ, DEALS_WRITE, require_scope
from api.caller import request_actor
from api.errors import DEAL_ERRORS, from_deal_error, temporal
from api.payments import check_invoice_of_deal
from api.pipelines import pipeline_named
from api.read_scope import check_readable, read_scope
from api.schemas import (
    AcceptBody,
    CloseBody,
    DealOut,
    DealPage,
    DealSummaryOut,
    FieldsBody,
    HistoryOut,
    InvoicePaidBody,
    MoveBody,
    PlanOut,
    Problem,
    RunTemplateBody,
    Sent,
    TaskCompleteBody,
    TasksOut,
)
from funnel.client.deals import DealClient, DealRead
from funnel.client.errors import BadFilter, closed_refusal
from funnel.client.listing import Cursor, DealFilter, Source
from funnel.domain.funnels import NewDeal
from funnel.domain.models import (
    DEAL_ID_PATTERN,
    CloseInput,
    DealState,
    DealStatus,
    InvoicePaid,
    TaskAction,
    TaskCompleted,
    UpdateFieldsInput,
)
from funnel.domain.pipeline import ID_PATTERN
from funnel.domain.task_ids import normalise_task_id
from funnel.domain.text import NO_CONTROL_CHARACTERS
from funnel.domain.who_may import task_problem
from funnel.runtime.settings import Settings

DealId = Annotated[str, Path(pattern=DEAL_ID_PATTERN, description="the deal's id")]
Ref = Annotated[str, Path(min_length=1, max_length=200, pattern=NO_CONTROL_CHARACTERS)]

router = APIRouter(prefix="/deals", tags=["deals"], responses=DEAL_ERRORS)
read = [Depends(require_scope(DEALS_READ))]
write = [Depends(require_scope(DEALS_WRITE))]


def _deals(request: Request) -> DealClient:
    client: DealClient = request.app.state.deal_client
    return client


def _out(request: Request, state: DealState, source: Source = "workflow") -> DealOut:
    return DealOut(**dict(state), ui_link=_deals(request).ui_link(state.deal_id), source=source)


def _read_out(request: Request, found: DealRead) -> DealOut:
    check_readable(request, found.state.deal)
    return _out(request, found.state, found.source)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    dependencies=write,
    responses={422: {"model": Problem, "description": "a bad body, or an unknown pipeline"}},
    summary="Start a deal in the current version of its pipeline",
)
async def start_deal(request: Request, deal: NewDeal) -> DealOut:
    """In the pipeline ``pipeline`` names (default: the default one, GET /pipelines)."""
    # Read per request: a new deal gets the pipeline file as it is now (running deals keep
    # the version they started with).
    pipeline = pipeline_named(request, deal.pipeline)
    state = await temporal(
        request, _deals(request).start(deal.deal(), pipeline, actor=request_actor(request))
    )
    return _out(request, state)


@router.get(
    "",
    dependencies=read,
    summary="List deals: open ones through Temporal visibility, closed ones from the store",
)
async def list_deals(
    request: Request,
    stage: Annotated[str | None, Query(max_length=64, pattern=NO_CONTROL_CHARACTERS)] = None,
    responsible: Annotated[str | None, Query(max_length=200, pattern=NO_CONTROL_CHARACTERS)] = None,
    breached: bool | None = None,
    status_: Annotated[
        Literal["open", "closed"] | None,
        Query(alias="status", description="open deals only, or closed (won/lost) deals only"),
    ] = None,
    since: Annotated[
        AwareDatetime | None,
        Query(description="closed deals closed at or after this time (with its zone)"),
    ] = None,
    until: Annotated[
        AwareDatetime | None, Query(description="closed deals closed before this (with its zone)")
    ] = None,
    pipeline: Annotated[
        str | None, Query(max_length=64, pattern=ID_PATTERN, description="the pipeline's id")
    ] = None,
    page_token: Annotated[str | None, Query(max_length=4096)] = None,
    page_size: Annotated[int, Query(ge=1, le=500)] = 50,
) -> DealPage:
    settings: Settings = request.app.state.settings
    try:
        scope = read_scope(request)
        filt = DealFilter(stage, responsible, breached, status_, since, until, scope, pipeline)
    except BadFilter as exc:
        raise HTTPException(422, detail=str(exc)) from exc
    query = filt.describe()
    cursor = _decode_token(settings, query, page_token) if page_token else None
    deals = _deals(request)
    page = await temporal(request, deals.list_page(filt, cursor, page_size))
    return DealPage(
        deals=[DealSummaryOut(**d.__dict__, ui_link=deals.ui_link(d.deal_id)) for d in page.deals],
        next_page_token=_encode_token(settings, query, page.next.encode()) if page.next else None,
    )


# Page tokens carry Temporal's visibility token with a MAC over it and the query: the server
# fails with a retried "Unknown" error on a token it cannot parse, so a forged or corrupted
# token, or one from another filter, must be refused here with 400.
_MAC_SIZE = 16


def _token_key(settings: Settings) -> bytes:
    # Derived from the configured secrets, so that every API replica with the same settings
    # accepts the tokens of the others.
    secret = settings.payment_webhook_secret
    material = json.dumps(
        [sorted(settings.api_tokens), secret.get_secret_value() if secret else None]
    )
    return hashlib.sha256(b"funnel-page-token:" + material.encode()).digest()


def _encode_token(settings: Settings, query: str, token: bytes) -> str:
    mac = hmac.new(_token_key(settings), query.encode() + b"\0" + token, hashlib.sha256)
    return base64.urlsafe_b64encode(mac.digest()[:_MAC_SIZE] + token).decode()


def _decode_token(settings: Settings, query: str, page_token: str) -> Cursor:
    try:
        raw = base64.urlsafe_b64decode(page_token.encode("ascii"))
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raw = b""
    mac, token = raw[:_MAC_SIZE], raw[_MAC_SIZE:]
    expected = hmac.new(_token_key(settings), query.encode() + b"\0" + token, hashlib.sha256)
    valid = token and hmac.compare_digest(mac, expected.digest()[:_MAC_SIZE])
    cursor = Cursor.decode(token) if valid else None
    if cursor is None:
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST,
            detail="page_token is not one this API returned for these filters: pass"
            " next_page_token as is, with the same filters (stage, responsible, breached,"
            " status, since, until, pipeline)",
        )
    return cursor


@router.get("/{deal_id}", dependencies=read, summary="The deal's state")
async def get_deal(request: Request, deal_id: DealId) -> DealOut:
    return _read_out(request, await temporal(request, _deals(request).read(deal_id)))


@router.get(
    "/{deal_id}/history",
    dependencies=read,
    summary="Stage entries and exits, every robot run with its result, escalations",
)
async def deal_history(request: Request, deal_id: DealId) -> HistoryOut:
    deals = _deals(request)
    found, runs = await temporal(request, deals.robot_runs(deal_id))
    check_readable(request, found.state.deal)
    state = found.state
    return HistoryOut(
        deal_id=deal_id,
        ui_link=deals.ui_link(deal_id),
        visits=state.visits,
        robot_runs=runs,
        escalations=[e for e in state.report_events if e.kind == "deadline_breached"],
        source=found.source,
    )


@router.get(
    "/{deal_id}/plan",
    dependencies=read,
    summary="What will happen while the deal stays in its stage",
)
async def deal_plan(request: Request, deal_id: DealId) -> PlanOut:
    found = await temporal(request, _deals(request).read(deal_id))
    check_readable(request, found.state.deal)
    state = found.state
    closed = state.status is not DealStatus.OPEN
    visit = state.visits[-1] if state.visits else None
    return PlanOut(
        deal_id=deal_id,
        ui_link=_deals(request).ui_link(deal_id),
        stage=state.stage,
        status=state.status.value,
        deadline_at=visit.deadline_at if visit else None,
        breached=state.breached,
        waiting=sorted(state.waiting, key=lambda w: w.due_at),
        open_tasks=[t for t in state.tasks if not t.status.closed],
        unpaid_invoices=[i for i in state.invoices if i.open],
        note=f"deal {deal_id} is closed ({state.status.value}): nothing will happen any more"
        if closed
        else None,
        source=found.source,
    )


@router.post(
    "/{deal_id}/accept", dependencies=write, summary="The responsible takes the deal into work"
)
async def accept_deal(
    request: Request, deal_id: DealId, body: Annotated[AcceptBody | None, Body()] = None
) -> DealOut:
    by, actor = body.by if body else None, request_actor(request)
    return _out(request, await temporal(request, _deals(request).accept(deal_id, by, actor=actor)))


@router.post("/{deal_id}/move", dependencies=write, summary="Move the deal to a stage")
async def move_deal(request: Request, deal_id: DealId, body: MoveBody) -> DealOut:
    actor = request_actor(request)
    call = _deals(request).move(deal_id, body.stage, body.reason, body.by, actor=actor)
    return _out(request, await temporal(request, call))


@router.post("/{deal_id}/close", dependencies=write, summary="Close the deal as won or lost")
async def close_deal(request: Request, deal_id: DealId, body: CloseBody) -> DealOut:
    call = _deals(request).close(
        deal_id, CloseInput.model_validate(body.model_dump()), actor=request_actor(request)
    )
    return _out(request, await temporal(request, call))


@router.post(
    "/{deal_id}/run-template",
    dependencies=write,
    summary="Create the task set for the service sold (final stage)",
)
async def run_template(
    request: Request, deal_id: DealId, body: Annotated[RunTemplateBody | None, Body()] = None
) -> TasksOut:
    by, actor = body.by if body else None, request_actor(request)
    tasks = await temporal(request, _deals(request).run_template(deal_id, by, actor=actor))
    return TasksOut(deal_id=deal_id, tasks=tasks, ui_link=_deals(request).ui_link(deal_id))


@router.post(
    "/{deal_id}/invoices/{invoice_id}/paid",
    dependencies=write,
    status_code=status.HTTP_202_ACCEPTED,
    summary="Report an invoice paid (in the payment stage the deal moves on)",
)
async def invoice_paid(
    request: Request,
    deal_id: DealId,
    invoice_id: Ref,
    body: Annotated[InvoicePaidBody | None, Body()] = None,
) -> Sent:
    body = body or InvoicePaidBody()
    # A closed deal is refused as closed, whatever the invoice (the same answer as every
    # other message to it).
    found = await temporal(request, _deals(request).read(deal_id))
    check_readable(request, found.state.deal)  # a person records payments of their deals only
    if found.state.status is not DealStatus.OPEN:
        raise from_deal_error(closed_refusal(deal_id))
    await check_invoice_of_deal(
        request.app.state.intake,
        deal_id,
        invoice_id,
        currency=body.currency,
        prepayment=body.prepayment,
    )
    paid = InvoicePaid(invoice_id=invoice_id, **body.model_dump(), actor=request_actor(request))
    await temporal(request, _deals(request).invoice_paid(deal_id, paid))
    return Sent(deal_id=deal_id, ui_link=_deals(request).ui_link(deal_id))


@router.post(
    "/{deal_id}/tasks/{task_id}/complete",
    dependencies=write,
    status_code=status.HTTP_202_ACCEPTED,
    summary="Report a task done (the creator's call confirms a task needing it)",
)
async def complete_task(
    request: Request,
    deal_id: DealId,
    task_id: Ref,
    body: Annotated[TaskCompleteBody | None, Body()] = None,
) -> Sent:
    deals = _deals(request)
    task_id = normalise_task_id(task_id)
    # The workflow ignores an unknown task silently (a signal has no answer): check first,
    # so that a typo in the task id is a 404 and not a 202 that does nothing.
    state = await temporal(request, deals.state(deal_id))
    task = state.task(task_id)
    if task is None:
        known = ", ".join(t.task_id for t in state.tasks) or "none"
        raise HTTPException(
            status.HTTP_404_NOT_FOUND,
            detail=f"deal {deal_id} has no task {task_id!r} (its tasks: {known})",
        )
    # Likewise who may complete it: the deal checks again when the signal comes, but a
    # signal cannot answer, so a refusal would be a 202 that does nothing.
    done = TaskCompleted(task_id=task_id, by=body.by if body else None)
    actor = request_actor(request)
    problem = task_problem(actor, done.by, task, TaskAction.COMPLETE)
    if problem is not None:
        raise HTTPException(status.HTTP_409_CONFLICT, detail=problem)
    await temporal(request, deals.task_completed(deal_id, done, actor=actor))
    return Sent(deal_id=deal_id, ui_link=deals.ui_link(deal_id))


@router.post("/{deal_id}/fields", dependencies=write, summary="Set custom fields of the deal")
async def set_fields(request: Request, deal_id: DealId, body: FieldsBody) -> DealOut:
    call = _deals(request).update_fields(
        deal_id, UpdateFieldsInput.model_validate(body.model_dump()), actor=request_actor(request)
    )
    return _out(request, await temporal(request, call))
