"""A worker process for the benchmarks: ours (``DealWorkflow`` and the robots, exactly as
``worker.py`` builds it unless tuning flags are given) or the bare workflow.

    python bench/run_worker.py ours --address 127.0.0.1:7233 --task-queue q --db sqlite:///x.db
    python bench/run_worker.py bare --address 127.0.0.1:7233 --task-queue q

The benchmarks run workers as processes of their own so that the driver's CPU is not
counted against the worker, and so that memory is the worker's alone (its RSS).
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from temporalio.client import Client
from temporalio.worker import UnsandboxedWorkflowRunner, Worker, WorkflowRunner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

from funnel.runtime.bytecode import write_workflow_bytecode
from funnel.runtime.sandbox_runner import workflow_runner_for
from funnel.runtime.temporal_client import DATA_CONVERTER

# Which workflow runner: the SDK's sandbox; ours (funnel/runtime/sandbox_runner.py: the sandbox,
# without a trip into it per payload); or none, to price the sandbox itself (no per-run
# module isolation or proxying of the workflow's imports: the workflow code is
# deterministic without it, the sandbox is a guard).
_RUNNERS: dict[str, Callable[[], WorkflowRunner]] = {
    "sdk": SandboxedWorkflowRunner,
    "workflow-context": lambda: workflow_runner_for(DATA_CONVERTER),
    "unsandboxed": UnsandboxedWorkflowRunner,
}


def _tuning(args: argparse.Namespace) -> dict[str, Any]:
    options: dict[str, Any] = {}
    if args.cache is not None:
        options["max_cached_workflows"] = args.cache
    if args.runner is not None:
        options["workflow_runner"] = _RUNNERS[args.runner]()
    if args.pollers is not None:
        options["max_concurrent_workflow_task_polls"] = args.pollers
        options["max_concurrent_activity_task_polls"] = args.pollers
    return options


async def main(args: argparse.Namespace) -> None:
    client = await Client.connect(args.address, data_converter=DATA_CONVERTER)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    if args.kind == "bare":
        from bench.bare import ACTIVITIES, BareDeal

        # As build_worker does for ours: the sandbox loads the module's bytecode per run.
        write_workflow_bytecode(BareDeal)
        worker = Worker(
            client,
            task_queue=args.task_queue,
            workflows=[BareDeal],
            activities=ACTIVITIES,
            **_tuning(args),
        )
        async with worker:
            print("ready", flush=True)
            await stop.wait()
        return

    from funnel.storage.migrate import upgrade
    from funnel.storage.store import Store
    from worker import ACTIVITY_THREADS, build_worker, deal_activities
    from workflows.deal import DealWorkflow

    upgrade(args.db)
    store = Store(args.db)
    threads = args.activity_threads or ACTIVITY_THREADS
    with ThreadPoolExecutor(max_workers=threads) as executor:
        if not _tuning(args) and args.activity_threads is None:
            worker = build_worker(client, store, task_queue=args.task_queue, executor=executor)
        else:
            write_workflow_bytecode(DealWorkflow)
            options = {"workflow_runner": _RUNNERS["workflow-context"](), **_tuning(args)}
            worker = Worker(
                client,
                task_queue=args.task_queue,
                workflows=[DealWorkflow],
                activities=deal_activities(store),
                activity_executor=executor,
                max_concurrent_activities=threads,
                **options,
            )
        async with worker:
            print("ready", flush=True)
            await stop.wait()
    store.dispose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("kind", choices=["ours", "bare"])
    parser.add_argument("--address", required=True)
    parser.add_argument("--task-queue", required=True)
    parser.add_argument("--db", default=None, help="store URL (ours only)")
    parser.add_argument("--cache", type=int, default=None, help="max_cached_workflows")
    parser.add_argument("--pollers", type=int, default=None, help="task pollers of each kind")
    parser.add_argument("--activity-threads", type=int, default=None)
    parser.add_argument(
        "--runner",
        choices=sorted(_RUNNERS),
        default=None,
        help="workflow runner (default: ours as worker.py builds it, bare the SDK's sandbox)",
    )
    asyncio.run(main(parser.parse_args()))
