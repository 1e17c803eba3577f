"""Who the HTTP request comes from, as the deal is to check it.

The one seam between the API's authentication and the deals: every change endpoint passes
``request_actor(request)`` to the DealClient, which puts it into the deal's message (a body
can never choose it). A signed-in person or a personal token is a person the deal checks and
records. A service token (a system driving deals for the company, e.g. an integrator's
script) keeps acting as it does today: unchecked, its request's ``by`` recorded.
"""

from __future__ import annotations

from fastapi import Request

from funnel.domain.people import Actor


def request_actor(request: Request) -> Actor | None:
    """The signed-in person behind the request (None: a service token, not checked)."""
    caller = getattr(request.state, "caller", None)  # set by api.auth when it authenticated
    actor: Actor | None = getattr(caller, "actor", None)
    return actor if actor is not None and actor.kind == "person" else None
