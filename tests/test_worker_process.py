"""`funnel worker` as it runs in a container: it migrates the database, logs JSON lines, serves
metrics, encrypts with the configured keys, and stops cleanly (exit 0) on SIGTERM."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from funnel.client.deals import DealClient
from funnel.domain.pipeline import Pipeline
from funnel.runtime.codec import generate_key
from funnel.runtime.settings import Settings
from funnel.runtime.temporal_client import data_converter
from funnel.storage.migrate import schema_status
from tests.helpers import sample_deal
from tests.temporal_fixtures import new_deal_id, new_task_queue

FUNNEL = str(Path(sys.executable).parent / "funnel")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def read_json_lines(
    process: subprocess.Popen[str], until: str, timeout: float
) -> list[dict[str, Any]]:
    assert process.stderr is not None
    lines: list[dict[str, Any]] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        raw = await asyncio.wait_for(
            asyncio.to_thread(process.stderr.readline), deadline - loop.time()
        )
        if not raw:
            break
        lines.append(json.loads(raw))  # every line is one JSON object
        if until in lines[-1]["message"]:
            return lines
    raise AssertionError(f"the worker never logged {until!r}: {lines}")


async def test_worker_process_end_to_end(
    dev_env: WorkflowEnvironment, tmp_path: Path, pusk: Pipeline
) -> None:
    key, task_queue, metrics = generate_key(), new_task_queue(), free_port()
    db_url = f"sqlite:///{tmp_path / 'worker.db'}"
    keys = f'{{"k1": "{key}"}}'
    env = {
        **os.environ,
        "TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
        "TEMPORAL_NAMESPACE": dev_env.client.namespace,
        "FUNNEL_DATABASE_URL": db_url,
        "FUNNEL_TASK_QUEUE": task_queue,
        "FUNNEL_CODEC_KEYS": keys,
        "FUNNEL_METRICS_PORT": str(metrics),
        "FUNNEL_LOG_FORMAT": "json",
    }
    process = subprocess.Popen(
        [FUNNEL, "worker"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        started = await read_json_lines(process, "worker on task queue", timeout=30)
        assert started[-1]["level"] == "INFO" and task_queue in started[-1]["message"]
        assert schema_status(db_url).at_head  # it migrated before taking work

        settings = Settings.model_validate({"codec_keys": {"k1": key}}, by_name=True)
        client = await Client.connect(
            env["TEMPORAL_ADDRESS"],
            namespace=env["TEMPORAL_NAMESPACE"],
            data_converter=data_converter(settings),
        )
        deals = DealClient(client, task_queue=task_queue)
        deal_id = new_deal_id("W")
        await deals.start(sample_deal(deal_id), pusk)
        state = await deals.accept(deal_id, by="ivanov")
        assert state.stage == "in_progress"

        async with httpx.AsyncClient() as http:
            page = (await http.get(f"http://127.0.0.1:{metrics}/metrics")).text
        assert "funnel_deals_started_total" in page
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            _, rest = await asyncio.to_thread(process.communicate, timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            raise
    assert process.returncode == 0, rest
    assert "Traceback" not in rest
