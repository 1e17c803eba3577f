"""What the caller may read (issue 17): the person's deals only, by the rule of
funnel/client/read_scope.py; a service token and an admin read everything.

A deal outside the scope answers 403 "not one of your deals" on every read of it (its
state, history, plan, documents); lists, tasks and reports leave it out.
"""

from __future__ import annotations

from fastapi import HTTPException, Request, status

from api.auth import Caller, directory
from api.errors import temporal
from funnel.client.deals import DealClient
from funnel.client.read_scope import ReadScope, scope_for
from funnel.domain.models import DealInput
from funnel.storage.store_tasks import TaskReader


def read_scope(request: Request) -> ReadScope | None:
    """The scope of the authenticated caller (None: every deal). Call after the scope
    dependency authenticated the request."""
    caller: Caller | None = getattr(request.state, "caller", None)
    actor = caller.actor if caller is not None else None
    return scope_for(actor, directory(request))


def task_reader(request: Request) -> TaskReader | None:
    scope = read_scope(request)
    if scope is None:
        return None
    return TaskReader(scope.person, scope.responsibles, scope.head)


def check_readable(request: Request, deal: DealInput) -> None:
    scope = read_scope(request)
    if scope is not None and not scope.allows(deal):
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail=scope.refusal(deal.deal_id))


async def ensure_readable(request: Request, deal_id: str) -> None:
    """For endpoints that do not read the deal themselves (documents): read it only when
    the caller has a scope, so services and admins pay nothing."""
    if read_scope(request) is None:
        return
    deals: DealClient = request.app.state.deal_client
    found = await temporal(request, deals.read(deal_id))
    check_readable(request, found.state.deal)
