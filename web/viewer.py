"""Who is looking at a page: the signed-in employee, read from the session cookie.

A page without a valid session redirects to ``/sign-in?next=<the page>`` instead of the
API's 401: a person in a browser should land on the sign-in form, not on JSON.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import APIKeyCookie

from api.auth import SESSION_COOKIE, Caller, authenticate, directory
from funnel.client.read_scope import ReadScope, scope_for
from funnel.domain.people import Role
from funnel.storage.directory import Employee
from web.i18n import Language

_cookie = APIKeyCookie(name=SESSION_COOKIE, auto_error=False)


class SignInFirst(Exception):
    """Raised by the page dependency; the app answers with a redirect to the sign-in form."""

    def __init__(self, next_url: str) -> None:
        super().__init__(next_url)
        self.next_url = next_url


@dataclass(frozen=True)
class Viewer:
    employee: Employee
    caller: Caller
    scope: ReadScope | None  # None: every deal (an admin)

    @property
    def id(self) -> str:
        return self.employee.id

    @property
    def role(self) -> Role:
        return self.employee.role

    @property
    def language(self) -> Language:
        return self.employee.language

    @property
    def timezone(self) -> str:
        return self.employee.timezone

    @property
    def csrf_token(self) -> str:
        return self.caller.csrf_token or ""


def sign_in_url(request: Request) -> str:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return f"/sign-in?next={quote(target, safe='')}"


async def current_viewer(
    request: Request, cookie: Annotated[str | None, Depends(_cookie)]
) -> Viewer:
    if not cookie:
        raise SignInFirst(sign_in_url(request))
    try:
        caller = await authenticate(request, None, cookie)
    except HTTPException as exc:
        if exc.status_code == status.HTTP_401_UNAUTHORIZED:
            raise SignInFirst(sign_in_url(request)) from exc
        raise
    people = directory(request)
    employee = people.get(caller.actor.id)
    if employee is None:  # authenticate() checked it; the directory may have been reloaded
        raise SignInFirst(sign_in_url(request))
    return Viewer(employee, caller, scope_for(caller.actor, people))


CurrentViewer = Annotated[Viewer, Depends(current_viewer)]
