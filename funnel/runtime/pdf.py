"""The PDF of a deal document, made from its stored HTML when it is first downloaded.

The robot that renders a document keeps its HTML, the document of record (its SHA-256 is
in the deal's history); the PDF is a rendition of that HTML, made by the API on the first
``GET /deals/{id}/documents/{key}/pdf`` and kept beside it in the database. So a deal's
robots do not spend CPU on a PDF nobody may ever open, and any API node can serve a
document whichever worker rendered it.

The PDF embeds a TrueType font with Cyrillic (the PDF core fonts have none, and a Russian
contract would print as boxes). xhtml2pdf reads local files only inside the directories its
resource policy names: the templates folder and the font's folder here, and nothing over
the network (a template is not a way to make a server fetch URLs); an image a template
shows goes beside the templates.
"""

from __future__ import annotations

import io
import logging
import os
from pathlib import Path

from funnel.runtime.settings import DEFAULT_DOCUMENT_TEMPLATES

# xhtml2pdf reports every CSS property it skips; only its errors matter here.
logging.getLogger("xhtml2pdf").setLevel(logging.ERROR)

# DejaVu ships with most Linux systems (Debian: fonts-dejavu-core); FUNNEL_DOCUMENT_FONT
# names another TrueType file.
_FONTS = ("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",)


class PdfProblem(RuntimeError):
    """xhtml2pdf could not make the PDF of a document."""


def document_font() -> Path | None:
    """The TrueType font the PDFs embed, or None (then Cyrillic prints as boxes)."""
    given = os.environ.get("FUNNEL_DOCUMENT_FONT")
    if given:
        return Path(given).resolve()
    return next((Path(f) for f in _FONTS if Path(f).exists()), None)


def html_to_pdf(
    html: str, templates: Path = DEFAULT_DOCUMENT_TEMPLATES, font: Path | None = None
) -> bytes:
    """The PDF of a document's HTML; relative links resolve in ``templates``."""
    from xhtml2pdf import pisa  # type: ignore[import-untyped]  # heavy: imported when used
    from xhtml2pdf.config.resources import ResourceAccessPolicy  # type: ignore[import-untyped]

    font = font or document_font()
    roots: tuple[Path, ...] = ()
    if font is not None:
        face = f"@font-face {{font-family: doc; src: url('{font}')}} body {{font-family: doc}}"
        html = html.replace("</head>", f"<style>{face}</style></head>", 1)
        roots = (font.parent,)
    base = templates.resolve()
    policy = ResourceAccessPolicy(allow_remote=False, base_dir=base, extra_roots=roots)
    out = io.BytesIO()
    status = pisa.CreatePDF(
        html, dest=out, encoding="utf-8", path=str(base / "document.html"), resource_policy=policy
    )
    if status.err:
        raise PdfProblem(f"xhtml2pdf reported {status.err} errors making the PDF")
    return out.getvalue()
