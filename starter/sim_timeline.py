"""The timeline ``funnel simulate`` prints: what the simulated deal went through, in order,
read from the throw-away store (report events, notifications, tasks), the deal's state
(documents, invoices, robot runs) and its workflow history (every title it was given and
every task status change, with their times; the state keeps only the latest of each)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pydantic import BaseModel
from temporalio.client import WorkflowHistory

from funnel.domain.activity_io import ActivityName, SetTitleCall, TaskStatusCall
from funnel.domain.models import DealState, TaskStatus
from funnel.domain.robot_runs import RobotRun, RunOutcome
from funnel.runtime.temporal_client import DATA_CONVERTER
from funnel.storage.store import Store

Row = tuple[datetime, str, str]


class TimelineEntry(BaseModel):
    at: datetime
    offset: str
    stage: str
    what: str


def _offset(delta: timedelta) -> str:
    days, seconds = delta.days, delta.seconds
    return f"+{days}d {seconds // 3600:02d}:{seconds % 3600 // 60:02d}"


def timeline(
    store: Store, state: DealState, history: WorkflowHistory, start: datetime
) -> list[TimelineEntry]:
    rows = [*_from_store(store, state.deal_id), *_from_state(state), *_from_history(history, state)]
    rows.sort(key=lambda r: r[0])  # stable: rows of one instant keep the order they came in
    return [
        TimelineEntry(at=at, offset=_offset(at - start), stage=stage, what=what)
        for at, stage, what in rows
    ]


def _from_store(store: Store, deal_id: str) -> list[Row]:
    rows: list[Row] = []
    for e in store.report_events(deal_id=deal_id):
        text = e.details.get("text") if isinstance(e.details, dict) else None
        rows.append((e.at, e.stage, f"report {e.kind}" + (f": {text}" if text else "")))
    for n in store.deal_notifications(deal_id):
        rows.append((n.created_at, n.stage, f"notify {n.recipient}: {n.message}"))
    for t in store.tasks(deal_id=deal_id):
        due = f", due {t.deadline_at:%Y-%m-%d %H:%M}Z" if t.deadline_at else ""
        rows.append((t.created_at, t.stage, f"task for {t.responsible}: {t.title}{due}"))
    return rows


def _stage_at(state: DealState, at: datetime, *, before: bool = False) -> str:
    """The stage the deal was in at ``at`` (the latest visit entered by then); ``before``:
    just before ``at``, for what moved the deal on in that same instant (a payment)."""
    entered = [v for v in state.visits if v.entered_at < at or (v.entered_at == at and not before)]
    return entered[-1].stage if entered else state.stage


def _from_state(state: DealState) -> list[Row]:
    rows: list[Row] = []
    for d in state.documents:
        rows.append((d.created, _stage_at(state, d.created), f"document made: {d.name}"))
    for i in state.invoices:
        amount = f" for {i.amount} {state.deal.currency}" if i.amount is not None else ""
        rows.append(
            (i.received_at, _stage_at(state, i.received_at), f"invoice {i.invoice_id}{amount}")
        )
        if i.paid_at is not None:
            stage = _stage_at(state, i.paid_at, before=True)
            rows.append((i.paid_at, stage, f"invoice {i.invoice_id} paid"))
    for run in state.robot_runs:
        if run.outcome is not RunOutcome.DONE or run.repetition is not None:
            rows.append((run.at, run.stage, _run_text(run)))
    return rows


def _run_text(run: RobotRun) -> str:
    """``robot remind: done, repetition 2 of 5``; ``robot remind: stopped before repetition
    3 of 5 (the deal was accepted)``."""
    text = f"robot {run.robot_id}: {run.outcome.value}"
    if run.repetition is not None:
        before = " before" if run.outcome is RunOutcome.STOPPED else ","
        text += f"{before} repetition {run.repetition}"
    if run.outcome is not RunOutcome.FAILED and run.error:
        text += f" ({run.error})"  # why it stopped or was skipped
    return text


def _from_history(history: WorkflowHistory, state: DealState) -> list[Row]:
    """Titles set and task status changes. Both are activities of the deal's workflow: the
    input says what and where, a title's result is the title given."""
    converter = DATA_CONVERTER.payload_converter
    task_ids = {t.key: t.task_id for t in state.tasks}
    title_stages: dict[int, str] = {}  # scheduled event id -> stage of a set-title run
    task_statuses: dict[str, TaskStatus] = {}  # task key -> its status before this change
    rows: list[Row] = []
    for event in history.events:
        if event.HasField("activity_task_scheduled_event_attributes"):
            scheduled = event.activity_task_scheduled_event_attributes
            payloads = scheduled.input.payloads
            if scheduled.activity_type.name == ActivityName.SET_TITLE:
                (call,) = converter.from_payloads(payloads, [SetTitleCall])
                title_stages[event.event_id] = call.context.stage_id
            elif scheduled.activity_type.name == ActivityName.RECORD_TASK_STATUS:
                (status,) = converter.from_payloads(payloads, [TaskStatusCall])
                task_id = task_ids.get(status.key, status.key)
                before = task_statuses.get(status.key, TaskStatus.OPEN)
                task_statuses[status.key] = status.status
                what = _task_change(task_id, before, status)
                rows.append((status.at, _stage_at(state, status.at), what))
        elif event.HasField("activity_task_completed_event_attributes"):
            completed = event.activity_task_completed_event_attributes
            stage = title_stages.get(completed.scheduled_event_id)
            if stage is not None:
                (title,) = converter.from_payloads(completed.result.payloads, [str])
                at = event.event_time.ToDatetime(tzinfo=UTC)
                rows.append((at, stage, f"title: {title}"))
    return rows


def _task_change(task_id: str, before: TaskStatus, change: TaskStatusCall) -> str:
    by = f" by {change.by}" if change.by else ""
    match change.status:
        case TaskStatus.AWAITING_CONFIRMATION:
            return f"task {task_id} done{by}, awaiting its creator's confirmation"
        case TaskStatus.DONE if before is TaskStatus.AWAITING_CONFIRMATION:
            return f"task {task_id} confirmed{by}"
        case TaskStatus.DONE:
            return f"task {task_id} done{by}"
        case TaskStatus.OPEN:
            return f"task {task_id} returned to its executor{by}"
        case TaskStatus.CANCELLED:
            return f"task {task_id} cancelled"
