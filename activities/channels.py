"""Senders of the external channels: outgoing webhook, SMTP e-mail and Bitrix24 REST
(Telegram: activities/telegram.py).

Each sender sends one outbox row (:class:`funnel.storage.deliveries.Delivery`) and either returns
the receiver's id for it or raises :class:`Transient` (try again later: the receiver is down,
slow, or answered 5xx/429) or :class:`Refused` (it will never work: a 4xx, a refused
recipient). The dispatcher turns these into retryable or non-retryable activity errors, so
that backoff is Temporal's retry policy and not a loop here.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import smtplib
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

import httpx

from funnel.runtime.integration_settings import IntegrationSettings
from funnel.storage.deliveries import Delivery
from funnel.storage.directory import Employee

USER_AGENT = "sales-funnel/0.1"
SIGNATURE_HEADER = "X-Funnel-Signature"
KEY_HEADER = "Idempotency-Key"
ROBOT_KEY_HEADER = "X-Funnel-Key"


class DeliveryProblem(Exception):
    pass


class Transient(DeliveryProblem):
    """Worth trying again; ``retry_after``: not before that many seconds (the receiver said
    so, as Telegram's flood control does)."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Refused(DeliveryProblem):
    """The receiver refused the delivery for good: do not send it again."""


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _http_problem(what: str, response: httpx.Response) -> DeliveryProblem:
    text = response.text[:300].strip()
    message = f"{what} answered HTTP {response.status_code}: {text or response.reason_phrase}"
    # 408/429 and 5xx are the receiver's momentary trouble; any other 4xx is our request.
    if response.status_code in (408, 429) or response.status_code >= 500:
        return Transient(message)
    return Refused(message)


def _post(client: httpx.Client, what: str, url: str, **kwargs: Any) -> httpx.Response:
    try:
        response = client.post(url, **kwargs)
    except httpx.TimeoutException as exc:
        raise Transient(f"{what} did not answer in time ({type(exc).__name__})") from exc
    except httpx.TransportError as exc:
        raise Transient(f"{what} unreachable: {exc}") from exc
    if response.is_success:
        return response
    raise _http_problem(what, response)


class WebhookSender:
    def __init__(self, config: IntegrationSettings, client: httpx.Client) -> None:
        self._config = config
        self._client = client

    def send(self, d: Delivery, employee: Employee | None) -> str | None:
        url = (employee.webhook_url if employee else None) or self._config.webhook_url
        if url is None:
            raise Refused("no webhook URL: set FUNNEL_WEBHOOK_URL or the employee's webhook_url")
        body = json.dumps(
            {
                "event": d.kind,
                "key": d.delivery_key,
                "robot_key": d.key,
                "deal_id": d.deal_id,
                "recipient": d.recipient,
                **d.payload,
            },
            ensure_ascii=False,
            sort_keys=True,
            separators=(",", ":"),
        ).encode()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            KEY_HEADER: d.delivery_key,
            ROBOT_KEY_HEADER: d.key,
        }
        if self._config.webhook_secret is not None:
            headers[SIGNATURE_HEADER] = sign(self._config.webhook_secret.get_secret_value(), body)
        response = _post(
            self._client,
            f"webhook {url}",
            str(url),
            content=body,
            headers=headers,
            timeout=self._config.webhook_timeout,
        )
        request_id: str | None = response.headers.get("X-Request-Id")
        return request_id


@dataclass(frozen=True)
class Attachment:
    filename: str
    content: bytes
    mime_type: str  # e.g. "application/pdf"


