"""A deal's notify robot telling its responsible on Telegram, through the real worker and the
Temporal dev server, the worker configured from the environment as in production
(FUNNEL_TELEGRAM_BOT_TOKEN, FUNNEL_TELEGRAM_API_BASE pointing at the fake on 127.0.0.1): the
message reaches the chat once when the robot's activity is retried, flood control delays the
retry by Telegram's retry_after, and a chat that blocked the bot fails the robot for good,
shown in `funnel deal show`'s robot runs, after one request. A simulation sends nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import pytest_asyncio
from temporalio.testing import WorkflowEnvironment

from funnel.client.deals import DealClient
from funnel.domain.models import DealState
from funnel.domain.pipeline import Pipeline
from funnel.domain.robot_runs import RobotRun, RunOutcome
from funnel.storage.deliveries import DeliveryStore
from funnel.storage.store import Store
from starter.deal_view import print_deal_full
from starter.simulate import simulate
from tests.helpers import eventually, messages_to, mini_pipeline, notify, sample_deal
from tests.receivers import HttpReceiver
from tests.telegram_fake import TOKEN, TelegramFake
from tests.temporal_fixtures import deal_system, new_deal_id

CHAT = 424242424
DIRECTORY = f"""
employees:
  - {{id: ivanov, name: Ivan Ivanov, language: en, channels: [inapp, telegram],
     telegram_chat_id: {CHAT}}}
  - {{id: smirnova, name: Svetlana Smirnova, channels: [inapp]}}
"""


@pytest.fixture
def telegram() -> Iterator[TelegramFake]:
    fake = TelegramFake(chats=[CHAT]).start()
    yield fake
    fake.stop()


@pytest_asyncio.fixture
async def deals(
    dev_env: WorkflowEnvironment,
    store: Store,
    tmp_path: Path,
    telegram: TelegramFake,
    http_receiver: HttpReceiver,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[DealClient]:
    (tmp_path / "directory.yaml").write_text(DIRECTORY)
    for name, value in {
        "FUNNEL_DIRECTORY": str(tmp_path / "directory.yaml"),
        "FUNNEL_HOME": str(tmp_path / "home"),
        "FUNNEL_PUBLIC_URL": "https://crm.pusk.example",
        "FUNNEL_TELEGRAM_BOT_TOKEN": TOKEN,
        "FUNNEL_TELEGRAM_API_BASE": telegram.url,
        "FUNNEL_WEBHOOK_URL": http_receiver.url + "/hooks/funnel",
    }.items():
        monkeypatch.setenv(name, value)
    async with deal_system(dev_env, store) as client:
        yield client


async def start_and_wait(deals: DealClient, channels: list[str]) -> tuple[str, RobotRun]:
    """Start a deal whose first stage tells the responsible on ``channels``; wait for the
    robot's run to be recorded done or failed."""
    stage = {"id": "new", "name": "New", "robots": [notify("tell", channels=channels)]}
    pipeline = mini_pipeline([stage])
    deal_id = new_deal_id("TG")
    await deals.start(sample_deal(deal_id), pipeline)

    def ran(state: DealState) -> bool:
        return any(r.robot_id == "tell" for r in state.robot_runs)

    state = await eventually(deals, deal_id, ran, timeout=30)
    [run] = [r for r in state.robot_runs if r.robot_id == "tell"]
    return deal_id, run


async def test_a_retried_robot_tells_the_chat_once(
    deals: DealClient, telegram: TelegramFake, http_receiver: HttpReceiver
) -> None:
    # The webhook fails the activity's first attempt after Telegram got its message.
    http_receiver.script.answers = [(500, 0.0)]
    deal_id, run = await start_and_wait(deals, ["telegram", "webhook"])
    assert run.outcome is RunOutcome.DONE
    assert len(http_receiver.seen) == 2  # the activity ran twice
    [message] = telegram.sent_to(CHAT)
    assert message.text.endswith("\n\ntell ran")
    assert message.buttons == [("Open deal", f"https://crm.pusk.example/deals/{deal_id}")]
    assert len(telegram.calls("sendMessage")) == 1


async def test_flood_control_delays_the_retry_by_retry_after(
    deals: DealClient, telegram: TelegramFake
) -> None:
    telegram.flood = [3]  # the first sendMessage gets 429, retry after 3 s; then 200
    _, run = await start_and_wait(deals, ["telegram"])
    assert run.outcome is RunOutcome.DONE
    limited, accepted = telegram.calls("sendMessage")
    # The robot policy would have retried after 1 s: Telegram's 3 s were honoured instead.
    assert accepted.at - limited.at >= 3.0
    [message] = telegram.sent_to(CHAT)
    assert message.at == pytest.approx(accepted.at, abs=0.5)


async def test_a_chat_that_blocked_the_bot_fails_the_robot_once_and_is_shown(
    deals: DealClient,
    telegram: TelegramFake,
    store: Store,
    capsys: pytest.CaptureFixture[str],
) -> None:
    telegram.blocked.add(CHAT)
    deal_id, run = await start_and_wait(deals, ["inapp", "telegram"])
    assert run.outcome is RunOutcome.FAILED
    assert run.error is not None and "403 Forbidden: bot was blocked by the user" in run.error
    assert len(telegram.calls("sendMessage")) == 1  # not retried
    assert messages_to(store, "ivanov", deal_id) == ["tell ran"]  # the inbox still has it
    [row] = DeliveryStore(store).find(deal_id=deal_id)
    assert row.status == "failed"
    [event] = [e for e in store.report_events(deal_id=deal_id) if e.kind == "delivery_failed"]
    assert event.details["channel"] == "telegram"
    print_deal_full(await deals.state(deal_id), None, ZoneInfo("Europe/Moscow"))
    [line] = [ln for ln in capsys.readouterr().out.splitlines() if " tell " in ln]
    assert "failed" in line and "bot was blocked by the user" in line


async def test_a_simulation_never_writes_to_telegram(
    pusk: Pipeline, tmp_path: Path, telegram: TelegramFake, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "directory.yaml").write_text(DIRECTORY)
    monkeypatch.setenv("FUNNEL_DIRECTORY", str(tmp_path / "directory.yaml"))
    monkeypatch.setenv("FUNNEL_TELEGRAM_BOT_TOKEN", TOKEN)
    monkeypatch.setenv("FUNNEL_TELEGRAM_API_BASE", telegram.url)
    timeline = await simulate(pusk, sample_deal("SIM-TG"), [], horizon=timedelta(hours=2))
    assert any(t.what.startswith("notify ivanov") for t in timeline)
    assert telegram.requests == []
