"""``funnel db backfill-closed``: the record of every closed deal that has none yet.

A deal closed by code with the ``closed-deal-record`` patch writes its record itself. Deals
closed before that code, and deals whose workflow ended without running any more code
(terminated by an operator, failed, timed out), have none: this command reads each such
workflow while the namespace still keeps it (its retention) and writes the record from it.
It is idempotent (a deal with a record is left alone), so it can run again at any time, and
should run within the retention after a workflow was terminated.

The final state comes from replaying the workflow's last run here, in this process, and
reading the state the workflow code holds at its end: no worker is needed, and a terminated
workflow (which no query can reach once its run ended mid-way) gives its state at the
moment it was stopped.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from temporalio import workflow
from temporalio.client import Client, WorkflowExecution, WorkflowExecutionStatus, WorkflowHistory
from temporalio.worker import (
    ExecuteWorkflowInput,
    Interceptor,
    Replayer,
    UnsandboxedWorkflowRunner,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
)

from activities.closing import closed_at
from funnel.client.listing import ENDED_DEAL_WORKFLOWS
from funnel.client.run_log import robot_runs, run_histories
from funnel.domain.models import DealState
from funnel.storage.closed_deals import ClosedDeal, ClosedDeals, WorkflowEnd
from workflows.deal import DealWorkflow

_ENDS: dict[WorkflowExecutionStatus, WorkflowEnd] = {
    WorkflowExecutionStatus.COMPLETED: "completed",
    WorkflowExecutionStatus.FAILED: "failed",
    WorkflowExecutionStatus.TERMINATED: "terminated",
    WorkflowExecutionStatus.TIMED_OUT: "timed_out",
    WorkflowExecutionStatus.CANCELED: "canceled",
}


@dataclass
class BackfillReport:
    recorded: list[str] = field(default_factory=list)
    already: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)  # deal id -> why


class _KeepInstance(Interceptor):
    """Keeps the workflow object a replay runs on, to read its state after the replay."""

    def __init__(self) -> None:
        self.instance: Any = None

    def workflow_interceptor_class(
        self, input: WorkflowInterceptorClassInput
    ) -> type[WorkflowInboundInterceptor]:
        keeper = self

        class _Inbound(WorkflowInboundInterceptor):
            async def execute_workflow(self, input: ExecuteWorkflowInput) -> Any:
                keeper.instance = workflow.instance()
                return await super().execute_workflow(input)

        return _Inbound


async def final_state(client: Client, history: WorkflowHistory) -> DealState:
    """The state the deal's workflow held at the end of ``history`` (replayed here; not
    sandboxed, so that the workflow object stays readable)."""
    keeper = _KeepInstance()
    replayer = Replayer(
        workflows=[DealWorkflow],
        data_converter=client.data_converter,
        interceptors=[keeper],
        workflow_runner=UnsandboxedWorkflowRunner(),
    )
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    if result.replay_failure is not None:
        raise RuntimeError(f"its history does not replay: {result.replay_failure}")
    if not isinstance(keeper.instance, DealWorkflow):
        raise RuntimeError("its history never ran the deal workflow")
    state: DealState = keeper.instance.state()
    return state


async def record_from_workflow(
    client: Client, execution: WorkflowExecution, deal_id: str
) -> ClosedDeal:
    histories = await run_histories(client, deal_id)
    state = await final_state(client, histories[-1])
    end = _ENDS.get(execution.status or WorkflowExecutionStatus.COMPLETED, "completed")
    return ClosedDeal(
        state=state,
        robot_runs=[run for history in histories for run in robot_runs(history)],
        workflow_end=end,
        closed_at=closed_at(state, execution.close_time or datetime.now(UTC)),
        recorded_at=datetime.now(UTC),
    )


async def backfill_closed(client: Client, records: ClosedDeals) -> BackfillReport:
    """Record every closed deal the namespace still keeps and the store has no record of."""
    report = BackfillReport()
    async for execution in client.list_workflows(ENDED_DEAL_WORKFLOWS):
        deal_id = execution.id.removeprefix("deal-")
        if await asyncio.to_thread(records.get, deal_id) is not None:
            report.already.append(deal_id)
            continue
        try:
            record = await record_from_workflow(client, execution, deal_id)
        except Exception as exc:  # one deal's problem must not stop the others
            report.failed[deal_id] = str(exc) or type(exc).__name__
            continue
        if await asyncio.to_thread(records.add, record):
            report.recorded.append(deal_id)
        else:
            report.already.append(deal_id)  # its workflow wrote it meanwhile
    return report