class EmailSender:
    def __init__(self, config: IntegrationSettings) -> None:
        self._config = config

    def send(self, d: Delivery, employee: Employee | None) -> str | None:
        if employee is None or employee.email is None:
            raise Refused(f"employee {d.recipient!r} has no e-mail address in the directory")
        return self.send_to(employee.email, d)

    def send_to(
        self, address: str, d: Delivery, attachments: Sequence[Attachment] = ()
    ) -> str | None:
        """Send the delivery's ``subject`` and ``message`` to ``address``; returns the
        Message-ID."""
        c = self._config
        if c.smtp_host is None:
            raise Refused("e-mail is not configured: set FUNNEL_SMTP_HOST")
        msg = EmailMessage()
        msg["From"] = c.smtp_from
        msg["To"] = address
        msg["Subject"] = str(d.payload.get("subject") or "Sales funnel")
        # Derived from the key: a repeat after a crash carries the same Message-ID, which
        # mail stores use to drop duplicates.
        digest = hashlib.sha256(d.delivery_key.encode()).hexdigest()[:40]
        msg["Message-ID"] = f"<{digest}@{c.smtp_from.split('@', 1)[1]}>"
        msg["X-Funnel-Idempotency-Key"] = d.delivery_key
        msg.set_content(str(d.payload.get("message", "")))
        for a in attachments:
            maintype, subtype = a.mime_type.split("/", 1)
            msg.add_attachment(a.content, maintype=maintype, subtype=subtype, filename=a.filename)
        try:
            with smtplib.SMTP(c.smtp_host, c.smtp_port, timeout=c.smtp_timeout) as smtp:
                if c.smtp_starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if c.smtp_username:
                    password = c.smtp_password.get_secret_value() if c.smtp_password else ""
                    smtp.login(c.smtp_username, password)
                smtp.send_message(msg)
        except smtplib.SMTPRecipientsRefused as exc:
            code, text = next(iter(exc.recipients.values()))
            raise _smtp_problem(f"recipient {address} refused", code, text) from exc
        except smtplib.SMTPResponseException as exc:
            raise _smtp_problem(
                "SMTP server refused the message", exc.smtp_code, exc.smtp_error
            ) from exc
        except (TimeoutError, smtplib.SMTPException, OSError) as exc:
            raise Transient(f"SMTP {c.smtp_host}:{c.smtp_port} failed: {exc}") from exc
        return str(msg["Message-ID"])


def _smtp_problem(what: str, code: int, text: bytes | str) -> DeliveryProblem:
    detail = text.decode(errors="replace") if isinstance(text, bytes) else text
    message = f"{what}: {code} {detail}"
    # 4xx replies are temporary by RFC 5321 (greylisting, mailbox busy); 5xx are final.
    return Transient(message) if 400 <= code < 500 else Refused(message)


class Bitrix24:
    """The three REST methods used, through an incoming webhook (the URL holds the token)."""

    def __init__(self, config: IntegrationSettings, client: httpx.Client) -> None:
        self._config = config
        self._client = client

    @property
    def configured(self) -> bool:
        return self._config.bitrix24_webhook_url is not None

    def call(self, method: str, params: dict[str, Any]) -> Any:
        if self._config.bitrix24_webhook_url is None:
            raise Refused("Bitrix24 is not configured: set FUNNEL_BITRIX24_WEBHOOK_URL")
        url = str(self._config.bitrix24_webhook_url).rstrip("/") + f"/{method}.json"
        what = f"Bitrix24 {method}"
        try:
            response = self._client.post(url, json=params, timeout=self._config.bitrix24_timeout)
        except httpx.TimeoutException as exc:
            raise Transient(f"{what} did not answer in time ({type(exc).__name__})") from exc
        except httpx.TransportError as exc:
            raise Transient(f"{what}: portal unreachable: {exc}") from exc
        try:
            data = response.json()
        except ValueError:
            data = None
        if isinstance(data, dict) and "error" in data:
            message = f"{what}: {data['error']}: {data.get('error_description', '')}".strip()
            # Bitrix24 answers an overload with QUERY_LIMIT_EXCEEDED (HTTP 503).
            if data["error"] == "QUERY_LIMIT_EXCEEDED" or response.status_code >= 500:
                raise Transient(message)
            raise Refused(message)
        if not response.is_success or not isinstance(data, dict) or "result" not in data:
            raise _http_problem(what, response)
        return data["result"]

    def notify(self, user_id: int, message: str, tag: str) -> str:
        # TAG: a second notice with the same tag replaces the first, so a repeat sent
        # after a crash leaves one notice in the user's notification center.
        result = self.call(
            "im.notify.system.add", {"USER_ID": user_id, "MESSAGE": message, "TAG": tag}
        )
        return str(result)

    def find_task(self, tag: str) -> str | None:
        result = self.call("tasks.task.list", {"filter": {"TAG": tag}, "select": ["ID"]})
        tasks = result.get("tasks", []) if isinstance(result, dict) else []
        return str(tasks[0].get("id") or tasks[0].get("ID")) if tasks else None

    def add_task(self, fields: dict[str, Any]) -> str:
        result = self.call("tasks.task.add", {"fields": fields})
        task = result.get("task", {}) if isinstance(result, dict) else {}
        return str(task.get("id") or task.get("ID") or "")

    def update_deal(self, deal_id: int, fields: dict[str, Any]) -> None:
        self.call(
            "crm.deal.update",
            {"id": deal_id, "fields": fields, "params": {"REGISTER_SONET_EVENT": "N"}},
        )
