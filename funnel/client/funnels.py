"""Moving running deals between pipelines, as :class:`funnel.client.deals.DealClient` does
it: to another version of their pipeline (``funnel pipeline migrate``) or to a stage of
another pipeline (another funnel)."""

from __future__ import annotations

from pydantic import BaseModel

from funnel.domain import messages
from funnel.domain.funnels import MoveToFunnelInput
from funnel.domain.models import DealState, MigrateInput
from funnel.domain.people import Actor
from funnel.domain.pipeline import Pipeline


class DealFunnels:
    """The migrate and move-to-funnel calls; DealClient supplies ``_change``."""

    async def _change(self, deal_id: str, update: str, arg: BaseModel) -> DealState:
        raise NotImplementedError

    async def migrate(self, deal_id: str, request: MigrateInput) -> DealState:
        return await self._change(deal_id, messages.MIGRATE, request)

    async def move_to_funnel(
        self,
        deal_id: str,
        pipeline: Pipeline,
        stage: str,
        reason: str | None = None,
        by: str | None = None,
        *,
        actor: Actor | None = None,
    ) -> DealState:
        """To ``stage`` of ``pipeline`` (the version to run from now on: the registry's
        current one), as ``actor``; the target stage's robots run."""
        request = MoveToFunnelInput(
            pipeline=pipeline, stage=stage, reason=reason, by=by, actor=actor
        )
        return await self._change(deal_id, messages.MOVE_TO_FUNNEL, request)
