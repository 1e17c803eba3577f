"""The database unreachable for a while during robot runs: a private PostgreSQL (never the
machine's shared cluster, which other test runs use) is stopped and started again while
deals move. Robots retry with backoff until it is back; nothing is lost or done twice."""

from __future__ import annotations

import asyncio
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from bench.driver import Deal, run_all
from bench.harness import PrivatePostgres, WorkerProcess
from bench.measures import store_problems
from funnel.domain.pipeline import Pipeline
from funnel.storage.store import Store
from tests.db_fixtures import migrate
from tests.temporal_fixtures import new_deal_id, new_task_queue

DEALS = 20


async def test_database_outage_during_robot_runs_loses_nothing(
    dev_env: WorkflowEnvironment, pusk: Pipeline, tmp_path: Path
) -> None:
    queue = new_task_queue()
    address = dev_env.client.service_client.config.target_host
    with PrivatePostgres() as pg:
        migrate(pg.url)
        store = Store(pg.url)
        deals = [Deal(dev_env.client, "ours", new_deal_id("P"), queue, pusk) for _ in range(DEALS)]
        with WorkerProcess(
            address=address, task_queue=queue, db_url=pg.url, log=tmp_path / "w.log"
        ):
            drive = asyncio.create_task(run_all(deals, DEALS))
            # The worker must be up first: without its database it refuses to start.
            while store.get_deal(deals[0].deal_id) is None:
                await asyncio.sleep(0.1)
            await asyncio.to_thread(pg.stop)
            await asyncio.sleep(4.0)  # robots fail and back off meanwhile
            await asyncio.to_thread(pg.start)
            await asyncio.wait_for(drive, 180)
        assert store_problems(store, [d.deal_id for d in deals]) == []
        store.dispose()
