"""The worker's workflow runner: the SDK's sandbox, minus a trip into it for every payload
(funnel/runtime/sandbox_runner.py). The sandbox must still guard the workflow code, and a data
converter that does read contexts must keep the SDK's own runner."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Sequence
from datetime import timedelta
from typing import Self

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowFailureError
from temporalio.converter import PayloadCodec, SerializationContext, WithSerializationContext
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

from funnel.runtime.codec import AesGcmCodec
from funnel.runtime.sandbox_runner import (
    WorkflowContextSandboxedRunner,
    reads_context,
    workflow_runner_for,
)
from funnel.runtime.temporal_client import DATA_CONVERTER
from tests.sandbox_workflows import Echo, ReadsTheClock


class _ContextCodec(PayloadCodec, WithSerializationContext):
    """A codec that would encrypt per workflow or activity, say: it reads the context."""

    def __init__(self, context: SerializationContext | None = None) -> None:
        self.context = context

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return list(payloads)

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return list(payloads)

    def with_context(self, context: SerializationContext) -> Self:
        return type(self)(context)


def test_our_converters_ignore_the_context_so_the_worker_skips_the_trip() -> None:
    encrypted = dataclasses.replace(
        DATA_CONVERTER, payload_codec=AesGcmCodec({"k1": b"k" * 32}, "k1")
    )
    for converter in (DATA_CONVERTER, encrypted):
        assert not reads_context(converter)
        assert type(workflow_runner_for(converter)) is WorkflowContextSandboxedRunner


def test_a_converter_that_reads_the_context_keeps_the_sdk_runner() -> None:
    converter = dataclasses.replace(DATA_CONVERTER, payload_codec=_ContextCodec())
    assert reads_context(converter)
    assert type(workflow_runner_for(converter)) is SandboxedWorkflowRunner


async def test_workflows_still_run_in_the_sandbox(dev_env: WorkflowEnvironment) -> None:
    client = dev_env.client
    queue = f"sandbox-{uuid.uuid4().hex[:8]}"
    async with Worker(
        client,
        task_queue=queue,
        workflows=[ReadsTheClock, Echo],
        workflow_runner=workflow_runner_for(client.data_converter),
    ):
        # Payloads in and out pass the converter as before.
        echoed = await client.execute_workflow(
            Echo.run, "Договор №7", id=f"echo-{uuid.uuid4().hex}", task_queue=queue
        )
        assert echoed == "Договор №7"

        handle = await client.start_workflow(
            ReadsTheClock.run,
            id=f"clock-{uuid.uuid4().hex}",
            task_queue=queue,
            execution_timeout=timedelta(seconds=5),
        )
        with pytest.raises(WorkflowFailureError):
            await handle.result()
        failures = [
            e.workflow_task_failed_event_attributes.failure.message
            async for e in handle.fetch_history_events()
            if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED
        ]
        assert failures, "the sandbox let the workflow read the clock"
        assert "datetime.datetime.now" in failures[0]
