"""What can go wrong with a request about a deal (shared by the deal client, its listing and
the HTTP API's error mapping), and the one refusal a closed deal gives."""

from __future__ import annotations

from funnel.domain.text import control_character


class DealError(Exception):
    """A request about a deal that could not be carried out; the message says why."""


class DealNotFound(DealError):
    pass


class DealExists(DealError):
    pass


class DealRejected(DealError):
    """The workflow refused the message (e.g. an unknown stage)."""


class BadFilter(DealError, ValueError):
    """A list filter that cannot be searched for."""


def closed_refusal(deal_id: str) -> DealRejected:
    """A message to a closed deal: its workflow has finished (or is gone past retention,
    leaving the deal's record in the store), so the deal is won or lost for good."""
    return DealRejected(f"deal {deal_id} is closed and cannot change any more")


def visibility_literal(value: str) -> str:
    """``value`` as a string literal of a Temporal visibility query (a control character
    cannot be searched for: a NUL cut the dev server's SQLite query short)."""
    if control_character(value) is not None:
        raise BadFilter(f"{value!r} holds a control character: it cannot be searched for")
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
