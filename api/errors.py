"""Turning what goes wrong while talking to Temporal into answers a client can act on:
404 unknown deal, 409 refused by the workflow (with its reason), 400 a request Temporal
finds invalid, 503 (with Retry-After) when Temporal does not answer."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

from fastapi import HTTPException, Request, status
from temporalio.service import RPCError, RPCStatusCode

from api.schemas import Problem
from funnel.client.deals import DealError, DealExists, DealNotFound, DealRejected
from funnel.runtime.settings import Settings

T = TypeVar("T")

RETRY_AFTER_SECONDS = "5"
_UNAVAILABLE = {
    RPCStatusCode.UNAVAILABLE,
    RPCStatusCode.DEADLINE_EXCEEDED,
    RPCStatusCode.RESOURCE_EXHAUSTED,
    RPCStatusCode.CANCELLED,
}

# For the OpenAPI spec: the error answers every deal endpoint may give.
DEAL_ERRORS: dict[int | str, dict[str, object]] = {
    401: {"model": Problem, "description": "missing or unknown API token"},
    403: {"model": Problem, "description": "the token lacks the scope"},
    404: {"model": Problem, "description": "no such deal"},
    409: {"model": Problem, "description": "the workflow refused it; detail says why"},
    503: {"model": Problem, "description": "Temporal is unreachable; retry later"},
}


def unavailable(why: str, *, maybe_applied: bool = False) -> HTTPException:
    after = (
        "the request may still take effect: read the deal before retrying"
        if maybe_applied
        else "nothing was changed, retry later"
    )
    return HTTPException(
        status.HTTP_503_SERVICE_UNAVAILABLE,
        detail=f"the Temporal server is unavailable ({why}); {after}",
        headers={"Retry-After": RETRY_AFTER_SECONDS},
    )


def from_rpc(exc: RPCError) -> HTTPException:
    """A Temporal error the deal client did not turn into a DealError (a closed deal it
    did: DealRejected, 409): unavailable, a request Temporal finds invalid, ..."""
    if exc.status in _UNAVAILABLE:
        return unavailable(exc.message)
    if exc.status == RPCStatusCode.INVALID_ARGUMENT:
        return HTTPException(status.HTTP_400_BAD_REQUEST, detail=f"invalid request: {exc.message}")
    if exc.status == RPCStatusCode.NOT_FOUND:
        return HTTPException(status.HTTP_404_NOT_FOUND, detail=exc.message)
    return HTTPException(status.HTTP_502_BAD_GATEWAY, detail=f"Temporal answered: {exc.message}")


def from_deal_error(exc: DealError) -> HTTPException:
    if isinstance(exc, DealNotFound):
        return HTTPException(status.HTTP_404_NOT_FOUND, detail=str(exc))
    if isinstance(exc, DealExists | DealRejected):
        return HTTPException(status.HTTP_409_CONFLICT, detail=str(exc))
    if isinstance(exc.__cause__, RPCError):
        return from_rpc(exc.__cause__)
    return HTTPException(status.HTTP_502_BAD_GATEWAY, detail=str(exc))


async def temporal(request: Request, call: Awaitable[T]) -> T:
    """Await a call to Temporal within FUNNEL_API_TEMPORAL_TIMEOUT, translating failures."""
    settings: Settings = request.app.state.settings
    try:
        return await asyncio.wait_for(call, timeout=settings.api_temporal_timeout)
    except TimeoutError as exc:
        # The server may have taken the request and be slow to answer, so do not claim
        # that nothing happened.
        raise unavailable(
            f"no answer within {settings.api_temporal_timeout:g} s", maybe_applied=True
        ) from exc
    except DealError as exc:
        raise from_deal_error(exc) from exc
    except RPCError as exc:
        raise from_rpc(exc) from exc
    except RuntimeError as exc:
        # The SDK raises RuntimeError("Failed client connect: ...") when the server is down.
        if "connect" in str(exc).lower():
            raise unavailable(str(exc)) from exc
        raise
