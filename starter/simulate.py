"""``funnel simulate``: run one deal through a pipeline on the time-skipping test server and
print the timeline of what would fire and when, with no effect outside the simulation (a
throw-away store, every outside channel off, documents in a temporary folder).

Events file: a JSON list of steps applied in order, each ``{"after": "<duration>",
"action": ..., ...}`` where ``after`` is counted from the previous step (default 0) and
``action`` is one of ``accept``, ``move`` (``stage``, ``reason``), ``invoice_paid``
(``invoice_id``), ``task_done`` (``task_id``, ``by``), ``fields`` (``fields``), ``close``
(``outcome``, ``reason``).

The Java time-skipping test server can stop advancing time (seen after cancelled timers):
a sleep, an update or a query then never returns. Every wait here is bounded in real time
and ends with :class:`SimulationStalled` naming what it waited for, instead of a hang.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Awaitable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter
from temporalio.runtime import LoggingConfig, Runtime, TelemetryConfig, TelemetryFilter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.dispatch import Dispatcher
from activities.documents import DocumentRenderer
from activities.integrations import IntegrationActivities
from activities.robots import RobotActivities
from funnel.client.deals import DealClient
from funnel.domain.durations import Duration
from funnel.domain.models import (
    CloseInput,
    DealInput,
    InvoicePaid,
    Outcome,
    TaskCompleted,
    UpdateFieldsInput,
)
from funnel.domain.pipeline import Pipeline
from funnel.domain.task_ids import normalise_task_id
from funnel.runtime.integration_settings import IntegrationSettings
from funnel.runtime.settings import Settings
from funnel.runtime.temporal_client import DATA_CONVERTER, register_search_attributes
from funnel.storage.deliveries import DeliveryStore
from funnel.storage.directory import Directory
from funnel.storage.migrate import upgrade
from funnel.storage.store import Store
from starter.binaries import temporal_test_server
from starter.sim_timeline import TimelineEntry, timeline
from worker import deal_activities
from workflows.deal import DealWorkflow

T = TypeVar("T")

TASK_QUEUE = "simulation"
# Real seconds one step of a simulation may take: a month of simulated time passes in a few.
STALL_AFTER = 60.0
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


class SimulationError(Exception):
    """The simulation cannot be run as asked; the message says why."""


class SimulationStalled(SimulationError):
    """The test server's clock stopped while the simulation waited for something."""


async def _bounded(step: Awaitable[T], what: str, limit: float) -> T:
    try:
        return await asyncio.wait_for(step, limit)
    except TimeoutError:
        raise SimulationStalled(
            f"the simulation stopped advancing while waiting for {what} (no progress in"
            f" {limit:g} s of real time); the time-skipping test server is known to stall"
            " after cancelled timers: move this event a minute earlier or later and run again"
        ) from None


def _describe(event: SimEvent, number: int) -> str:
    detail = event.stage or event.invoice_id or event.task_id or event.outcome or ""
    return f"event {number} ({event.action}{' ' + str(detail) if detail else ''})"


async def simulate(
    pipeline: Pipeline,
    deal: DealInput,
    events: list[SimEvent],
    *,
    horizon: timedelta,
    start_at: datetime | None = None,
    stall_after: float = STALL_AFTER,
) -> list[TimelineEntry]:
    """The timeline of ``deal`` on ``pipeline`` started at ``start_at`` (default: now) with
    ``events`` applied, then ``horizon`` of simulated time more."""
    with tempfile.TemporaryDirectory(prefix="funnel-sim-") as tmp:
        url = f"sqlite:///{Path(tmp) / 'sim.db'}"
        upgrade(url)
        store = Store(url)
        outbox = DeliveryStore(store)
        # Every outside channel off: a simulation must never reach a real person.
        quiet = IntegrationSettings(
            webhook_url=None, smtp_host=None, bitrix24_webhook_url=None, telegram_bot_token=None
        )
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
                    # deal_activities: the closed deal's record too, or a deal closed in
                    # the simulation retries it for the rest of the horizon.
                    activities=deal_activities(store, robots),
                    activity_executor=executor,
                ):
                    deals = DealClient(env.client, task_queue=TASK_QUEUE)
                    start = await _start_clock(env, start_at, stall_after)
                    await _bounded(deals.start(deal, pipeline), "the deal to start", stall_after)
                    for number, event in enumerate(events, 1):
                        what = _describe(event, number)
                        if event.after is not None:
                            wait = env.sleep(event.after.as_timedelta())
                            await _bounded(wait, f"the time before {what}", stall_after)
                        await _bounded(_apply(deals, deal.deal_id, event), what, stall_after)
                    await _bounded(env.sleep(horizon), "the horizon to pass", stall_after)
                    state = await _bounded(
                        deals.state(deal.deal_id), "the final state", stall_after
                    )
                    history = await _bounded(
                        deals.history(deal.deal_id), "the deal's history", stall_after
                    )
        finally:
            await env.shutdown()
        return timeline(store, state, history, start)


async def _start_clock(
    env: WorkflowEnvironment, start_at: datetime | None, stall_after: float
) -> datetime:
    """Move the test server's clock to ``start_at``; it starts at the real now and only goes
    forward."""
    now = await env.get_current_time()
    if start_at is None:
        return now
    if start_at < now - timedelta(minutes=1):
        raise SimulationError(
            f"--start {start_at.isoformat()} is in the past: the simulated clock starts at"
            f" the real time ({now:%Y-%m-%d %H:%M}Z) and can only move forward"
        )
    if start_at > now:
        await _bounded(env.sleep(start_at - now), "the clock to reach --start", stall_after)
    return await env.get_current_time()


async def _payment_of(deals: DealClient, deal_id: str, event: SimEvent) -> InvoicePaid:
    """The event's invoice, or else the deal's open one; paid before the deal issued any,
    it is a prepayment."""
    if event.invoice_id:
        return InvoicePaid(invoice_id=event.invoice_id)
    state = await deals.state(deal_id)
    open_invoice = next((i for i in state.invoices if i.open), None)
    if open_invoice is not None:
        return InvoicePaid(invoice_id=open_invoice.invoice_id)
    return InvoicePaid(invoice_id=f"{deal_id}-prepaid", prepayment=True)


async def _apply(deals: DealClient, deal_id: str, event: SimEvent) -> None:
    match event.action:
        case "accept":
            await deals.accept(deal_id, by=event.by)
        case "move":
            await deals.move(deal_id, event.stage or "", reason=event.reason, by=event.by)
        case "invoice_paid":
            await deals.invoice_paid(deal_id, await _payment_of(deals, deal_id, event))
        case "task_done":
            await deals.task_completed(
                deal_id, TaskCompleted(task_id=normalise_task_id(event.task_id or ""), by=event.by)
            )
        case "fields":
            await deals.update_fields(deal_id, UpdateFieldsInput(fields=event.fields))
        case "close":
            outcome = event.outcome or Outcome.WON
            await deals.close(deal_id, CloseInput(outcome=outcome, reason=event.reason))
