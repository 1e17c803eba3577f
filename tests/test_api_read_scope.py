"""Reading by role (issue 17), over real HTTP with personal tokens against the real stack: a
manager reads their own deals and those of their sales team, a head their department's, an
admin and a service token every deal; lists, single deals, tasks and reports agree."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
import pytest_asyncio
from temporalio.testing import WorkflowEnvironment

from funnel.storage.personal_tokens import PersonalTokens
from tests.api_support import TOKENS, Stack, api_stack, deal_body, two_departments

SERVICE = "tok-reader"  # a system reading deals and reports
PEOPLE = ("ivanov", "petrov", "smirnova", "orlova", "boss")


class World:
    def __init__(
        self, stack: Stack, tokens: dict[str, str], deals: dict[str, str], closed: str
    ) -> None:
        self.stack, self.tokens, self.deals, self.closed = stack, tokens, deals, closed

    async def get(self, who: str, path: str, **params: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.tokens[who]}"}
        return await self.stack.http.get(path, params=params, headers=headers)

    async def listed(self, who: str, check: Callable[[set[str]], bool]) -> set[str]:
        """Open deals of ours the person lists, once visibility agrees with ``check``."""
        deadline = time.monotonic() + 15
        while True:
            r = await self.get(who, "/deals", status="open", page_size=500)
            assert r.status_code == 200, r.text
            ours = {d["deal_id"] for d in r.json()["deals"]} & set(self.deals.values())
            if check(ours) or time.monotonic() > deadline:
                return ours
            await asyncio.sleep(0.2)


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def world(
    dev_env: WorkflowEnvironment, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[World]:
    tmp = tmp_path_factory.mktemp("api-read-scope")
    directory = two_departments(tmp)
    tokens = {**TOKENS, SERVICE: ["deals:read", "reports:read"]}
    async with api_stack(dev_env, tmp, directory=directory, api_tokens=tokens) as stack:
        issued = {p: PersonalTokens(stack.store).issue(p, "test", None).token for p in PEOPLE}
        bodies = {
            "mine": deal_body(responsible="ivanov", department_head="smirnova", sales_team=[]),
            "team": deal_body(responsible="petrov", department_head="smirnova",
                              sales_team=["ivanov"]),
            "other": deal_body(responsible="kozlov", department_head="orlova", sales_team=[]),
        }  # fmt: skip
        deals = {name: body["deal_id"] for name, body in bodies.items()}
        for body in bodies.values():
            r = await stack.http.post("/deals", json=body)
            assert r.status_code == 201, r.text
            deal_id = body["deal_id"]
            lead = {"Authorization": f"Bearer {issued[body['department_head']]}"}  # the head
            r = await stack.http.post(f"/deals/{deal_id}/accept", headers=lead)
            assert r.status_code == 200, r.text
            r = await stack.http.post(
                f"/deals/{deal_id}/move", json={"stage": "proposal"}, headers=lead
            )
            assert r.status_code == 200, r.text
        # Closed at once: listed from the store's record, ivanov through its sales team.
        closed = deal_body(responsible="kozlov", department_head="orlova", sales_team=["ivanov"])
        r = await stack.http.post("/deals", json=closed)
        assert r.status_code == 201, r.text
        r = await stack.http.post(
            f"/deals/{closed['deal_id']}/close",
            json={"outcome": "lost", "reason": "went elsewhere"},
            headers={"Authorization": f"Bearer {issued['orlova']}"},
        )
        assert r.status_code == 200, r.text
        yield World(stack, {**issued, "service": SERVICE}, deals, closed["deal_id"])


def _named(world: World, *names: str) -> set[str]:
    return {world.deals[n] for n in names}


@pytest.mark.parametrize(
    ("who", "sees"),
    [
        ("ivanov", ("mine", "team")),  # responsible of one, in the sales team of the other
        ("petrov", ("team",)),
        ("smirnova", ("mine", "team")),  # the head of sales: her department's
        ("orlova", ("other",)),
        ("boss", ("mine", "team", "other")),  # an admin
        ("service", ("mine", "team", "other")),  # a service token
    ],
)
async def test_a_list_shows_the_deals_of_the_scope(
    world: World, who: str, sees: tuple[str, ...]
) -> None:
    want = _named(world, *sees)
    assert await world.listed(who, lambda ours: ours == want) == want


async def test_a_deal_outside_the_scope_is_refused_on_every_read(world: World) -> None:
    other, team = world.deals["other"], world.deals["team"]
    for path in (f"/deals/{other}", f"/deals/{other}/history", f"/deals/{other}/plan",
                 f"/deals/{other}/documents"):  # fmt: skip
        r = await world.get("ivanov", path)
        assert r.status_code == 403, (path, r.text)
        assert "not one of your deals" in r.json()["detail"]
    assert (await world.get("ivanov", f"/deals/{team}")).status_code == 200  # in its team
    assert (await world.get("smirnova", f"/deals/{team}")).status_code == 200
    assert (await world.get("orlova", f"/deals/{team}")).status_code == 403
    assert (await world.get("orlova", f"/deals/{other}")).status_code == 200
    assert (await world.get("boss", f"/deals/{other}")).status_code == 200
    assert (await world.get("service", f"/deals/{other}/plan")).status_code == 200


async def test_tasks_are_those_of_the_deals_in_scope(world: World) -> None:
    everything = (await world.get("service", "/tasks")).json()["tasks"]
    assert {t["deal_id"] for t in everything} >= _named(world, "mine", "team", "other")

    def deals_of(r: httpx.Response) -> set[str]:
        assert r.status_code == 200, r.text
        return {t["deal_id"] for t in r.json()["tasks"]}

    assert world.deals["other"] not in deals_of(await world.get("ivanov", "/tasks"))
    assert world.deals["mine"] in deals_of(await world.get("ivanov", "/tasks"))
    assert deals_of(await world.get("orlova", "/tasks")) == _named(world, "other")
    assert deals_of(await world.get("smirnova", "/tasks")) == _named(world, "mine", "team")
    assert deals_of(await world.get("boss", "/tasks")) >= _named(world, "mine", "team", "other")


async def test_reports_count_the_deals_of_the_scope(world: World) -> None:
    def managers(r: httpx.Response) -> dict[str, int]:
        assert r.status_code == 200, r.text
        return {m["responsible"]: m["deals_started"] for m in r.json()["managers"]}

    assert managers(await world.get("ivanov", "/reports/managers")) == {"ivanov": 1}
    assert managers(await world.get("orlova", "/reports/managers")) == {"kozlov": 2}
    everyone = {"ivanov": 1, "petrov": 1, "kozlov": 2}
    assert managers(await world.get("boss", "/reports/managers")) == everyone
    assert managers(await world.get("service", "/reports/managers")) == everyone
    mine = (await world.get("ivanov", "/reports/funnel")).json()
    assert mine["deals"] == 1
    r = await world.stack.anon.get("/dashboard", params={"token": world.tokens["ivanov"]})
    assert r.status_code == 200, r.text  # the dashboard, on his scope


@pytest.mark.parametrize(
    ("who", "sees"),
    [("ivanov", True), ("petrov", False), ("smirnova", False), ("orlova", True), ("boss", True)],
)
async def test_closed_deals_are_listed_by_the_same_rule(world: World, who: str, sees: bool) -> None:
    r = await world.get(who, "/deals", status="closed", page_size=500)
    assert r.status_code == 200, r.text
    assert (world.closed in {d["deal_id"] for d in r.json()["deals"]}) is sees
    single = await world.get(who, f"/deals/{world.closed}")
    assert single.status_code == (200 if sees else 403), single.text
