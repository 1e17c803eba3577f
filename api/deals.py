"""``/deals``: start deals, send them messages, read their state, history and plan, list them.

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
from typing import Annotated

from fastapi import APIRouter, Body, Depends, HTTPException, Path, Query, Request, status
from temporalio.client import WorkflowExecutionStatus, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError

from api.auth import DEALS_READ, DEALS_WRITE, require_scope
from api.errors import DEAL_ERRORS, temporal
from api.history import robot_runs, run_histories
from api.payments import check_invoice_of_deal
from api.schemas import (
    AcceptBody,
    DealOut,
    DealPage,
    DealSummaryOut,
    FieldsBody,
    HistoryOut,
    InvoicePaidBody,
    MoveBody,
    PlanOut,
    RunTemplateBody,
    Sent,
    TaskCompleteBody,
    TasksOut,
)
from funnel.models import (
    DEAL_ID_PATTERN,
    CloseInput,
    DealInput,
    DealSnapshot,
    DealState,
    InvoicePaid,
    TaskCompleted,
    workflow_id_for,
)
from funnel.pipeline_loader import load_pipeline
from funnel.search_attributes import DEAL_AMOUNT, DEAL_BREACHED, DEAL_RESPONSIBLE, DEAL_STAGE
from funnel.settings import Settings
from funnel.task_ids import normalise_task_id
from funnel.text import NO_CONTROL_CHARACTERS
from starter.deals import DealClient, visibility_literal

# The update a workflow needs for POST /deals/{id}/fields (see set_fields below).
SET_FIELDS_UPDATE = "update_fields"

DealId = Annotated[str, Path(pattern=DEAL_ID_PATTERN, description="the deal's id")]
Ref = Annotated[str, Path(min_length=1, max_length=200, pattern=NO_CONTROL_CHARACTERS)]

router = APIRouter(prefix="/deals", tags=["deals"], responses=DEAL_ERRORS)
read = [Depends(require_scope(DEALS_READ))]
write = [Depends(require_scope(DEALS_WRITE))]


def _deals(request: Request) -> DealClient:
    client: DealClient = request.app.state.deal_client
    return client


def _out(request: Request, state: DealState) -> DealOut:
    return DealOut(**dict(state), ui_link=_deals(request).ui_link(state.deal_id))


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    dependencies=write,
    summary="Start a deal with the current pipeline file",
)
async def start_deal(request: Request, deal: DealInput) -> DealOut:
    settings: Settings = request.app.state.settings
    # Read per request: a new deal gets the pipeline file as it is now (running deals keep
    # the version they started with).
    pipeline = load_pipeline(settings.pipeline)
    state = await temporal(request, _deals(request).start(deal, pipeline))
    return _out(request, state)


@router.get("", dependencies=read, summary="List deals through Temporal visibility")
async def list_deals(
    request: Request,
    stage: Annotated[str | None, Query(max_length=64, pattern=NO_CONTROL_CHARACTERS)] = None,
    responsible: Annotated[str | None, Query(max_length=200, pattern=NO_CONTROL_CHARACTERS)] = None,
    breached: bool | None = None,
    page_token: Annotated[str | None, Query(max_length=4096)] = None,
    page_size: Annotated[int, Query(ge=1, le=500)] = 50,
) -> DealPage:
    clauses = ["WorkflowType = 'DealWorkflow'"]
    if stage:
        clauses.append(f"DealStage = {visibility_literal(stage)}")
    if responsible:
        clauses.append(f"DealResponsible = {visibility_literal(responsible)}")
    if breached is not None:
        clauses.append(f"DealDeadlineBreached = {str(breached).lower()}")
    settings: Settings = request.app.state.settings
    query = " AND ".join(clauses)
    token = _decode_token(settings, query, page_token) if page_token else None
    deals = _deals(request)
    executions = deals.temporal_client.list_workflows(
        query, page_size=page_size, next_page_token=token
    )
    await temporal(request, executions.fetch_next_page())
    summaries = []
    for execution in executions.current_page or []:
        attrs = execution.typed_search_attributes
        deal_id = execution.id.removeprefix("deal-")
        summaries.append(
            DealSummaryOut(
                deal_id=deal_id,
                stage=attrs.get(DEAL_STAGE),
                responsible=attrs.get(DEAL_RESPONSIBLE),
                amount=attrs.get(DEAL_AMOUNT),
                breached=attrs.get(DEAL_BREACHED),
                status=(execution.status or WorkflowExecutionStatus.RUNNING).name.lower(),
                ui_link=deals.ui_link(deal_id),
            )
        )
    following = executions.next_page_token
    return DealPage(
        deals=summaries,
        next_page_token=_encode_token(settings, query, following) if following else None,
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


def _decode_token(settings: Settings, query: str, page_token: str) -> bytes:
    try:
        raw = base64.urlsafe_b64decode(page_token.encode("ascii"))
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raw = b""
    mac, token = raw[:_MAC_SIZE], raw[_MAC_SIZE:]
    expected = hmac.new(_token_key(settings), query.encode() + b"\0" + token, hashlib.sha256)
    if not token or not hmac.compare_digest(mac, expected.digest()[:_MAC_SIZE]):
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST,
            detail="page_token is not one this API returned for these filters: pass"
            " next_page_token as is, with the same stage/responsible/breached",
        )
    return token


@router.get("/{deal_id}", dependencies=read, summary="The deal's state")
async def get_deal(request: Request, deal_id: DealId) -> DealOut:
    return _out(request, await temporal(request, _deals(request).state(deal_id)))


@router.get(
    "/{deal_id}/history",
    dependencies=read,
    summary="Stage entries and exits, every robot run with its result, escalations",
)
async def deal_history(request: Request, deal_id: DealId) -> HistoryOut:
    deals = _deals(request)
    state = await temporal(request, deals.state(deal_id))
    histories = await temporal(request, run_histories(deals.temporal_client, deal_id))
    return HistoryOut(
        deal_id=deal_id,
        ui_link=deals.ui_link(deal_id),
        visits=state.visits,
        robot_runs=[run for history in histories for run in robot_runs(history)],
        escalations=[e for e in state.report_events if e.kind == "deadline_breached"],
    )


@router.get(
    "/{deal_id}/plan",
    dependencies=read,
    summary="What will happen while the deal stays in its stage",
)
async def deal_plan(request: Request, deal_id: DealId) -> PlanOut:
    state = await temporal(request, _deals(request).state(deal_id))
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
    )


@router.post(
    "/{deal_id}/accept", dependencies=write, summary="The responsible takes the deal into work"
)
async def accept_deal(
    request: Request, deal_id: DealId, body: Annotated[AcceptBody | None, Body()] = None
) -> DealOut:
    by = body.by if body else None
    return _out(request, await temporal(request, _deals(request).accept(deal_id, by=by)))


@router.post("/{deal_id}/move", dependencies=write, summary="Move the deal to a stage")
async def move_deal(request: Request, deal_id: DealId, body: MoveBody) -> DealOut:
    call = _deals(request).move(deal_id, body.stage, reason=body.reason, by=body.by)
    return _out(request, await temporal(request, call))


@router.post("/{deal_id}/close", dependencies=write, summary="Close the deal as won or lost")
async def close_deal(request: Request, deal_id: DealId, body: CloseInput) -> DealOut:
    return _out(request, await temporal(request, _deals(request).close(deal_id, body)))


@router.post(
    "/{deal_id}/run-template",
    dependencies=write,
    summary="Create the task set for the service sold (final stage)",
)
async def run_template(
    request: Request, deal_id: DealId, body: Annotated[RunTemplateBody | None, Body()] = None
) -> TasksOut:
    by = body.by if body else None
    tasks = await temporal(request, _deals(request).run_template(deal_id, by=by))
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
    await check_invoice_of_deal(
        request.app.state.intake,
        deal_id,
        invoice_id,
        currency=body.currency,
        prepayment=body.prepayment,
    )
    paid = InvoicePaid(invoice_id=invoice_id, **body.model_dump())
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
    if state.task(task_id) is None:
        known = ", ".join(t.task_id for t in state.tasks) or "none"
        raise HTTPException(
            status.HTTP_404_NOT_FOUND,
            detail=f"deal {deal_id} has no task {task_id!r} (its tasks: {known})",
        )
    done = TaskCompleted(task_id=task_id, by=body.by if body else None)
    await temporal(request, deals.task_completed(deal_id, done))
    return Sent(deal_id=deal_id, ui_link=deals.ui_link(deal_id))


@router.post(
    "/{deal_id}/fields",
    dependencies=write,
    responses={409: {"description": "refused, or the deal's workflow has no update_fields"}},
    summary="Set custom fields of the deal",
)
async def set_fields(request: Request, deal_id: DealId, body: FieldsBody) -> DealOut:
    deals = _deals(request)
    await temporal(request, deals.state(deal_id))  # 404 for an unknown deal first
    handle = deals.temporal_client.get_workflow_handle(workflow_id_for(deal_id))
    try:
        await temporal(
            request,
            handle.execute_update(SET_FIELDS_UPDATE, body, result_type=DealSnapshot),
        )
    except WorkflowUpdateFailedError as exc:
        cause = exc.cause
        message = cause.message if isinstance(cause, ApplicationError) else str(cause)
        if "not found" in message and SET_FIELDS_UPDATE in message:
            # 409, not 501: this deal's workflow refuses the change (a workflow version
            # without the update); a 5xx would wrongly say the API is broken.
            raise HTTPException(
                status.HTTP_409_CONFLICT,
                detail=f"the workflow of deal {deal_id} has no {SET_FIELDS_UPDATE!r} update:"
                " this version of the funnel cannot change fields of a running deal",
            ) from exc
        raise HTTPException(status.HTTP_409_CONFLICT, detail=message) from exc
    # The update answers a snapshot; the deal's page shows the whole state.
    return _out(request, await temporal(request, deals.state(deal_id)))
