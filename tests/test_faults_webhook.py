"""The company's webhook receiver down (answering 503) for a while, then back, while deals
move: webhook deliveries are retried until it answers, each reaches it exactly once (by
its Idempotency-Key), and every other row of every deal is in the store exactly once."""

from __future__ import annotations

import asyncio
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from bench.driver import Deal, run_all
from bench.harness import WorkerProcess
from bench.measures import store_problems
from funnel.domain.pipeline import Pipeline
from funnel.storage.deliveries import DeliveryStore
from funnel.storage.store import Store
from tests.db_fixtures import migrate
from tests.integration_fixtures import SECRET, http_receiver
from tests.receivers import HttpReceiver
from tests.temporal_fixtures import new_deal_id, new_task_queue

__all__ = ["http_receiver"]  # the fixture, imported for this module's test


DEALS = 10
# Everyone in-app as in the shipped directory; ivanov's notices also go to the webhook.
DIRECTORY = """
employees:
  - {id: ivanov, name: Ivan Ivanov, head: smirnova, channels: [inapp, webhook]}
  - {id: smirnova, name: Svetlana Smirnova, channels: [inapp]}
  - {id: petrov, name: Pyotr Petrov, channels: [inapp]}
  - {id: sidorova, name: Maria Sidorova, channels: [inapp]}
"""
# ivanov's notices on this path: the new deal, the deal paid, the deal won.
WEBHOOK_ROBOTS = ("1:notify_new", "7:notify_paid", "8:notify_won")


async def test_webhook_receiver_down_then_back_delivers_each_notice_once(
    dev_env: WorkflowEnvironment,
    pusk: Pipeline,
    tmp_path: Path,
    http_receiver: HttpReceiver,
) -> None:
    db = f"sqlite:///{tmp_path / 'funnel.db'}"
    migrate(db)
    store = Store(db)
    directory = tmp_path / "directory.yaml"
    directory.write_text(DIRECTORY)
    queue = new_task_queue()
    address = dev_env.client.service_client.config.target_host
    deals = [Deal(dev_env.client, "ours", new_deal_id("W"), queue, pusk) for _ in range(DEALS)]
    worker = WorkerProcess(
        address=address,
        task_queue=queue,
        db_url=db,
        log=tmp_path / "w.log",
        env={
            "FUNNEL_DIRECTORY": str(directory),
            "FUNNEL_WEBHOOK_URL": http_receiver.url + "/hooks/funnel",
            "FUNNEL_WEBHOOK_SECRET": SECRET,
            "FUNNEL_HOME": str(tmp_path / "home"),
        },
    )
    http_receiver.script.answers = [(503, 0.0)] * 100_000  # down: every request refused
    with worker:
        drive = asyncio.create_task(run_all(deals, DEALS))
        await asyncio.sleep(5.0)
        http_receiver.script.answers = []  # back
        await asyncio.wait_for(drive, 240)
    assert store_problems(store, [d.deal_id for d in deals]) == []
    expected = {f"{d.deal_id}:{robot}:ivanov" for d in deals for robot in WEBHOOK_ROBOTS}
    assert set(http_receiver.processed) == expected
    sent = DeliveryStore(store).find(status="sent")
    assert sorted(f"{r.key}:{r.recipient}" for r in sent if r.channel == "webhook") == sorted(
        expected
    )
