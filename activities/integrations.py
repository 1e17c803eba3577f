"""The integrations a worker's robots use: the dispatcher of external deliveries (sent inside
each robot's activity, see activities.dispatch), ``render_document``, which renders and
stores a deal document once per robot run, and ``send_invoice``, which e-mails an invoice's
document to the client once per invoice (activities.invoices).
"""

from __future__ import annotations

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.dispatch import Dispatcher
from activities.documents import DocumentProblem, DocumentRenderer, document_view
from activities.invoices import InvoiceDocuments
from funnel.domain.activity_io import (
    ActivityName,
    DocumentView,
    RenderDocumentCall,
    SendInvoiceCall,
)
from funnel.runtime.integration_settings import IntegrationSettings
from funnel.runtime.invoice_settings import InvoiceSetup, load_invoice_setup
from funnel.runtime.settings import Settings
from funnel.storage.deliveries import DeliveryStore, DocumentIn
from funnel.storage.directory import Directory
from funnel.storage.store import Store


class IntegrationActivities:
    def __init__(
        self,
        dispatcher: Dispatcher,
        renderer: DocumentRenderer,
        invoice_setup: InvoiceSetup | None = None,
    ) -> None:
        self._dispatch = dispatcher
        self._renderer = renderer
        self.invoices = InvoiceDocuments(
            dispatcher.store, dispatcher, renderer, invoice_setup or load_invoice_setup()
        )

    @property
    def dispatcher(self) -> Dispatcher:
        return self._dispatch

    @activity.defn(name=ActivityName.SEND_INVOICE)
    def send_invoice(self, call: SendInvoiceCall) -> DocumentView:
        return self.invoices.send(call, attempt=activity.info().attempt)

    @activity.defn(name=ActivityName.RENDER_DOCUMENT)
    def render_document(self, call: RenderDocumentCall) -> DocumentView:
        outbox = self._dispatch.outbox
        existing = outbox.get_document(call.key)
        if existing is not None:
            return document_view(existing)  # a retry or a replay: the document of record stays
        try:
            html = self._renderer.render_html(call)
        except DocumentProblem as exc:
            raise ApplicationError(str(exc), type="TemplateProblem", non_retryable=True) from exc
        html_path, sha = self._renderer.write(call, html)
        document = DocumentIn(
            key=call.key,
            deal_id=call.context.deal.deal_id,
            name=call.name,
            template=call.template,
            path=str(html_path),
            pdf_path=None,  # made from the HTML on the first download (funnel/runtime/pdf.py)
            sha256=sha,
            created_at=call.at,
        )
        if outbox.add_document(document, html):
            return document_view(document)
        stored = outbox.get_document(call.key)  # another attempt of this run stored it first
        assert stored is not None
        return document_view(stored)


def build_integrations(store: Store, settings: Settings | None = None) -> IntegrationActivities:
    """The worker's integrations from the environment: the directory file, the channel
    settings, the outbox tables (made by the migrations), the documents folder and the
    invoice settings (a bad one raises InvoiceSetupError, naming it)."""
    settings = settings or Settings()
    outbox = DeliveryStore(store)
    dispatcher = Dispatcher(
        store,
        outbox,
        Directory.load(settings.directory),
        IntegrationSettings(),
        public_url=settings.public_url,
    )
    renderer = DocumentRenderer(settings.home.resolve() / "documents")
    return IntegrationActivities(dispatcher, renderer)
