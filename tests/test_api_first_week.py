"""Payments add up: an invoice is paid when the payments applied to it reach its amount,
each payment is applied once by its id, a partial payment tells the responsible and does
not move the deal, an overpayment is recorded and reported, and a payment that cannot be
the deal's (another deal's invoice, an invoice never issued, another currency) changes
nothing. Over real HTTP, on the real dev server."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import httpx
import pytest
import pytest_asyncio
from temporalio.testing import WorkflowEnvironment

from funnel.domain.models import InvoicePaid
from tests.api_support import Stack, api_stack, deal_body, signed
from tests.helpers import eventually, messages_to


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def stack(
    dev_env: WorkflowEnvironment, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Stack]:
    async with api_stack(dev_env, tmp_path_factory.mktemp("payments")) as s:
        yield s


async def _deal(stack: Stack, stage: str = "payment", amount: str = "100000") -> tuple[str, str]:
    """A deal moved through `contract` (which issues its invoice) to ``stage``."""
    r = await stack.http.post("/deals", json=deal_body(amount=amount))
    deal_id = r.json()["deal_id"]
    r = await _move(stack, deal_id, "contract")
    invoice_id: str = r.json()["invoices"][0]["invoice_id"]
    if stage != "contract":
        r = await _move(stack, deal_id, stage)
        assert r.json()["stage"] == stage, r.text
    return deal_id, invoice_id


async def _move(stack: Stack, deal_id: str, stage: str) -> httpx.Response:
    """The responsible moves the deal (a move needs a person: his personal token)."""
    json = {"stage": stage}
    return await stack.http.post(
        f"/deals/{deal_id}/move", json=json, headers=stack.as_person("ivanov")
    )


async def _pay(stack: Stack, deal_id: str, invoice_id: str, **body: Any) -> int:
    r = await stack.http.post(f"/deals/{deal_id}/invoices/{invoice_id}/paid", json=body)
    return r.status_code


def _invoice(deal: dict[str, Any], invoice_id: str) -> dict[str, Any]:
    return next(i for i in deal["invoices"] if i["invoice_id"] == invoice_id)


async def test_partial_payments_add_up_before_the_deal_moves_on(stack: Stack) -> None:
    deal_id, invoice_id = await _deal(stack)
    assert await _pay(stack, deal_id, invoice_id, amount="40000", payment_id="p1") == 202
    deal = await stack.wait_for(deal_id, lambda d: _invoice(d, invoice_id)["payments"])
    invoice = _invoice(deal, invoice_id)
    assert deal["stage"] == "payment" and invoice["paid_at"] is None
    assert Decimal(invoice["paid_amount"]) == 40000 and Decimal(invoice["outstanding"]) == 60000

    def told() -> bool:
        messages = messages_to(stack.store, "ivanov", deal_id)
        return any("40,000 of 100,000 RUB paid" in m for m in messages)

    await eventually(stack.deals, deal_id, lambda _: told())
    # The same payment again (a retry of the payment system) is applied once.
    assert await _pay(stack, deal_id, invoice_id, amount="40000", payment_id="p1") == 202
    assert await _pay(stack, deal_id, invoice_id, amount="60000", payment_id="p2") == 202
    deal = await stack.in_stage(deal_id, "final")
    invoice = _invoice(deal, invoice_id)
    assert [p["payment_id"] for p in invoice["payments"]] == ["p1", "p2"]
    assert Decimal(invoice["paid_amount"]) == 100000 and Decimal(invoice["outstanding"]) == 0

    def stored_paid() -> bool:  # the store's copy follows through the deal's activity
        [stored] = stack.store.invoices(deal_id)
        return (stored.status, stored.paid_amount) == ("paid", Decimal(100000))

    await eventually(stack.deals, deal_id, lambda _: stored_paid())
    assert [p["payment_id"] for p in stack.store.payments(deal_id)] == ["p1", "p2"]


async def test_an_overpayment_is_recorded_and_reported(stack: Stack) -> None:
    deal_id, invoice_id = await _deal(stack)
    assert await _pay(stack, deal_id, invoice_id, amount="120000", payment_id="big") == 202
    deal = await stack.in_stage(deal_id, "final")
    assert Decimal(_invoice(deal, invoice_id)["paid_amount"]) == 120000

    def reported() -> bool:
        kinds = [e.kind for e in stack.store.report_events(deal_id=deal_id)]
        return "payment_overpaid" in kinds

    await eventually(stack.deals, deal_id, lambda _: reported())
    assert any("overpaid: 120,000" in m for m in messages_to(stack.store, "ivanov", deal_id))


async def test_an_early_payment_waits_for_the_payment_stage(stack: Stack) -> None:
    deal_id, invoice_id = await _deal(stack, "contract")
    assert await _pay(stack, deal_id, invoice_id, payment_id="early") == 202  # in full
    deal = await stack.wait_for(deal_id, lambda d: _invoice(d, invoice_id)["paid_at"])
    assert deal["stage"] == "contract"
    r = await _move(stack, deal_id, "payment")
    assert r.status_code == 200
    await stack.in_stage(deal_id, "final")


async def test_a_payment_that_cannot_be_the_deals_changes_nothing(stack: Stack) -> None:
    deal_a, invoice_a = await _deal(stack)
    deal_b, invoice_b = await _deal(stack)
    # Deal B named with deal A's invoice: the webhook refuses it, nothing reaches B.
    payment = {"payment_id": f"x-{uuid.uuid4().hex[:6]}", "invoice_id": invoice_a}
    body, headers = signed({**payment, "deal_id": deal_b})
    r = await stack.anon.post("/webhooks/payments", content=body, headers=headers)
    assert r.status_code == 409 and f"belongs to deal {deal_a}" in r.json()["detail"]
    assert await _pay(stack, deal_b, invoice_a) == 409
    assert await _pay(stack, deal_b, "NEVER-1") == 404
    assert await _pay(stack, deal_b, invoice_b, currency="USD") == 422
    deal = (await stack.http.get(f"/deals/{deal_b}")).json()
    assert deal["stage"] == "payment" and not _invoice(deal, invoice_b)["payments"]
    assert [i["invoice_id"] for i in deal["invoices"]] == [invoice_b]

    # Straight to Temporal (no API in between): the deal ignores an invoice it never issued
    # and reports it, instead of inventing the invoice and moving on.
    await stack.deals.invoice_paid(deal_b, InvoicePaid(invoice_id=invoice_a, payment_id="q"))

    def unmatched_reported() -> bool:
        kinds = [e.kind for e in stack.store.report_events(deal_id=deal_b)]
        return "payment_unmatched" in kinds

    state = await eventually(stack.deals, deal_b, lambda _: unmatched_reported())
    assert state.stage == "payment" and [i.invoice_id for i in state.invoices] == [invoice_b]


async def test_a_prepayment_is_kept_for_an_invoice_not_issued_yet(stack: Stack) -> None:
    r = await stack.http.post("/deals", json=deal_body(amount="50000"))
    deal_id = r.json()["deal_id"]
    invoice_id = f"{deal_id}-3"  # what the contract robot will issue on the third entry
    assert await _pay(stack, deal_id, invoice_id, amount="50000", prepayment=True) == 202
    await stack.wait_for(deal_id, lambda d: bool(d["invoices"]))
    r = await _move(stack, deal_id, "contract")
    r = await _move(stack, deal_id, "payment")
    await stack.in_stage(deal_id, "final")


async def test_the_plan_lists_open_tasks_and_collectable_invoices_only(stack: Stack) -> None:
    r = await stack.http.post("/deals", json=deal_body())
    deal_id = r.json()["deal_id"]
    await _move(stack, deal_id, "proposal")
    r = await _move(stack, deal_id, "negotiation")
    [cancelled] = [t for t in r.json()["tasks"] if t["status"] == "cancelled"]
    plan = (await stack.http.get(f"/deals/{deal_id}/plan")).json()
    assert cancelled["task_id"] not in [t["task_id"] for t in plan["open_tasks"]]


async def test_what_waits_for_a_persons_confirmation_and_a_return_with_its_reason(
    stack: Stack,
) -> None:
    deal_id, _ = await _deal(stack, "contract")
    deal = (await stack.http.get(f"/deals/{deal_id}")).json()
    [task] = [t for t in deal["tasks"] if t["task_id"].endswith("signed_contract_task")]
    legacy_id = task["task_id"].replace("-", ":", 1)  # as `funnel task list` once printed it
    complete = f"/deals/{deal_id}/tasks/{legacy_id}/complete"
    r = await stack.http.post(complete, json={"by": "ivanov"}, headers=stack.as_person("ivanov"))
    assert r.status_code == 202, r.text
    await stack.wait_for(
        deal_id,
        lambda d: any(t["status"] == "awaiting_confirmation" for t in d["tasks"]),
    )
    # The task list reads the store, which the deal's activity updates just after its state.
    await _until_listed(stack, {"to_confirm_by": "smirnova", "deal_id": deal_id}, task["task_id"])
    path = f"/deals/{deal_id}/tasks/{task['task_id']}"
    smirnova = stack.as_person("smirnova")
    r = await stack.http.post(f"{path}/return", json={"by": "smirnova"}, headers=smirnova)
    assert r.status_code == 422 and "comment" in r.json()["detail"]
    r = await stack.http.post(
        f"{path}/confirm", json={"by": "ivanov"}, headers=stack.as_person("ivanov")
    )
    assert r.status_code == 409 and "only its creator smirnova" in r.json()["detail"]
    r = await stack.http.post(
        f"{path}/return", json={"by": "smirnova", "comment": "No stamp on page 2"}, headers=smirnova
    )
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "open" and r.json()["comments"][0]["text"] == "No stamp on page 2"


async def _until_listed(stack: Stack, params: dict[str, str], task_id: str) -> None:
    deadline = asyncio.get_running_loop().time() + 10
    while True:
        r = await stack.http.get("/tasks", params=params)
        listed = [t["task_id"] for t in r.json()["tasks"]]
        if listed == [task_id]:
            return
        assert asyncio.get_running_loop().time() < deadline, f"/tasks {params}: {listed}"
        await asyncio.sleep(0.05)
