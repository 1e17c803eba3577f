"""Custom search attributes that the deal workflow keeps current, so deals can be listed by
stage, responsible, amount and breach in the Web UI, the CLI and the API."""

from temporalio.common import SearchAttributeKey

DEAL_STAGE = SearchAttributeKey.for_keyword("DealStage")
DEAL_RESPONSIBLE = SearchAttributeKey.for_keyword("DealResponsible")
DEAL_AMOUNT = SearchAttributeKey.for_float("DealAmount")
DEAL_BREACHED = SearchAttributeKey.for_bool("DealDeadlineBreached")

ALL_KEYS = (DEAL_STAGE, DEAL_RESPONSIBLE, DEAL_AMOUNT, DEAL_BREACHED)
