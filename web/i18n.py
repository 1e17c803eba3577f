"""The workspace's texts in Russian and English, in YAML catalogs under web/texts (one file
an area: common, board, deal, work), merged once at import.

A text is looked up by key; a missing key falls back to English, then to the key itself,
so a forgotten translation shows as readable English, never as an error page.
``format`` placeholders ({count}, {name}) are filled by the caller.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Literal

import yaml

Language = Literal["ru", "en"]
LANGUAGES: tuple[Language, ...] = ("ru", "en")
TEXTS = Path(__file__).parent / "texts"


@cache
def catalog() -> dict[str, dict[str, str]]:
    merged: dict[str, dict[str, str]] = {}
    for path in sorted(TEXTS.glob("*.yaml")):
        entries = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for key, texts in entries.items():
            if key in merged:
                raise ValueError(f"{path.name}: text {key!r} is defined twice")
            merged[key] = {str(lang): str(text) for lang, text in texts.items()}
    return merged


def text(key: str, language: Language, **values: object) -> str:
    entry = catalog().get(key, {})
    found = entry.get(language) or entry.get("en") or key
    return found.format(**values) if values else found


def best_language(accept_language: str | None, default: Language = "ru") -> Language:
    """The first of our languages that an Accept-Language header names (for the sign-in
    page, before we know who is there)."""
    for part in (accept_language or "").split(","):
        code = part.split(";")[0].strip().lower()[:2]
        if code in LANGUAGES:
            return code
    return default
