"""``funnel db backfill-team``: the ``DealTeam`` and ``DealPipeline`` search attributes for
open deals started before they existed.

A deal gets ``DealTeam`` (its sales team) when it starts and when an edit changes the team;
deals started before that have none, so a team member finds such a deal in their list only
as its responsible (funnel/client/read_scope.py). Likewise ``DealPipeline`` (its pipeline),
without which a list by pipeline misses the deal. A search attribute is set by the workflow
itself: this command sends every open deal lacking either the ``refresh_search_attributes``
update, and the deal upserts its attributes from its state. Idempotent; a deal without a
sales team keeps none. The deals' worker must run code with that update (an older worker
refuses it: the deal is reported as failed, and the command can run again once it is
upgraded).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from temporalio.client import (
    Client,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.service import RPCError

from funnel.client.errors import visibility_literal
from funnel.client.listing import DEAL_WORKFLOWS
from funnel.domain import messages
from funnel.domain.search_attributes import DEAL_PIPELINE, DEAL_TEAM


@dataclass
class TeamReport:
    set: list[str] = field(default_factory=list)  # deals that got their DealTeam now
    no_team: list[str] = field(default_factory=list)  # open deals without a sales team
    already: int = 0  # open deals that had DealTeam and DealPipeline
    pipeline_set: list[str] = field(default_factory=list)  # deals that got DealPipeline now
    failed: dict[str, str] = field(default_factory=dict)  # deal id -> why


async def backfill_team(client: Client, task_queue: str, wait: timedelta) -> TeamReport:
    """The open deals of ``task_queue`` (the queue whose worker answers them); a deal whose
    worker does not answer within ``wait`` is reported as failed."""
    report = TeamReport()
    query = (
        f"{DEAL_WORKFLOWS} AND ExecutionStatus = 'Running'"
        f" AND TaskQueue = {visibility_literal(task_queue)}"
    )
    async for execution in client.list_workflows(query):
        deal_id = execution.id.removeprefix("deal-")
        attributes = execution.typed_search_attributes
        if attributes.get(DEAL_TEAM) and attributes.get(DEAL_PIPELINE):
            report.already += 1
            continue
        handle = client.get_workflow_handle(execution.id)
        try:
            names = await handle.execute_update(
                messages.REFRESH_SEARCH_ATTRIBUTES, result_type=list[str], rpc_timeout=wait
            )
        except WorkflowUpdateRPCTimeoutOrCancelledError:
            report.failed[deal_id] = f"no worker of {task_queue!r} answered within {wait}"
            continue
        except (WorkflowUpdateFailedError, RPCError) as exc:  # one deal must not stop the rest
            cause = exc.cause if isinstance(exc, WorkflowUpdateFailedError) else exc
            report.failed[deal_id] = str(cause) or type(cause).__name__
            continue
        if DEAL_PIPELINE.name in names:
            report.pipeline_set.append(deal_id)
        if DEAL_TEAM.name in names:
            report.set.append(deal_id)
        elif not attributes.get(DEAL_TEAM):
            report.no_team.append(deal_id)
    return report
