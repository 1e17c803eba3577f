"""Who may do what, over real HTTP against the real stack, signed in as different people of
the directory (personal tokens) and as a service token: every rule of the README's "Who may
do what", each refusal a 409 naming who and why with nothing changed in the deal or the
store, and what a service token does recorded as a service."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from temporalio.testing import WorkflowEnvironment

from api.auth import service_id
from tests.api_support import WRITE, Stack, api_stack, deal_body, signed, two_departments

SERVICE = service_id(WRITE)  # how the deal names the stack's service token


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def stack(
    dev_env: WorkflowEnvironment, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Stack]:
    tmp = tmp_path_factory.mktemp("api-who-may")
    directory = two_departments(tmp)
    async with api_stack(dev_env, tmp, directory=directory) as s:
        yield s


class Deal:
    """One deal (responsible ivanov, head smirnova, sales team petrov) driven as people."""

    def __init__(self, stack: Stack, deal_id: str) -> None:
        self.stack, self.id = stack, deal_id

    async def post(self, who: str, path: str, body: dict[str, Any] | None = None) -> Any:
        headers = {} if who == "service" else self.stack.as_person(who)
        return await self.stack.http.post(f"/deals/{self.id}{path}", json=body, headers=headers)

    async def ok(self, who: str, path: str, body: dict[str, Any] | None = None) -> Any:
        r = await self.post(who, path, body)
        assert r.status_code in (200, 202), r.text
        return r.json()

    async def snapshot(self) -> tuple[Any, ...]:
        """What a refused request must leave as it was: the deal as the API shows it and
        the rows the store keeps of its moves, acceptance and tasks."""
        deal = (await self.stack.http.get(f"/deals/{self.id}")).json()
        store = self.stack.store
        rows = [
            (e.kind, e.stage, e.actor)
            for e in store.report_events(deal_id=self.id)
            if e.kind in ("stage_entered", "stage_exited", "deal_accepted", "task_returned")
        ]
        tasks = [(t.task_id, t.status, t.responsible) for t in store.tasks(deal_id=self.id)]
        keep = ("stage", "status", "visits", "tasks", "accepted_at", "lost_reason")
        return tuple(deal[k] for k in keep), rows, tasks

    async def refused(self, who: str, path: str, body: dict[str, Any] | None, *reason: str) -> None:
        before = await self.snapshot()
        r = await self.post(who, path, body)
        assert r.status_code == 409, (who, path, r.text)
        for part in reason:
            assert part in r.json()["detail"], (who, path, r.json()["detail"])
        assert await self.snapshot() == before, (who, path)

    async def task(self, suffix: str) -> dict[str, Any]:
        def has(d: dict[str, Any]) -> bool:
            return any(t["task_id"].endswith(suffix) for t in d["tasks"])

        deal = await self.stack.wait_for(self.id, has)
        task: dict[str, Any] = next(t for t in deal["tasks"] if t["task_id"].endswith(suffix))
        return task


async def new_deal(stack: Stack) -> Deal:
    r = await stack.http.post("/deals", json=deal_body())  # a service may start a deal
    assert r.status_code == 201, r.text
    deal = Deal(stack, r.json()["deal_id"])
    await stack.wait_for(deal.id, lambda d: bool(d["visits"]))
    return deal


async def test_accept_by_the_responsible_their_head_or_an_admin(stack: Stack) -> None:
    deal = await new_deal(stack)
    d = deal.id
    only = "only its responsible ivanov, their head smirnova or an admin can"
    await deal.refused("petrov", "/accept", {}, f"petrov cannot accept deal {d}: {only}")
    await deal.refused("kozlov", "/accept", {}, f"kozlov cannot accept deal {d}")
    await deal.refused("orlova", "/accept", {}, f"orlova cannot accept deal {d}")  # another head
    await deal.refused(
        "service", "/accept", {}, f"service {SERVICE} cannot accept", "a person must"
    )
    await deal.refused(
        "service", "/accept", {"by": "ivanov"},
        f"service {SERVICE} cannot accept deal {d} as ivanov: a service token never acts as a"
        " person",
    )  # fmt: skip
    await deal.refused(
        "smirnova", "/accept", {"by": "ivanov"}, "by ivanov differs from the caller smirnova"
    )
    accepted = await deal.ok("ivanov", "/accept", {"by": "ivanov"})
    visit = accepted["visits"][-1]
    assert (visit["stage"], visit["entered_by"], visit["via"]) == ("in_progress", "ivanov", "api")
    assert visit["entered_by_kind"] == "person"
    [row] = [e for e in stack.store.report_events(deal_id=d) if e.kind == "deal_accepted"]
    assert (row.details["by"], row.details["actor_kind"]) == ("ivanov", "person")
    for who in ("smirnova", "boss"):  # the head, an admin
        other = await new_deal(stack)
        assert (await other.ok(who, "/accept"))["visits"][-1]["entered_by"] == who


async def test_moves_by_a_lead_and_back_past_the_contract_or_lost_with_a_reason(
    stack: Stack,
) -> None:
    deal = await new_deal(stack)
    await deal.ok("ivanov", "/accept")
    for who in ("petrov", "kozlov", "orlova"):
        await deal.refused(who, "/move", {"stage": "proposal"}, f"{who} cannot move to 'proposal'")
    await deal.refused("service", "/move", {"stage": "proposal"}, "a person must")
    await deal.ok("ivanov", "/move", {"stage": "proposal"})
    await deal.task("proposal_task")
    await deal.ok("smirnova", "/move", {"stage": "contract"})
    await deal.task("signed_contract_task")
    back = "back from 'contract' to 'proposal', before 'contract': that needs a reason"
    for who in ("ivanov", "smirnova", "boss"):  # the rule holds for everyone
        await deal.refused(who, "/move", {"stage": "proposal"}, back)
    await deal.refused("ivanov", "/move", {"stage": "lost"}, "needs a reason")
    await deal.refused("ivanov", "/close", {"outcome": "lost"}, "needs a reason")
    await deal.refused(
        "petrov", "/close", {"outcome": "lost", "reason": "x"}, "petrov cannot close (lost)"
    )
    moved = await deal.ok("boss", "/move", {"stage": "proposal", "reason": "client asked"})
    assert moved["visits"][-1]["entered_by"] == "boss"
    closed = await deal.ok("smirnova", "/close", {"outcome": "lost", "reason": "went away"})
    assert (closed["status"], closed["lost_reason"]) == ("lost", "went away")
    lost = [e for e in stack.store.report_events(deal_id=deal.id) if e.kind == "stage_entered"]
    assert (lost[-1].stage, lost[-1].actor, lost[-1].details["actor_kind"]) == (
        "lost",
        "smirnova",
        "person",
    )


async def test_complete_by_the_executor_or_a_co_executor_confirm_and_return_by_the_creator(
    stack: Stack,
) -> None:
    deal = await new_deal(stack)
    await deal.ok("ivanov", "/move", {"stage": "proposal"})
    proposal = (await deal.task("proposal_task"))["task_id"]  # ivanov's, petrov co-executes
    complete = f"/tasks/{proposal}/complete"
    await deal.refused(
        "kozlov", complete, {},
        f"kozlov cannot complete task {proposal}: only its executor ivanov, co-executors"
        " petrov or its creator ivanov can",
    )  # fmt: skip
    await deal.refused("smirnova", complete, {}, "smirnova cannot complete task")  # the head
    await deal.refused(
        "service", complete, {"by": "ivanov"},
        f"service {SERVICE} cannot complete task {proposal} as ivanov",
    )  # fmt: skip
    await deal.ok("petrov", complete)
    done = await deal.stack.wait_for(
        deal.id, lambda d: d["tasks"][0]["status"] == "done", timeout=15
    )
    [event] = done["tasks"][0]["events"]
    assert (event["by"], event["via"], event["by_kind"]) == ("petrov", "api", "person")

    await deal.ok("ivanov", "/move", {"stage": "contract"})
    signed_task = (await deal.task("signed_contract_task"))["task_id"]  # by the head smirnova
    path = f"/tasks/{signed_task}"
    await deal.ok("ivanov", f"{path}/complete")
    await deal.stack.wait_for(
        deal.id, lambda d: any(t["status"] == "awaiting_confirmation" for t in d["tasks"])
    )
    for who in ("ivanov", "petrov", "boss", "orlova"):
        await deal.refused(
            who, f"{path}/confirm", {},
            f"{who} cannot confirm task {signed_task}: only its creator smirnova can",
        )  # fmt: skip
        await deal.refused(who, f"{path}/return", {"comment": "no"}, f"{who} cannot return task")
    await deal.refused("service", f"{path}/confirm", {}, f"service {SERVICE} cannot confirm")
    await deal.refused("service", f"{path}/confirm", {"by": "smirnova"}, "as smirnova")
    returned = await deal.ok("smirnova", f"{path}/return", {"comment": "No stamp on page 2"})
    assert returned["status"] == "open"
    # The service token reports the work done as itself: never the creator's completion,
    # so the task waits for her confirmation again.
    await deal.ok("service", f"{path}/complete")
    task = await deal.stack.wait_for(
        deal.id,
        lambda d: any(t["status"] == "awaiting_confirmation" for t in d["tasks"]),
    )
    events = next(t for t in task["tasks"] if t["task_id"] == signed_task)["events"]
    assert (events[-1]["by"], events[-1]["via"], events[-1]["by_kind"]) == (
        SERVICE,
        "api",
        "service",
    )
    confirmed = await deal.ok("smirnova", f"{path}/confirm")
    assert confirmed["status"] == "done"
    await deal.stack.in_stage(deal.id, "payment")


async def test_the_final_stage_task_set_by_the_responsible_or_head(stack: Stack) -> None:
    deal = await new_deal(stack)
    await deal.ok("ivanov", "/move", {"stage": "final"})
    for who in ("petrov", "kozlov", "orlova"):
        await deal.refused(who, "/run-template", {}, f"{who} cannot run the task set of deal")
    await deal.refused("service", "/run-template", {}, "a person must")
    await deal.refused("service", "/run-template", {"by": "smirnova"}, "as smirnova")
    tasks = (await deal.ok("smirnova", "/run-template"))["tasks"]
    assert [t["task_id"].split("-", 1)[1] for t in tasks] == ["kickoff"]


async def test_what_a_service_may_do_is_recorded_as_the_service(stack: Stack) -> None:
    """Starting a deal, fields (its `by` ignored) and payments (the webhook, a service
    token): the deal keeps who started it and who reported each payment."""
    deal = await new_deal(stack)
    first = (await stack.http.get(f"/deals/{deal.id}")).json()["visits"][0]
    assert (first["entered_by"], first["via"], first["entered_by_kind"]) == (
        SERVICE,
        "api",
        "service",
    )
    [entered] = [e for e in stack.store.report_events(deal_id=deal.id) if e.kind == "stage_entered"]
    assert (entered.actor, entered.details["actor_kind"]) == (SERVICE, "service")
    await deal.ok("ivanov", "/move", {"stage": "contract"})
    changed = await deal.ok("service", "/fields", {"fields": {"contract_due": "2030-01-10"}})
    assert changed["deal"]["fields"]["contract_due"] == "2030-01-10"
    changed = await deal.ok(
        "service", "/fields", {"fields": {"contract_due": "2030-01-11"}, "by": "ivanov"}
    )  # ignored: fields record no one, and the service does not become ivanov
    assert changed["deal"]["fields"]["contract_due"] == "2030-01-11"
    invoice = (await deal.stack.wait_for(deal.id, lambda d: bool(d["invoices"])))["invoices"][0]
    await deal.ok("service", f"/invoices/{invoice['invoice_id']}/paid", {"amount": "100000"})
    payment = {"payment_id": f"{deal.id}-p2", "invoice_id": invoice["invoice_id"]}
    body, headers = signed({**payment, "deal_id": deal.id})
    r = await stack.anon.post("/webhooks/payments", content=body, headers=headers)
    assert r.status_code == 200, r.text
    paid = await stack.wait_for(deal.id, lambda d: len(d["invoices"][0]["payments"]) == 2)
    who = [(p["by"], p["via"], p["by_kind"]) for p in paid["invoices"][0]["payments"]]
    assert who == [(SERVICE, "api", "service"), ("payment-webhook", "webhook", "service")]
