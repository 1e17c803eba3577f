"""Rendering workspace pages: one jinja2 environment over web/templates, autoescaped (a
``<script>`` in a company name stays text), with the viewer's texts, clock and money."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from web import formatting
from web.i18n import Language, text
from web.viewer import Viewer

TEMPLATES = Path(__file__).parent / "templates"

environment = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(["html", "jinja"]),
    undefined=StrictUndefined,  # a misspelt variable fails the page's test, not silently
    trim_blocks=True,
    lstrip_blocks=True,
)


def _context(language: Language, timezone: str) -> dict[str, Any]:
    def t(key: str, **values: object) -> str:
        return text(key, language, **values)

    def money(amount: Decimal | float | int | None, currency: str) -> str:
        return formatting.money(amount, currency, language)

    def when(value: datetime | None) -> str:
        return formatting.moment(value, timezone, language)

    def span(delta: timedelta) -> str:
        return formatting.span(delta, language)

    return {"t": t, "money": money, "when": when, "span": span, "lang": language}


def page(
    request: Request,
    viewer: Viewer | None,
    template: str,
    *,
    status_code: int = 200,
    language: Language = "ru",
    **values: Any,
) -> HTMLResponse:
    """A whole page (or a fragment: any template) for the viewer, in their language."""
    html = fragment(request, viewer, template, language=language, **values)
    return HTMLResponse(html, status_code=status_code)


def fragment(
    request: Request,
    viewer: Viewer | None,
    template: str,
    *,
    language: Language = "ru",
    **values: Any,
) -> str:
    """A template rendered for the viewer, as text (a piece of a page that a script puts
    in place: still autoescaped)."""
    if viewer is not None:
        language = viewer.language
    timezone = viewer.timezone if viewer is not None else "UTC"
    context = _context(language, timezone) | {
        "request": request,
        "viewer": viewer,
        "path": request.url.path,
        **values,
    }
    return environment.get_template(template).render(context)
