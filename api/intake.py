"""Outside events over HTTP: web-form leads (``POST /leads``) and the signed payment
webhook (``POST /webhooks/payments``).

The webhook signature is HMAC-SHA256 with FUNNEL_PAYMENT_WEBHOOK_SECRET over
``f"{timestamp}.".encode() + raw_body``, sent as ``X-Funnel-Signature: sha256=<hex>`` with
``X-Funnel-Timestamp: <unix seconds>``. Signing the timestamp with the body means a captured
delivery cannot be replayed later with a fresh timestamp.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
import uuid
from datetime import timedelta
from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Depends, Header, HTTPException, Request, Response, status
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from api.auth import LEADS_WRITE, directory, require_scope
from api.caller import PAYMENT_WEBHOOK, request_actor
from api.errors import DEAL_ERRORS, temporal
from api.payments import check_invoice_of_deal
from api.pipelines import pipelines
from api.schemas import (
    DealOut,
    LeadIn,
    LeadOut,
    PaymentAck,
    PaymentEvent,
    Problem,
    normal_email,
    normal_phone,
)
from funnel.client.deals import DealClient
from funnel.domain.models import Contact, DealInput, InvoicePaid
from funnel.domain.people import Role
from funnel.domain.pipeline import Pipeline
from funnel.runtime.settings import Settings
from funnel.storage.directory import Directory
from funnel.storage.intake import IntakeStore

REPLAY_WINDOW_SECONDS = 300
SIGNATURE_HEADER = "X-Funnel-Signature"
TIMESTAMP_HEADER = "X-Funnel-Timestamp"

router = APIRouter()


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The signature header value a sender computes (also used by the tests and docs)."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


def _state(request: Request) -> tuple[Settings, DealClient, IntakeStore]:
    s = request.app.state
    return s.settings, s.deal_client, s.intake


# --- leads -------------------------------------------------------------------------------


def lead_people(settings: Settings, people: Directory) -> tuple[str, str]:
    """Who takes a web-form lead, and their head: FUNNEL_LEAD_RESPONSIBLE and
    FUNNEL_LEAD_DEPARTMENT_HEAD, or else the directory's first manager and that manager's head
    (their ``head``, or the head of their department), so that a lead lands on the board of
    someone who may accept it. 503 when the directory names no one."""
    responsible = settings.lead_responsible or next(
        (e.id for e in people if e.role is Role.MANAGER), None
    )
    if responsible is None:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            detail="no one takes leads: the directory has no manager; set FUNNEL_LEAD_RESPONSIBLE",
        )
    head = settings.lead_department_head
    taker = people.get(responsible)
    if head is None and taker is not None:
        heads = (e.id for e in people if e.role is Role.HEAD and e.department == taker.department)
        head = taker.head or next(heads, None)
    if head is None:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            detail=f"no head for the leads of {responsible!r} in the directory; set"
            " FUNNEL_LEAD_DEPARTMENT_HEAD",
        )
    return responsible, head


@router.post(
    "/leads",
    tags=["intake"],
    status_code=status.HTTP_201_CREATED,
    dependencies=[Depends(require_scope(LEADS_WRITE))],
    responses={
        200: {"model": LeadOut, "description": "a duplicate of an earlier lead: no new deal"},
        **DEAL_ERRORS,
    },
    summary="Take a web-form lead and start a deal (deduplicated by e-mail/phone)",
)
async def take_lead(request: Request, response: Response, lead: LeadIn) -> LeadOut:
    settings, deals, intake = _state(request)
    responsible, head = lead_people(settings, directory(request))
    email, phone = normal_email(lead.email), normal_phone(lead.phone)
    lead_id = uuid.uuid4().hex
    deal_id = f"lead-{lead_id[:12]}"
    earlier = await asyncio.to_thread(
        intake.claim_lead,
        lead_id=lead_id,
        deal_id=deal_id,
        email=email,
        phone=phone,
        name=lead.name,
        company=lead.company,
        source=lead.source,
        window=timedelta(hours=settings.lead_dedup_hours),
    )
    if earlier is not None:
        response.status_code = status.HTTP_200_OK
        return LeadOut(
            lead_id=earlier.lead_id,
            deal_id=earlier.deal_id,
            duplicate=True,
            ui_link=deals.ui_link(earlier.deal_id),
            deal=None,
        )
    fields: dict[str, str | int | float | bool | None] = {"lead_id": lead_id}
    if lead.source:
        fields["source"] = lead.source
    if lead.comment:
        fields["comment"] = lead.comment
    deal = DealInput(
        deal_id=deal_id,
        contact=Contact(name=lead.name, company=lead.company, phone=lead.phone, email=lead.email),
        responsible=responsible,
        department_head=head,
        service=lead.service or settings.lead_service,
        amount=Decimal(0),
        fields=fields,
    )
    try:
        pipeline = lead_pipeline(request, settings, lead.source)
        start = deals.start(deal, pipeline, actor=request_actor(request))
        state = await temporal(request, start)
    except BaseException:
        # No deal: forget the lead, so that the form sent again is not taken for a duplicate
        # of a deal that does not exist.
        await asyncio.to_thread(intake.drop_lead, lead_id)
        raise
    await asyncio.to_thread(intake.lead_started, lead_id)
    out = DealOut(**dict(state), ui_link=deals.ui_link(deal_id))
    return LeadOut(lead_id=lead_id, deal_id=deal_id, duplicate=False, ui_link=out.ui_link, deal=out)


def lead_pipeline(request: Request, settings: Settings, source: str | None) -> Pipeline:
    """The pipeline the lead's form is configured for (FUNNEL_LEAD_PIPELINES by the lead's
    ``source``), else the default one; 503 when the configured one is not loaded."""
    configured = settings.lead_pipelines.get(source) if source else None
    loaded = pipelines(request)
    if configured is not None and configured not in loaded:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            detail=f"FUNNEL_LEAD_PIPELINES sends source {source!r} to pipeline {configured!r},"
            f" which is not loaded (the pipelines are: {', '.join(loaded.ids)})",
        )
    return loaded.get(configured)


# --- payments ----------------------------------------------------------------------------


def _payment_body_spec() -> dict[str, object]:
    # The handler reads the raw body (the signature covers its exact bytes), so FastAPI does
    # not see a body parameter: describe it in the spec by hand.
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": PaymentEvent.model_json_schema()}},
        }
    }


@router.post(
    "/webhooks/payments",
    tags=["intake"],
    openapi_extra=_payment_body_spec(),
    responses={
        401: {"model": Problem, "description": "bad or missing signature, or a replay"},
        404: {"model": Problem, "description": "unknown invoice or deal"},
        409: {"model": Problem, "description": "the deal is closed, or the invoice is another's"},
        422: {"model": Problem, "description": "a bad body, or another currency than the invoice"},
        503: {"model": Problem, "description": "webhook not configured, or Temporal down"},
    },
    summary="A payment system reports a paid invoice (HMAC-SHA256 signed)",
)
async def payment_webhook(
    request: Request,
    x_funnel_signature: Annotated[str | None, Header(max_length=200)] = None,
    x_funnel_timestamp: Annotated[str | None, Header(max_length=20)] = None,
) -> PaymentAck:
    settings, deals, intake = _state(request)
    if settings.payment_webhook_secret is None:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            detail="the payment webhook is off: set FUNNEL_PAYMENT_WEBHOOK_SECRET",
        )
    body = await request.body()
    _verify(
        settings.payment_webhook_secret.get_secret_value(),
        body,
        x_funnel_signature,
        x_funnel_timestamp,
    )
    try:
        event = PaymentEvent.model_validate_json(body)
    except ValidationError as exc:
        raise RequestValidationError(
            [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False)]
        ) from exc

    previous = await asyncio.to_thread(intake.payment, event.payment_id)
    if previous is not None:
        return PaymentAck(
            payment_id=event.payment_id,
            deal_id=previous["deal_id"],
            invoice_id=previous["invoice_id"],
            duplicate=True,
        )
    deal_id = await check_invoice_of_deal(
        intake,
        event.deal_id,
        event.invoice_id,
        currency=event.currency,
        prepayment=event.prepayment,
    )
    paid = InvoicePaid(
        invoice_id=event.invoice_id,
        amount=event.amount,
        paid_at=event.paid_at,
        payment_id=event.payment_id,
        currency=event.currency,
        prepayment=event.prepayment,
        actor=PAYMENT_WEBHOOK,
    )
    # Signal first, record second: if Temporal is down nothing is recorded and the payment
    # system's retry applies it. The workflow ignores a second payment of a paid invoice,
    # so two concurrent deliveries that both get here change the deal once.
    await temporal(request, deals.invoice_paid(deal_id, paid))
    first = await asyncio.to_thread(
        intake.record_payment,
        payment_id=event.payment_id,
        invoice_id=event.invoice_id,
        deal_id=deal_id,
        amount=event.amount,
        currency=event.currency,
        paid_at=event.paid_at,
    )
    return PaymentAck(
        payment_id=event.payment_id,
        deal_id=deal_id,
        invoice_id=event.invoice_id,
        duplicate=not first,
    )


def _verify(secret: str, body: bytes, signature: str | None, timestamp: str | None) -> None:
    def refuse(why: str) -> HTTPException:
        return HTTPException(status.HTTP_401_UNAUTHORIZED, detail=why)

    if not signature or not timestamp:
        raise refuse(f"missing {SIGNATURE_HEADER} or {TIMESTAMP_HEADER} header")
    try:
        sent_at = int(timestamp)
    except ValueError:
        raise refuse(f"{TIMESTAMP_HEADER} is not a unix time in seconds") from None
    if not hmac.compare_digest(sign(secret, timestamp, body), signature.strip()):
        raise refuse("bad signature: expected sha256=HMAC-SHA256(secret, timestamp + '.' + body)")
    # Checked after the signature, so that an attacker learns nothing from the clock check.
    age = time.time() - sent_at
    if abs(age) > REPLAY_WINDOW_SECONDS:
        raise refuse(
            f"timestamp {'older' if age > 0 else 'newer'} than {REPLAY_WINDOW_SECONDS} s:"
            " refused as a possible replay"
        )
