"""The Telegram channel against a Bot API fake on 127.0.0.1 (tests/telegram_fake.py), which
checks each request as Telegram would: what a person sees in their chat, the "Open deal"
button, sent once however often the delivery is retried, flood control (429 retry_after)
honoured by the activity's retry, a chat that blocked the bot reported and never retried,
and the directory's telegram_chat_id checked when the file is loaded."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio.exceptions import ApplicationError

from activities.channels import Refused, Transient
from activities.dispatch import DeliveryRef, Dispatcher
from funnel.runtime.integration_settings import IntegrationSettings
from funnel.storage.deliveries import DeliveryStore
from funnel.storage.directory import Directory, DirectoryError
from funnel.storage.store import Store
from tests.db_fixtures import migrate
from tests.integration_fixtures import NOW, context
from tests.receivers import free_port
from tests.telegram_fake import TOKEN, TelegramFake

KEY = "D-1:1:notify_new"
IVANOV, SMIRNOVA, PETROV = 111111111, 222222222, -1001234567890
DIRECTORY = f"""
employees:
  - {{id: ivanov, name: Ivan Ivanov, language: en, channels: [inapp, telegram],
     telegram_chat_id: {IVANOV}}}
  - {{id: smirnova, name: Svetlana Smirnova, channels: [telegram], telegram_chat_id: {SMIRNOVA}}}
  - {{id: petrov, name: Pyotr Petrov, channels: [telegram], telegram_chat_id: "{PETROV}"}}
  - {{id: sidorova, name: Maria Sidorova, channels: [inapp]}}
