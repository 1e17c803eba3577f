"""The shipped funnel's invoice reaches the client and gets paid, over the real stack: the
dev server, a worker whose e-mail goes to aiosmtpd on 127.0.0.1, the HTTP API. Entering
`contract` e-mails the invoice (PDF, HTML, payment link) once, coming back with the same
invoice sends nothing again, an edited amount cancels it (its document stamped АННУЛИРОВАН)
and e-mails the new one naming it, and the signed payment webhook pays the new one in two
parts and moves the deal on."""

from __future__ import annotations

import asyncio
import io
import time
from decimal import Decimal
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pypdf
import pytest
from temporalio.client import WorkflowHistory
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from funnel.domain.robot_runs import RunOutcome
from funnel.runtime.pdf import document_font
from funnel.runtime.temporal_client import DATA_CONVERTER
from tests.api_support import Stack, api_stack, deal_body, signed
from tests.helpers import HISTORIES, eventually, keep_history
from tests.receivers import SmtpReceiver
from workflows.deal import DealWorkflow

PAY = "https://pay.example/{invoice_id}?amount={amount}&currency={currency}"

pytestmark = pytest.mark.skipif(
    document_font() is None, reason="no TrueType font with Cyrillic (FUNNEL_DOCUMENT_FONT)"
)


async def mails(smtp: SmtpReceiver, count: int, timeout: float = 10.0) -> list[EmailMessage]:
    deadline = time.monotonic() + timeout
    while len(smtp.mailbox.messages) < count:
        if time.monotonic() > deadline:
            raise AssertionError(f"{len(smtp.mailbox.messages)} e-mails, expected {count}")
        await asyncio.sleep(0.05)
    return [
        message_from_bytes(e.original_content or b"", policy=policy.default)
        for e in smtp.mailbox.messages
    ]


def text_of(message: EmailMessage) -> str:
    body = message.get_body(("plain",))
    assert body is not None
    return str(body.get_content())


async def pay(stack: Stack, deal_id: str, invoice_id: str, payment_id: str, amount: str) -> None:
    event = {"payment_id": payment_id, "invoice_id": invoice_id, "amount": amount}
    body, headers = signed({**event, "deal_id": deal_id})
    r = await stack.anon.post("/webhooks/payments", content=body, headers=headers)
    assert r.status_code == 200 and not r.json()["duplicate"], r.text


def invoice(deal: dict[str, Any], invoice_id: str) -> dict[str, Any]:
    return next(i for i in deal["invoices"] if i["invoice_id"] == invoice_id)


