"""Activities of the integrations: one external delivery, and a deal document.

``deliver`` sends one outbox row (see activities.dispatch) so that a workflow can run each
channel's delivery as its own activity: a webhook that is down then retries alone and never
re-sends the e-mail or the Bitrix24 notice that went out. ``render_document`` renders and
stores a document once per robot run.
"""

from __future__ import annotations

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.channels import Refused, Transient
from activities.dispatch import Dispatcher
from activities.documents import DocumentProblem, DocumentRenderer
from funnel.domain.activity_io import (
    ActivityName,
    DeliveryRef,
    DeliveryResult,
    DocumentView,
    RenderDocumentCall,
)
from funnel.runtime.integration_settings import IntegrationSettings
from funnel.runtime.settings import Settings
from funnel.storage.deliveries import DeliveryStore, DocumentIn
from funnel.storage.directory import Directory
from funnel.storage.store import Store


class IntegrationActivities:
    def __init__(self, dispatcher: Dispatcher, renderer: DocumentRenderer) -> None:
        self._dispatch = dispatcher
        self._renderer = renderer

    @property
    def dispatcher(self) -> Dispatcher:
        return self._dispatch

    @activity.defn(name=ActivityName.DELIVER)
    def deliver(self, ref: DeliveryRef) -> DeliveryResult:
        try:
            return self._dispatch.deliver(ref)
        except Transient as exc:
            raise ApplicationError(str(exc), type="DeliveryFailed") from exc
        except Refused as exc:
            # A 4xx or a refused recipient fails the same way every time: not retried, and
            # already written to the report log by the dispatcher.
            raise ApplicationError(str(exc), type="DeliveryRejected", non_retryable=True) from exc

    @activity.defn(name=ActivityName.RENDER_DOCUMENT)
    def render_document(self, call: RenderDocumentCall) -> DocumentView:
        outbox = self._dispatch.outbox
        existing = outbox.get_document(call.key)
        if existing is not None:
            return _view(existing)  # a retry or a replay: the document of record stays
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
            return _view(document)
        stored = outbox.get_document(call.key)  # another attempt of this run stored it first
        assert stored is not None
        return _view(stored)


def _view(d: DocumentIn) -> DocumentView:
    return DocumentView(
        name=d.name,
        path=d.path,
        sha256=d.sha256,
        created=d.created_at,
        pdf_path=d.pdf_path,
        key=d.key,
    )


def build_integrations(store: Store, settings: Settings | None = None) -> IntegrationActivities:
    """The worker's integrations from the environment: the directory file, the channel
    settings, the outbox tables (made by the migrations) and the documents folder."""
    settings = settings or Settings()
    outbox = DeliveryStore(store)
    dispatcher = Dispatcher(
        store, outbox, Directory.load(settings.directory), IntegrationSettings()
    )
    renderer = DocumentRenderer(settings.home.resolve() / "documents")
    return IntegrationActivities(dispatcher, renderer)
