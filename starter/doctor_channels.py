"""``funnel doctor``'s checks of the employee directory and of the channels its people use
that need more than an address: Telegram (the bot's token, asked of the Bot API with
``getMe``, and the workspace address its "Open deal" buttons point to)."""

from __future__ import annotations

import httpx
from pydantic import ValidationError

from activities.channels import Refused, Transient
from activities.telegram import TelegramBot, deal_link_base
from funnel.runtime.integration_settings import IntegrationSettings
from funnel.runtime.settings import Settings
from funnel.storage.directory import Directory, DirectoryError
from starter.doctor import Check


def check_channels(
    settings: Settings, integrations: IntegrationSettings | None = None
) -> list[Check]:
    """``integrations``: the channel settings (default: from the environment)."""
    try:
        directory = Directory.load(settings.directory)
    except DirectoryError as exc:
        return [Check("directory", "FAIL", f"{exc}; fix it or point FUNNEL_DIRECTORY elsewhere")]
    people = list(directory)
    count = f"{len(people)} employee" + ("" if len(people) == 1 else "s")
    checks = [Check("directory", "OK", f"{settings.directory}: {count}")]
    on_telegram = [e.id for e in people if "telegram" in e.channels]
    if not on_telegram:
        return checks  # nobody to reach there: nothing to check
    try:
        config = integrations or IntegrationSettings()
    except ValidationError as exc:
        problems = "; ".join(f"{e['loc'][0]}: {e['msg']}" for e in exc.errors())
        return [*checks, Check("channel settings", "FAIL", problems)]
    return [*checks, *_telegram(config, on_telegram, settings.public_url)]


def _telegram(
    config: IntegrationSettings, people: list[str], public_url: str | None
) -> list[Check]:
    who = ", ".join(people)
    if config.telegram_bot_token is None:
        return [
            Check(
                "telegram",
                "FAIL",
                f"{who} {'uses' if len(people) == 1 else 'use'} the telegram channel but"
                " FUNNEL_TELEGRAM_BOT_TOKEN is not set:"
                " nothing is sent to their chats (@BotFather gives a bot its token)",
            )
        ]
    with httpx.Client() as client:
        try:
            me = TelegramBot(config, client, public_url).get_me()
        except Refused as exc:
            checks = [Check("telegram", "FAIL", str(exc))]
        except Transient as exc:
            checks = [Check("telegram", "WARN", f"{exc}; notices to {who} wait and are retried")]
        else:
            name = me.get("username", "?")
            detail = f"bot @{name} at {config.telegram_api_base}, writes to {who}"
            checks = [Check("telegram", "OK", detail)]
    if deal_link_base(public_url) is None:
        checks.append(
            Check(
                "telegram links",
                "WARN",
                "FUNNEL_PUBLIC_URL is unset or a loopback address: Telegram messages carry no"
                " Open deal button (set it to the workspace's address as phones reach it)",
            )
        )
    return checks
