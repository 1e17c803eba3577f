"""Editing a deal and commenting on it, as :class:`funnel.client.deals.DealClient` does it.

The deal does not know the employee directory: an edit naming people is checked against it
here, before it is sent, and refused with the unknown id named."""

from __future__ import annotations

from pydantic import BaseModel

from funnel.client.errors import DealRejected
from funnel.domain import messages
from funnel.domain.edits import CommentInput, EditDealInput
from funnel.domain.models import DealState
from funnel.domain.people import Actor
from funnel.storage.directory import Directory


def unknown_employees(request: EditDealInput, directory: Directory) -> list[str]:
    return [e for e in request.employees() if directory.get(e) is None]


class DealEdits:
    """The edit and comment calls; DealClient supplies ``_change``."""

    async def _change(self, deal_id: str, update: str, arg: BaseModel) -> DealState:
        raise NotImplementedError

    async def edit(
        self,
        deal_id: str,
        request: EditDealInput,
        *,
        actor: Actor | None = None,
        directory: Directory | None = None,
    ) -> DealState:
        """Edit the deal as ``actor``; with a ``directory`` every person the edit names
        must be in it."""
        if directory is not None:
            unknown = unknown_employees(request, directory)
            if unknown:
                raise DealRejected(f"no such employee in the directory: {', '.join(unknown)}")
        if actor is not None:
            request = request.model_copy(update={"actor": actor})
        return await self._change(deal_id, messages.EDIT_DEAL, request)

    async def comment(
        self, deal_id: str, request: CommentInput, *, actor: Actor | None = None
    ) -> DealState:
        if actor is not None:
            request = request.model_copy(update={"actor": actor})
        return await self._change(deal_id, messages.COMMENT, request)
