"""Invoices sent to clients: an invoice's document (HTML from a template with the company's
requisites, the amount in words and the VAT line; its PDF) e-mailed to the deal's contact
with a payment link, and the ANNULLED stamp the document of a cancelled invoice gets.

Everything is keyed by the invoice (``funnel.domain.invoices.invoice_document_key``): the
document is rendered once and the e-mail is one outbox row, so a retried activity, a replayed
deal or a deal coming back to the stage with the same invoice never sends it twice. The
issued HTML is the document of record; a cancelled invoice's document is that HTML with the
stamp, and its PDF is made again from it.
"""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from temporalio.exceptions import ApplicationError

from activities.dispatch import Dispatcher
from activities.documents import (
    DocumentProblem,
    DocumentRenderer,
    atomic_write,
    document_view,
    safe_name,
)
from funnel.domain.activity_io import DocumentView, SendInvoiceCall
from funnel.domain.invoice_sheet import InvoiceSheet, annulled
from funnel.domain.invoices import invoice_document_key
from funnel.domain.payment_links import payment_link
from funnel.domain.templates import TemplateProblem, render
from funnel.runtime.invoice_settings import InvoiceSetup
from funnel.runtime.pdf import PdfProblem, html_to_pdf
from funnel.storage.deliveries import DocumentIn
from funnel.storage.records import Invoice
from funnel.storage.store import Store

log = logging.getLogger(__name__)


def _problem(message: str, kind: str) -> ApplicationError:
    # The same input fails the same way every time: not retried, shown as the robot's failure.
    return ApplicationError(message, type=kind, non_retryable=True)


class InvoiceDocuments:
    def __init__(
        self, store: Store, dispatcher: Dispatcher, renderer: DocumentRenderer, setup: InvoiceSetup
    ) -> None:
        self._store = store
        self._dispatch = dispatcher
        self._renderer = renderer
        self._setup = setup

    def send(self, call: SendInvoiceCall, *, attempt: int) -> DocumentView:
        """Render and keep the invoice's document, then e-mail it to the deal's contact
        (unless e-mail is off: then it is only kept, and a warning logged)."""
        deal = call.context.deal
        invoice = self._store.invoice(deal.deal_id, call.invoice_id)
        if invoice is None:
            raise _problem(f"invoice {call.invoice_id} is not in the store", "InvoiceMissing")
        key = invoice_document_key(deal.deal_id, invoice.invoice_id)
        zone = ZoneInfo(call.timezone)
        sheet = self._sheet(invoice, zone)
        variables = {**call.context.template_vars(), **sheet.template_vars(self._setup.company)}
        document = self._dispatch.outbox.get_document(key) or self._keep(
            call, key, invoice, variables
        )
        if invoice.status == "cancelled":  # cancelled before its document went out
            self.annul(deal.deal_id, [invoice.invoice_id], invoice.replaced_by, call.at, zone)
            return document_view(document)
        if invoice.status == "paid":
            return document_view(document)
        self._email(call, key, document, variables, attempt)
        return document_view(document)

    def annul(
        self,
        deal_id: str,
        invoice_ids: list[str],
        replaced_by: str | None,
        at: datetime,
        zone: ZoneInfo,
    ) -> None:
        """Stamp the documents of cancelled invoices АННУЛИРОВАН (naming the invoice that
        replaces them); their PDFs are made again from the stamped HTML."""
        if not invoice_ids:
            return
        day = at.astimezone(zone).date()

        def stamp(html: str) -> str:
            return annulled(html, replaced_by=replaced_by, day=day)

        outbox = self._dispatch.outbox
        for path, html in outbox.annul_invoice_documents(deal_id, invoice_ids, stamp, at):
            try:
                atomic_write(Path(path), html.encode("utf-8"))
            except OSError as exc:  # the database has it; the file is a copy on one node
                log.warning("invoice document file %s not stamped: %s", path, exc)

    def _sheet(self, invoice: Invoice, zone: ZoneInfo) -> InvoiceSheet:
        template = self._setup.payment_url_template
        link = None
        if template is not None:
            link = payment_link(
                template,
                invoice_id=invoice.invoice_id,
                amount=invoice.amount,
                currency=invoice.currency,
                deal_id=invoice.deal_id,
            )
        return InvoiceSheet.of(
            number=invoice.invoice_id,
            day=invoice.created_at.astimezone(zone).date(),
            amount=invoice.amount,
            currency=invoice.currency,
            company=self._setup.company,
            replaces=invoice.replaces,
            payment_url=link,
        )

    def _keep(
        self, call: SendInvoiceCall, key: str, invoice: Invoice, variables: dict[str, Any]
    ) -> DocumentIn:
        document_vars = {"name": call.name, "date": variables["invoice"]["short_date"]}
        try:
            html = self._renderer.render(call.template, {**variables, "document": document_vars})
        except DocumentProblem as exc:
            raise _problem(str(exc), "TemplateProblem") from exc
        path, sha = self._renderer.write_file(invoice.deal_id, key, html)
        document = DocumentIn(
            key=key,
            deal_id=invoice.deal_id,
            name=f"{call.name} № {invoice.invoice_id}",
            template=call.template,
            path=str(path),
            pdf_path=None,
            sha256=sha,
            created_at=call.at,
            invoice_id=invoice.invoice_id,
        )
        outbox = self._dispatch.outbox
        if outbox.add_document(document, html):
            return document
        stored = outbox.get_document(key)  # another attempt of this run stored it first
        assert stored is not None
        return stored

    def _email(
        self,
        call: SendInvoiceCall,
        key: str,
        document: DocumentIn,
        variables: dict[str, Any],
        attempt: int,
    ) -> None:
        dispatch = self._dispatch
        to = call.context.deal.contact.email
        if to is None and dispatch.config.smtp_host is not None:
            raise _problem(
                f"the deal's contact has no e-mail address: invoice {document.invoice_id} is"
                " kept with the deal, not sent",
                "DeliveryRejected",
            )
        try:
            subject = render(call.subject, variables)
            message = render(call.message, variables)
        except TemplateProblem as exc:
            raise _problem(str(exc), "TemplateProblem") from exc
        ref = dispatch.plan_invoice_email(
            key,
            call.context,
            to=to or "",
            subject=subject,
            message=message,
            document_key=key,
            file_name=safe_name(f"invoice-{document.invoice_id}"),
            at=call.at,
        )
        if ref is None:
            return
        self._make_pdf(document)
        if refused := dispatch.run_inline([ref], attempt=attempt):
            raise _problem("; ".join(refused), "DeliveryRejected")

    def _make_pdf(self, document: DocumentIn) -> None:
        """The PDF the e-mail attaches, made now (documents nobody sends get theirs on the
        first download)."""
        outbox = self._dispatch.outbox
        html, pdf = outbox.document_content(document.key)
        if pdf is not None or html is None:
            return
        try:
            outbox.keep_pdf(document.key, html_to_pdf(html, self._renderer.templates))
        except PdfProblem as exc:
            raise _problem(f"invoice {document.invoice_id}: {exc}", "PdfProblem") from exc
