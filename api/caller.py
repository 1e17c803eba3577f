"""Who the HTTP request comes from, as the deal is to check it.

The one seam between the API's authentication and the deals: every change endpoint passes
``request_actor(request)`` to the DealClient, which puts it into the deal's message (a body
can never choose it). Until sign-in lands it answers None: requests are unchecked and their
``by`` is recorded, as before. Sign-in wires it here, in one place.
"""

from __future__ import annotations

from fastapi import Request

from funnel.domain.people import Actor


def request_actor(request: Request) -> Actor | None:
    """The signed-in person or the service token behind the request (None: not known)."""
    return None
