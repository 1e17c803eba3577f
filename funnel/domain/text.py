"""Text that people type into a deal: names, ids, reasons, comments.

Control characters are refused where the text comes in, with the field named: PostgreSQL
refuses NUL in text (a contact name with one would fail every store write of the deal),
and the others cannot be searched for in Temporal's visibility store (a NUL cut the dev
server's SQLite query short) or shown. Free text keeps its tabs and line breaks.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator

CONTROL = r"\x00-\x1f\x7f-\x9f"
NO_CONTROL_CHARACTERS = rf"^[^{CONTROL}]*$"  # as a regex for query parameters
_IN_ONE_LINE = re.compile(rf"[{CONTROL}]")
_IN_FREE_TEXT = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def control_character(value: str, *, free_text: bool = False) -> str | None:
    """The first control character in ``value`` as U+XXXX, or None."""
    found = (_IN_FREE_TEXT if free_text else _IN_ONE_LINE).search(value)
    return None if found is None else f"U+{ord(found.group()):04X}"


def _one_line(value: str) -> str:
    if (bad := control_character(value)) is not None:
        raise ValueError(f"holds the control character {bad}")
    return value


def _free_text(value: str) -> str:
    if (bad := control_character(value, free_text=True)) is not None:
        raise ValueError(f"holds the control character {bad} (tabs and line breaks are fine)")
    return value


OneLine = Annotated[str, AfterValidator(_one_line)]
FreeText = Annotated[str, AfterValidator(_free_text)]


def literal(text: str) -> str:
    """``text`` as a jinja2 template that renders to itself (a comment or a title put into
    a message template must not be read as a template)."""
    return "{% raw %}" + text.replace("{%", "{ %") + "{% endraw %}"
