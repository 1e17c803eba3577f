"""Deal documents from the templates, stored once per robot run; the employee directory
refusing a wrong file with the employee and the field named."""

from __future__ import annotations

import io
from pathlib import Path

import pypdf
import pytest
from temporalio.exceptions import ApplicationError

from activities.documents import DocumentRenderer
from activities.integrations import IntegrationActivities
from funnel.domain.activity_io import RenderDocumentCall
from funnel.runtime.pdf import document_font, html_to_pdf
from funnel.runtime.settings import DEFAULT_DIRECTORY
from funnel.storage.deliveries import DeliveryStore, DocumentIn
from funnel.storage.directory import Directory, DirectoryError
from funnel.storage.store import Store
from tests.db_fixtures import migrate
from tests.integration_fixtures import NOW, context


def activities(dispatcher: object, tmp_path: Path) -> IntegrationActivities:
    return IntegrationActivities(dispatcher, DocumentRenderer(tmp_path / "documents"))  # type: ignore[arg-type]


def call(template: str, key: str = "D-1:3:proposal_document") -> RenderDocumentCall:
    return RenderDocumentCall(
        key=key, context=context(), template=template, name="Commercial proposal", at=NOW
    )


def test_proposal_and_contract_render_once_with_deal_fields(
    dispatcher: object, tmp_path: Path
) -> None:
    acts = activities(dispatcher, tmp_path)
    first = acts.render_document(call("proposal.html.j2"))
    again = acts.render_document(call("proposal.html.j2"))  # a retried activity
    assert again == first
    html = Path(first.path).read_text()
    assert "Romashka LLC" in html and "250000 RUB" in html and "Anna Petrova" in html
    contract = acts.render_document(call("contract.html.j2", key="D-1:5:contract_document"))
    assert Path(contract.path).exists() and "Customer" in Path(contract.path).read_text()
    # The HTML is kept in the database too (the API serves it); no PDF is made until it is
    # first downloaded.
    html_kept, pdf = dispatcher.outbox.document_content(contract.key)  # type: ignore[attr-defined]
    assert html_kept == Path(contract.path).read_text() and pdf is None
    assert contract.pdf_path is None and contract.key == "D-1:5:contract_document"
    assert [d.key for d in dispatcher.outbox.documents("D-1")] == [  # type: ignore[attr-defined]
        "D-1:3:proposal_document",
        "D-1:5:contract_document",
    ]


def test_the_pdf_prints_a_russian_contract_in_cyrillic(dispatcher: object, tmp_path: Path) -> None:
    if document_font() is None:
        pytest.skip("no TrueType font with Cyrillic on this machine (FUNNEL_DOCUMENT_FONT)")
    ctx = context()
    contact = ctx.deal.contact.model_copy(update={"name": "Анна Петрова", "company": "ООО Ромашка"})
    ctx = ctx.model_copy(update={"deal": ctx.deal.model_copy(update={"contact": contact})})
    document = activities(dispatcher, tmp_path).render_document(
        RenderDocumentCall(
            key="D-1:5:contract_document",
            context=ctx,
            template="contract.html.j2",
            name="Договор",
            at=NOW,
        )
    )
    pdf = pypdf.PdfReader(io.BytesIO(html_to_pdf(Path(document.path).read_text())))
    text = " ".join(page.extract_text() for page in pdf.pages)
    # Without the embedded font every Cyrillic letter is a box ("■").
    assert "ООО Ромашка" in text and "Договор" in text and "■" not in text


def test_a_document_keeps_its_html_and_its_first_pdf(db_url: str) -> None:
    migrate(db_url)
    store = Store(db_url)
    try:
        documents = DeliveryStore(store)
        doc = DocumentIn(
            key="D-7:3:proposal_document", deal_id="D-7", name="КП", template="proposal.html.j2",
            path="/x.html", pdf_path=None, sha256="0" * 64, created_at=NOW,
        )  # fmt: skip
        assert documents.add_document(doc, "<p>Ромашка</p>")
        assert not documents.add_document(doc, "<p>other</p>")  # a retry stores nothing
        assert documents.document_content(doc.key) == ("<p>Ромашка</p>", None)
        # Two first downloads at once: the PDF kept first is the one both answer.
        assert documents.keep_pdf(doc.key, b"%PDF-first") == b"%PDF-first"
        assert documents.keep_pdf(doc.key, b"%PDF-second") == b"%PDF-first"
        assert documents.document_content(doc.key) == ("<p>Ромашка</p>", b"%PDF-first")
        assert documents.document_content("D-7:9:none") == (None, None)
    finally:
        store.dispose()


def test_template_errors_are_reported_not_swallowed(dispatcher: object, tmp_path: Path) -> None:
    (tmp_path / "t").mkdir()
    (tmp_path / "t" / "bad.html.j2").write_text("<p>{{ deal.no_such_field }}</p>")
    acts = IntegrationActivities(dispatcher, DocumentRenderer(tmp_path, tmp_path / "t"))  # type: ignore[arg-type]
    with pytest.raises(ApplicationError, match="no_such_field") as bad:
        acts.render_document(call("bad.html.j2"))
    assert bad.value.type == "TemplateProblem" and bad.value.non_retryable
    with pytest.raises(ApplicationError, match=r"'missing.html.j2' not found.*bad.html.j2"):
        acts.render_document(call("missing.html.j2", key="D-1:3:other"))


def test_demo_directory_has_the_four_people() -> None:
    directory = Directory.load(DEFAULT_DIRECTORY)
    assert [e.id for e in directory] == ["ivanov", "smirnova", "petrov", "sidorova"]
    ivanov = directory.get("ivanov")
    assert ivanov is not None and ivanov.head == "smirnova"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("employees: [{id: a, name: A, timezone: Mars/Base}]", "employee a, field timezone"),
        ("employees: [{id: a, name: A, channels: [email]}]", "channel email needs an email"),
        ("employees: [{id: a, name: A, channels: [fax]}]", "employee a, field channels.0"),
        ("employees: [{id: a, name: A, head: b}]", "head 'b' is not in the directory"),
    ],
)
def test_a_wrong_directory_names_what_is_wrong(tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "d.yaml"
    path.write_text(text)
    with pytest.raises(DirectoryError, match=problem):
        Directory.load(path)
