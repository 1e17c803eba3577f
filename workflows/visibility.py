"""The deal's search attributes set again from its state (the ``refresh_search_attributes``
update): deals started before ``DealTeam`` existed get their sales team, so that the team
finds them in its lists (``funnel db backfill-team`` sends it to every open deal lacking it).
A new update, which no recorded history holds: no patch."""

from __future__ import annotations

from typing import Any

from temporalio import workflow
from temporalio.common import SearchAttributeUpdate

from workflows.context import DealContext
from workflows.patches import PATCH_REFRESH_PIPELINE

with workflow.unsafe.imports_passed_through():
    from funnel.domain.search_attributes import (
        DEAL_AMOUNT,
        DEAL_BREACHED,
        DEAL_PIPELINE,
        DEAL_RESPONSIBLE,
        DEAL_STAGE,
        DEAL_TEAM,
    )


class Visibility:
    def __init__(self, ctx: DealContext) -> None:
        self._ctx = ctx

    def refresh(self) -> list[str]:
        """Upsert every attribute whose value differs from the deal's state; answer their
        names (none: all were right). An empty sales team is left unset, as at the start."""
        state = self._ctx.state
        deal = state.deal
        wanted: list[SearchAttributeUpdate[Any]] = [
            DEAL_STAGE.value_set(state.stage),
            DEAL_RESPONSIBLE.value_set(deal.responsible),
            DEAL_AMOUNT.value_set(float(deal.amount)),
            DEAL_BREACHED.value_set(state.breached),
        ]
        if deal.sales_team:
            wanted.append(DEAL_TEAM.value_set(list(deal.sales_team)))
        current = workflow.info().typed_search_attributes
        if current.get(DEAL_PIPELINE) != state.pipeline_id and workflow.patched(
            PATCH_REFRESH_PIPELINE
        ):
            wanted.append(DEAL_PIPELINE.value_set(state.pipeline_id))
        updates = [u for u in wanted if current.get(u.key) != u.value]
        if updates:
            workflow.upsert_search_attributes(updates)
        return [u.key.name for u in updates]
