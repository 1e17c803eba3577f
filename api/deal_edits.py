"""``PATCH /deals/{id}`` (edit the deal: people, contact, service, amount, fields) and
``POST /deals/{id}/comments``, kept out of api/deals.py to keep that module small.

The deal checks who may do it (``request_actor``); the people an edit names are checked
here against the directory first, because the deal does not know it.
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request

from api.auth import directory
from api.caller import request_actor
from api.deals import DealId, _deals, _out, write
from api.errors import DEAL_ERRORS, temporal
from api.schemas import DealOut
from funnel.client.edits import unknown_employees
from funnel.domain.edits import CommentInput, CommentText, EditDealChanges, EditDealInput
from funnel.domain.task_ids import normalise_task_id

router = APIRouter(prefix="/deals", tags=["deals"], responses=DEAL_ERRORS)


@router.patch("/{deal_id}", dependencies=write, summary="Edit the deal")
async def edit_deal(request: Request, deal_id: DealId, body: EditDealChanges) -> DealOut:
    """Reassign the responsible, head or sales team, or change the contact, service,
    amount, currency or custom fields. Only the deal's responsible, their head or an admin
    may; the answer is the deal after the edit, or 409 with the deal's reason."""
    # The actor comes from the authentication only, never from the body (a service token
    # is refused by the deal: an edit needs a person).
    edit = EditDealInput(**dict(body), actor=request_actor(request))
    unknown = unknown_employees(edit, directory(request))
    if unknown:
        raise HTTPException(
            422,  # unprocessable: well-formed, but naming someone the company does not have
            f"no such employee in the directory: {', '.join(unknown)}",
        )
    return _out(request, await temporal(request, _deals(request).edit(deal_id, edit)))


@router.post(
    "/{deal_id}/comments", dependencies=write, summary="Comment on the deal or one of its tasks"
)
async def comment(request: Request, deal_id: DealId, body: CommentText) -> DealOut:
    """Whoever may read the deal (its responsible, head, sales team, an admin), signed in
    or with a personal token, comments on it; a service token cannot."""
    task_id = normalise_task_id(body.task_id) if body.task_id else None
    call = CommentInput(text=body.text, task_id=task_id, actor=request_actor(request))
    return _out(request, await temporal(request, _deals(request).comment(deal_id, call)))