async def test_the_client_gets_the_invoice_and_pays_it_through_the_webhook(
    dev_env: WorkflowEnvironment,
    tmp_path: Path,
    smtp_receiver: SmtpReceiver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in {
        "FUNNEL_HOME": str(tmp_path),
        "FUNNEL_SMTP_HOST": "127.0.0.1",
        "FUNNEL_SMTP_PORT": str(smtp_receiver.port),
        "FUNNEL_SMTP_STARTTLS": "false",
        "FUNNEL_SMTP_FROM": "sales@pusk.example",
        "FUNNEL_PAYMENT_URL_TEMPLATE": PAY,
    }.items():
        monkeypatch.setenv(name, value)  # what the worker's integrations read when built
    async with api_stack(dev_env, tmp_path) as stack:
        body = deal_body(amount="100000")
        deal_id = body["deal_id"]
        assert (await stack.http.post("/deals", json=body)).status_code == 201
        ivanov = stack.as_person("ivanov")  # moves and edits need a person
        r = await stack.http.post(
            f"/deals/{deal_id}/move", json={"stage": "contract"}, headers=ivanov
        )
        assert r.status_code == 200, r.text
        first_id = f"{deal_id}-2"

        [first] = await mails(smtp_receiver, 1)
        assert first["To"] == "anna@romashka.example"
        assert f"https://pay.example/{first_id}?amount=100000.00&currency=RUB" in text_of(first)
        assert {p.get_filename() for p in first.iter_attachments()} == {
            f"invoice-{first_id}.pdf",
            f"invoice-{first_id}.html",
        }

        # Out of the stage and back: the open invoice is reused and not e-mailed again.
        r = await stack.http.post(
            f"/deals/{deal_id}/move",
            json={"stage": "negotiation", "reason": "the client asks for new terms"},
            headers=ivanov,
        )
        assert r.status_code == 200, r.text
        r = await stack.http.post(
            f"/deals/{deal_id}/move", json={"stage": "contract", "reason": "back"}, headers=ivanov
        )
        assert r.status_code == 200, r.text
        state = await eventually(
            stack.deals,
            deal_id,
            lambda s: len([x for x in s.robot_runs if x.robot_id == "invoice_to_client"]) == 2,
        )
        runs = [x.outcome for x in state.robot_runs if x.robot_id == "invoice_to_client"]
        assert runs == [RunOutcome.DONE, RunOutcome.DONE]
        assert len(smtp_receiver.mailbox.messages) == 1

        # A new amount: the unpaid invoice is cancelled, its document stamped, the client
        # gets the new one, which names it.
        r = await stack.http.patch(f"/deals/{deal_id}", json={"amount": "120000"}, headers=ivanov)
        assert r.status_code == 200, r.text
        _, second = await mails(smtp_receiver, 2)
        deal = (await stack.http.get(f"/deals/{deal_id}")).json()
        new_id = next(i["invoice_id"] for i in deal["invoices"] if i["cancelled_at"] is None)
        assert invoice(deal, first_id)["replaced_by"] == new_id
        assert invoice(deal, new_id)["replaces"] == first_id
        assert f"заменяет счёт № {first_id}, который аннулирован" in text_of(second)
        assert f"/{new_id}?amount=120000.00&currency=RUB" in text_of(second)

        documents = (await stack.http.get(f"/deals/{deal_id}/documents")).json()
        by_invoice = {d["invoice_id"]: d for d in documents if d["invoice_id"]}
        assert set(by_invoice) == {first_id, new_id}
        assert by_invoice[first_id]["cancelled_at"] is not None
        assert by_invoice[new_id]["cancelled_at"] is None
        old_pdf = await stack.http.get(by_invoice[first_id]["pdf_url"])
        pages = pypdf.PdfReader(io.BytesIO(old_pdf.content)).pages
        printed = " ".join(" ".join(p.extract_text() for p in pages).split())
        assert "СЧЁТ АННУЛИРОВАН" in printed and f"Заменён счётом № {new_id}" in printed

        # Paid through the webhook: a part while in contract (kept), the rest in payment.
        await pay(stack, deal_id, new_id, "pay-1", "20000")
        await stack.wait_for(deal_id, lambda d: invoice(d, new_id)["payments"])
        r = await stack.http.post(
            f"/deals/{deal_id}/move", json={"stage": "payment"}, headers=ivanov
        )
        assert r.status_code == 200, r.text
        assert (await stack.in_stage(deal_id, "payment"))["stage"] == "payment"
        await pay(stack, deal_id, new_id, "pay-2", "100000")
        deal = await stack.in_stage(deal_id, "final")
        paid = invoice(deal, new_id)
        assert paid["paid_at"] is not None and Decimal(paid["outstanding"]) == 0
        assert len(smtp_receiver.mailbox.messages) == 2
        await keep_history(stack.deals, deal_id, "pusk_invoice_sent_reissued_paid")


async def test_the_recorded_invoice_deal_replays_on_current_code() -> None:
    """The deal above, recorded: its three send_invoice calls (entry, re-entry, the edit's
    reissue) replay. The robot type is new, so no deal recorded before runs it (no patch:
    docs/patches.md); every older history replays in tests/test_replay.py."""
    name = "pusk_invoice_sent_reissued_paid"
    history = WorkflowHistory.from_json(name, (HISTORIES / f"{name}.json").read_text())
    scheduled = [
        e.activity_task_scheduled_event_attributes.activity_type.name
        for e in history.events
        if e.HasField("activity_task_scheduled_event_attributes")
    ]
    assert scheduled.count("send_invoice") == 3 and scheduled.count("create_invoice") == 2
    replayer = Replayer(workflows=[DealWorkflow], data_converter=DATA_CONVERTER)
    result = await replayer.replay_workflow(history, raise_on_replay_failure=True)
    assert result.replay_failure is None
