"""The worker: runs deal workflows and robot activities on the ``sales-funnel`` task queue.

Run it alone with ``python worker.py`` (or ``funnel worker``) against the server named by
``TEMPORAL_ADDRESS``; ``funnel up`` runs it next to an embedded dev server.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

from temporalio.client import Client
from temporalio.worker import Worker

from activities.closing import ClosingActivities
from activities.pipelines import PipelineActivities
from activities.robots import RobotActivities
from funnel.runtime.bytecode import write_workflow_bytecode
from funnel.runtime.invoice_settings import load_invoice_setup
from funnel.runtime.logging_setup import configure_logging
from funnel.runtime.metrics import MetricsInterceptor, runtime_for
from funnel.runtime.pipelines import Pipelines, load_settings_pipelines
from funnel.runtime.sandbox_runner import workflow_runner_for
from funnel.runtime.settings import Settings
from funnel.runtime.temporal_client import connect
from funnel.storage.closed_deals import ClosedDeals
from funnel.storage.migrate import upgrade
from funnel.storage.store import Store
from workflows.deal import DealWorkflow

# Activity slots (and a thread for each: the robots are blocking code). More slots than
# robots ever run at once: the SDK asks the server to hand a robot scheduled by a workflow
# task straight back with the task's completion (eager activity dispatch) only when a slot
# is free, and every robot that goes through the task queue instead costs the server a
# matching round trip. Too few slots for many deals moving at once send most robots that
# way (docs/performance.md, "What moved which figure").
ACTIVITY_THREADS = 64
log = logging.getLogger("funnel.worker")


def deal_activities(
    store: Store,
    robots: RobotActivities | None = None,
    pipelines: Callable[[], Pipelines] = load_settings_pipelines,
) -> list[Any]:
    """Every activity a deal calls: the robots, the pipelines a robot moves a deal to
    (``pipelines``: how they are read, the settings' files by default), and the
    closed-deal record at its end."""
    robots = robots or RobotActivities(store)
    return [
        *robots.all(),
        PipelineActivities(pipelines).load_target,
        ClosingActivities(ClosedDeals(store)).record_closed_deal,
    ]


def build_worker(
    client: Client,
    store: Store,
    *,
    task_queue: str,
    executor: ThreadPoolExecutor,
    pipelines: Callable[[], Pipelines] = load_settings_pipelines,
) -> Worker:
    write_workflow_bytecode(DealWorkflow)
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[DealWorkflow],
        workflow_runner=workflow_runner_for(client.data_converter),
        activities=deal_activities(store, pipelines=pipelines),
        activity_executor=executor,
        max_concurrent_activities=ACTIVITY_THREADS,
        # Deals started and failed activity attempts (funnel/runtime/metrics.py).
        interceptors=[MetricsInterceptor()],
        # Let robots that are running finish on shutdown instead of cutting them off.
        graceful_shutdown_timeout=timedelta(seconds=10),
    )


async def run_worker(client: Client, settings: Settings, stop: asyncio.Event) -> None:
    # The migrations alone make the schema: a deployed database reaches the one the code
    # expects through reviewed revisions (several workers at once take turns on a lock).
    upgrade(settings.effective_database_url)
    store = Store(settings.effective_database_url)
    log.info(
        "worker on task queue %s at %s, database schema migrated",
        settings.task_queue,
        settings.effective_temporal_address,
    )
    with ThreadPoolExecutor(max_workers=ACTIVITY_THREADS) as executor:
        worker = build_worker(client, store, task_queue=settings.task_queue, executor=executor)
        async with worker:
            await stop.wait()
    store.dispose()


async def main() -> None:
    settings = Settings()
    configure_logging(settings)
    load_invoice_setup()  # bad requisites or payment link: refused before connecting
    Pipelines.from_settings(settings)  # and a broken pipeline file (robots move deals to them)
    client = await connect(settings, runtime=runtime_for(settings))
    stop = asyncio.Event()
    # SIGTERM (docker stop, systemd) and Ctrl-C stop taking new work and let running
    # robots finish within the graceful shutdown timeout.
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await run_worker(client, settings, stop)


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())
