"""The persisted Temporal dev server stopped and started again mid-run: deals and their
timers survive in its SQLite file, the worker and the client reconnect, the driver's
retried updates are deduplicated by id, and nothing is lost or done twice."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bench.driver import Deal, run_all
from bench.harness import DevServer, WorkerProcess, connect
from bench.measures import store_problems
from funnel.domain.pipeline import Pipeline
from funnel.storage.store import Store
from tests.db_fixtures import migrate
from tests.temporal_fixtures import new_deal_id, new_task_queue

DEALS = 20


async def test_dev_server_restart_mid_run_loses_nothing(pusk: Pipeline, tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'funnel.db'}"
    migrate(db)
    store = Store(db)
    queue = new_task_queue()
    server = DevServer(tmp_path / "temporal")
    server.start()
    try:
        client = await connect(server.address)
        deals = [
            Deal(client, "ours", new_deal_id("S"), queue, pusk, retry=True) for _ in range(DEALS)
        ]
        with WorkerProcess(
            address=server.address, task_queue=queue, db_url=db, log=tmp_path / "w.log"
        ):
            drive = asyncio.create_task(run_all(deals, DEALS))
            # The worker must be up first: it refuses to start without a server.
            while store.get_deal(deals[0].deal_id) is None:
                await asyncio.sleep(0.1)
            await asyncio.sleep(0.5)
            await asyncio.to_thread(server.stop)
            await asyncio.sleep(2.0)
            await asyncio.to_thread(server.start)
            # The worker rides out the outage: its pollers and completions retry.
            await asyncio.wait_for(drive, 240)
    finally:
        await asyncio.to_thread(server.stop)
    assert store_problems(store, [d.deal_id for d in deals]) == []
