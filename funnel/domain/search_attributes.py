"""Custom search attributes that the deal workflow keeps current, so deals can be listed by
stage, responsible, amount, breach and pipeline in the Web UI, the CLI and the API.

``DealPipeline`` (the pipeline's id) is set when the deal starts and when it moves to another
pipeline; deals started before it have none until `funnel db backfill-team` sets it.

``DealTeam`` (the sales team) is set when the deal starts, so that a manager's list of open
deals can show those whose team they are in (funnel/client/read_scope.py); deals started
before it have none, and the workflow does not upsert it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes

if TYPE_CHECKING:  # the workflows import these keys in their sandbox: no models import here
    from funnel.domain.models import DealInput

DEAL_STAGE = SearchAttributeKey.for_keyword("DealStage")
DEAL_RESPONSIBLE = SearchAttributeKey.for_keyword("DealResponsible")
DEAL_AMOUNT = SearchAttributeKey.for_float("DealAmount")
DEAL_BREACHED = SearchAttributeKey.for_bool("DealDeadlineBreached")
DEAL_TEAM = SearchAttributeKey.for_keyword_list("DealTeam")
DEAL_PIPELINE = SearchAttributeKey.for_keyword("DealPipeline")

ALL_KEYS = (DEAL_STAGE, DEAL_RESPONSIBLE, DEAL_AMOUNT, DEAL_BREACHED, DEAL_TEAM, DEAL_PIPELINE)


def at_start(deal: DealInput, stage: str, pipeline_id: str | None = None) -> TypedSearchAttributes:
    """A new deal's attributes, set by its start (the workflow then upserts none on
    entering the first stage)."""
    pairs: list[SearchAttributePair[Any]] = [
        SearchAttributePair(DEAL_STAGE, stage),
        SearchAttributePair(DEAL_RESPONSIBLE, deal.responsible),
        SearchAttributePair(DEAL_AMOUNT, float(deal.amount)),
        SearchAttributePair(DEAL_BREACHED, False),
    ]
    if deal.sales_team:  # a manager in the team lists the deal (funnel/client/read_scope.py)
        pairs.append(SearchAttributePair(DEAL_TEAM, list(deal.sales_team)))
    if pipeline_id is not None:
        pairs.append(SearchAttributePair(DEAL_PIPELINE, pipeline_id))
    return TypedSearchAttributes(pairs)
