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

from funnel.domain.activity_io import RenderDocumentCall
from funnel.runtime.settings import DEFAULT_DOCUMENT_TEMPLATES as TEMPLATES


class DocumentProblem(ValueError):
    """The template is missing, does not compile, or names a field the deal lacks."""


class DocumentRenderer:
    def __init__(self, out_dir: Path, templates: Path = TEMPLATES) -> None:
        self._out = out_dir
        self._templates = templates
        self._env = SandboxedEnvironment(
            loader=FileSystemLoader(templates), undefined=StrictUndefined, autoescape=True
        )

    def render_html(self, call: RenderDocumentCall) -> str:
        variables: dict[str, Any] = {
            **call.context.template_vars(),
            "document": {"name": call.name, "date": call.at.date().isoformat()},
        }
        try:
            return self._env.get_template(call.template).render(variables)
        except TemplateNotFound as exc:
            known = ", ".join(sorted(p.name for p in self._templates.glob("*.j2"))) or "none"
            raise DocumentProblem(
                f"document template {call.template!r} not found in {self._templates}"
                f" (there: {known})"
            ) from exc
        except TemplateError as exc:
            line = getattr(exc, "lineno", None)
            where = f"{call.template}" + (f", line {line}" if line else "")
            raise DocumentProblem(f"document template {where}: {exc}") from exc

    def write(self, call: RenderDocumentCall, html: str) -> tuple[Path, str]:
        """Write the HTML file (atomically: a retry after a crash overwrites a half-written
        file rather than keeping it); returns its path and the SHA-256 of the HTML."""
        folder = self._out / _safe(call.context.deal.deal_id)
        folder.mkdir(parents=True, exist_ok=True)
        data = html.encode("utf-8")
        path = folder / f"{_safe(call.key.replace(':', '_'))}.html"
        _atomic_write(path, data)
        return path, hashlib.sha256(data).hexdigest()


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
