"""Exactly once across a worker killed between the effect and the activity's completion.

The worker runs as its own process (`python worker.py`) against the test's dev server. The
receiver holds its answer to the first webhook; the test SIGKILLs the worker while it waits,
then starts a new worker. Temporal retries the activity after its timeout: the receiver sees
the key again (at most twice) but processes it once, and the store has one inbox row.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from funnel.client.deals import DealClient
from funnel.domain.pipeline import Pipeline
from funnel.storage.deliveries import DeliveryStore
from funnel.storage.store import Store
from tests.helpers import sample_deal
from tests.integration_fixtures import SECRET, write_directory
from tests.receivers import HttpReceiver
from tests.temporal_fixtures import new_deal_id, new_task_queue

ROOT = Path(__file__).resolve().parent.parent


def start_worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    out = log.open("ab")
    return subprocess.Popen(
        [sys.executable, "worker.py"], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
    )


async def wait_for(check: object, timeout: float, what: str) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():  # type: ignore[operator]
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.2)


async def test_worker_killed_after_the_webhook_got_it_sends_nothing_twice(
    dev_env: WorkflowEnvironment, pusk: Pipeline, tmp_path: Path, http_receiver: HttpReceiver
) -> None:
    db_url = f"sqlite:///{tmp_path / 'funnel.db'}"
    task_queue = new_task_queue()
    env = {
        **os.environ,
        "TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
        "FUNNEL_DATABASE_URL": db_url,
        "FUNNEL_TASK_QUEUE": task_queue,
        "FUNNEL_HOME": str(tmp_path / "home"),
        "FUNNEL_DIRECTORY": str(write_directory(tmp_path)),
        "FUNNEL_WEBHOOK_URL": http_receiver.url + "/hooks/funnel",
        "FUNNEL_WEBHOOK_SECRET": SECRET,
        "FUNNEL_LOG_FORMAT": "text",
    }
    for name in ("FUNNEL_SMTP_HOST", "FUNNEL_BITRIX24_WEBHOOK_URL"):
        env.pop(name, None)  # ivanov's other channels stay unconfigured here
    deal_id = new_deal_id("X")
    key = f"{deal_id}:1:notify_new:ivanov"
    http_receiver.hold.set()
    log = tmp_path / "worker.log"
    worker = start_worker(env, log)
    try:
        deals = DealClient(dev_env.client, task_queue=task_queue)
        await deals.start(sample_deal(deal_id), pusk)
        # The webhook has the request (and has processed it); the activity has not finished.
        await wait_for(http_receiver.got_held.is_set, 60, "the webhook request")
        worker.send_signal(signal.SIGKILL)
        worker.wait(10)
        http_receiver.hold.clear()
        http_receiver.release.set()

        worker = start_worker(env, log)
        store = Store(db_url)
        outbox = DeliveryStore(store)

        def sent() -> bool:
            row = outbox.get(f"{deal_id}:1:notify_new", "webhook", "ivanov")
            return row is not None and row.status == "sent"

        # Temporal retries the activity once its start-to-close timeout (30 s) has passed.
        await wait_for(sent, 90, f"the retried delivery (worker log: {log})")
        state = await deals.state(deal_id)
    finally:
        worker.kill()
        worker.wait(10)

    assert 1 <= http_receiver.keys_seen()[key] <= 2
    assert list(http_receiver.processed) == [key]
    inbox = [n for n in store.inbox("ivanov") if n.deal_id == deal_id]
    assert [n.key for n in inbox] == [f"{deal_id}:1:notify_new:ivanov"]
    assert state.failures == []
