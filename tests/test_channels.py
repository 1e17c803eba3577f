"""Each channel against a real receiver on 127.0.0.1, and the faults: receiver down, 500
then 200, an answer slower than the timeout, 400, and an SMTP server refusing the recipient.
A delivery that went out is never sent again, whatever is retried."""

from __future__ import annotations

import hashlib
import hmac
import json
from email import message_from_bytes

import pytest
from temporalio.exceptions import ApplicationError

from activities.channels import Refused, Transient
from activities.dispatch import DeliveryRef, Dispatcher
from tests.integration_fixtures import NOW, SECRET, context
from tests.receivers import HttpReceiver, SmtpReceiver, free_port

KEY = "D-1:1:notify_new"


def notice(
    d: Dispatcher, recipients: list[str], channels: list[str] | None = None
) -> list[DeliveryRef]:
    return d.plan_notice(KEY, context(), recipients, "New deal for you", channels, NOW)


def ref(channel: str, recipient: str = "ivanov") -> DeliveryRef:
    return DeliveryRef(key=KEY, channel=channel, recipient=recipient)


def test_directory_channels_are_planned_per_person_and_robot(dispatcher: Dispatcher) -> None:
    refs = notice(dispatcher, ["ivanov", "smirnova", "ghost"])
    assert [(r.channel, r.recipient) for r in refs] == [
        ("webhook", "ivanov"),
        ("email", "ivanov"),
        ("bitrix24", "ivanov"),
        ("email", "smirnova"),
    ]  # "ghost" is not in the directory: in-app only, nothing external
    assert dispatcher.channels_of("ghost", None) == ["inapp"]
    only_hook = notice(dispatcher, ["ivanov"], channels=["webhook"])
    assert [r.channel for r in only_hook] == ["webhook"]


def test_webhook_is_signed_keyed_and_sent_once(
    dispatcher: Dispatcher, http_receiver: HttpReceiver
) -> None:
    notice(dispatcher, ["ivanov"], ["webhook"])
    assert dispatcher.deliver(ref("webhook")).status == "sent"
    assert dispatcher.deliver(ref("webhook")).status == "already_sent"  # a retried activity
    [seen] = http_receiver.seen
    assert seen.headers["Idempotency-Key"] == f"{KEY}:ivanov"
    assert seen.headers["X-Funnel-Key"] == KEY
    expected = hmac.new(SECRET.encode(), seen.body, hashlib.sha256).hexdigest()
    assert seen.headers["X-Funnel-Signature"] == f"sha256={expected}"
    body = json.loads(seen.body)
    assert body["message"] == "New deal for you" and body["recipient"] == "ivanov"


def test_receiver_down_is_retryable_and_kept_pending(dispatcher: Dispatcher) -> None:
    dispatcher.config.webhook_url = f"http://127.0.0.1:{free_port()}/down"  # type: ignore[assignment]
    notice(dispatcher, ["ivanov"], ["webhook"])
    with pytest.raises(Transient, match="unreachable"):
        dispatcher.deliver(ref("webhook"))
    row = dispatcher.outbox.get(KEY, "webhook", "ivanov")
    assert row is not None and row.status == "pending" and row.attempts == 1


def test_500_then_200_delivers_once(dispatcher: Dispatcher, http_receiver: HttpReceiver) -> None:
    http_receiver.script.answers = [(500, 0.0)]
    notice(dispatcher, ["ivanov"], ["webhook"])
    with pytest.raises(Transient, match="HTTP 500"):
        dispatcher.deliver(ref("webhook"))
    assert dispatcher.deliver(ref("webhook")).status == "sent"
    assert http_receiver.keys_seen()[f"{KEY}:ivanov"] == 2
    assert list(http_receiver.processed) == [f"{KEY}:ivanov"]


def test_answer_slower_than_the_timeout_is_retried_and_deduped_by_the_key(
    dispatcher: Dispatcher, http_receiver: HttpReceiver
) -> None:
    http_receiver.script.answers = [(200, 1.5)]  # processed, but answered after the timeout
    notice(dispatcher, ["ivanov"], ["webhook"])
    with pytest.raises(Transient, match="did not answer in time"):
        dispatcher.deliver(ref("webhook"))
    assert dispatcher.deliver(ref("webhook")).status == "sent"
    assert http_receiver.keys_seen()[f"{KEY}:ivanov"] == 2
    assert len(http_receiver.processed) == 1  # the receiver dropped the repeat by its key


def test_400_is_refused_for_good_and_reported(
    dispatcher: Dispatcher, http_receiver: HttpReceiver
) -> None:
    http_receiver.script.answers = [(400, 0.0)]
    notice(dispatcher, ["ivanov"], ["webhook"])
    with pytest.raises(Refused, match="HTTP 400"):
        dispatcher.deliver(ref("webhook"))
    with pytest.raises(Refused, match="HTTP 400"):
        dispatcher.deliver(ref("webhook"))  # not sent again
    assert len(http_receiver.seen) == 1
    row = dispatcher.outbox.get(KEY, "webhook", "ivanov")
    assert row is not None and row.status == "failed"
    [event] = dispatcher.store.report_events(deal_id="D-1")
    assert event.kind == "delivery_failed" and "HTTP 400" in event.details["error"]