"""
PUBLIC_URL = "https://crm.pusk.example/"


@pytest.fixture
def telegram() -> Iterator[TelegramFake]:
    fake = TelegramFake(chats=[IVANOV, SMIRNOVA]).start()  # petrov's group does not exist
    yield fake
    fake.stop()


def bot_settings(fake: TelegramFake, **over: object) -> IntegrationSettings:
    values: dict[str, object] = {
        "telegram_bot_token": TOKEN,
        "telegram_api_base": fake.url,
        "telegram_timeout": 2.0,
        "delivery_max_attempts": 3,
        **over,
    }
    return IntegrationSettings.model_validate(values)


def make_dispatcher(
    folder: Path, fake: TelegramFake, public_url: str | None = PUBLIC_URL, **over: object
) -> Dispatcher:
    url = f"sqlite:///{folder / 'funnel.db'}"
    migrate(url)
    (folder / "directory.yaml").write_text(DIRECTORY)
    store = Store(url)
    return Dispatcher(
        store,
        DeliveryStore(store),
        Directory.load(folder / "directory.yaml"),
        bot_settings(fake, **over),
        public_url=public_url,
    )


@pytest.fixture
def dispatcher(tmp_path: Path, telegram: TelegramFake) -> Iterator[Dispatcher]:
    d = make_dispatcher(tmp_path, telegram)
    yield d
    d.close()


def notice(
    d: Dispatcher, recipients: list[str], message: str = "A new deal for you"
) -> list[DeliveryRef]:
    ctx = context().model_copy(update={"title": "Romashka <LLC> & Sons", "stage_name": "New"})
    return d.plan_notice(KEY, ctx, recipients, message, None, NOW)


def test_the_person_reads_the_deal_in_their_chat_with_a_button_to_open_it(
    dispatcher: Dispatcher, telegram: TelegramFake
) -> None:
    [ref] = notice(dispatcher, ["ivanov"], "Call <b>them</b> back & ask")
    result = dispatcher.deliver(ref)
    [message] = telegram.sent_to(IVANOV)
    # Everything the company typed shows as typed: escaped, with only the heading in bold.
    assert message.text == "Romashka <LLC> & Sons: New\n\nCall <b>them</b> back & ask"
    assert message.sent.startswith("<b>Romashka &lt;LLC&gt; &amp; Sons: New</b>\n\n")
    assert message.buttons == [("Open deal", "https://crm.pusk.example/deals/D-1")]
    assert result.external_id == "1"  # Telegram's message_id, kept on the delivery
    [call] = telegram.calls("sendMessage")
    assert call.body["chat_id"] == IVANOV and call.body["parse_mode"] == "HTML"


def test_a_retried_delivery_reaches_the_chat_once(
    dispatcher: Dispatcher, telegram: TelegramFake
) -> None:
    refs = notice(dispatcher, ["ivanov", "smirnova"])
    assert dispatcher.run_inline(refs, attempt=1) == []
    assert notice(dispatcher, ["ivanov", "smirnova"]) == refs  # the retry plans the same rows
    assert dispatcher.run_inline(refs, attempt=2) == []
    assert [dispatcher.deliver(r).status for r in refs] == ["already_sent", "already_sent"]
    assert len(telegram.sent_to(IVANOV)) == len(telegram.sent_to(SMIRNOVA)) == 1
    # smirnova's language is Russian: so is her button.
    assert telegram.sent_to(SMIRNOVA)[0].buttons[0][0] == "Открыть сделку"


def test_flood_control_retries_after_the_wait_telegram_asks_for(
    dispatcher: Dispatcher, telegram: TelegramFake
) -> None:
    telegram.flood = [7]
    refs = notice(dispatcher, ["ivanov"])
    with pytest.raises(ApplicationError) as raised:
        dispatcher.run_inline(refs, attempt=1)
    assert raised.value.type == "DeliveryFailed" and not raised.value.non_retryable
    assert raised.value.next_retry_delay == timedelta(seconds=7)
    assert "429 Too Many Requests: retry after 7" in raised.value.message
    row = dispatcher.outbox.get(KEY, "telegram", "ivanov")
    assert row is not None and row.status == "pending"
    assert dispatcher.run_inline(refs, attempt=2) == []
    assert len(telegram.sent_to(IVANOV)) == 1


def test_a_chat_that_blocked_the_bot_is_reported_and_never_retried(
    dispatcher: Dispatcher, telegram: TelegramFake
) -> None:
    telegram.blocked.add(IVANOV)
    refs = notice(dispatcher, ["ivanov", "smirnova"])
    [problem] = dispatcher.run_inline(refs, attempt=1)  # smirnova's message still goes
    assert "telegram to ivanov: Telegram sendMessage: 403 Forbidden: bot was blocked" in problem
    assert "they must unblock it" in problem
    assert dispatcher.run_inline(refs, attempt=2) == [problem]
    assert len(telegram.calls("sendMessage")) == 2  # ivanov's was not sent again
    row = dispatcher.outbox.get(KEY, "telegram", "ivanov")
    assert row is not None and row.status == "failed" and "blocked" in (row.last_error or "")
    [event] = dispatcher.store.report_events(deal_id="D-1")
    assert event.kind == "delivery_failed"
    assert event.details["channel"] == "telegram" and event.details["recipient"] == "ivanov"
    assert len(telegram.sent_to(SMIRNOVA)) == 1


def test_a_chat_telegram_does_not_know_is_refused_with_what_to_check(
    dispatcher: Dispatcher, telegram: TelegramFake
) -> None:
    [ref] = notice(dispatcher, ["petrov"])
    with pytest.raises(Refused, match=r"400 Bad Request: chat not found .*check telegram_chat_id"):
        dispatcher.deliver(ref)
    [call] = telegram.calls("sendMessage")
    assert call.body["chat_id"] == PETROV  # a group's id, given as a string in the file


def test_plain_text_mode_and_no_button_without_a_public_address(
    tmp_path: Path, telegram: TelegramFake
) -> None:
    d = make_dispatcher(tmp_path, telegram, public_url=None, telegram_parse_mode="none")
    try:
        dispatcher_send = d.deliver(notice(d, ["ivanov"], "5 < 6 & more")[0])
    finally:
        d.close()
    assert dispatcher_send.status == "sent"
    [call] = telegram.calls("sendMessage")
    assert "parse_mode" not in call.body and "reply_markup" not in call.body
    assert call.body["text"] == "Romashka <LLC> & Sons: New\n\n5 < 6 & more"


@pytest.mark.parametrize("public_url", ["http://127.0.0.1:8000", "http://localhost:8000"])
def test_a_workspace_address_a_phone_cannot_open_gets_no_button(
    tmp_path: Path, telegram: TelegramFake, public_url: str
) -> None:
    d = make_dispatcher(tmp_path, telegram, public_url=public_url)
    try:
        d.deliver(notice(d, ["ivanov"])[0])
    finally:
        d.close()
    assert telegram.sent_to(IVANOV)[0].buttons == []


def test_a_long_message_is_cut_to_what_telegram_takes(
    dispatcher: Dispatcher, telegram: TelegramFake
) -> None:
    dispatcher.deliver(notice(dispatcher, ["ivanov"], "&" * 5000)[0])
    [message] = telegram.sent_to(IVANOV)
    assert len(message.text) == 4096 and message.text.endswith("&…")


def test_the_token_is_never_shown_in_errors_or_logs(
    tmp_path: Path, telegram: TelegramFake, caplog: pytest.LogCaptureFixture
) -> None:
    wrong = "987654321:" + "x" * 35
    d = make_dispatcher(tmp_path, telegram, telegram_bot_token=wrong)
    caplog.set_level(logging.INFO, logger="httpx")
    try:
        with pytest.raises(Refused) as refused:
            d.deliver(notice(d, ["ivanov"])[0])
        d.config.telegram_api_base = f"http://127.0.0.1:{free_port()}"  # type: ignore[assignment]
        d.outbox._set(d.outbox.find()[0].id, status="pending")
        with pytest.raises(Transient) as down:
            d.deliver(notice(d, ["ivanov"])[0])
    finally:
        d.close()
    assert str(refused.value) == (
        "Telegram sendMessage: 401 Unauthorized"
        " (FUNNEL_TELEGRAM_BOT_TOKEN is wrong or was revoked (@BotFather))"
    )
    assert "unreachable" in str(down.value)
    assert "/bot<token>/sendMessage" in caplog.text
    assert all(wrong not in text for text in (str(refused.value), str(down.value), caplog.text))
    with pytest.raises(ValueError, match="FUNNEL_TELEGRAM_BOT_TOKEN must be") as bad:
        IntegrationSettings(telegram_bot_token="123:short\n")
    assert "short" not in str(bad.value)


def test_the_directory_checks_chat_ids_when_it_is_loaded(tmp_path: Path) -> None:
    path = tmp_path / "directory.yaml"

    def load(person: str) -> Directory:
        path.write_text(f"employees:\n  - {person}\n")
        return Directory.load(path)

    with pytest.raises(DirectoryError, match=r"employee ivanov: .*telegram needs telegram_chat_id"):
        load("{id: ivanov, name: I, channels: [telegram]}")
    with pytest.raises(DirectoryError, match=r"employee ivanov, field telegram_chat_id: .*neither"):
        load("{id: ivanov, name: I, telegram_chat_id: ivanov}")
    channel = load("{id: ivanov, name: I, channels: [telegram], telegram_chat_id: '@pusk_sales'}")
    assert channel.get("ivanov").telegram_chat_id == "@pusk_sales"  # type: ignore[union-attr]


def test_a_robot_naming_telegram_reaches_a_person_without_a_chat_in_app(
    dispatcher: Dispatcher,
) -> None:
    assert dispatcher.channels_of("sidorova", ["telegram"]) == ["inapp"]
    assert dispatcher.channels_of("sidorova", ["email", "telegram"]) == ["inapp", "email"]
    assert dispatcher.channels_of("ivanov", ["telegram"]) == ["telegram"]
