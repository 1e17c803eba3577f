"""Web-form leads and the signed payment webhook over real HTTP, and a deal driven from the
form to won by HTTP alone."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from fastapi import HTTPException
from temporalio.testing import WorkflowEnvironment

from api.intake import lead_people
from funnel.runtime.settings import DEFAULT_DIRECTORY, Settings
from funnel.storage.directory import Directory
from funnel.storage.intake import IntakeStore
from funnel.storage.store import Store
from tests.api_support import LEADS, READ, Stack, api_stack, deal_body, signed
from tests.db_fixtures import migrate


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def stack(
    dev_env: WorkflowEnvironment, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Stack]:
    # Leads go to ivanov, headed by smirnova: people of the directory who can take them on.
    people = {"lead_responsible": "ivanov", "lead_department_head": "smirnova"}
    async with api_stack(dev_env, tmp_path_factory.mktemp("api-intake"), **people) as s:
        yield s


def unique() -> str:
    return uuid.uuid4().hex[:8]


def lead(**changes: Any) -> dict[str, Any]:
    n = unique()
    body = {
        "name": "Oleg Sidorov",
        "email": f"oleg.{n}@vector.example",
        "phone": f"+7 (901) {n[:3]}-{n[3:6]}",
        "company": "Vector",
        "comment": "Need a website by spring",
        "source": "landing",
        **changes,
    }
    return {k: v for k, v in body.items() if v is not None}


async def deal_in_payment(stack: Stack) -> tuple[str, str]:
    deal_id = (await stack.http.post("/deals", json=deal_body())).json()["deal_id"]
    return deal_id, await to_payment(stack, deal_id)


async def to_payment(stack: Stack, deal_id: str) -> str:
    """Through the contract stage (its robot issues the invoice) to payment; the invoice id."""
    head = stack.as_person("smirnova")  # the head of every deal here: moves need a person
    r = await stack.http.post(f"/deals/{deal_id}/move", json={"stage": "contract"}, headers=head)
    invoice_id: str = r.json()["invoices"][0]["invoice_id"]
    r = await stack.http.post(f"/deals/{deal_id}/move", json={"stage": "payment"}, headers=head)
    assert r.json()["stage"] == "payment"
    return invoice_id


async def test_form_and_payment_system_drive_a_deal_to_won(stack: Stack) -> None:
    form = stack.anon.headers.copy()
    form["Authorization"] = f"Bearer {LEADS}"  # a web form holds only leads:write
    r = await stack.anon.post("/leads", json=lead(service="website"), headers=form)
    assert r.status_code == 201, r.text
    deal_id = r.json()["deal_id"]
    assert r.json()["deal"]["stage"] == "new" and r.json()["ui_link"].endswith(f"deal-{deal_id}")

    http, head = stack.http, stack.as_person("smirnova")  # the head of the leads
    r = await http.post(f"/deals/{deal_id}/accept", headers=head)
    assert r.status_code == 200, r.text
    invoice_id = await to_payment(stack, deal_id)

    payment = {"payment_id": f"pay-{unique()}", "invoice_id": invoice_id, "amount": "250000"}
    body, headers = signed(payment)  # no deal_id: the API finds the deal of the invoice
    r = await stack.anon.post("/webhooks/payments", content=body, headers=headers)
    assert r.status_code == 200, r.text
    assert r.json() == {
        "payment_id": payment["payment_id"],
        "invoice_id": invoice_id,
        "deal_id": deal_id,
        "duplicate": False,
    }
    await stack.in_stage(deal_id, "final")

    tasks = (await http.post(f"/deals/{deal_id}/run-template", headers=head)).json()["tasks"]
    assert [t["task_id"] for t in tasks] == ["5-kickoff"]  # the rest wait for it
    await stack.complete_in_order(deal_id, ["5-kickoff", "5-design", "5-launch"])
    deal = await stack.in_stage(deal_id, "won")
    assert deal["status"] == "won"
    assert deal["title"].startswith("Vector / website")


async def test_duplicate_payment_is_acknowledged_and_changes_nothing(stack: Stack) -> None:
    deal_id, invoice_id = await deal_in_payment(stack)
    payment = {"payment_id": f"pay-{unique()}", "invoice_id": invoice_id, "deal_id": deal_id}
    body, headers = signed(payment)
    first = await stack.anon.post("/webhooks/payments", content=body, headers=headers)
    assert first.status_code == 200 and first.json()["duplicate"] is False
    before = await stack.in_stage(deal_id, "final")

    body, headers = signed(payment)  # redelivered later, freshly signed
    again = await stack.anon.post("/webhooks/payments", content=body, headers=headers)
    assert again.status_code == 200
    assert again.json() == {**first.json(), "duplicate": True}
    after = (await stack.http.get(f"/deals/{deal_id}")).json()
    assert after["visits"] == before["visits"] and after["invoices"] == before["invoices"]


async def test_webhook_signature_checks(stack: Stack) -> None:
    deal_id, invoice_id = await deal_in_payment(stack)
    payment = {"payment_id": f"pay-{unique()}", "invoice_id": invoice_id}

    body, headers = signed(payment, secret="wrong")
    r = await stack.anon.post("/webhooks/payments", content=body, headers=headers)
    assert r.status_code == 401 and "bad signature" in r.json()["detail"]

    body, headers = signed(payment)
    tampered = body.replace(invoice_id.encode(), b"other-invoice")
    r = await stack.anon.post("/webhooks/payments", content=tampered, headers=headers)
    assert r.status_code == 401

    body, headers = signed(payment, age=6 * 60)  # a captured delivery replayed later
    r = await stack.anon.post("/webhooks/payments", content=body, headers=headers)
    assert r.status_code == 401 and "replay" in r.json()["detail"]

    r = await stack.anon.post("/webhooks/payments", json=payment)
    assert r.status_code == 401 and "X-Funnel-Signature" in r.json()["detail"]

    # Nothing of the above reached the deal.
    assert (await stack.http.get(f"/deals/{deal_id}")).json()["stage"] == "payment"

    body, headers = signed({"payment_id": "p", "invoice_id": "x", "currency": "rubles"})
    r = await stack.anon.post("/webhooks/payments", content=body, headers=headers)
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "currency"]

    body, headers = signed({"payment_id": f"pay-{unique()}", "invoice_id": "nobody-1"})
    r = await stack.anon.post("/webhooks/payments", content=body, headers=headers)
    assert r.status_code == 404 and "nobody-1" in r.json()["detail"]


async def test_leads_are_deduplicated_by_email_or_phone(stack: Stack) -> None:
    first = lead()
    r = await stack.http.post("/leads", json=first)
    assert r.status_code == 201
    deal_id = r.json()["deal_id"]
    fields = r.json()["deal"]
    assert fields["stage"] == "new"
    state = await stack.deals.state(deal_id)
    assert state.deal_id == deal_id

    same_email = lead(email=first["email"].upper(), phone=None)
    r = await stack.http.post("/leads", json=same_email)
    assert r.status_code == 200 and r.json()["duplicate"] is True
    assert r.json()["deal_id"] == deal_id and r.json()["deal"] is None

    digits = "".join(ch for ch in first["phone"] if ch.isdigit())
    r = await stack.http.post("/leads", json=lead(email=None, phone=digits))
    assert r.status_code == 200 and r.json()["deal_id"] == deal_id

    r = await stack.http.post("/leads", json=lead())
    assert r.status_code == 201 and r.json()["deal_id"] != deal_id

    r = await stack.http.post("/leads", json={"name": "No Contact"})
    assert r.status_code == 422 and "e-mail or a phone" in r.json()["detail"][0]["msg"]
    r = await stack.http.post("/leads", json=lead(), headers={"Authorization": f"Bearer {READ}"})
    assert r.status_code == 403


def test_dedup_window_and_payment_ids_on_both_databases(db_url: str) -> None:
    migrate(db_url)
    store = Store(db_url)
    intake = IntakeStore(store)
    window = timedelta(hours=1)
    args: dict[str, Any] = {
        "email": "a@b.example",
        "phone": None,
        "name": "A",
        "company": None,
        "source": None,
    }
    assert intake.claim_lead(lead_id="l1", deal_id="d1", window=window, **args) is None
    match = intake.claim_lead(lead_id="l2", deal_id="d2", window=window, **args)
    assert match is not None and (match.lead_id, match.deal_id) == ("l1", "d1")
    # Outside the window the same person is a new lead.
    assert intake.claim_lead(lead_id="l3", deal_id="d3", window=timedelta(0), **args) is None
    intake.drop_lead("l3")

    pay: dict[str, Any] = {
        "invoice_id": "i",
        "deal_id": "d1",
        "amount": None,
        "currency": None,
        "paid_at": None,
    }
    assert intake.record_payment(payment_id="p1", **pay) is True
    assert intake.record_payment(payment_id="p1", **pay) is False
    assert (intake.payment("p1") or {})["deal_id"] == "d1"
    assert intake.deals_of_invoice("i") == {}  # the funnel tables are not there: none known
    store.dispose()


def test_leads_go_to_the_directory_s_first_manager_unless_set(tmp_path: Path) -> None:
    unset = Settings(lead_responsible=None, lead_department_head=None)
    pusk = Directory.load(DEFAULT_DIRECTORY)
    assert lead_people(unset, pusk) == ("ivanov", "smirnova")
    chosen = Settings(lead_responsible="petrov", lead_department_head="boss")
    assert lead_people(chosen, pusk) == ("petrov", "boss")
    # A manager without a `head` gets the head of their department.
    headless = tmp_path / "directory.yaml"
    headless.write_text(
        "employees:\n"
        "  - {id: orlova, name: Olga Orlova, department: corporate, role: head}\n"
        "  - {id: kozlov, name: Kirill Kozlov, department: corporate}\n",
        encoding="utf-8",
    )
    assert lead_people(unset, Directory.load(headless)) == ("kozlov", "orlova")
    # No one to take leads: refused, naming the setting, rather than a deal nobody sees.
    heads_only = tmp_path / "heads.yaml"
    heads_only.write_text(
        "employees:\n  - {id: orlova, name: Olga Orlova, department: corporate, role: head}\n",
        encoding="utf-8",
    )
    with pytest.raises(HTTPException) as refused:
        lead_people(unset, Directory.load(heads_only))
    assert refused.value.status_code == 503
    assert "FUNNEL_LEAD_RESPONSIBLE" in str(refused.value.detail)