def test_email_goes_out_with_a_message_id_from_the_key(
    dispatcher: Dispatcher, smtp_receiver: SmtpReceiver
) -> None:
    notice(dispatcher, ["ivanov"], ["email"])
    assert dispatcher.deliver(ref("email")).status == "sent"
    assert dispatcher.deliver(ref("email")).status == "already_sent"
    [envelope] = smtp_receiver.mailbox.messages
    assert envelope.rcpt_tos == ["ivanov@pusk.example"]
    msg = message_from_bytes(envelope.original_content or b"")
    assert msg["X-Funnel-Idempotency-Key"] == f"{KEY}:ivanov"
    assert msg["Subject"] == "Romashka LLC / website / 250000 RUB: New deal"
    digest = hashlib.sha256(f"{KEY}:ivanov".encode()).hexdigest()[:40]
    assert msg["Message-ID"] == f"<{digest}@pusk.example>"


def test_smtp_refusing_the_recipient_is_refused(
    dispatcher: Dispatcher, smtp_receiver: SmtpReceiver
) -> None:
    notice(dispatcher, ["petrov"])
    with pytest.raises(Refused, match=r"recipient refused@pusk.example refused: 550"):
        dispatcher.deliver(ref("email", "petrov"))
    assert smtp_receiver.mailbox.messages == []


def test_bitrix24_notice_task_and_deal_shapes(
    dispatcher: Dispatcher, http_receiver: HttpReceiver
) -> None:
    notice(dispatcher, ["ivanov"], ["bitrix24"])
    dispatcher.deliver(ref("bitrix24"))
    assert http_receiver.notices[f"{KEY}:ivanov"]["USER_ID"] == 11

    ctx = context(bitrix24_deal_id=501)
    task = {
        "title": "Prepare the proposal",
        "description": "",
        "responsible": "ivanov",
        "co_executors": ["petrov", "nobody"],
        "observers": ["smirnova"],
        "created_by": "smirnova",
        "needs_confirmation": True,
        "deadline_at": NOW,
    }
    [task_ref] = dispatcher.plan_task("D-1:3:prepare", ctx, task, NOW)
    assert dispatcher.deliver(task_ref).external_id == "1"
    fields = http_receiver.tasks[1]
    assert fields["RESPONSIBLE_ID"] == 11 and fields["ACCOMPLICES"] == [12]
    assert fields["AUDITORS"] == [10] and fields["CREATED_BY"] == 10
    assert fields["TASK_CONTROL"] == "Y" and fields["UF_CRM_TASK"] == ["D_501"]

    [title] = dispatcher.plan_deal_update("D-1:1:title", ctx, title="New title", at=NOW)
    dispatcher.deliver(title)
    staged = ctx.model_copy(update={"stage_id": "proposal"})
    [stage] = dispatcher.plan_deal_update("D-1:3:enter", staged, at=NOW)
    dispatcher.deliver(stage)
    assert [u["fields"] for u in http_receiver.deal_updates] == [
        {"TITLE": "New title"},
        {"STAGE_ID": "PREPARATION"},
    ]
    assert all(u["id"] == 501 for u in http_receiver.deal_updates)
    # No Bitrix24 id on the deal, or a stage not mapped: nothing to sync.
    assert dispatcher.plan_deal_update("D-2:1:enter", context("D-2"), at=NOW) == []


def test_bitrix24_task_retried_after_a_lost_answer_is_found_not_added_again(
    dispatcher: Dispatcher, http_receiver: HttpReceiver
) -> None:
    http_receiver.script.answers = [(200, 1.5)]  # created, but the answer comes too late
    task = {
        "title": "Sign the contract",
        "description": "",
        "responsible": "ivanov",
        "co_executors": [],
        "observers": [],
        "created_by": "smirnova",
        "needs_confirmation": False,
        "deadline_at": None,
    }
    dispatcher.config.bitrix24_timeout = 0.5
    [task_ref] = dispatcher.plan_task("D-1:5:contract_task", context(), task, NOW)
    with pytest.raises(Transient):
        dispatcher.deliver(task_ref)
    assert dispatcher.deliver(task_ref).external_id == "1"
    assert len(http_receiver.tasks) == 1


def test_bitrix24_error_answer_is_refused(
    dispatcher: Dispatcher, http_receiver: HttpReceiver
) -> None:
    dispatcher.directory.get("ivanov")
    [r] = dispatcher.plan_deal_update(
        "D-1:1:title", context(bitrix24_deal_id=7), title="x" * 3, at=NOW
    )
    row = dispatcher.outbox.get(r.key, r.channel, r.recipient)
    assert row is not None
    dispatcher.outbox._set(row.id, payload={**row.payload, "fields": {"OPPORTUNITY": 1}})
    with pytest.raises(Refused, match="ERROR_ARGUMENT: unexpected deal fields"):
        dispatcher.deliver(r)


def test_inline_retry_sends_only_what_failed(
    dispatcher: Dispatcher, http_receiver: HttpReceiver, smtp_receiver: SmtpReceiver
) -> None:
    http_receiver.script.answers = [(503, 0.0)]
    refs = notice(dispatcher, ["ivanov"], ["webhook", "email"])
    with pytest.raises(ApplicationError) as failed:
        dispatcher.run_inline(refs, attempt=1)
    assert failed.value.type == "DeliveryFailed" and not failed.value.non_retryable
    assert dispatcher.run_inline(refs, attempt=2) == []
    assert len(smtp_receiver.mailbox.messages) == 1  # the e-mail went once
    assert http_receiver.keys_seen()[f"{KEY}:ivanov"] == 2


def test_inline_gives_up_after_the_last_attempt(
    dispatcher: Dispatcher, http_receiver: HttpReceiver
) -> None:
    http_receiver.script.answers = [(500, 0.0)] * 5
    refs = notice(dispatcher, ["ivanov"], ["webhook"])
    [problem] = dispatcher.run_inline(refs, attempt=3)  # delivery_max_attempts
    assert "gave up after 3 attempts" in problem
    row = dispatcher.outbox.get(KEY, "webhook", "ivanov")
    assert row is not None and row.status == "failed"
