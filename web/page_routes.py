"""Pages that share their path with the JSON API, such as the deal card at ``/deals/{id}``
(the API's ``GET /deals/{id}`` answers the deal's state as JSON).

One URL serves both: a route of class :class:`BrowserPage` matches only a request that
asks for HTML (a browser's navigation sends ``Accept: text/html,...``) and carries no
``Authorization`` header; every other request (an API client's ``Accept:
application/json``, ``*/*``, none at all, or a bearer token) falls through to the API's
route. The workspace's routes are asked before the API's (web/pages.py), so the link a
person copies from the address bar is the deal's own URL.
"""

from __future__ import annotations

from fastapi.routing import APIRoute
from starlette.datastructures import Headers
from starlette.routing import Match
from starlette.types import Scope

HTML = "text/html"
JSON = "application/json"


def _quality(accept: str, media_type: str) -> float:
    """The q-value an Accept header gives exactly ``media_type`` (0 when it is not named:
    ``*/*`` says nothing about a preference for HTML)."""
    for part in accept.split(","):
        name, *params = (piece.strip() for piece in part.split(";"))
        if name.lower() != media_type:
            continue
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    return float(value)
                except ValueError:
                    return 0.0
        return 1.0
    return 0.0


def wants_page(headers: Headers) -> bool:
    """Whether a request asks for the page rather than the API's JSON."""
    if "authorization" in headers:
        return False  # a token: an API client, whatever it accepts
    accept = headers.get("accept", "")
    html = _quality(accept, HTML)
    return html > 0 and html >= _quality(accept, JSON)


class BrowserPage(APIRoute):
    """A page route that leaves every non-browser request to the API's route of the same
    path."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] == "http" and not wants_page(Headers(scope=scope)):
            return Match.NONE, {}
        return super().matches(scope)
