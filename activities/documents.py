"""Deal documents (commercial proposal, contract) rendered from jinja2 templates.

Templates live in ``templates/documents/`` and see what robot templates see (``deal``,
``contact``, ``stage``) plus ``document`` (its name and date). A field the template names
but the deal lacks is an error, reported as a non-retryable ``TemplateProblem``; an empty
contract is worse than none. The HTML, the document of record, goes to the database (the
API serves it, and its PDF, made on the first download: see funnel/runtime/pdf.py) and to
``FUNNEL_HOME/documents/<deal id>/``.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from typing import Any

from jinja2 import FileSystemLoader, StrictUndefined, TemplateError, TemplateNotFound
from jinja2.sandbox import SandboxedEnvironment

from funnel.domain.activity_io import DocumentView, RenderDocumentCall
from funnel.runtime.settings import DEFAULT_DOCUMENT_TEMPLATES as TEMPLATES
from funnel.storage.deliveries import DocumentIn


class DocumentProblem(ValueError):
    """The template is missing, does not compile, or names a field the deal lacks."""


class DocumentRenderer:
    def __init__(self, out_dir: Path, templates: Path = TEMPLATES) -> None:
        self._out = out_dir
        self._templates = templates
        self._env = SandboxedEnvironment(
            loader=FileSystemLoader(templates), undefined=StrictUndefined, autoescape=True
        )

    @property
    def templates(self) -> Path:
        return self._templates

    def render_html(self, call: RenderDocumentCall) -> str:
        document = {"name": call.name, "date": call.at.date().isoformat()}
        return self.render(call.template, {**call.context.template_vars(), "document": document})

    def render(self, template: str, variables: dict[str, Any]) -> str:
        """The HTML of ``template`` (a file in the templates folder) over ``variables``."""
        try:
            return self._env.get_template(template).render(variables)
        except TemplateNotFound as exc:
            known = ", ".join(sorted(p.name for p in self._templates.glob("*.j2"))) or "none"
            raise DocumentProblem(
                f"document template {template!r} not found in {self._templates} (there: {known})"
            ) from exc
        except TemplateError as exc:
            line = getattr(exc, "lineno", None)
            where = f"{template}" + (f", line {line}" if line else "")
            raise DocumentProblem(f"document template {where}: {exc}") from exc

    def write(self, call: RenderDocumentCall, html: str) -> tuple[Path, str]:
        return self.write_file(call.context.deal.deal_id, call.key, html)

    def write_file(self, deal_id: str, key: str, html: str) -> tuple[Path, str]:
        """Write the HTML file (atomically: a retry after a crash overwrites a half-written
        file rather than keeping it); returns its path and the SHA-256 of the HTML."""
        folder = self._out / safe_name(deal_id)
        folder.mkdir(parents=True, exist_ok=True)
        data = html.encode("utf-8")
        path = folder / f"{safe_name(key.replace(':', '_'))}.html"
        atomic_write(path, data)
        return path, hashlib.sha256(data).hexdigest()


def document_view(d: DocumentIn) -> DocumentView:
    """What the deal keeps of a stored document."""
    return DocumentView(
        name=d.name,
        path=d.path,
        sha256=d.sha256,
        created=d.created_at,
        pdf_path=d.pdf_path,
        key=d.key,
    )


def safe_name(name: str) -> str:
    """``name`` with anything but letters, digits, ``_ . -`` made ``_`` (file names)."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)


def atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
