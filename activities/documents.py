"""Deal documents (commercial proposal, contract) rendered from jinja2 templates.

Templates live in ``templates/documents/`` and see what robot templates see (``deal``,
``contact``, ``stage``) plus ``document`` (its name and date). A field the template names
but the deal lacks is an error, reported as a non-retryable ``TemplateProblem``; an empty
contract is worse than none. The HTML goes to ``FUNNEL_HOME/documents/<deal id>/`` and, when
xhtml2pdf is installed, a PDF beside it.

The PDF embeds a TrueType font with Cyrillic (the PDF core fonts have none). xhtml2pdf reads
local files only inside the directories its resource policy names: the templates folder and
the font's folder here, and nothing over the network (a template is not a way to make the
worker fetch URLs); an image a template shows goes beside the templates.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import re
from pathlib import Path
from typing import Any

from jinja2 import FileSystemLoader, StrictUndefined, TemplateError, TemplateNotFound
from jinja2.sandbox import SandboxedEnvironment

from funnel.activity_io import RenderDocumentCall

log = logging.getLogger(__name__)
# xhtml2pdf reports every CSS property it skips; only its errors matter here.
logging.getLogger("xhtml2pdf").setLevel(logging.ERROR)

TEMPLATES = Path(__file__).resolve().parent.parent / "templates" / "documents"
# A font with Cyrillic for the PDF: the PDF core fonts have none, so a Russian contract
# would print as boxes. DejaVu ships with most Linux systems; FUNNEL_DOCUMENT_FONT overrides.
_FONTS = ("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",)


def document_font() -> Path | None:
    """The TrueType font the PDFs embed, or None (then Cyrillic prints as boxes)."""
    given = os.environ.get("FUNNEL_DOCUMENT_FONT")
    if given:
        return Path(given).resolve()
    return next((Path(f) for f in _FONTS if Path(f).exists()), None)


class DocumentProblem(ValueError):
    """The template is missing, does not compile, or names a field the deal lacks."""


class DocumentRenderer:
    def __init__(self, out_dir: Path, templates: Path = TEMPLATES) -> None:
        self._out = out_dir
        self._templates = templates
        self._env = SandboxedEnvironment(
            loader=FileSystemLoader(templates), undefined=StrictUndefined, autoescape=True
        )
        self._font = document_font()
        if self._font is None:
            log.warning("no document font found (FUNNEL_DOCUMENT_FONT): PDFs lack Cyrillic")

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

    def write(self, call: RenderDocumentCall, html: str) -> tuple[Path, Path | None, str]:
        """Write the files (atomically: a retry after a crash overwrites a half-written
        file rather than keeping it); returns (html path, pdf path, sha256 of the HTML)."""
        folder = self._out / _safe(call.context.deal.deal_id)
        folder.mkdir(parents=True, exist_ok=True)
        stem = _safe(call.key.replace(":", "_"))
        data = html.encode("utf-8")
        html_path = folder / f"{stem}.html"
        _atomic_write(html_path, data)
        pdf = _pdf(html, (self._templates / call.template).resolve(), self._font)
        pdf_path = None
        if pdf is not None:
            pdf_path = folder / f"{stem}.pdf"
            _atomic_write(pdf_path, pdf)
        return html_path, pdf_path, hashlib.sha256(data).hexdigest()


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _pdf(html: str, template: Path, font: Path | None) -> bytes | None:
    """The PDF of a document rendered from ``template`` (relative links resolve beside it)."""
    try:
        from xhtml2pdf import pisa  # type: ignore[import-untyped]
        from xhtml2pdf.config.resources import (  # type: ignore[import-untyped]
            ResourceAccessPolicy,
        )
    except ImportError:
        return None  # PDF is optional: HTML is the document of record
    roots: tuple[Path, ...] = ()
    if font is not None:
        face = f"@font-face {{font-family: doc; src: url('{font}')}} body {{font-family: doc}}"
        html = html.replace("</head>", f"<style>{face}</style></head>", 1)
        roots = (font.parent,)
    policy = ResourceAccessPolicy(allow_remote=False, base_dir=template.parent, extra_roots=roots)
    out = io.BytesIO()
    status = pisa.CreatePDF(
        html, dest=out, encoding="utf-8", path=str(template), resource_policy=policy
    )
    if status.err:
        log.warning("PDF rendering reported %s errors; keeping the HTML only", status.err)
        return None
    return out.getvalue()
