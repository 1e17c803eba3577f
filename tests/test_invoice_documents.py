"""Invoices sent to clients, against a real SMTP server (aiosmtpd on 127.0.0.1) and a fresh
SQLite store: the e-mail carries the invoice's PDF and HTML and the payment link, the PDF
reads back with the requisites, the amount in words and the VAT line, a retried send goes
out once, a cancelled invoice's document is stamped and the new one names it."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pypdf
import pytest
from temporalio.exceptions import ApplicationError

from activities.dispatch import Dispatcher
from activities.documents import DocumentRenderer
from activities.integrations import IntegrationActivities
from activities.robots import RobotActivities
from funnel.domain.activity_io import CreateInvoiceCall, DocumentView, SendInvoiceCall
from funnel.domain.pipeline import INVOICE_MESSAGE, INVOICE_SUBJECT
from funnel.runtime.invoice_settings import InvoiceSettings, load_invoice_setup
from funnel.runtime.pdf import document_font, html_to_pdf
from tests.integration_fixtures import NOW, context
from tests.receivers import SmtpReceiver, free_port

PAY = "https://pay.example/{invoice_id}?amount={amount}&currency={currency}"
ZONE = "Europe/Moscow"

pytestmark = pytest.mark.skipif(
    document_font() is None, reason="no TrueType font with Cyrillic (FUNNEL_DOCUMENT_FONT)"
)


@pytest.fixture
def parts(dispatcher: Dispatcher, tmp_path: Path) -> tuple[RobotActivities, IntegrationActivities]:
    setup = load_invoice_setup(InvoiceSettings(payment_url_template=PAY))
    integrations = IntegrationActivities(dispatcher, DocumentRenderer(tmp_path / "docs"), setup)
    return RobotActivities(dispatcher.store, integrations), integrations


def issue(
    robots: RobotActivities,
    invoice_id: str,
    *,
    amount: str = "250000",
    replaces: list[str] | None = None,
    at: datetime = NOW,
) -> None:
    ctx = context("D-1")
    deal = ctx.deal.model_copy(update={"amount": Decimal(amount)})
    robots.create_invoice(
        CreateInvoiceCall(
            key=f"D-1:{invoice_id}:issue",
            invoice_id=invoice_id,
            context=ctx.model_copy(update={"deal": deal}),
            at=at,
            timezone=ZONE,
            replaces=replaces or [],
        )
    )


def send_call(invoice_id: str, email: str | None = "anna@romashka.example") -> SendInvoiceCall:
    ctx = context("D-1")
    contact = ctx.deal.contact.model_copy(update={"email": email})
    deal = ctx.deal.model_copy(update={"contact": contact})
    return SendInvoiceCall(
        key="D-1:5:invoice_to_client",
        context=ctx.model_copy(update={"deal": deal}),
        invoice_id=invoice_id,
        template="invoice.html.j2",
        name="Счёт на оплату",
        subject=INVOICE_SUBJECT,
        message=INVOICE_MESSAGE,
        timezone=ZONE,
        at=NOW,
    )


def received(smtp: SmtpReceiver) -> list[EmailMessage]:
    return [
        message_from_bytes(e.original_content or b"", policy=policy.default)
        for e in smtp.mailbox.messages
    ]


def parts_of(message: EmailMessage) -> dict[str, tuple[str, bytes]]:
    """Attachment file name -> (content type, bytes)."""
    found: dict[str, tuple[str, bytes]] = {}
    for part in message.iter_attachments():
        content = part.get_payload(decode=True)
        assert isinstance(content, bytes)
        found[part.get_filename() or ""] = (part.get_content_type(), content)
    return found


def key_of(view: DocumentView) -> str:
    assert view.key is not None
    return view.key


def pdf_text(data: bytes) -> str:
    return " ".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(data)).pages)


def test_the_client_gets_the_invoice_pdf_html_and_payment_link_once(
    parts: tuple[RobotActivities, IntegrationActivities], smtp_receiver: SmtpReceiver
) -> None:
    robots, integrations = parts
    issue(robots, "D-1-5")
    view = integrations.invoices.send(send_call("D-1-5"), attempt=1)
    again = integrations.invoices.send(send_call("D-1-5"), attempt=2)  # a retried activity
    assert again == view and view.key == "D-1:invoice-document:D-1-5"

    [message] = received(smtp_receiver)
    assert smtp_receiver.mailbox.messages[0].rcpt_tos == ["anna@romashka.example"]
    assert message["Subject"] == "Счёт № D-1-5 от 01.12.2026"
    body = message.get_body(("plain",))
    assert body is not None
    text = body.get_content()
    assert "https://pay.example/D-1-5?amount=250000.00&currency=RUB" in text
    assert "Двести пятьдесят тысяч рублей 00 копеек" in text
    attached = parts_of(message)
    assert set(attached) == {"invoice-D-1-5.pdf", "invoice-D-1-5.html"}
    kind, pdf = attached["invoice-D-1-5.pdf"]
    assert kind == "application/pdf"
    html_kind, html = attached["invoice-D-1-5.html"]
    stored_html, stored_pdf = integrations.dispatcher.outbox.document_content(key_of(view))
    assert html_kind == "text/html" and html.decode() == stored_html and pdf == stored_pdf

    printed = " ".join(pdf_text(pdf).split())
    for expected in (
        "Счёт на оплату № D-1-5 от 1 декабря 2026 г.",
        "Двести пятьдесят тысяч рублей 00 копеек",
        "В том числе НДС 22 %: 45 081,97",  # 250,000 with 22 % inside
        "Всего к оплате: 250 000,00 RUB",
        "ООО «ПУСК»",
        "ИНН 7701234560",
        "КПП 770101001",
        "044525999",
        "30101810600000000999",
        "40702810600000012345",
        "Romashka LLC",
        "сделка № D-1",
        "https://pay.example/D-1-5?amount=250000.00&currency=RUB",
    ):
        assert expected.replace("\u00a0", " ") in printed.replace("\u00a0", " "), expected


def test_an_smtp_failure_is_retried_and_the_invoice_still_goes_once(
    parts: tuple[RobotActivities, IntegrationActivities], smtp_receiver: SmtpReceiver
) -> None:
    robots, integrations = parts
    issue(robots, "D-1-5")
    config = integrations.dispatcher.config
    port = config.smtp_port
    config.smtp_port = free_port()  # nothing listens there: the server is down
    with pytest.raises(ApplicationError) as down:
        integrations.invoices.send(send_call("D-1-5"), attempt=1)
    assert not down.value.non_retryable and "SMTP" in str(down.value)
    assert smtp_receiver.mailbox.messages == []
    config.smtp_port = port  # back up: Temporal's retry sends it
    integrations.invoices.send(send_call("D-1-5"), attempt=2)
    integrations.invoices.send(send_call("D-1-5"), attempt=3)  # and a later retry sends nothing
    assert len(smtp_receiver.mailbox.messages) == 1
    [row] = integrations.dispatcher.outbox.find(deal_id="D-1")
    assert (row.recipient, row.status, row.attempts) == ("client", "sent", 2)


def test_a_cancelled_invoice_is_stamped_and_the_new_one_names_it(
    parts: tuple[RobotActivities, IntegrationActivities], smtp_receiver: SmtpReceiver
) -> None:
    robots, integrations = parts
    outbox = integrations.dispatcher.outbox
    issue(robots, "D-1-5")
    old = integrations.invoices.send(send_call("D-1-5"), attempt=1)
    _, first_pdf = outbox.document_content(key_of(old))
    assert first_pdf is not None and "АННУЛИРОВАН" not in pdf_text(first_pdf)

    later = NOW + timedelta(days=1)
    issue(robots, "D-1-5-e1", amount="300000", replaces=["D-1-5"], at=later)
    issue(robots, "D-1-5-e1", amount="300000", replaces=["D-1-5"], at=later)  # a retry
    html, pdf = outbox.document_content(key_of(old))
    assert html is not None and pdf is None  # made again, from the stamped HTML
    assert html.count("АННУЛИРОВАН") == 1 and "Заменён счётом № D-1-5-e1" in html
    assert Path(old.path).read_text() == html
    stamped = " ".join(pdf_text(html_to_pdf(html)).split())
    assert "СЧЁТ АННУЛИРОВАН (ANNULLED) 2 декабря 2026 г." in stamped
    [document] = [d for d in outbox.documents("D-1") if d.key == old.key]
    assert document.cancelled_at == later and document.invoice_id == "D-1-5"

    by_id = {i.invoice_id: i for i in integrations.dispatcher.store.invoices("D-1")}
    assert by_id["D-1-5"].status == "cancelled" and by_id["D-1-5"].replaced_by == "D-1-5-e1"
    assert by_id["D-1-5"].cancelled_at == later
    assert by_id["D-1-5-e1"].status == "issued" and by_id["D-1-5-e1"].replaces == "D-1-5"

    new = integrations.invoices.send(send_call("D-1-5-e1"), attempt=1)
    _, second = received(smtp_receiver)
    body = second.get_body(("plain",))
    assert (
        body is not None and "Он заменяет счёт № D-1-5, который аннулирован" in body.get_content()
    )
    _, new_pdf = outbox.document_content(key_of(new))
    assert new_pdf is not None
    printed = " ".join(pdf_text(new_pdf).split())
    assert "Взамен счёта № D-1-5, который аннулирован" in printed
    assert "Триста тысяч рублей 00 копеек" in printed and "АННУЛИРОВАН" not in printed


def test_a_contact_without_e_mail_is_refused_and_the_invoice_kept(
    parts: tuple[RobotActivities, IntegrationActivities], smtp_receiver: SmtpReceiver
) -> None:
    robots, integrations = parts
    issue(robots, "D-1-5")
    with pytest.raises(ApplicationError, match="contact has no e-mail address") as refused:
        integrations.invoices.send(send_call("D-1-5", email=None), attempt=1)
    assert refused.value.non_retryable and smtp_receiver.mailbox.messages == []
    [document] = integrations.dispatcher.outbox.documents("D-1")
    assert document.invoice_id == "D-1-5"  # the manager can download it and send it by hand


def test_with_e_mail_off_the_invoice_is_kept_not_sent(
    parts: tuple[RobotActivities, IntegrationActivities], smtp_receiver: SmtpReceiver
) -> None:
    robots, integrations = parts
    integrations.dispatcher.config.smtp_host = None
    issue(robots, "D-1-5")
    view = integrations.invoices.send(send_call("D-1-5"), attempt=1)
    assert integrations.dispatcher.outbox.find(deal_id="D-1") == []
    html, pdf = integrations.dispatcher.outbox.document_content(key_of(view))
    assert html is not None and "D-1-5" in html and pdf is None  # its PDF: on first download
    assert smtp_receiver.mailbox.messages == []


def test_a_paid_invoice_is_not_sent(
    parts: tuple[RobotActivities, IntegrationActivities], smtp_receiver: SmtpReceiver
) -> None:
    robots, integrations = parts
    issue(robots, "D-1-5")
    integrations.dispatcher.store.mark_invoice_paid(
        "D-1-5", deal_id="D-1", amount=None, paid_at=datetime.now(UTC), payment_id="p1"
    )
    integrations.invoices.send(send_call("D-1-5"), attempt=1)
    assert smtp_receiver.mailbox.messages == []
