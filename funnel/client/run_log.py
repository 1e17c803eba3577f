"""Robot runs read from the deal's Temporal event history.

Every robot is an activity, and Temporal records each one: scheduled (with the robot's title
as the summary and its input), started (with the attempt number), and how it ended. That is
a complete, tamper-proof log of every robot run, so the API reads it while the workflow
exists; when the deal closes, the list is kept in its record (funnel/storage/closed_deals.py), which
outlives the namespace's retention.
"""

from __future__ import annotations

import json
from datetime import UTC
from typing import Any

from temporalio.api.common.v1 import Payload
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHistory

from funnel.domain.models import workflow_id_for
from funnel.domain.robot_runs import ActivityRun, RunResult

# Bookkeeping, not a robot: the activity that keeps the closed deal's record (it reads this
# very history, and is still running in it when it does).
NOT_ROBOTS = frozenset({"record_closed_deal"})


_ENDED: dict[EventType.ValueType, tuple[RunResult, str]] = {
    EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED: ("completed", "activity_task_completed"),
    EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED: ("failed", "activity_task_failed"),
    EventType.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT: ("timed_out", "activity_task_timed_out"),
    EventType.EVENT_TYPE_ACTIVITY_TASK_CANCELED: ("canceled", "activity_task_canceled"),
}


def _json(payload: Payload) -> Any:
    try:
        return json.loads(payload.data)
    except (ValueError, UnicodeDecodeError):
        return None  # not JSON (an encrypted or binary payload): leave it out


MAX_RUNS = 50  # continue-as-new chains longer than this are cut (oldest runs left out)


async def run_histories(client: Client, deal_id: str) -> list[WorkflowHistory]:
    """The event histories of every run of the deal's workflow, oldest first: a long deal
    continues as new, and each run's history holds only its own robot runs."""
    histories: list[WorkflowHistory] = []
    run_id: str | None = None
    while len(histories) < MAX_RUNS:
        handle = client.get_workflow_handle(workflow_id_for(deal_id), run_id=run_id)
        history = await handle.fetch_history()
        histories.insert(0, history)
        first = history.events[0] if history.events else None
        if first is None or first.event_type != EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
            break
        run_id = first.workflow_execution_started_event_attributes.continued_execution_run_id
        if not run_id:
            break
    return histories


def robot_runs(history: WorkflowHistory) -> list[ActivityRun]:
    runs: dict[int, ActivityRun] = {}
    for event in history.events:
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            attrs = event.activity_task_scheduled_event_attributes
            if attrs.activity_type.name in NOT_ROBOTS:
                continue
            summary = None
            if event.HasField("user_metadata") and event.user_metadata.HasField("summary"):
                decoded = _json(event.user_metadata.summary)
                summary = decoded if isinstance(decoded, str) else None
            first = _json(attrs.input.payloads[0]) if attrs.input.payloads else None
            key = first.get("key") if isinstance(first, dict) else None
            runs[event.event_id] = ActivityRun(
                activity=attrs.activity_type.name,
                summary=summary,
                key=key if isinstance(key, str) else None,
                scheduled_at=event.event_time.ToDatetime(tzinfo=UTC),
                finished_at=None,
                result="running",
            )
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            started = event.activity_task_started_event_attributes
            run = runs.get(started.scheduled_event_id)
            if run is not None:
                run.attempts = started.attempt
        elif event.event_type in _ENDED:
            result, field = _ENDED[event.event_type]
            attrs = getattr(event, f"{field}_event_attributes")
            run = runs.get(attrs.scheduled_event_id)
            if run is None:
                continue
            run.result = result
            run.finished_at = event.event_time.ToDatetime(tzinfo=UTC)
            # Canceled activities carry no failure field at all (HasField would raise).
            if "failure" in attrs.DESCRIPTOR.fields_by_name and attrs.HasField("failure"):
                run.error = attrs.failure.message
    return list(runs.values())
