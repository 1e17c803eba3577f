"""Who is calling: every request resolves to a ``funnel.domain.people.Actor``.

- ``Authorization: Bearer <token>`` with a service token of ``FUNNEL_API_TOKENS``: a service
  (``kind="service"``, ``via=api``) with that token's scopes. A service token never acts as
  a person.
- ``Authorization: Bearer fpt_...``, a personal token (`funnel token issue`): that person,
  ``via=api``, with the scopes of their role.
- The session cookie of a browser signed in at ``POST /auth/sign-in`` (api/sign_in.py): that
  person, ``via=web``. A state-changing request (anything but GET, HEAD, OPTIONS) must also
  send the session's CSRF token in ``X-CSRF-Token``: another site can make the browser send
  the cookie, but cannot read the token.

Routers protect endpoints with ``Depends(require_scope(DEALS_WRITE))``, which returns the
actor; a handler that needs it without a scope check takes ``actor: CurrentActor``.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer

from funnel.domain.people import Actor, Role, Via
from funnel.runtime.settings import Settings
from funnel.storage.directory import Directory, Employee
from funnel.storage.people import People
from funnel.storage.personal_tokens import PersonalTokens

DEALS_READ = "deals:read"
DEALS_WRITE = "deals:write"
LEADS_WRITE = "leads:write"
REPORTS_READ = "reports:read"
SCOPES = (DEALS_READ, DEALS_WRITE, LEADS_WRITE, REPORTS_READ)
# What a person may do through the API, by role. leads:write stays with the web forms'
# service tokens: a person starts a deal with POST /deals.
PERSON_SCOPES: dict[Role, tuple[str, ...]] = {
    role: (DEALS_READ, DEALS_WRITE, REPORTS_READ) for role in Role
}

SESSION_COOKIE = "funnel_session"
CSRF_HEADER = "X-CSRF-Token"
_SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}

# auto_error=False: a missing header must be our 401 with WWW-Authenticate, not FastAPI's 403.
_bearer = HTTPBearer(
    auto_error=False, description="a service token (FUNNEL_API_TOKENS) or a personal token"
)
_cookie = APIKeyCookie(
    name=SESSION_COOKIE, auto_error=False, description="the session of POST /auth/sign-in"
)


@dataclass(frozen=True)
class Caller:
    actor: Actor
    scopes: tuple[str, ...]
    csrf_token: str | None = None  # the session's, for a browser signed in
    session_cookie: str | None = None


def token_scopes(settings: Settings, token: str) -> list[str] | None:
    """The service token's scopes, or None for an unknown token. Compared in constant time
    so that response timing does not reveal how much of a guessed token was right."""
    found = None
    for known, scopes in settings.api_tokens.items():
        if hmac.compare_digest(known.encode(), token.encode()):
            found = scopes
    return found


def service_id(token: str) -> str:
    """A service token's name in actors and audit: service tokens are configured without
    names, and the token itself must not be written anywhere."""
    return "service-" + hashlib.sha256(token.encode()).hexdigest()[:8]


def directory(request: Request) -> Directory:
    """The employee directory, read once per app (FUNNEL_DIRECTORY)."""
    found: Directory | None = getattr(request.app.state, "directory", None)
    if found is None:
        settings: Settings = request.app.state.settings
        found = request.app.state.directory = Directory.load(settings.directory)
    return found


def people(request: Request) -> People:
    store: People = request.app.state.people
    return store


def person(employee: Employee, via: Via) -> Actor:
    return Actor(
        kind="person", id=employee.id, role=employee.role, department=employee.department or None,
        via=via,
    )  # fmt: skip


def _unauthorized(detail: str, scope: str | None = None) -> HTTPException:
    challenge = f'Bearer scope="{scope}"' if scope else "Bearer"
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED, detail=detail, headers={"WWW-Authenticate": challenge}
    )


async def _employee(request: Request, employee_id: str, via: Via) -> Caller:
    employee = directory(request).get(employee_id)
    if employee is None:
        # Signed in or holding a token, but gone from the directory since: no longer here.
        raise _unauthorized(f"employee {employee_id!r} is no longer in the directory")
    return Caller(person(employee, via), PERSON_SCOPES[employee.role])


async def _from_token(request: Request, token: str) -> Caller | None:
    settings: Settings = request.app.state.settings
    scopes = token_scopes(settings, token)
    if scopes is not None:
        actor = Actor(kind="service", id=service_id(token), via=Via.API)
        return Caller(actor, tuple(scopes))
    tokens: PersonalTokens = request.app.state.personal_tokens
    employee_id = await asyncio.to_thread(tokens.resolve, token)
    if employee_id is None:
        return None
    return await _employee(request, employee_id, Via.API)


async def _from_session(request: Request, cookie: str) -> Caller:
    session = await asyncio.to_thread(people(request).session, cookie)
    if session is None:
        raise _unauthorized("the session expired or was ended: sign in again")
    caller = await _employee(request, session.employee_id, Via.WEB)
    if request.method not in _SAFE_METHODS:
        sent = request.headers.get(CSRF_HEADER, "")
        if not hmac.compare_digest(sent.encode(), session.csrf_token.encode()):
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                detail=f"missing or wrong {CSRF_HEADER} header: a change made with the session"
                " cookie must send the csrf_token of POST /auth/sign-in or GET /auth/me",
            )
    return Caller(caller.actor, caller.scopes, session.csrf_token, cookie)


async def authenticate(
    request: Request, credentials: HTTPAuthorizationCredentials | None, cookie: str | None
) -> Caller:
    """The caller of this request (resolved once per request), or 401."""
    cached: Caller | None = getattr(request.state, "caller", None)
    if cached is not None:
        return cached
    token = credentials.credentials if credentials is not None else None
    if credentials is not None and credentials.scheme.lower() != "bearer":
        token = None
    if token is None and request.method == "GET" and request.url.path == "/dashboard":
        # A browser cannot send a bearer header from the address bar: the dashboard
        # (read-only) also takes the token as ?token=.
        token = request.query_params.get("token")
    caller: Caller | None
    if token is not None:
        # A bearer token wins over a cookie: a script's token says who it is.
        caller = await _from_token(request, token)
        if caller is None:
            raise _unauthorized("unknown, revoked or expired API token")
    elif cookie:
        caller = await _from_session(request, cookie)
    else:
        raise _unauthorized(
            "not signed in: send 'Authorization: Bearer <token>' (a service or personal token)"
            " or sign in with POST /auth/sign-in"
        )
    request.state.caller = caller
    return caller


async def current_caller(
    request: Request,
    credentials: HTTPAuthorizationCredentials | None = Depends(_bearer),  # noqa: B008
    cookie: str | None = Depends(_cookie),
) -> Caller:
    return await authenticate(request, credentials, cookie)


async def current_actor(caller: Caller = Depends(current_caller)) -> Actor:  # noqa: B008
    """A dependency: the authenticated actor (401 if none); no scope is checked."""
    return caller.actor


CurrentActor = Annotated[Actor, Depends(current_actor)]


def require_scope(scope: str) -> Callable[..., Awaitable[Actor]]:
    """A dependency: 401 without valid credentials, 403 when the caller lacks ``scope``.
    Returns the actor, so a handler can take ``actor: Actor = Depends(require_scope(...))``."""

    async def check(
        request: Request,
        credentials: HTTPAuthorizationCredentials | None = Depends(_bearer),  # noqa: B008
        cookie: str | None = Depends(_cookie),
    ) -> Actor:
        try:
            caller = await authenticate(request, credentials, cookie)
        except HTTPException as exc:
            if exc.status_code == status.HTTP_401_UNAUTHORIZED:
                exc.headers = {"WWW-Authenticate": f'Bearer scope="{scope}"'}
            raise
        if scope not in caller.scopes:
            who = (
                "this API token"
                if caller.actor.kind == "service"
                else f"{caller.actor.id} (role {caller.actor.role})"
            )
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                detail=f"{who} lacks the scope {scope!r} (it has: "
                f"{', '.join(caller.scopes) or 'none'})",
            )
        return caller.actor

    return check
