"""Starting a deal over HTTP: ``POST /deals`` answers once the Temporal server holds the
deal, with the state the deal starts from, whether or not a worker has run it yet; a client
may act on the deal the moment it has the answer."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from temporalio.testing import WorkflowEnvironment

from funnel.client.deals import DealClient
from funnel.runtime.settings import DEFAULT_PIPELINE
from funnel.storage.store import Store
from tests.api_support import UI_BASE, WRITE, Stack, api_settings, api_stack, deal_body, serve
from tests.temporal_fixtures import new_task_queue, running_worker


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def stack(
    dev_env: WorkflowEnvironment, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Stack]:
    async with api_stack(dev_env, tmp_path_factory.mktemp("api-start")) as s:
        yield s


async def test_the_answer_is_the_deal_as_it_starts(stack: Stack) -> None:
    body = deal_body(sales_team=["petrov", "sidorova"], fields={"source": "fair"})
    r = await stack.http.post("/deals", json=body)
    assert r.status_code == 201, r.text
    deal = r.json()
    deal_id = body["deal_id"]
    assert (deal["deal_id"], deal["stage"], deal["status"]) == (deal_id, "new", "open")
    assert deal["deal"]["sales_team"] == ["petrov", "sidorova"]
    assert deal["deal"]["fields"] == {"source": "fair"}
    assert deal["pipeline_id"] == "pusk" and deal["pipeline_version"]
    assert deal["ui_link"] == f"{UI_BASE}/namespaces/default/workflows/deal-{deal_id}"
    assert deal["source"] == "workflow"
    # The workflow then reports the same deal, pipeline version and people.
    read = await stack.in_stage(deal_id, "new")
    assert read["deal"] == deal["deal"]
    assert read["pipeline_version"] == deal["pipeline_version"]
    r = await stack.http.post("/deals", json=body)
    assert r.status_code == 409 and "already exists" in r.json()["detail"]


async def test_a_deal_acted_on_the_moment_it_is_answered(stack: Stack) -> None:
    """A client that accepts and moves a deal right after its 201, five deals at once: the
    deal may not have run its first step yet, and takes both in order."""

    ivanov = stack.as_person("ivanov")  # the responsible, with a personal token

    async def start_accept_move() -> str:
        body = deal_body()
        assert (await stack.http.post("/deals", json=body, headers=ivanov)).status_code == 201
        deal_id: str = body["deal_id"]
        r = await stack.http.post(f"/deals/{deal_id}/accept", headers=ivanov)
        assert r.status_code == 200 and r.json()["stage"] == "in_progress", r.text
        r = await stack.http.post(
            f"/deals/{deal_id}/move", json={"stage": "proposal"}, headers=ivanov
        )
        assert r.status_code == 200 and r.json()["stage"] == "proposal", r.text
        return deal_id

    for deal_id in await asyncio.gather(*(start_accept_move() for _ in range(5))):
        history = (await stack.http.get(f"/deals/{deal_id}/history")).json()
        visits = [(v["stage"], v["cause"]) for v in history["visits"]]
        assert visits == [("new", "start"), ("in_progress", "accepted"), ("proposal", "moved")]


async def test_a_deal_posted_while_no_worker_runs_starts_when_one_comes(
    dev_env: WorkflowEnvironment, tmp_path: Path, store: Store
) -> None:
    """The deal is durable once the server has it: the API does not wait for a worker to
    run it (a down worker delays the deal, not the form that sent it)."""
    task_queue = new_task_queue()
    deals = DealClient(dev_env.client, task_queue=task_queue, ui_base=UI_BASE)
    settings = api_settings(tmp_path, api_temporal_timeout=3.0)
    headers = {"Authorization": f"Bearer {WRITE}"}
    async with (
        serve(settings, deals, store) as base_url,
        httpx.AsyncClient(base_url=base_url, headers=headers, timeout=30) as http,
    ):
        body = deal_body()
        r = await http.post("/deals", json=body)
        assert r.status_code == 201, r.text
        assert r.json()["stage"] == "new" and r.json()["visits"] == []
        async with running_worker(dev_env.client, store, task_queue):
            stack = Stack(base_url, http, http, store, deals, settings)
            deal = await stack.wait_for(body["deal_id"], lambda d: bool(d["visits"]))
    assert deal["visits"][0]["stage"] == "new"
    store.dispose()


async def test_a_new_deal_gets_the_pipeline_file_as_it_is_now(stack: Stack, tmp_path: Path) -> None:
    """The API keeps the parsed file while it is unchanged and reads it again once edited:
    the next deal pins the edited version, the deals before keep theirs."""
    pipeline = tmp_path / "pipeline.yaml"
    pipeline.write_text(DEFAULT_PIPELINE.read_text(encoding="utf-8"), encoding="utf-8")
    settings = api_settings(tmp_path, pipeline=pipeline)
    headers = {"Authorization": f"Bearer {WRITE}"}
    async with (
        serve(settings, stack.deals, stack.store) as base_url,
        httpx.AsyncClient(base_url=base_url, headers=headers, timeout=30) as http,
    ):

        async def version() -> str:
            r = await http.post("/deals", json=deal_body())
            assert r.status_code == 201, r.text
            pinned: str = r.json()["pipeline_version"]
            return pinned

        first = await version()
        assert await version() == first
        edited = pipeline.read_text(encoding="utf-8").replace(
            "name: PUSK sales funnel", "name: PUSK sales funnel, 2027"
        )
        pipeline.write_text(edited, encoding="utf-8")
        assert await version() not in (first, "")
