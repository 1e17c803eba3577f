"""Several funnels over real HTTP against the real stack (the session's Temporal dev server,
a worker, SQLite): the two shipped pipelines loaded, a deal started in each, lists, reports
and the dashboard by pipeline, an unknown pipeline refused with the known ones named, a lead
form's pipeline, and a deal moved from PUSK's funnel to repeat sales by a person (the
target stage's robots run, the history shows the funnel) and by the repeat-sales funnel's
``move_to_funnel`` robot."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from temporalio.testing import WorkflowEnvironment

from tests.api_support import LEADS, Stack, api_stack, deal_body, two_departments
from tests.temporal_fixtures import new_deal_id

REPEAT = "repeat_sales"


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def stack(
    dev_env: WorkflowEnvironment, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Stack]:
    tmp = tmp_path_factory.mktemp("several-funnels")
    directory = two_departments(tmp)
    async with api_stack(
        dev_env, tmp, directory=directory, lead_pipelines={"repeat-form": REPEAT}
    ) as s:
        yield s


async def _listed(stack: Stack, query: str, deal_id: str, want: bool = True) -> set[str]:
    """The deal ids GET /deals?{query} lists, once visibility agrees with ``want``."""
    for _ in range(100):
        r = await stack.http.get(f"/deals?{query}&page_size=500")
        assert r.status_code == 200, r.text
        ids = {d["deal_id"] for d in r.json()["deals"]}
        if (deal_id in ids) == want:
            return ids
        await asyncio.sleep(0.1)
    return ids


async def test_both_funnels_are_loaded_and_pusk_is_the_default(stack: Stack) -> None:
    r = await stack.http.get("/pipelines")
    assert r.status_code == 200, r.text
    loaded = {p["id"]: p for p in r.json()}
    assert list(loaded) == ["pusk", REPEAT]  # file name order: pusk.yaml, repeat-sales.yaml
    assert loaded["pusk"]["default"] and not loaded[REPEAT]["default"]
    assert "proposal" in loaded["pusk"]["stages"] and "proposal" not in loaded[REPEAT]["stages"]


async def test_a_deal_starts_in_each_funnel_and_lists_filter_by_pipeline(stack: Stack) -> None:
    plain, repeat = new_deal_id("FP"), new_deal_id("FR")
    r = await stack.http.post("/deals", json=deal_body(plain))
    assert r.status_code == 201, r.text
    assert (r.json()["pipeline_id"], r.json()["stage"]) == ("pusk", "new")
    r = await stack.http.post("/deals", json=deal_body(repeat, pipeline=REPEAT))
    assert r.status_code == 201, r.text
    assert (r.json()["pipeline_id"], r.json()["stage"]) == (REPEAT, "new")
    deal = await stack.wait_for(repeat, lambda d: len(d["robot_runs"]) == 3)
    assert deal["visits"][0]["pipeline_id"] == REPEAT
    # The repeat-sales funnel's own robots ran: its title and its notice.
    assert "/ repeat: website /" in deal["title"]
    assert any("orders again" in n.message for n in stack.store.inbox("ivanov"))

    ids = await _listed(stack, f"pipeline={REPEAT}", repeat)
    assert repeat in ids and plain not in ids
    ids = await _listed(stack, "pipeline=pusk", plain)
    assert plain in ids and repeat not in ids
    listed = (await stack.http.get(f"/deals?pipeline={REPEAT}&page_size=500")).json()["deals"]
    assert {d["pipeline"] for d in listed} == {REPEAT}

    # Closed deals are listed by pipeline from their records.
    person = stack.as_person("ivanov")
    close = {"outcome": "lost", "reason": "no budget"}
    r = await stack.http.post(f"/deals/{repeat}/close", json=close, headers=person)
    assert r.status_code == 200, r.text
    closed = await _listed(stack, f"pipeline={REPEAT}&status=closed", repeat)
    assert repeat in closed
    assert plain not in await _listed(stack, "pipeline=pusk&status=closed", plain, want=False)


async def test_an_unknown_pipeline_is_refused_with_the_known_ones(stack: Stack) -> None:
    deal_id = new_deal_id("FU")
    r = await stack.http.post("/deals", json=deal_body(deal_id, pipeline="partners"))
    assert r.status_code == 422, r.text
    assert r.json()["detail"] == (
        "unknown pipeline 'partners'; the pipelines are: pusk, repeat_sales"
    )
    assert (await stack.http.get(f"/deals/{deal_id}")).status_code == 404
    r = await stack.http.get("/reports/funnel?pipeline=partners", headers=stack.as_person("boss"))
    assert r.status_code == 422 and "pusk, repeat_sales" in r.json()["detail"]


async def test_a_lead_form_starts_deals_in_its_pipeline(stack: Stack) -> None:
    headers = {"Authorization": f"Bearer {LEADS}"}
    lead = {"name": "Olga", "email": f"{new_deal_id('o')}@example.com", "source": "repeat-form"}
    r = await stack.http.post("/leads", json=lead, headers=headers)
    assert r.status_code == 201, r.text
    assert r.json()["deal"]["pipeline_id"] == REPEAT
    other = {**lead, "email": f"{new_deal_id('o')}@example.com", "source": "landing"}
    r = await stack.http.post("/leads", json=other, headers=headers)
    assert r.status_code == 201, r.text
    assert r.json()["deal"]["pipeline_id"] == "pusk"


async def _moved_by_ivanov(stack: Stack, deal_id: str) -> dict[str, Any]:
    body = {"pipeline": REPEAT, "stage": "new", "reason": "an existing client orders again"}
    r = await stack.http.post(
        f"/deals/{deal_id}/move-to-funnel", json=body, headers=stack.as_person("ivanov")
    )
    assert r.status_code == 200, r.text
    moved: dict[str, Any] = r.json()
    return moved


async def test_a_person_moves_a_deal_to_repeat_sales(stack: Stack) -> None:
    deal_id = new_deal_id("FM")
    assert (await stack.http.post("/deals", json=deal_body(deal_id))).status_code == 201
    person = stack.as_person("ivanov")
    r = await stack.http.post(f"/deals/{deal_id}/accept", headers=person)
    assert r.status_code == 200, r.text
    r = await stack.http.post(f"/deals/{deal_id}/move", json={"stage": "proposal"}, headers=person)
    assert r.status_code == 200, r.text
    task = next(t for t in r.json()["tasks"] if t["stage"] == "proposal")

    # Who may: as for a move. A manager of another department and a service token may not.
    body = {"pipeline": REPEAT, "stage": "new"}
    path = f"/deals/{deal_id}/move-to-funnel"
    r = await stack.http.post(path, json=body, headers=stack.as_person("kozlov"))
    assert r.status_code == 409 and "kozlov cannot move to funnel 'repeat_sales'" in r.text
    r = await stack.http.post(path, json=body)
    assert r.status_code == 409 and "a person must" in r.text
    # A stage the other funnel does not have, or its own funnel: refused, the reason named.
    r = await stack.http.post(path, json={**body, "stage": "proposal"}, headers=person)
    assert r.status_code == 409 and "'proposal' is not a stage of pipeline 'repeat_sales'" in r.text
    r = await stack.http.post(path, json={**body, "pipeline": "pusk"}, headers=person)
    assert r.status_code == 409 and "runs in pipeline 'pusk' already" in r.text
    r = await stack.http.post(path, json={**body, "pipeline": "partners"}, headers=person)
    assert r.status_code == 422 and "the pipelines are: pusk, repeat_sales" in r.text

    deal = await _moved_by_ivanov(stack, deal_id)
    assert (deal["pipeline_id"], deal["stage"], deal["status"]) == (REPEAT, "new", "open")
    # The target stage's robots ran: the repeat-order title, the notice; the route robot's
    # condition did not hold. The proposal task (on_leave: compensate) was cancelled.
    assert "/ repeat: website /" in deal["title"]
    runs = {r["robot_id"]: r["outcome"] for r in deal["robot_runs"] if r["seq"] == 4}
    assert runs == {
        "route_new_project": "skipped_condition",
        "standard_title": "done",
        "notify_new": "done",
    }
    assert next(t for t in deal["tasks"] if t["task_id"] == task["task_id"])["status"] == (
        "cancelled"
    )
    assert [w["stage"] for w in deal["waiting"]] == ["new"]  # repeat sales' acceptance deadline

    # The history shows the funnel of every visit and who moved it, how and why.
    history = (await stack.http.get(f"/deals/{deal_id}/history")).json()
    visits = [(v["pipeline_id"], v["stage"], v["cause"]) for v in history["visits"]]
    assert visits == [
        ("pusk", "new", "start"),
        ("pusk", "in_progress", "accepted"),
        ("pusk", "proposal", "moved"),
        (REPEAT, "new", "moved_to_funnel"),
    ]
    assert (history["visits"][-1]["entered_by"], history["visits"][-1]["via"]) == ("ivanov", "api")
    rows = [
        (e.kind, e.pipeline_id, e.stage, e.details.get("reason"))
        for e in stack.store.report_events(deal_id=deal_id)
        if e.kind in ("stage_exited", "stage_entered")
    ][-2:]
    assert rows == [
        ("stage_exited", "pusk", "proposal", "an existing client orders again"),
        ("stage_entered", REPEAT, "new", "an existing client orders again"),
    ]
    record = stack.store.get_deal(deal_id)
    assert record is not None and record.pipeline_id == REPEAT

    # From now on it moves in repeat sales, and lists and reports find it there.
    r = await stack.http.post(f"/deals/{deal_id}/accept", headers=person)
    assert r.status_code == 200 and r.json()["stage"] == "order", r.text
    assert deal_id in await _listed(stack, f"pipeline={REPEAT}", deal_id)
    assert deal_id not in await _listed(stack, "pipeline=pusk", deal_id, want=False)
    boss = stack.as_person("boss")
    report = (await stack.http.get(f"/reports/funnel?pipeline={REPEAT}", headers=boss)).json()
    entered = {s["stage"]: s["entered"] for s in report["stages"]}
    assert entered["new"] >= 1 and entered["order"] >= 1
    pusk = (await stack.http.get("/reports/funnel?pipeline=pusk", headers=boss)).json()
    proposal = next(s for s in pusk["stages"] if s["stage"] == "proposal")
    assert proposal["entered"] >= 1 and proposal["open_now"] == 0


async def test_the_robot_sends_a_new_project_to_the_main_funnel(stack: Stack) -> None:
    deal_id = new_deal_id("FB")
    body = deal_body(deal_id, pipeline=REPEAT, fields={"new_project": True})
    assert (await stack.http.post("/deals", json=body)).status_code == 201
    deal = await stack.wait_for(
        deal_id, lambda d: d["pipeline_id"] == "pusk" and len(d["robot_runs"]) == 6
    )
    assert deal["stage"] == "proposal"
    # PUSK's proposal robots ran: the task and the eye-catching title.
    assert [t["stage"] for t in deal["tasks"]] == ["proposal"]
    assert deal["title"].startswith("!!! PROPOSAL:")
    runs = {(r["seq"], r["robot_id"]): r["outcome"] for r in deal["robot_runs"]}
    # In repeat sales the robot moved it; the robots chained below it did not run.
    assert runs[(1, "route_new_project")] == "done"
    assert runs[(1, "standard_title")] == runs[(1, "notify_new")] == "cancelled"
    assert not any(
        n.deal_id == deal_id for n in stack.store.inbox("ivanov") if "orders" in n.message
    )
    visit = deal["visits"][-1]
    assert (visit["pipeline_id"], visit["cause"], visit["via"], visit["entered_by"]) == (
        "pusk",
        "moved_to_funnel",
        "trigger",
        None,
    )
    moved = [e for e in stack.store.report_events(deal_id=deal_id) if e.kind == "stage_entered"][-1]
    assert moved.details["pipeline_from"] == REPEAT
    assert moved.details["reason"].startswith("A new project needs a commercial proposal")


async def test_the_dashboard_shows_one_funnel_and_links_the_other(stack: Stack) -> None:
    r = await stack.http.get(f"/dashboard?pipeline={REPEAT}", headers=stack.as_person("boss"))
    assert r.status_code == 200, r.text
    assert "<h1>Funnel repeat_sales</h1>" in r.text
    assert 'data-pipeline="pusk"' in r.text and "pipeline=pusk" in r.text
    assert 'data-pipeline="repeat_sales" class="current"' in r.text
