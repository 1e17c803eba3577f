"""``/deals/{id}/documents``: the documents a deal's robots rendered (commercial proposal,
contract), their HTML and their PDF.

The HTML comes from the database, so any API node serves it whichever worker rendered it.
The PDF is made from that HTML on its first download (funnel/runtime/pdf.py) and kept: a
deal's robots do not make PDFs nobody opens, and every later download gets the same bytes.
"""

from __future__ import annotations

import asyncio
from pathlib import Path as FilePath
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, HTTPException, Path, Request, Response, status
from fastapi.responses import HTMLResponse

from api.auth import DEALS_READ, require_scope
from api.deals import DealId
from api.errors import DEAL_ERRORS
from api.read_scope import ensure_readable
from api.schemas import DocumentOut, Problem
from funnel.domain.text import NO_CONTROL_CHARACTERS
from funnel.runtime.pdf import PdfProblem, html_to_pdf
from funnel.storage.deliveries import DeliveryStore, Document
from funnel.storage.store import Store

DocumentKey = Annotated[
    str,
    Path(min_length=1, max_length=300, pattern=NO_CONTROL_CHARACTERS, description="its key"),
]

router = APIRouter(
    prefix="/deals",
    tags=["documents"],
    responses={
        **{code: DEAL_ERRORS[code] for code in (401, 403)},
        404: {"model": Problem, "description": "no such deal or document"},
    },
)
read = [Depends(require_scope(DEALS_READ))]


def _documents(request: Request) -> DeliveryStore:
    documents: DeliveryStore = request.app.state.documents
    return documents


async def _document(request: Request, deal_id: str, key: str) -> Document:
    await ensure_readable(request, deal_id)
    found = await asyncio.to_thread(_documents(request).get_document, key)
    if found is None or found.deal_id != deal_id:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"deal {deal_id} has no document {key!r}")
    return found


def _disposition(document: Document, suffix: str) -> str:
    # RFC 6266: a plain fallback name, and the real one (Cyrillic, spaces) percent-encoded.
    encoded = quote(document.name + suffix)
    return f"inline; filename=\"document{suffix}\"; filename*=UTF-8''{encoded}"


@router.get("/{deal_id}/documents", dependencies=read, summary="The deal's documents")
async def list_documents(request: Request, deal_id: DealId) -> list[DocumentOut]:
    await ensure_readable(request, deal_id)
    store: Store = request.app.state.store
    deal, found = await asyncio.gather(
        asyncio.to_thread(store.get_deal, deal_id),
        asyncio.to_thread(_documents(request).documents, deal_id),
    )
    if deal is None and not found:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"unknown deal {deal_id}")
    base = f"/deals/{quote(deal_id, safe='')}/documents"
    return [
        DocumentOut(
            **d.model_dump(
                include={
                    "key",
                    "name",
                    "template",
                    "sha256",
                    "created_at",
                    "invoice_id",
                    "cancelled_at",
                }
            ),
            html_url=f"{base}/{quote(d.key, safe='')}/html",
            pdf_url=f"{base}/{quote(d.key, safe='')}/pdf",
        )
        for d in found
    ]


async def _html(document: Document, stored: str | None) -> str:
    """The document's HTML: ``stored``, as its row keeps it, or else its file."""
    if stored is not None:
        return stored
    # Rendered before the database kept documents (migration 0005): only its file has it.
    file = FilePath(document.path)
    if not file.is_file():
        raise HTTPException(
            status.HTTP_404_NOT_FOUND,
            f"document {document.key!r} was rendered before documents were kept in the"
            f" database, and its file {document.path} is not on this node",
        )
    return await asyncio.to_thread(file.read_text, "utf-8")


@router.get(
    "/{deal_id}/documents/{key}/html",
    dependencies=read,
    response_class=HTMLResponse,
    summary="The document's HTML, the document of record",
)
async def document_html(request: Request, deal_id: DealId, key: DocumentKey) -> HTMLResponse:
    document = await _document(request, deal_id, key)
    stored, _ = await asyncio.to_thread(_documents(request).document_content, key)
    return HTMLResponse(
        await _html(document, stored),
        headers={"Content-Disposition": _disposition(document, ".html")},
    )


@router.get(
    "/{deal_id}/documents/{key}/pdf",
    dependencies=read,
    response_class=Response,
    responses={
        200: {"content": {"application/pdf": {}}, "description": "the PDF"},
        500: {"model": Problem, "description": "the PDF could not be made"},
    },
    summary="The document's PDF, made from its HTML on the first download",
)
async def document_pdf(request: Request, deal_id: DealId, key: DocumentKey) -> Response:
    document = await _document(request, deal_id, key)
    documents = _documents(request)
    stored, pdf = await asyncio.to_thread(documents.document_content, key)
    if pdf is None and document.pdf_path and FilePath(document.pdf_path).is_file():
        pdf = await asyncio.to_thread(FilePath(document.pdf_path).read_bytes)  # made by a robot
    if pdf is None:
        html = await _html(document, stored)
        try:
            made = await asyncio.to_thread(html_to_pdf, html)
        except PdfProblem as exc:
            raise HTTPException(
                status.HTTP_500_INTERNAL_SERVER_ERROR, f"document {key!r}: {exc}"
            ) from exc
        pdf = await asyncio.to_thread(documents.keep_pdf, key, made)
    return Response(
        pdf,
        media_type="application/pdf",
        headers={"Content-Disposition": _disposition(document, ".pdf")},
    )
