"""Who the HTTP request comes from, as the deal is to check it.

The one seam between the API's authentication and the deals: every change endpoint passes
``request_actor(request)`` to the DealClient, which puts it into the deal's message (a body
can never choose it). A signed-in person or a personal token is a person; a service token is
a service (``service-<8 hex>``, via ``api``), which the deal checks and records as such: it
acts as itself and never as a person (workflows/permissions.py, funnel/domain/who_may.py).
The signed payment webhook is the service ``payment-webhook`` (via ``webhook``).
"""

from __future__ import annotations

from fastapi import Request

from funnel.domain.people import Actor, Via

PAYMENT_WEBHOOK = Actor(kind="service", id="payment-webhook", via=Via.WEBHOOK)


def request_actor(request: Request) -> Actor | None:
    """The authenticated caller behind the request (None: not authenticated by api.auth,
    which no change endpoint allows)."""
    caller = getattr(request.state, "caller", None)  # set by api.auth when it authenticated
    actor: Actor | None = getattr(caller, "actor", None)
    return actor
