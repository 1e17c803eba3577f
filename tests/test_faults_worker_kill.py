"""The worker killed with SIGKILL at random points while 50 deals move, then restarted:
every deal ends in `won` and every notification, task, invoice and report row is in the
store exactly once (the idempotency keys and the deals' histories carry them through)."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from bench.driver import Deal, run_all
from bench.harness import WorkerProcess
from bench.measures import store_problems
from funnel.domain.pipeline import Pipeline
from funnel.storage.store import Store
from tests.db_fixtures import migrate
from tests.temporal_fixtures import new_deal_id, new_task_queue

DEALS = 50
KILLS = 3


async def test_sigkilled_worker_loses_nothing_and_repeats_nothing(
    dev_env: WorkflowEnvironment, pusk: Pipeline, tmp_path: Path
) -> None:
    db = f"sqlite:///{tmp_path / 'funnel.db'}"
    migrate(db)
    store = Store(db)
    queue = new_task_queue()
    address = dev_env.client.service_client.config.target_host
    deals = [
        Deal(dev_env.client, "ours", new_deal_id("K"), queue, pusk, retry=True)
        for _ in range(DEALS)
    ]
    rng = random.Random()
    with WorkerProcess(
        address=address, task_queue=queue, db_url=db, log=tmp_path / "w.log"
    ) as worker:
        drive = asyncio.create_task(run_all(deals, DEALS))
        for _ in range(KILLS):
            await asyncio.sleep(rng.uniform(0.5, 2.5))
            worker.kill()  # mid-activity, mid-workflow-task: wherever it is
            await asyncio.sleep(rng.uniform(0.0, 1.0))
            worker.start()
        # An activity cut off by the kill is retried after its 30 s start-to-close timeout.
        await asyncio.wait_for(drive, 300)
    assert worker.starts == KILLS + 1
    assert store_problems(store, [d.deal_id for d in deals]) == []
