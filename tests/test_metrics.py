"""Prometheus metrics from the SDK runtime plus ours, scraped over HTTP from a worker that runs a
real deal on the dev server; and the JSON log lines carry the deal id."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import httpx
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from funnel.client.deals import DealClient
from funnel.domain.pipeline import Pipeline
from funnel.runtime.logging_setup import JsonFormatter, configure_logging
from funnel.runtime.metrics import (
    MetricsInterceptor,
    record_deadline_breach,
    record_invoice_paid_reaction,
    record_robot_failure,
    record_stage_transition,
    telemetry_runtime,
)
from funnel.runtime.settings import Settings
from funnel.runtime.temporal_client import DATA_CONVERTER
from funnel.storage.store import Store
from tests.helpers import sample_deal
from tests.metrics_support import FailingRobotWorkflow, always_fails
from tests.temporal_fixtures import new_deal_id, new_task_queue, running_worker


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def scrape(url: str, *, until: str, timeout: float = 10.0) -> str:
    """The metrics page once it shows ``until`` (the exporter updates asynchronously)."""
    deadline = asyncio.get_running_loop().time() + timeout
    async with httpx.AsyncClient() as http:
        while True:
            text = (await http.get(url)).text
            if until in text or asyncio.get_running_loop().time() > deadline:
                return text
            await asyncio.sleep(0.1)


async def test_sdk_and_funnel_metrics_on_the_prometheus_endpoint(
    dev_env: WorkflowEnvironment, store: Store, pusk: Pipeline
) -> None:
    port = free_port()
    runtime = telemetry_runtime(f"127.0.0.1:{port}")
    client = await Client.connect(
        dev_env.client.service_client.config.target_host,
        namespace=dev_env.client.namespace,
        data_converter=DATA_CONVERTER,
        runtime=runtime,
    )
    deal_id, task_queue = new_deal_id("M"), new_task_queue()
    async with running_worker(client, store, task_queue):
        deals = DealClient(client, task_queue=task_queue)
        await deals.start(sample_deal(deal_id), pusk)
        await deals.accept(deal_id, by="ivanov")

    # The helpers the workflow calls with workflow.metric_meter(); any MetricMeter works.
    meter = runtime.metric_meter
    record_stage_transition(meter, pusk.id, "new", "in_progress")
    record_deadline_breach(meter, pusk.id, "new")
    record_robot_failure(meter, "notify", "new")
    now = datetime.now(UTC)
    record_invoice_paid_reaction(meter, now - timedelta(seconds=2), now, pusk.id)

    text = await scrape(f"http://127.0.0.1:{port}/metrics", until="funnel_deals_started")
    started = [line for line in text.splitlines() if line.startswith("funnel_deals_started")]
    assert any(f'pipeline="{pusk.id}"' in line for line in started), text
    assert "funnel_stage_transitions_total{" in text and 'to_stage="in_progress"' in text
    assert "funnel_deadline_breaches_total{" in text
    assert 'robot_type="notify"' in text
    assert "funnel_invoice_paid_reaction_seconds_bucket" in text
    # The SDK's own metrics come out of the same endpoint.
    assert "temporal_workflow_completed" in text or "temporal_workflow_task" in text
    assert "temporal_request" in text


async def test_failed_activity_attempts_are_counted_by_type(dev_env: WorkflowEnvironment) -> None:
    port = free_port()
    client = await Client.connect(
        dev_env.client.service_client.config.target_host,
        namespace=dev_env.client.namespace,
        runtime=telemetry_runtime(f"127.0.0.1:{port}"),
    )
    task_queue = new_task_queue()
    with ThreadPoolExecutor(max_workers=2) as executor:
        async with Worker(
            client,
            task_queue=task_queue,
            workflows=[FailingRobotWorkflow],
            activities=[always_fails],
            activity_executor=executor,
            interceptors=[MetricsInterceptor()],
        ):
            result = await client.execute_workflow(
                FailingRobotWorkflow.run, id=f"fail-{task_queue}", task_queue=task_queue
            )
    assert result == "failed"
    text = await scrape(f"http://127.0.0.1:{port}/metrics", until='activity="always_fails"')
    failures = [
        line for line in text.splitlines()
        if line.startswith("funnel_activity_failures_total") and "always_fails" in line
    ]  # fmt: skip
    assert failures and failures[0].rsplit(" ", 1)[1] == "2", text  # both attempts
    # Not a deal: no deal counted.
    assert "funnel_deals_started_total{" not in text


def test_json_log_lines_carry_the_deal_id() -> None:
    record = logging.LogRecord("temporalio.workflow", logging.INFO, __file__, 1, "hi", (), None)
    record.temporal_workflow = {  # what the SDK's workflow logger attaches
        "workflow_id": "deal-D-1001",
        "run_id": "r1",
        "workflow_type": "DealWorkflow",
    }
    line = json.loads(JsonFormatter().format(record))
    assert line["deal_id"] == "D-1001" and line["message"] == "hi"
    assert line["workflow_type"] == "DealWorkflow" and line["level"] == "INFO"

    activity_record = logging.LogRecord("temporalio.activity", 30, __file__, 1, "x %s", (1,), None)
    activity_record.temporal_activity = {"workflow_id": "deal-D-7", "activity_type": "notify"}
    line = json.loads(JsonFormatter().format(activity_record))
    assert line["deal_id"] == "D-7" and line["activity_type"] == "notify"
    assert line["message"] == "x 1"


def test_configure_logging_replaces_handlers() -> None:
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        settings = Settings.model_validate({"log_format": "json", "log_level": "WARNING"})
        configure_logging(settings)
        configure_logging(settings)
        assert len(root.handlers) == 1 and root.level == logging.WARNING
        assert isinstance(root.handlers[0].formatter, JsonFormatter)
    finally:
        root.handlers[:], _ = saved
        root.setLevel(saved[1])
