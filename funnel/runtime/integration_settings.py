"""Settings of the notification channels and integrations (see docs/integrations.md).

Kept apart from :mod:`funnel.runtime.settings` so that a worker without any integration configured
reads nothing new: every channel is off until its URL or host is set. Names:
``FUNNEL_WEBHOOK_URL``, ``FUNNEL_WEBHOOK_SECRET``, ``FUNNEL_WEBHOOK_TIMEOUT``,
``FUNNEL_SMTP_HOST``, ``FUNNEL_SMTP_PORT``, ``FUNNEL_SMTP_STARTTLS``, ``FUNNEL_SMTP_USERNAME``,
``FUNNEL_SMTP_PASSWORD``, ``FUNNEL_SMTP_FROM``, ``FUNNEL_SMTP_TIMEOUT``,
``FUNNEL_BITRIX24_WEBHOOK_URL``, ``FUNNEL_BITRIX24_TIMEOUT``, ``FUNNEL_BITRIX24_STAGES``,
``FUNNEL_BITRIX24_TASKS``, ``FUNNEL_TELEGRAM_BOT_TOKEN``, ``FUNNEL_TELEGRAM_API_BASE``,
``FUNNEL_TELEGRAM_TIMEOUT``, ``FUNNEL_TELEGRAM_PARSE_MODE``, ``FUNNEL_DELIVERY_MAX_ATTEMPTS``.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, HttpUrl, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

_BOT_TOKEN = re.compile(r"[0-9]{1,20}:[A-Za-z0-9_-]{20,}")


class IntegrationSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="FUNNEL_",
        env_file=".env",
        extra="ignore",
        env_ignore_empty=True,
        # Tokens and passwords live here: an error names the setting, never shows its value.
        hide_input_in_errors=True,
    )

    webhook_url: HttpUrl | None = Field(
        default=None, description="company endpoint for the `webhook` channel; unset: off"
    )
    webhook_secret: SecretStr | None = Field(
        default=None, description="HMAC-SHA256 key of the X-Funnel-Signature header"
    )
    webhook_timeout: float = Field(default=10.0, gt=0, description="seconds per request")

    smtp_host: str | None = Field(default=None, description="unset: the email channel is off")
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_starttls: bool = True
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_from: str = Field(default="funnel@localhost", pattern=r"^[^@\s]+@[^@\s]+$")
    smtp_timeout: float = Field(default=10.0, gt=0)

    bitrix24_webhook_url: HttpUrl | None = Field(
        default=None,
        description="incoming webhook, https://<portal>/rest/<user id>/<token>/; unset: off",
    )
    bitrix24_timeout: float = Field(default=10.0, gt=0)
    bitrix24_stages: dict[str, str] = Field(
        default_factory=dict,
        description="pipeline stage id -> Bitrix24 STAGE_ID; stages not listed are not synced",
    )
    bitrix24_tasks: bool = Field(default=True, description="mirror tasks with tasks.task.add")

    telegram_bot_token: SecretStr | None = Field(
        default=None,
        description="the company bot's token from @BotFather, <bot id>:<secret>; unset: off",
    )
    telegram_api_base: HttpUrl = Field(
        default=HttpUrl("https://api.telegram.org"),
        description="the Bot API server (a local telegram-bot-api server, or a test fake)",
    )
    telegram_timeout: float = Field(default=10.0, gt=0, description="seconds per request")
    telegram_parse_mode: Literal["HTML", "none"] = Field(
        default="HTML",
        description="HTML: the deal's title in bold, every text escaped; none: plain text",
    )

    delivery_max_attempts: int = Field(
        default=8,
        ge=1,
        description="attempts of a robot activity that delivers inline before it gives up",
    )

    @field_validator("telegram_bot_token")
    @classmethod
    def _bot_token(cls, value: SecretStr | None) -> SecretStr | None:
        # The message never shows the token: it ends up in the worker's start-up error.
        if value is not None and not _BOT_TOKEN.fullmatch(value.get_secret_value()):
            raise ValueError(
                "FUNNEL_TELEGRAM_BOT_TOKEN must be the token @BotFather gave, like"
                " 123456789:AAE... (digits, a colon, then letters, digits, - and _)"
            )
        return value

    @field_validator("bitrix24_webhook_url")
    @classmethod
    def _rest_path(cls, value: HttpUrl | None) -> HttpUrl | None:
        if value is not None and "/rest/" not in (value.path or ""):
            raise ValueError(
                "FUNNEL_BITRIX24_WEBHOOK_URL must be an incoming-webhook URL like"
                " https://portal.bitrix24.ru/rest/1/abc123/"
            )
        return value
