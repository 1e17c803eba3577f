"""The /deals endpoints, auth, errors and limits, over real HTTP against the real stack."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from temporalio.client import Client
from temporalio.service import RetryConfig
from temporalio.testing import WorkflowEnvironment

from funnel.client.deals import DealClient
from funnel.runtime.temporal_client import DATA_CONVERTER
from funnel.storage.personal_tokens import PersonalTokens
from funnel.storage.store import Store
from tests.api_support import LEADS, READ, UI_BASE, Stack, api_settings, api_stack, deal_body, serve
from tests.temporal_fixtures import new_deal_id


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def stack(
    dev_env: WorkflowEnvironment, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Stack]:
    async with api_stack(dev_env, tmp_path_factory.mktemp("api-deals")) as s:
        yield s


def as_(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_healthz_answers_without_a_token(stack: Stack) -> None:
    r = await stack.anon.get("/healthz")
    assert r.status_code == 200
    assert r.json() == {"status": "ok", "temporal": "ok", "database": "ok"}


async def test_openapi_and_docs_are_served(stack: Stack) -> None:
    spec = (await stack.anon.get("/openapi.json")).json()
    assert {"/deals", "/deals/{deal_id}/move", "/leads", "/webhooks/payments"} <= set(spec["paths"])
    assert (await stack.anon.get("/docs")).status_code == 200


async def test_tokens_and_scopes(stack: Stack) -> None:
    r = await stack.anon.get("/deals")
    assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Bearer")
    assert (await stack.anon.get("/deals", headers=as_("nope"))).status_code == 401
    r = await stack.anon.post("/deals", json=deal_body(), headers=as_(READ))
    assert r.status_code == 403 and "deals:write" in r.json()["detail"]
    assert (await stack.anon.get("/deals/x", headers=as_(LEADS))).status_code == 403
    assert (await stack.anon.get("/deals", headers=as_(READ))).status_code == 200


async def test_deal_through_the_funnel_over_http(stack: Stack) -> None:
    http = stack.http
    body = deal_body()
    deal_id = body["deal_id"]
    r = await http.post("/deals", json=body)
    assert r.status_code == 201, r.text
    deal = r.json()
    assert deal["stage"] == "new"
    assert deal["ui_link"] == f"{UI_BASE}/namespaces/default/workflows/deal-{deal_id}"
    r = await http.post("/deals", json=body)
    assert r.status_code == 409 and "already exists" in r.json()["detail"]

    # The responsible and the head act with their personal tokens: moves need a person.
    ivanov, smirnova = stack.as_person("ivanov"), stack.as_person("smirnova")
    r = await http.post(f"/deals/{deal_id}/move", json={"stage": "nowhere"}, headers=ivanov)
    assert r.status_code == 409 and "unknown stage 'nowhere'" in r.json()["detail"]
    r = await http.post(f"/deals/{deal_id}/accept", json={"by": "ivanov"}, headers=ivanov)
    assert r.status_code == 200 and r.json()["stage"] == "in_progress"
    r = await http.post(f"/deals/{deal_id}/accept", headers=ivanov)
    assert r.status_code == 409 and "nothing to accept" in r.json()["detail"]

    r = await http.post(f"/deals/{deal_id}/move", json={"stage": "contract"}, headers=ivanov)
    assert r.status_code == 200 and r.json()["stage"] == "contract"
    task = next(t for t in r.json()["tasks"] if t["stage"] == "contract")
    plan = (await http.get(f"/deals/{deal_id}/plan")).json()
    assert plan["stage"] == "contract" and plan["deadline_at"] is not None
    assert [t["task_id"] for t in plan["open_tasks"]] == [task["task_id"]]

    r = await http.post(f"/deals/{deal_id}/tasks/no-such-task/complete", json={})
    assert r.status_code == 404 and task["task_id"] in r.json()["detail"]
    for person in (ivanov, smirnova):  # done by the executor, confirmed by the head
        r = await http.post(f"/deals/{deal_id}/tasks/{task['task_id']}/complete", headers=person)
        assert r.status_code == 202 and r.json()["ui_link"] == deal["ui_link"]
    deal = await stack.in_stage(deal_id, "payment")
    invoice_id = deal["invoices"][0]["invoice_id"]

    r = await http.post(f"/deals/{deal_id}/invoices/{invoice_id}/paid", json={"amount": "250000"})
    assert r.status_code == 202
    await stack.in_stage(deal_id, "final")
    r = await http.post(f"/deals/{deal_id}/run-template", json={"by": "ivanov"}, headers=ivanov)
    assert r.status_code == 200
    tasks = r.json()["tasks"]
    assert [t["task_id"].split("-", 1)[1] for t in tasks] == ["kickoff"]  # the rest wait
    seq = tasks[0]["task_id"].split("-", 1)[0]
    await stack.complete_in_order(deal_id, [f"{seq}-{n}" for n in ("kickoff", "design", "launch")])
    deal = await stack.in_stage(deal_id, "won")
    assert deal["status"] == "won"

    for _ in range(200):  # the won stage's robots may still be running
        history = (await http.get(f"/deals/{deal_id}/history")).json()
        if all(run["result"] != "running" for run in history["robot_runs"]):
            break
        await asyncio.sleep(0.05)
    visits = [(v["stage"], v["cause"]) for v in history["visits"]]
    assert visits[0] == ("new", "start") and visits[-1] == ("won", "tasks_done")
    assert all(v["exited_at"] for v in history["visits"][:-1])
    runs = history["robot_runs"]
    assert runs and all(run["result"] == "completed" for run in runs), runs
    assert any(run["key"] == f"{deal_id}:1:notify_new" for run in runs)
    assert any(run["summary"] == "Tell the responsible a new deal arrived" for run in runs)

    r = await http.post(
        f"/deals/{deal_id}/close", json={"outcome": "lost", "reason": "late"}, headers=ivanov
    )
    assert r.status_code == 409 and "closed" in r.json()["detail"]


async def test_refusals_carry_the_workflows_reason(stack: Stack) -> None:
    deal_id = (await stack.http.post("/deals", json=deal_body())).json()["deal_id"]
    ivanov = stack.as_person("ivanov")
    r = await stack.http.post(f"/deals/{deal_id}/close", json={"outcome": "lost"}, headers=ivanov)
    assert r.status_code == 409 and "needs a reason" in r.json()["detail"]
    r = await stack.http.post(f"/deals/{deal_id}/run-template", headers=ivanov)
    assert r.status_code == 409 and "no task template" in r.json()["detail"]
    r = await stack.http.post(f"/deals/{deal_id}/fields", json={"fields": {"budget": 5}})
    assert r.status_code == 409 and "budget: not a field of pipeline 'pusk'" in r.json()["detail"]
    r = await stack.http.post(
        f"/deals/{deal_id}/fields", json={"fields": {"contract_due": "2026-12-20"}}
    )
    assert r.status_code == 200 and r.json()["deal"]["fields"]["contract_due"] == "2026-12-20"
    r = await stack.http.post(
        f"/deals/{deal_id}/close", json={"outcome": "lost", "reason": "no budget"}, headers=ivanov
    )
    assert r.status_code == 200 and r.json()["status"] == "lost"


async def test_unknown_deal_is_404_everywhere(stack: Stack) -> None:
    missing = new_deal_id("NONE")
    http = stack.http
    for r in await asyncio.gather(
        http.get(f"/deals/{missing}"),
        http.get(f"/deals/{missing}/history"),
        http.get(f"/deals/{missing}/plan"),
        http.post(f"/deals/{missing}/accept"),
        http.post(f"/deals/{missing}/move", json={"stage": "proposal"}),
        http.post(f"/deals/{missing}/invoices/I-1/paid"),
        http.post(f"/deals/{missing}/tasks/T-1/complete"),
        http.post(f"/deals/{missing}/fields", json={"fields": {"a": 1}}),
    ):
        assert r.status_code == 404, (r.request.url, r.text)
        assert missing in r.json()["detail"]


async def test_bad_input_is_422_naming_the_field(stack: Stack) -> None:
    r = await stack.http.post("/deals", json=deal_body(amount="-1", currency="rub"))
    assert r.status_code == 422
    assert {tuple(e["loc"]) for e in r.json()["detail"]} == {
        ("body", "amount"),
        ("body", "currency"),
    }
    assert (await stack.http.get("/deals/bad id!")).status_code == 422
    # A control character cannot be searched for (a NUL broke the server's visibility query
    # and came back as 503): refused up front, naming the parameter.
    r = await stack.http.get("/deals", params={"responsible": "ivanov\x00", "stage": "new"})
    assert r.status_code == 422
    assert [tuple(e["loc"]) for e in r.json()["detail"]] == [("query", "responsible")]


async def test_text_with_a_control_character_is_refused_naming_the_field(stack: Stack) -> None:
    """PostgreSQL refuses NUL in text: a contact name holding one would have made every
    store write of the deal fail. Refused at the door instead, nothing started; a reason
    written over several lines is free text and passes."""
    body = deal_body()
    body["contact"]["name"] = "Anna\x00Petrova"
    r = await stack.http.post("/deals", json=body)
    assert r.status_code == 422
    [error] = r.json()["detail"]
    assert tuple(error["loc"]) == ("body", "contact", "name") and "U+0000" in error["msg"]
    assert (await stack.http.get(f"/deals/{body['deal_id']}")).status_code == 404

    r = await stack.http.post("/deals", json=deal_body())
    deal_id = r.json()["deal_id"]
    ivanov = stack.as_person("ivanov")
    r = await stack.http.post(f"/deals/{deal_id}/move", json={"stage": "proposal\x07"})
    assert r.status_code == 422 and "U+0007" in r.text
    reason = "The client chose\nanother agency"
    close = {"outcome": "lost", "reason": reason}
    r = await stack.http.post(f"/deals/{deal_id}/close", json=close, headers=ivanov)
    assert r.status_code == 200, r.text
    assert r.json()["lost_reason"] == reason


async def test_list_deals_by_search_attributes_in_pages(stack: Stack) -> None:
    responsible = f"lister-{new_deal_id()}"
    ids = set()
    for _ in range(3):
        r = await stack.http.post("/deals", json=deal_body(responsible=responsible))
        ids.add(r.json()["deal_id"])
    seen: set[str] = set()
    for _ in range(200):  # visibility is eventually consistent: wait until it lists all three
        r = await stack.http.get("/deals", params={"responsible": responsible, "page_size": 3})
        if len(r.json()["deals"]) == 3:
            break
        await asyncio.sleep(0.05)
    r = await stack.http.get("/deals", params={"responsible": responsible, "page_size": 2})
    page = r.json()
    assert page["next_page_token"] and all(d["stage"] == "new" for d in page["deals"])
    seen |= {d["deal_id"] for d in page["deals"]}
    assert page["deals"][0]["ui_link"].startswith(UI_BASE)
    params = {"responsible": responsible, "page_size": 2, "page_token": page["next_page_token"]}
    page = (await stack.http.get("/deals", params=params)).json()
    seen |= {d["deal_id"] for d in page["deals"]}
    assert seen == ids
    r = await stack.http.get("/deals", params={"stage": "won", "responsible": responsible})
    assert r.json()["deals"] == []
    r = await stack.http.get("/deals", params={"page_token": "!!!not-a-token"})
    assert r.status_code == 400


async def test_request_body_limit(stack: Stack) -> None:
    big = deal_body(fields={"notes": "x" * (stack.settings.api_max_body_bytes + 1)})
    r = await stack.http.post("/deals", json=big)
    assert r.status_code == 413 and "larger than" in r.json()["detail"]

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted as it streams
        for _ in range(100):
            yield b"x" * 1024

    r = await stack.http.post("/deals", content=chunks())
    assert r.status_code == 413


async def test_temporal_down_is_503(tmp_path: Path, store: Store) -> None:
    # A client to a port where no server listens: every call fails as if Temporal were down.
    dead = await Client.connect(
        "127.0.0.1:1",
        lazy=True,
        data_converter=DATA_CONVERTER,
        retry_config=RetryConfig(max_retries=1, initial_interval_millis=50),
    )
    deals = DealClient(dead, task_queue="nowhere", ui_base=UI_BASE)
    settings = api_settings(tmp_path, api_temporal_timeout=5.0)
    async with (
        serve(settings, deals, store) as base_url,
        httpx.AsyncClient(base_url=base_url, headers=as_("tok-write"), timeout=30) as http,
    ):
        r = await http.get("/healthz")
        assert r.status_code == 503 and "temporal: unreachable" in r.json()["detail"]
        r = await http.post("/deals", json=deal_body())
        assert r.status_code == 503 and r.headers["retry-after"]
        assert "Temporal server is unavailable" in r.json()["detail"]
        r = await http.get("/deals/some-deal")
        assert r.status_code == 503


async def test_edit_and_comment_over_http_as_a_person(stack: Stack) -> None:
    """PATCH /deals/{id} as the responsible's head (a personal token): people checked
    against the directory, the deal checks who asks; comments by the deal's readers."""
    tokens = PersonalTokens(stack.store)
    until = datetime.now(UTC) + timedelta(days=1)
    smirnova = as_(tokens.issue("smirnova", "t", until).token)
    petrov = as_(tokens.issue("petrov", "t", until).token)
    deal_id = (await stack.http.post("/deals", json=deal_body())).json()["deal_id"]
    await stack.in_stage(deal_id, "new")
    r = await stack.anon.patch(
        f"/deals/{deal_id}", json={"responsible": "nobody"}, headers=smirnova
    )
    assert r.status_code == 422 and "nobody" in r.json()["detail"], r.text
    r = await stack.anon.patch(f"/deals/{deal_id}", json={"amount": "1"}, headers=petrov)
    assert r.status_code == 409 and "petrov cannot edit" in r.json()["detail"], r.text
    r = await stack.anon.patch(
        f"/deals/{deal_id}", json={"responsible": "petrov", "amount": "300000"}, headers=smirnova
    )
    assert r.status_code == 200, r.text
    deal = r.json()
    assert (deal["deal"]["responsible"], deal["deal"]["amount"]) == ("petrov", "300000")
    assert deal["title"] == "Romashka LLC / website / 300000 RUB"
    r = await stack.anon.post(f"/deals/{deal_id}/comments", json={"text": "ok"}, headers=petrov)
    assert r.status_code == 200 and r.json()["comments"][0]["by"] == "petrov", r.text
    r = await stack.http.post(f"/deals/{deal_id}/comments", json={"text": "a service"})
    assert r.status_code == 409 and "a person must" in r.json()["detail"], r.text
