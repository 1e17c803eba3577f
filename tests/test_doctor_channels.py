"""``funnel doctor`` checks Telegram when someone in the directory uses it: the token is asked
of the Bot API (the fake on 127.0.0.1) with getMe, a missing or refused token fails, and a
workspace address a phone cannot open is a warning; nobody on Telegram, nothing checked."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from funnel.runtime.integration_settings import IntegrationSettings
from funnel.runtime.settings import Settings
from starter.doctor import Check
from starter.doctor_channels import check_channels
from tests.telegram_fake import TOKEN, TelegramFake

ON_TELEGRAM = """
employees:
  - {id: ivanov, name: Ivan Ivanov, channels: [inapp, telegram], telegram_chat_id: 1111}
  - {id: petrov, name: Pyotr Petrov, channels: [telegram], telegram_chat_id: 2222}
  - {id: smirnova, name: Svetlana Smirnova}
"""


@pytest.fixture
def telegram() -> Iterator[TelegramFake]:
    fake = TelegramFake(chats=[]).start()
    yield fake
    fake.stop()


def run(
    folder: Path, directory: str, token: str | None, base: str, public_url: str | None = None
) -> dict[str, Check]:
    (folder / "directory.yaml").write_text(directory)
    settings = Settings(directory=folder / "directory.yaml", public_url=public_url)
    channels = IntegrationSettings.model_validate(
        {"telegram_bot_token": token, "telegram_api_base": base}
    )
    return {c.name: c for c in check_channels(settings, channels)}


def test_a_working_bot_is_named(tmp_path: Path, telegram: TelegramFake) -> None:
    checks = run(tmp_path, ON_TELEGRAM, TOKEN, telegram.url, "https://crm.pusk.example")
    assert checks["directory"].status == "OK"
    assert checks["telegram"].status == "OK"
    assert checks["telegram"].detail.startswith("bot @pusk_funnel_bot at http://127.0.0.1:")
    assert checks["telegram"].detail.endswith("writes to ivanov, petrov")
    assert "telegram links" not in checks
    assert [r.method for r in telegram.requests] == ["getMe"]


def test_a_missing_or_refused_token_fails_and_a_local_address_warns(
    tmp_path: Path, telegram: TelegramFake
) -> None:
    missing = run(tmp_path, ON_TELEGRAM, None, telegram.url)["telegram"]
    assert missing.status == "FAIL" and "FUNNEL_TELEGRAM_BOT_TOKEN is not set" in missing.detail
    assert "ivanov, petrov use the telegram channel" in missing.detail
    wrong = "42:" + "y" * 30
    checks = run(tmp_path, ON_TELEGRAM, wrong, telegram.url)
    assert checks["telegram"].status == "FAIL"
    assert "401 Unauthorized (FUNNEL_TELEGRAM_BOT_TOKEN is wrong" in checks["telegram"].detail
    assert wrong not in checks["telegram"].detail
    assert checks["telegram links"].status == "WARN"  # no FUNNEL_PUBLIC_URL: no button


def test_nobody_on_telegram_checks_nothing_and_a_bad_directory_fails(tmp_path: Path) -> None:
    checks = run(tmp_path, "employees:\n  - {id: ivanov, name: Ivan}\n", None, "http://x.example")
    assert list(checks) == ["directory"]
    bad = run(
        tmp_path,
        "employees:\n  - {id: ivanov, name: I, channels: [telegram]}\n",
        None,
        "http://x.example",
    )
    assert bad["directory"].status == "FAIL"
    assert "channel telegram needs telegram_chat_id" in bad["directory"].detail
