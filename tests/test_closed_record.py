"""A closed deal stays readable after its workflow is deleted (the namespace's retention):
the API, the CLI and the reports answer the same from the deal's record in the store, on
SQLite and PostgreSQL; messages to it are refused as to a closed deal; deals closed without
a record get one from `funnel db backfill-closed`."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import (
    DeleteWorkflowExecutionRequest,
    DescribeWorkflowExecutionRequest,
)
from temporalio.client import Client, WorkflowHistory
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from funnel.domain.models import workflow_id_for
from funnel.runtime.retention import retention, set_retention
from funnel.runtime.temporal_client import DATA_CONVERTER
from funnel.storage.closed_deals import ClosedDeals
from funnel.storage.migrate import upgrade
from tests.api_support import Stack, api_stack, deal_body
from tests.temporal_fixtures import new_deal_id
from workflows.deal import DealWorkflow
from workflows.patches import PATCH_CLOSED_RECORD

FUNNEL = str(Path(sys.executable).parent / "funnel")
HISTORIES = Path(__file__).parent / "histories"


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [FUNNEL, *args], env={**os.environ, **env}, capture_output=True, text=True, timeout=120
    )


def cli_json(env: dict[str, str], *args: str) -> Any:
    done = cli(env, *args, "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def cli_env(env: WorkflowEnvironment, stack: Stack) -> dict[str, str]:
    return {
        "TEMPORAL_ADDRESS": env.client.service_client.config.target_host,
        "FUNNEL_DATABASE_URL": stack.settings.effective_database_url,
        "FUNNEL_HOME": str(stack.settings.home),
        "FUNNEL_LOG_LEVEL": "WARNING",
    }


async def delete_workflow(client: Client, deal_id: str) -> None:
    """What the namespace's retention does to a closed workflow; returns once the server no
    longer finds it."""
    execution = WorkflowExecution(workflow_id=workflow_id_for(deal_id))
    await client.workflow_service.delete_workflow_execution(
        DeleteWorkflowExecutionRequest(namespace=client.namespace, workflow_execution=execution)
    )
    for _ in range(600):
        try:
            await client.workflow_service.describe_workflow_execution(
                DescribeWorkflowExecutionRequest(namespace=client.namespace, execution=execution)
            )
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                return
            raise
        await asyncio.sleep(0.1)
    raise AssertionError(f"the workflow of deal {deal_id} was never deleted")


async def won_and_lost(stack: Stack, responsible: str) -> tuple[str, str]:
    """A deal won in `contract` with its document, task, invoice and payment; a lost one."""
    http = stack.http
    head = stack.as_person("smirnova")  # the deals' head: accepting, moving, closing need a person
    won = (await http.post("/deals", json=deal_body(responsible=responsible))).json()["deal_id"]
    assert (await http.post(f"/deals/{won}/accept", headers=head)).status_code == 200
    for stage in ("proposal", "contract"):
        r = await http.post(f"/deals/{won}/move", json={"stage": stage}, headers=head)
        assert r.status_code == 200, r.text
    deal = await stack.wait_for(won, lambda d: bool(d["invoices"]) and len(d["documents"]) >= 2)
    invoice_id = deal["invoices"][0]["invoice_id"]
    r = await http.post(f"/deals/{won}/invoices/{invoice_id}/paid", json={"amount": "250000"})
    assert r.status_code == 202
    await stack.wait_for(won, lambda d: d["invoices"][0]["paid_at"] is not None)
    close = {"outcome": "won", "by": "smirnova"}
    r = await http.post(f"/deals/{won}/close", json=close, headers=head)
    assert r.status_code == 200, r.text

    lost = (await http.post("/deals", json=deal_body(responsible=responsible))).json()["deal_id"]
    lose = {"outcome": "lost", "reason": "chose a competitor"}
    r = await http.post(f"/deals/{lost}/close", json=lose, headers=head)
    assert r.status_code == 200, r.text
    for deal_id in (won, lost):
        await stack.deals.result(deal_id)  # the workflow ended (after writing the record)
    return won, lost


async def answers(
    stack: Stack, cli_vars: dict[str, str], deals: tuple[str, str], responsible: str
) -> dict[str, Any]:
    """Everything a user reads about the two closed deals, through the API, CLI, reports."""
    http = stack.http
    read: dict[str, Any] = {}
    for deal_id in deals:
        for path in ("", "/history", "/plan", "/documents"):
            r = await http.get(f"/deals/{deal_id}{path}")
            assert r.status_code == 200, r.text
            read[f"GET {deal_id}{path}"] = r.json()
        r = await http.post(f"/deals/{deal_id}/move", json={"stage": "new"})
        read[f"move {deal_id}"] = (r.status_code, r.json()["detail"])
        r = await http.post(f"/deals/{deal_id}/invoices/X-1/paid", json={})
        read[f"paid {deal_id}"] = (r.status_code, r.json()["detail"])
        read[f"cli show {deal_id}"] = await asyncio.to_thread(
            cli_json, cli_vars, "deal", "show", deal_id
        )
        moved = await asyncio.to_thread(cli, cli_vars, "deal", "move", deal_id, "new")
        read[f"cli move {deal_id}"] = (moved.returncode, moved.stderr.strip())
    for query in (
        {"responsible": responsible},
        {"responsible": responsible, "status": "closed"},
        {"responsible": responsible, "stage": "won"},
        {"responsible": responsible, "since": "2000-01-01T00:00:00Z"},
        {"responsible": responsible, "until": "2000-01-01T00:00:00Z"},
    ):
        r = await http.get("/deals", params=query)
        assert r.status_code == 200, r.text
        read[f"list {sorted(query.items())}"] = r.json()
    read["cli list"] = await asyncio.to_thread(
        cli_json, cli_vars, "deal", "list", "--responsible", responsible
    )
    read["cli list lost"] = await asyncio.to_thread(
        cli_json, cli_vars, "deal", "list", "--stage", "lost", "--responsible", responsible
    )
    for kind in ("funnel", "managers"):
        read[f"report {kind}"] = await asyncio.to_thread(
            cli_json, cli_vars, "report", kind, "--responsible", responsible
        )
    return read


def without_source(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: without_source(v) for k, v in value.items() if k != "source"}
    if isinstance(value, list):
        return [without_source(v) for v in value]
    return value


async def test_closed_deals_read_the_same_after_their_workflows_are_deleted(
    dev_env: WorkflowEnvironment, db_url: str, tmp_path: Path
) -> None:
    await asyncio.to_thread(upgrade, db_url)
    async with api_stack(dev_env, tmp_path, database_url=db_url) as stack:
        responsible = f"rec-{new_deal_id()}"
        won, lost = await won_and_lost(stack, responsible)
        cli_vars = cli_env(dev_env, stack)
        for _ in range(200):  # visibility is eventually consistent: both deals have ended
            listed = (await stack.http.get("/deals", params={"responsible": responsible})).json()
            if {d["deal_id"] for d in listed["deals"]} == {won, lost}:
                break
            await asyncio.sleep(0.05)
        before = await answers(stack, cli_vars, (won, lost), responsible)

        assert before[f"GET {won}"]["status"] == "won"
        assert before[f"GET {lost}"]["lost_reason"] == "chose a competitor"
        assert before[f"GET {won}"]["source"] == "workflow"
        assert before[f"GET {won}/history"]["robot_runs"]
        assert all(
            r["activity"] != "record_closed_deal"
            for r in before[f"GET {won}/history"]["robot_runs"]
        )
        assert len(before[f"GET {won}/documents"]) == 3  # proposal, contract, invoice
        assert (
            before[f"GET {won}/plan"]["note"]
            == f"deal {won} is closed (won): nothing will happen any more"
        )
        assert before[f"move {won}"] == (409, f"deal {won} is closed and cannot change any more")
        assert before[f"paid {lost}"][0] == 409
        assert before[f"cli move {won}"][0] == 1 and "is closed" in before[f"cli move {won}"][1]
        listed = before[f"list {sorted({'responsible': responsible, 'stage': 'won'}.items())}"]
        assert [(d["deal_id"], d["source"]) for d in listed["deals"]] == [(won, "record")]
        assert {d["deal_id"] for d in before["cli list"]} == {won, lost}
        assert [d["deal_id"] for d in before["cli list lost"]] == [lost]
        until = before[
            f"list {sorted({'responsible': responsible, 'until': '2000-01-01T00:00:00Z'}.items())}"
        ]
        assert until["deals"] == []

        for deal_id in (won, lost):
            await delete_workflow(dev_env.client, deal_id)
        after = await answers(stack, cli_vars, (won, lost), responsible)

        assert after[f"GET {won}"]["source"] == "record"
        assert after[f"GET {lost}/history"]["source"] == "record"
        assert after[f"cli show {won}"]["source"] == "record"
        for key, value in before.items():
            assert without_source(after[key]) == without_source(value), key


async def test_backfill_records_deals_closed_without_a_record(
    dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    """A deal closed before records existed (its record row removed), and a deal whose
    workflow was terminated: `funnel db backfill-closed` records both from their workflows,
    the first exactly as its workflow had."""
    async with api_stack(dev_env, tmp_path) as stack:
        records = ClosedDeals(stack.store)
        responsible = f"bf-{new_deal_id()}"
        won, lost = await won_and_lost(stack, responsible)
        kept = records.get(won)
        assert kept is not None and records.delete(won)
        terminated = (await stack.http.post("/deals", json=deal_body())).json()["deal_id"]
        await stack.wait_for(terminated, lambda d: bool(d["visits"]))
        handle = dev_env.client.get_workflow_handle(workflow_id_for(terminated))
        await handle.terminate(reason="test: stopped by an operator")
        cli_vars = cli_env(dev_env, stack)
        for _ in range(200):  # visibility sees both ends
            done = cli_json(cli_vars, "db", "backfill-closed")
            if won in done["recorded"] + done["already"] and terminated in done["recorded"]:
                break
            await asyncio.sleep(0.1)
        assert won in done["recorded"] and not done["failed"], done
        again = records.get(won)
        assert again is not None
        assert again.state == kept.state and again.robot_runs == kept.robot_runs
        assert again.closed_at == kept.closed_at
        stopped = records.get(terminated)
        assert stopped is not None and stopped.status == "terminated"
        assert stopped.state.stage == "new"

        for deal_id in (won, terminated):
            await delete_workflow(dev_env.client, deal_id)
        r = await stack.http.get(f"/deals/{terminated}")
        assert r.status_code == 200 and r.json()["source"] == "record"
        listed = cli_json(cli_vars, "db", "backfill-closed")
        assert won not in listed["recorded"] and lost in listed["already"]


async def test_a_closed_deal_records_itself_and_old_closed_deals_replay(
    dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    """Deals closed before the record existed replay without its activity (the committed
    histories, e.g. pusk_all_stages_won); a deal closed now runs it once, behind its patch."""
    old = WorkflowHistory.from_json("old", (HISTORIES / "pusk_lost_from_new.json").read_text())
    assert "record_closed_deal" not in str(old.events)
    async with api_stack(dev_env, tmp_path) as stack:
        _, lost = await won_and_lost(stack, f"rp-{new_deal_id()}")
        new = await stack.deals.history(lost)
    scheduled = [
        e.activity_task_scheduled_event_attributes.activity_type.name
        for e in new.events
        if e.HasField("activity_task_scheduled_event_attributes")
    ]
    assert scheduled[-1] == "record_closed_deal" and scheduled.count("record_closed_deal") == 1
    assert PATCH_CLOSED_RECORD in str(new.events)
    replayer = Replayer(workflows=[DealWorkflow], data_converter=DATA_CONVERTER)
    for history in (old, new):
        result = await replayer.replay_workflow(history, raise_on_replay_failure=True)
        assert result.replay_failure is None


@pytest.mark.parametrize("days", [30])
async def test_retention_is_set_and_read(dev_env: WorkflowEnvironment, days: int) -> None:
    client = dev_env.client
    before = await retention(client)
    try:
        await set_retention(client, days)
        assert (await retention(client)).days == days
    finally:
        await set_retention(client, max(before.days, 1))
