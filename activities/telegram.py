"""The Telegram channel: a notice goes to the person's chat through the company's bot, with
the Bot API's ``sendMessage`` (POST ``{base}/bot{token}/sendMessage``, a JSON body).

Like the other senders (activities/channels.py) it raises :class:`Transient` or
:class:`Refused`. Telegram's flood control (HTTP 429) says how long to wait in
``parameters.retry_after``: the Transient carries it, and the dispatcher asks Temporal to
retry the robot's activity after that long. A chat the bot cannot write to (the person
blocked the bot, never pressed Start, or the chat id is wrong) is refused for good: the
delivery is marked failed and reported, never retried.

The token is part of every URL; it never appears in an error message or in httpx's request
log lines (see :class:`_HideBotToken`).
"""

from __future__ import annotations

import html
import ipaddress
import logging
import re
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

from activities.channels import Refused, Transient
from funnel.runtime.integration_settings import IntegrationSettings
from funnel.storage.deliveries import Delivery
from funnel.storage.directory import Employee

MESSAGE_LIMIT = 4096  # characters of a message's text after its HTML is parsed
HEADING_LIMIT = 256
OPEN_DEAL = {"ru": "Открыть сделку", "en": "Open deal"}
# What a person reading a failed delivery should do about Telegram's answer.
_HINTS = {
    "blocked by the user": "the employee blocked the bot; they must unblock it",
    "chat not found": "check telegram_chat_id in the directory; the employee must press"
    " Start in the bot first",
    "can't initiate conversation": "the employee must press Start in the bot first",
    "user is deactivated": "the employee's Telegram account is deleted",
    "kicked from the": "the bot was removed from the group; add it again",
    "Unauthorized": "FUNNEL_TELEGRAM_BOT_TOKEN is wrong or was revoked (@BotFather)",
}
_TOKEN_IN_URL = re.compile(r"/bot[0-9]+:[A-Za-z0-9_-]+")


class _HideBotToken(logging.Filter):
    """httpx logs each request's URL at INFO, and the worker logs INFO: the bot token would
    be in every log line of a Telegram request."""

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        if "/bot" in text:
            record.msg, record.args = _TOKEN_IN_URL.sub("/bot<token>", text), ()
        return True


_HIDE_BOT_TOKEN = _HideBotToken()


class TelegramBot:
    def __init__(
        self, config: IntegrationSettings, client: httpx.Client, public_url: str | None
    ) -> None:
        self._config = config
        self._client = client
        self._deal_links = deal_link_base(public_url)
        logging.getLogger("httpx").addFilter(_HIDE_BOT_TOKEN)  # once: filters are a set

    def call(self, method: str, params: dict[str, Any]) -> Any:
        """One Bot API method; its ``result`` or the problem, named without the token."""
        token = self._config.telegram_bot_token
        if token is None:
            raise Refused("Telegram is not configured: set FUNNEL_TELEGRAM_BOT_TOKEN")
        secret = token.get_secret_value()
        base = str(self._config.telegram_api_base).rstrip("/")
        what = f"Telegram {method}"
        try:
            response = self._client.post(
                f"{base}/bot{secret}/{method}", json=params, timeout=self._config.telegram_timeout
            )
        except httpx.TimeoutException as exc:
            raise Transient(f"{what} did not answer in time ({type(exc).__name__})") from None
        except httpx.TransportError as exc:
            reason = str(exc).replace(secret, "<token>")
            raise Transient(f"{what}: {base} unreachable: {reason}") from None
        try:
            data = response.json()
        except ValueError:
            data = None
        if not isinstance(data, dict):
            data = {"description": response.text[:300].strip() or response.reason_phrase}
        if response.is_success and data.get("ok") is True:
            return data.get("result")
        raise _problem(what, response.status_code, data)

    def get_me(self) -> dict[str, Any]:
        """The bot's own user (``funnel doctor`` checks the token with it)."""
        result = self.call("getMe", {})
        return result if isinstance(result, dict) else {}

    def send(self, d: Delivery, employee: Employee | None) -> str | None:
        if employee is None or employee.telegram_chat_id is None:
            raise Refused(f"employee {d.recipient!r} has no telegram_chat_id in the directory")
        result = self.call("sendMessage", self.message(d, employee))
        message_id = result.get("message_id") if isinstance(result, dict) else None
        return None if message_id is None else str(message_id)

    def message(self, d: Delivery, employee: Employee) -> dict[str, Any]:
        """The sendMessage parameters of a notice: its subject (the deal's title and stage)
        as a heading, the message, and a button that opens the deal in the workspace."""
        heading = _fit(str(d.payload.get("subject") or ""), HEADING_LIMIT)
        body = _fit(str(d.payload.get("message") or ""), MESSAGE_LIMIT - len(heading) - 2)
        params: dict[str, Any] = {"chat_id": employee.telegram_chat_id}
        if self._config.telegram_parse_mode == "HTML":
            # Deal titles and messages are the company's text, and a client's name may hold
            # "<" or "&": escaped, they show as typed instead of failing the message.
            escaped = html.escape(body, quote=False)
            params["text"] = (
                f"<b>{html.escape(heading, quote=False)}</b>\n\n{escaped}" if heading else escaped
            )
            params["parse_mode"] = "HTML"
        else:
            params["text"] = f"{heading}\n\n{body}" if heading else body
        if self._deal_links is not None:
            url = f"{self._deal_links}/deals/{quote(d.deal_id, safe='')}"
            button = {"text": OPEN_DEAL[employee.language], "url": url}
            params["reply_markup"] = {"inline_keyboard": [[button]]}
        return params


def deal_link_base(public_url: str | None) -> str | None:
    """Where the "Open deal" buttons point (FUNNEL_PUBLIC_URL), or None: no button. Telegram
    refuses a whole message whose button links to a host without a dot (localhost), and a
    loopback address (the default http://127.0.0.1:8000) is no use on a phone."""
    if not public_url:
        return None
    parts = urlsplit(public_url)
    host = parts.hostname or ""
    if parts.scheme not in ("http", "https") or "." not in host or _loopback(host):
        return None
    return public_url.rstrip("/")


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _problem(what: str, status: int, data: dict[str, Any]) -> Transient | Refused:
    error_code = data.get("error_code")
    code = error_code if isinstance(error_code, int) else status
    description = str(data.get("description") or f"HTTP {status}")
    parameters = data.get("parameters")
    if not isinstance(parameters, dict):
        parameters = {}
    message = f"{what}: {code} {description}"
    if code == 429 or code >= 500:
        retry_after = parameters.get("retry_after")
        wait = float(retry_after) if isinstance(retry_after, int | float) else None
        return Transient(message, wait)
    if (chat := parameters.get("migrate_to_chat_id")) is not None:
        return Refused(
            f"{message} (the group is now the supergroup {chat}: put that id in telegram_chat_id)"
        )
    hint = next((h for needle, h in _HINTS.items() if needle in description), None)
    return Refused(f"{message} ({hint})" if hint else message)


def _fit(text: str, room: int) -> str:
    return text if len(text) <= room else text[: max(room - 1, 0)] + "…"
