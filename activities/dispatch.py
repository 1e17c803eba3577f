"""From a robot run to external deliveries (webhook, e-mail, Bitrix24, Telegram), each sent
at most once.

``plan_*`` write the deliveries a robot run needs into the outbox (funnel.storage.deliveries) and
return references to them; ``run_inline`` sends them inside the robot's own activity, one by
one through ``deliver``, which sends a delivery or finds it sent. A delivery that fails for
now is left pending and the activity raises a retryable error, so Temporal's retry policy is
the backoff (or the wait a rate-limited receiver asked for); the outbox keeps the deliveries
that did go out from going again on that retry.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import httpx
from temporalio.exceptions import ApplicationError

from activities.channels import (
    Attachment,
    Bitrix24,
    EmailSender,
    Refused,
    Transient,
    WebhookSender,
)
from activities.telegram import TelegramBot
from funnel.domain.activity_io import RobotContext
from funnel.domain.channels import Channel
from funnel.runtime.integration_settings import IntegrationSettings
from funnel.runtime.pdf import PdfProblem, html_to_pdf
from funnel.storage.deliveries import Delivery, DeliveryIn, DeliveryKind, DeliveryStore
from funnel.storage.directory import Directory
from funnel.storage.records import ReportEventIn
from funnel.storage.store import Store

log = logging.getLogger(__name__)

BITRIX_DEAL_FIELD = "bitrix24_deal_id"  # custom deal field with the deal's id in Bitrix24
CLIENT = "client"  # the recipient of a deal's e-mails to its contact (invoices)


@dataclass(frozen=True)
class DeliveryRef:
    """One external delivery in the outbox: a robot run to one recipient on one channel."""

    key: str
    channel: str
    recipient: str


@dataclass(frozen=True)
class DeliveryResult:
    ref: DeliveryRef
    status: Literal["sent", "already_sent"]
    external_id: str | None = None


class Dispatcher:
    def __init__(
        self,
        store: Store,
        outbox: DeliveryStore,
        directory: Directory,
        config: IntegrationSettings,
        *,
        public_url: str | None = None,
    ) -> None:
        """``public_url``: the workspace's address (FUNNEL_PUBLIC_URL), for the links that
        open a deal from a message."""
        self.store = store
        self.outbox = outbox
        self.directory = directory
        self.config = config
        # One pooled client for all worker threads (httpx.Client is thread-safe).
        self._http = httpx.Client(headers={"User-Agent": "sales-funnel/0.1"})
        self._webhook = WebhookSender(config, self._http)
        self._email = EmailSender(config)
        self._bitrix = Bitrix24(config, self._http)
        self._telegram = TelegramBot(config, self._http, public_url)

    def close(self) -> None:
        self._http.close()

    # --- planning -------------------------------------------------------------------------

    def channels_of(self, recipient: str, robot_channels: list[str] | None) -> list[Channel]:
        return self.directory.channels_for(recipient, robot_channels)

    def _configured(self, channel: Channel, recipient: str) -> bool:
        c = self.config
        employee = self.directory.get(recipient)
        ok = {
            "inapp": True,
            "webhook": c.webhook_url is not None or bool(employee and employee.webhook_url),
            "email": c.smtp_host is not None,
            "bitrix24": c.bitrix24_webhook_url is not None,
            "telegram": c.telegram_bot_token is not None,
        }[channel]
        if not ok:
            log.warning("channel %s is not configured: %s not notified there", channel, recipient)
        return ok

    def plan_notice(
        self,
        key: str,
        ctx: RobotContext,
        recipients: list[str],
        message: str,
        robot_channels: list[str] | None,
        at: datetime,
    ) -> list[DeliveryRef]:
        payload = {
            **_where(ctx),
            "message": message,
            "subject": f"{ctx.title}: {ctx.stage_name}",
            "title": ctx.title,
        }
        refs = []
        for recipient in recipients:
            for channel in self.channels_of(recipient, robot_channels):
                if channel != "inapp" and self._configured(channel, recipient):
                    refs.append(self._enqueue(key, channel, recipient, "notice", ctx, payload, at))
        return refs

    def plan_task(
        self, key: str, ctx: RobotContext, task: dict[str, Any], at: datetime
    ) -> list[DeliveryRef]:
        """Mirror a task to Bitrix24 (tasks.task.add) when it is configured and the
        responsible has a Bitrix24 user id."""
        if not (self.config.bitrix24_webhook_url and self.config.bitrix24_tasks):
            return []
        ids = self._bitrix_ids
        responsible = ids([task["responsible"]])
        if not responsible:
            log.warning(
                "task %s not mirrored: %s has no bitrix24_user_id", key, task["responsible"]
            )
            return []
        fields: dict[str, Any] = {
            "TITLE": task["title"],
            "DESCRIPTION": task["description"],
            "RESPONSIBLE_ID": responsible[0],
            "ACCOMPLICES": ids(task["co_executors"]),
            "AUDITORS": ids(task["observers"]),
            "TASK_CONTROL": "Y" if task["needs_confirmation"] else "N",
            "TAGS": [key],  # found again by tasks.task.list on a retry (see _send)
        }
        if creator := ids([task["created_by"]]):
            fields["CREATED_BY"] = creator[0]
        if task["deadline_at"] is not None:
            fields["DEADLINE"] = task["deadline_at"].isoformat()
        if (deal := _bitrix_deal(ctx)) is not None:
            fields["UF_CRM_TASK"] = [f"D_{deal}"]
        payload = {**_where(ctx), "fields": fields}
        return [self._enqueue(key, "bitrix24", "task", "task", ctx, payload, at)]

    def plan_deal_update(
        self, key: str, ctx: RobotContext, *, title: str | None = None, at: datetime
    ) -> list[DeliveryRef]:
        """crm.deal.update of the title (``title`` given) or of the stage (mapped through
        FUNNEL_BITRIX24_STAGES), for deals that carry a Bitrix24 deal id."""
        deal = _bitrix_deal(ctx)
        if self.config.bitrix24_webhook_url is None or deal is None:
            return []
        if title is not None:
            fields = {"TITLE": title}
        elif ctx.stage_id in self.config.bitrix24_stages:
            fields = {"STAGE_ID": self.config.bitrix24_stages[ctx.stage_id]}
        else:
            return []
        payload = {**_where(ctx), "bitrix24_deal_id": deal, "fields": fields}
        return [self._enqueue(key, "bitrix24", "deal", "deal", ctx, payload, at)]

    def plan_invoice_email(
        self,
        key: str,
        ctx: RobotContext,
        *,
        to: str,
        subject: str,
        message: str,
        document_key: str,
        file_name: str,
        at: datetime,
    ) -> DeliveryRef | None:
        """An invoice e-mailed to the deal's contact with its document attached (PDF and
        HTML, read from the documents table when it is sent); None when e-mail is off."""
        if self.config.smtp_host is None:
            log.warning("e-mail is not configured: invoice %s not sent to %s", document_key, to)
            return None
        payload = {
            **_where(ctx),
            "to": to,
            "subject": subject,
            "message": message,
            "document_key": document_key,
            "file_name": file_name,
        }
        return self._enqueue(key, "email", CLIENT, "invoice", ctx, payload, at)

    def _bitrix_ids(self, people: list[str]) -> list[int]:
        found = [self.directory.get(p) for p in people]
        return [e.bitrix24_user_id for e in found if e is not None and e.bitrix24_user_id]

    def _enqueue(
        self,
        key: str,
        channel: str,
        recipient: str,
        kind: DeliveryKind,
        ctx: RobotContext,
        payload: dict[str, Any],
        at: datetime,
    ) -> DeliveryRef:
        self.outbox.enqueue(
            DeliveryIn(
                key=key,
                channel=channel,
                recipient=recipient,
                deal_id=ctx.deal.deal_id,
                kind=kind,
                payload=payload,
                created_at=at,
            )
        )
        return DeliveryRef(key=key, channel=channel, recipient=recipient)

    # --- sending --------------------------------------------------------------------------

    def deliver(self, ref: DeliveryRef) -> DeliveryResult:
        """Send one delivery unless it went out already. Raises Transient (try again) or
        Refused (never again; the delivery is marked failed and written to the report)."""
        row = self.outbox.get(ref.key, ref.channel, ref.recipient)
        if row is None:
            raise Refused(f"no delivery {ref.key} / {ref.channel} / {ref.recipient} in the outbox")
        if row.status == "sent":
            return DeliveryResult(ref, "already_sent", row.external_id)
        if row.status == "failed":
            raise Refused(row.last_error or "failed earlier")
        self.outbox.start_attempt(row.id)
        try:
            external_id = self._send(row)
        except Refused as exc:
            self.give_up(row, str(exc))
            raise
        except Transient as exc:
            self.outbox.note_error(row.id, str(exc))
            raise
        self.outbox.mark_sent(row.id, external_id)
        return DeliveryResult(ref, "sent", external_id)

    def _send(self, row: Delivery) -> str | None:
        if row.kind == "invoice":
            return self._send_invoice(row)
        employee = self.directory.get(row.recipient)
        if row.channel == "webhook":
            return self._webhook.send(row, employee)
        if row.channel == "email":
            return self._email.send(row, employee)
        if row.channel == "telegram":
            return self._telegram.send(row, employee)
        if row.channel != "bitrix24":
            raise Refused(f"unknown channel {row.channel!r}")
        if row.kind == "notice":
            if employee is None or employee.bitrix24_user_id is None:
                raise Refused(f"employee {row.recipient!r} has no bitrix24_user_id")
            return self._bitrix.notify(
                employee.bitrix24_user_id, str(row.payload["message"]), row.delivery_key
            )
        if row.kind == "task":
            # attempts > 0: an earlier attempt may have created the task before the worker
            # died, and tasks.task.add has no idempotency key: look for its tag first.
            if row.attempts > 0 and (found := self._bitrix.find_task(row.key)) is not None:
                return found
            return self._bitrix.add_task(dict(row.payload["fields"]))
        self._bitrix.update_deal(int(row.payload["bitrix24_deal_id"]), dict(row.payload["fields"]))
        return None

    def _send_invoice(self, row: Delivery) -> str | None:
        key = str(row.payload["document_key"])
        html, pdf = self.outbox.document_content(key)
        if html is None:
            raise Refused(f"invoice document {key} is not in the database")
        if pdf is None:  # made by the invoice robot before it enqueued the e-mail
            try:
                pdf = self.outbox.keep_pdf(key, html_to_pdf(html))
            except PdfProblem as exc:
                raise Refused(f"invoice document {key}: {exc}") from exc
        name = str(row.payload["file_name"])
        attachments = [
            Attachment(f"{name}.pdf", pdf, "application/pdf"),
            Attachment(f"{name}.html", html.encode("utf-8"), "text/html"),
        ]
        return self._email.send_to(str(row.payload["to"]), row, attachments)

    def give_up(self, row: Delivery, error: str) -> None:
        """Mark the delivery failed for good and write it to the report log."""
        self.outbox.mark_failed(row.id, error)
        p = row.payload
        log.error("delivery %s via %s to %s failed: %s", row.key, row.channel, row.recipient, error)
        self.store.add_report_event(
            ReportEventIn(
                key=f"{row.key}:{row.channel}:{row.recipient}:failed",
                deal_id=row.deal_id,
                pipeline_id=str(p.get("pipeline_id", "")),
                pipeline_version=str(p.get("pipeline_version", "")),
                stage=str(p.get("stage", "")),
                kind="delivery_failed",
                at=datetime.now(UTC),
                details={"channel": row.channel, "recipient": row.recipient, "error": error},
            )
        )

    def run_inline(self, refs: list[DeliveryRef], *, attempt: int) -> list[str]:
        """Send a robot run's deliveries in its own activity. Any still failing for now:
        raise a retryable ApplicationError (the retry sends only those), until attempt
        FUNNEL_DELIVERY_MAX_ATTEMPTS, where they are given up. Returns what was refused."""
        refused: list[str] = []
        failing: list[tuple[DeliveryRef, str]] = []
        wait = 0.0  # the longest a receiver asked us to wait (Telegram's retry_after)
        for ref in refs:
            try:
                self.deliver(ref)
            except Refused as exc:
                refused.append(f"{ref.channel} to {ref.recipient}: {exc}")
            except Transient as exc:
                failing.append((ref, str(exc)))
                wait = max(wait, exc.retry_after or 0.0)
        if failing and attempt < self.config.delivery_max_attempts:
            raise ApplicationError(
                "; ".join(f"{r.channel} to {r.recipient}: {e}" for r, e in failing),
                type="DeliveryFailed",
                # Temporal schedules the retry then, instead of by the policy's backoff.
                next_retry_delay=timedelta(seconds=wait) if wait else None,
            )
        for ref, error in failing:
            row = self.outbox.get(ref.key, ref.channel, ref.recipient)
            assert row is not None
            message = f"gave up after {attempt} attempts: {error}"
            self.give_up(row, message)
            refused.append(f"{ref.channel} to {ref.recipient}: {message}")
        return refused


def _where(ctx: RobotContext) -> dict[str, Any]:
    return {
        "stage": ctx.stage_id,
        "pipeline_id": ctx.pipeline_id,
        "pipeline_version": ctx.pipeline_version,
    }


def _bitrix_deal(ctx: RobotContext) -> int | None:
    value = ctx.deal.fields.get(BITRIX_DEAL_FIELD)
    if value is None or isinstance(value, bool):
        return None
    try:
        return int(value)
    except ValueError:
        log.warning("deal %s: %s=%r is not a number", ctx.deal.deal_id, BITRIX_DEAL_FIELD, value)
        return None
