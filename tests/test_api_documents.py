"""The documents a deal's robots rendered, over real HTTP: listed with the deal, the HTML as
the robot rendered it, the PDF made on the first download (Cyrillic printed, the same bytes
on every later download), and clear 404s for what does not exist."""

from __future__ import annotations

import asyncio
import hashlib
import io
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pypdf
import pytest
import pytest_asyncio
from temporalio.testing import WorkflowEnvironment

from funnel.runtime.pdf import document_font
from funnel.storage.deliveries import DeliveryStore, DocumentIn
from tests.api_support import READ, Stack, api_stack, deal_body


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def stack(
    dev_env: WorkflowEnvironment, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Stack]:
    async with api_stack(dev_env, tmp_path_factory.mktemp("api-documents")) as s:
        yield s


async def documents_of(stack: Stack, deal_id: str) -> list[dict[str, Any]]:
    for _ in range(200):  # the contract robot renders its document a moment after the move
        r = await stack.http.get(f"/deals/{deal_id}/documents")
        assert r.status_code == 200, r.text
        if len(r.json()) == 2:  # the contract and the invoice
            return list(r.json())
        await asyncio.sleep(0.05)
    raise AssertionError(f"deal {deal_id} never got a document")


async def test_contract_html_and_pdf_over_http(stack: Stack) -> None:
    if document_font() is None:
        pytest.skip("no TrueType font with Cyrillic on this machine (FUNNEL_DOCUMENT_FONT)")
    contact = {"name": "Анна Петрова", "company": "ООО Ромашка", "phone": "+7 900 1"}
    body = deal_body(contact=contact)
    deal_id = body["deal_id"]
    assert (await stack.http.post("/deals", json=body)).status_code == 201
    move = {"stage": "contract", "by": "ivanov"}
    r = await stack.http.post(
        f"/deals/{deal_id}/move", json=move, headers=stack.as_person("ivanov")
    )
    assert r.status_code == 200, r.text

    document, invoice = await documents_of(stack, deal_id)
    assert document["key"] == f"{deal_id}:2:contract_document"
    assert document["template"] == "contract.html.j2" and document["invoice_id"] is None
    assert invoice["template"] == "invoice.html.j2"  # e-mail is off here: kept, not sent
    assert invoice["invoice_id"] == f"{deal_id}-2" and invoice["cancelled_at"] is None
    deal = (await stack.http.get(f"/deals/{deal_id}")).json()
    assert [d["key"] for d in deal["documents"]] == [document["key"], invoice["key"]]

    reader = httpx.AsyncClient(
        base_url=stack.base_url, headers={"Authorization": f"Bearer {READ}"}, timeout=30
    )
    async with reader:
        html = await reader.get(document["html_url"])
        assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
        # The document of record: the bytes whose SHA-256 the deal's history holds.
        assert hashlib.sha256(html.content).hexdigest() == document["sha256"]
        assert "ООО Ромашка" in html.text

        first = await reader.get(document["pdf_url"])
        assert first.status_code == 200 and first.headers["content-type"] == "application/pdf"
        assert "filename*=UTF-8''Contract.pdf" in first.headers["content-disposition"]
        text = " ".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(first.content)).pages)
        assert "ООО Ромашка" in text and "■" not in text  # a box: the font was not embedded
        again = await reader.get(document["pdf_url"])
        assert again.content == first.content  # kept, not made again

    r = await stack.anon.get(document["pdf_url"])
    assert r.status_code == 401


async def test_unknown_deal_or_document_is_404_naming_it(stack: Stack) -> None:
    body = deal_body()
    deal_id = body["deal_id"]
    assert (await stack.http.post("/deals", json=body)).status_code == 201
    r = await stack.http.get("/deals/NO-SUCH-DEAL/documents")
    assert r.status_code == 404 and "NO-SUCH-DEAL" in r.json()["detail"]
    for _ in range(100):  # the deal is registered in the store by its first activity
        r = await stack.http.get(f"/deals/{deal_id}/documents")
        if r.status_code == 200:
            break
        await asyncio.sleep(0.05)
    assert r.status_code == 200 and r.json() == []  # in `new`: nothing rendered yet
    for fmt in ("html", "pdf"):
        r = await stack.http.get(f"/deals/{deal_id}/documents/{deal_id}:1:nothing/{fmt}")
        assert r.status_code == 404 and f"{deal_id}:1:nothing" in r.json()["detail"]


async def test_a_document_from_before_the_database_kept_them(stack: Stack, tmp_path: Path) -> None:
    """Rendered by an older worker: no HTML in its row, only the file it wrote."""
    deal_id = "OLD-1"
    file = tmp_path / "old.html"
    file.write_text("<html><head></head><body><p>Старый договор</p></body></html>")
    documents = DeliveryStore(stack.store)
    common: dict[str, Any] = {
        "deal_id": deal_id, "name": "Contract", "template": "contract.html.j2", "pdf_path": None,
        "sha256": "0" * 64, "created_at": "2026-11-01T10:00:00Z",
    }  # fmt: skip
    documents.add_document(DocumentIn(key="OLD-1:5:doc", path=str(file), **common), None)
    documents.add_document(DocumentIn(key="OLD-1:6:doc", path="/gone.html", **common), None)
    r = await stack.http.get(f"/deals/{deal_id}/documents/OLD-1:5:doc/pdf")
    assert r.status_code == 200 and r.content.startswith(b"%PDF")
    r = await stack.http.get(f"/deals/{deal_id}/documents/OLD-1:6:doc/html")
    assert r.status_code == 404 and "/gone.html is not on this node" in r.json()["detail"]
