"""``funnel simulate``: run one deal through a pipeline on the time-skipping test server and
print the timeline of what would fire and when, with no effect outside the simulation (a
throw-away store, every outside channel off, documents in a temporary folder).

Events file: a JSON list of steps applied in order, each ``{"after": "<duration>",
"action": ..., ...}`` where ``after`` is counted from the previous step (default 0) and
``action`` is one of ``accept``, ``move`` (``stage``, ``reason``), ``invoice_paid``
(``invoice_id``), ``task_done`` (``task_id``, ``by``), ``fields`` (``fields``), ``close``
(``outcome``, ``reason``).
"""

from __future__ import annotations

import tempfile
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter
from temporalio.runtime import LoggingConfig, Runtime, TelemetryConfig, TelemetryFilter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.dispatch import Dispatcher
from activities.documents import DocumentRenderer
from activities.integrations import IntegrationActivities
from activities.robots import RobotActivities
from funnel.deliveries import DeliveryStore
from funnel.directory import Directory
from funnel.durations import Duration
from funnel.integration_settings import IntegrationSettings
from funnel.models import (
    CloseInput,
    DealInput,
    InvoicePaid,
    Outcome,
    TaskCompleted,
    UpdateFieldsInput,
)
from funnel.pipeline import Pipeline
from funnel.settings import Settings
from funnel.store import Store
from funnel.temporal_client import DATA_CONVERTER, register_search_attributes
from starter.binaries import temporal_test_server
from starter.deals import DealClient
from workflows.deal import DealWorkflow

TASK_QUEUE = "simulation"
# The SDK core logs to stdout; a simulation's stdout is its timeline (and --json output).
_QUIET_RUNTIME = Runtime(
    telemetry=TelemetryConfig(
        logging=LoggingConfig(filter=TelemetryFilter(core_level="ERROR", other_level="ERROR"))
    )
)


class SimEvent(BaseModel):
    model_config = ConfigDict(extra="forbid")
    after: Duration | None = None
    action: Literal["accept", "move", "invoice_paid", "task_done", "fields", "close"]
    stage: str | None = None
    reason: str | None = None
    invoice_id: str | None = None
    task_id: str | None = None
    by: str | None = None
    fields: dict[str, Any] = Field(default_factory=dict)
    outcome: Outcome | None = None


EVENTS = TypeAdapter(list[SimEvent])


class TimelineEntry(BaseModel):
    at: datetime
    offset: str
    stage: str
    what: str


def _offset(delta: timedelta) -> str:
    days, seconds = delta.days, delta.seconds
    return f"+{days}d {seconds // 3600:02d}:{seconds % 3600 // 60:02d}"


async def simulate(
    pipeline: Pipeline, deal: DealInput, events: list[SimEvent], *, horizon: timedelta
) -> list[TimelineEntry]:
    with tempfile.TemporaryDirectory(prefix="funnel-sim-") as tmp:
        store = Store(f"sqlite:///{Path(tmp) / 'sim.db'}")
        store.create_schema()
        outbox = DeliveryStore(store)
        outbox.create_schema()
        # Every outside channel off: a simulation must never reach a real person.
        quiet = IntegrationSettings(webhook_url=None, smtp_host=None, bitrix24_webhook_url=None)
        dispatcher = Dispatcher(store, outbox, Directory.load(Settings().directory), quiet)
        robots = RobotActivities(
            store, IntegrationActivities(dispatcher, DocumentRenderer(Path(tmp) / "documents"))
        )
        env = await WorkflowEnvironment.start_time_skipping(
            test_server_existing_path=temporal_test_server(),
            data_converter=DATA_CONVERTER,
            runtime=_QUIET_RUNTIME,
        )
        try:
            await register_search_attributes(env.client)
            with ThreadPoolExecutor(max_workers=4) as executor:
                async with Worker(
                    env.client,
                    task_queue=TASK_QUEUE,
                    workflows=[DealWorkflow],
                    activities=robots.all(),
                    activity_executor=executor,
                ):
                    deals = DealClient(env.client, task_queue=TASK_QUEUE)
                    start = await env.get_current_time()
                    await deals.start(deal, pipeline)
                    for event in events:
                        if event.after is not None:
                            await env.sleep(event.after.as_timedelta())
                        await _apply(deals, deal.deal_id, event)
                    await env.sleep(horizon)
                    state = await deals.state(deal.deal_id)
        finally:
            await env.shutdown()
        return _timeline(store, deal.deal_id, state.robot_runs, start)


async def _apply(deals: DealClient, deal_id: str, event: SimEvent) -> None:
    match event.action:
        case "accept":
            await deals.accept(deal_id, by=event.by)
        case "move":
            await deals.move(deal_id, event.stage or "", reason=event.reason, by=event.by)
        case "invoice_paid":
            await deals.invoice_paid(deal_id, InvoicePaid(invoice_id=event.invoice_id or "INV"))
        case "task_done":
            await deals.task_completed(
                deal_id, TaskCompleted(task_id=event.task_id or "", by=event.by)
            )
        case "fields":
            await deals.update_fields(deal_id, UpdateFieldsInput(fields=event.fields))
        case "close":
            outcome = event.outcome or Outcome.WON
            await deals.close(deal_id, CloseInput(outcome=outcome, reason=event.reason))


def _timeline(store: Store, deal_id: str, runs: list[Any], start: datetime) -> list[TimelineEntry]:
    rows: list[tuple[datetime, str, str]] = []
    for e in store.report_events(deal_id=deal_id):
        text = e.details.get("text") if isinstance(e.details, dict) else None
        rows.append((e.at, e.stage, f"report {e.kind}" + (f": {text}" if text else "")))
    for n in store.deal_notifications(deal_id):
        rows.append((n.created_at, n.stage, f"notify {n.recipient}: {n.message}"))
    for t in store.tasks(deal_id=deal_id):
        due = f", due {t.deadline_at:%Y-%m-%d %H:%M}Z" if t.deadline_at else ""
        rows.append((t.created_at, t.stage, f"task for {t.responsible}: {t.title}{due}"))
    for run in runs:
        if run.outcome.value != "done":
            rows.append((run.at, run.stage, f"robot {run.robot_id}: {run.outcome.value}"))
    rows.sort(key=lambda r: r[0])
    return [
        TimelineEntry(at=at, offset=_offset(at - start), stage=stage, what=what)
        for at, stage, what in rows
    ]
