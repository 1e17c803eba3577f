"""Bearer API tokens with scopes, from ``FUNNEL_API_TOKENS``.

Every router protects its endpoints (or is included, as analytics is) with
``dependencies=[Depends(require_scope(REPORTS_READ))]``; the tokens are read from
``request.app.state.settings`` so that one app factory serves any settings.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from funnel.runtime.settings import Settings

DEALS_READ = "deals:read"
DEALS_WRITE = "deals:write"
LEADS_WRITE = "leads:write"
REPORTS_READ = "reports:read"
SCOPES = (DEALS_READ, DEALS_WRITE, LEADS_WRITE, REPORTS_READ)

# auto_error=False: a missing header must be our 401 with WWW-Authenticate, not FastAPI's 403.
_bearer = HTTPBearer(auto_error=False, description="an API token from FUNNEL_API_TOKENS")


def token_scopes(settings: Settings, token: str) -> list[str] | None:
    """The token's scopes, or None for an unknown token. Compared in constant time so that
    response timing does not reveal how much of a guessed token was right."""
    found = None
    for known, scopes in settings.api_tokens.items():
        if hmac.compare_digest(known.encode(), token.encode()):
            found = scopes
    return found


def require_scope(scope: str) -> Callable[..., Awaitable[str]]:
    """A dependency: 401 without a valid token, 403 when the token lacks ``scope``.
    Returns the token's name-free identity (its scope list is not exposed)."""

    async def check(
        request: Request,
        credentials: HTTPAuthorizationCredentials | None = Depends(_bearer),  # noqa: B008
    ) -> str:
        settings: Settings = request.app.state.settings
        unauthorized = HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            headers={"WWW-Authenticate": f'Bearer scope="{scope}"'},
            detail="missing or unknown API token: send 'Authorization: Bearer <token>'",
        )
        token = credentials.credentials if credentials is not None else None
        if credentials is not None and credentials.scheme.lower() != "bearer":
            token = None
        if token is None and request.method == "GET" and request.url.path == "/dashboard":
            # A browser cannot send a bearer header from the address bar: the dashboard
            # (read-only) also takes the token as ?token=.
            token = request.query_params.get("token")
        if token is None:
            raise unauthorized
        scopes = token_scopes(settings, token)
        if scopes is None:
            raise unauthorized
        if scope not in scopes:
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                detail=f"this API token lacks the scope {scope!r} (it has: "
                f"{', '.join(scopes) or 'none'})",
            )
        return scope

    return check
