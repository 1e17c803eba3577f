"""``/auth``: people sign in with a password (a session cookie), see who they are, sign out,
and set their password from an invitation link.

Sign-in answers the same 401 for an unknown user and a wrong password, after the same
argon2 work (funnel/storage/people.py), so that neither the answer nor its timing tells who
exists. Failed attempts lock the user/address pair (``FUNNEL_SIGN_IN_*``): 429 until then.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Depends, HTTPException, Path, Request, Response, status
from pydantic import AwareDatetime, BaseModel, Field, ValidationError

from api.auth import (
    CSRF_HEADER,
    SESSION_COOKIE,
    Caller,
    current_caller,
    directory,
    people,
)
from funnel.domain.people import Role, Via
from funnel.runtime.settings import Settings
from funnel.storage.directory import Employee
from funnel.storage.people import InvitationRefused, LockPolicy, PasswordRejected

router = APIRouter(prefix="/auth", tags=["auth"])

WRONG = "wrong user or password"


class SignInBody(BaseModel):
    user: str = Field(min_length=1, max_length=320, description="employee id or e-mail")
    password: str = Field(min_length=1, max_length=1024)


class PasswordBody(BaseModel):
    password: str = Field(min_length=1, max_length=1024)


class Me(BaseModel):
    id: str
    name: str
    role: Role
    department: str
    timezone: str
    language: str
    via: Via
    csrf_token: str | None = Field(
        description=f"send it back in {CSRF_HEADER} with every change made with the session"
        " cookie; null when signed in with a token (no CSRF header needed)"
    )


class SignedIn(BaseModel):
    person: Me
    csrf_token: str
    expires_at: AwareDatetime


class PasswordSet(BaseModel):
    employee_id: str
    detail: str


async def _body(request: Request, model: type[BaseModel]) -> Any:
    """The body as JSON or as an HTML form (application/x-www-form-urlencoded)."""
    raw = await request.body()
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    try:
        if kind == "application/x-www-form-urlencoded":
            data: Any = dict(parse_qsl(raw.decode(), keep_blank_values=True))
        else:
            data = json.loads(raw or b"null")
        return model.model_validate(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            detail="the body is neither JSON nor an HTML form (application/x-www-form-urlencoded)",
        ) from exc
    except ValidationError as exc:
        errors = [{"loc": e["loc"], "msg": e["msg"]} for e in exc.errors()]
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=errors) from exc


def _me(employee: Employee, via: Via, csrf_token: str | None) -> Me:
    return Me(
        id=employee.id, name=employee.name, role=employee.role, department=employee.department,
        timezone=employee.timezone, language=employee.language, via=via, csrf_token=csrf_token,
    )  # fmt: skip


def _find(request: Request, login: str) -> Employee | None:
    found = directory(request).get(login)
    if found is not None:
        return found
    wanted = login.lower()
    return next((e for e in directory(request) if e.email and e.email.lower() == wanted), None)


def _policy(settings: Settings) -> LockPolicy:
    return LockPolicy(
        failures=settings.sign_in_max_failures,
        window=timedelta(minutes=settings.sign_in_window_minutes),
        lockout=timedelta(minutes=settings.sign_in_lockout_minutes),
    )


@router.post(
    "/sign-in",
    summary="Sign in with employee id or e-mail and password (JSON or form): a session cookie",
    responses={401: {"description": WRONG}, 429: {"description": "locked after failures"}},
)
async def sign_in(request: Request, response: Response) -> SignedIn:
    settings: Settings = request.app.state.settings
    body: SignInBody = await _body(request, SignInBody)
    address = request.client.host if request.client else "unknown"
    policy = _policy(settings)
    store = people(request)
    locked = await asyncio.to_thread(store.locked_until, body.user, address, policy)
    if locked is not None:
        wait = max(1, int((locked - datetime.now(UTC)).total_seconds()))
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            detail=f"too many failed sign-ins for this user from this address: try again in"
            f" {(wait + 59) // 60} minutes",
            headers={"Retry-After": str(wait)},
        )
    employee = _find(request, body.user)
    ok = await asyncio.to_thread(
        store.verify_password, employee.id if employee else None, body.password
    )
    if not ok or employee is None:
        await asyncio.to_thread(store.record_failure, body.user, address, policy)
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, detail=WRONG)
    await asyncio.to_thread(store.clear_failures, body.user, address)
    session = await asyncio.to_thread(
        store.open_session, employee.id, timedelta(hours=settings.session_hours)
    )
    response.set_cookie(
        SESSION_COOKIE,
        session.cookie,
        max_age=int(settings.session_hours * 3600),
        path="/",
        httponly=True,  # page scripts never see it: an injected script cannot steal it
        samesite="lax",  # other sites' forms and fetches do not carry it (CSRF)
        secure=settings.session_cookie_secure or request.url.scheme == "https",
    )
    return SignedIn(
        person=_me(employee, Via.WEB, session.csrf_token),
        csrf_token=session.csrf_token,
        expires_at=session.expires_at,
    )


@router.post(
    "/sign-out",
    status_code=status.HTTP_204_NO_CONTENT,
    summary=f"End the browser's session (with the cookie and {CSRF_HEADER})",
)
async def sign_out(
    request: Request, response: Response, caller: Annotated[Caller, Depends(current_caller)]
) -> None:
    if caller.session_cookie is None:
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST,
            detail="no session to end: this request came with a token, not a session cookie"
            " (revoke a personal token with `funnel token revoke`)",
        )
    await asyncio.to_thread(people(request).close_session, caller.session_cookie)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax")


@router.get("/me", summary="The signed-in person (or the personal token's)")
async def me(request: Request, caller: Annotated[Caller, Depends(current_caller)]) -> Me:
    if caller.actor.kind != "person":
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            detail="a service token is not a person: /auth/me answers for a signed-in person"
            " or a personal token",
        )
    employee = directory(request).get(caller.actor.id)
    assert employee is not None  # authenticate() refused anyone not in the directory
    return _me(employee, caller.actor.via, caller.csrf_token)


@router.post(
    "/invitations/{token}",
    summary="Set the invited person's password (JSON or form {password}); the link works once",
    responses={404: {"description": "unknown link"}, 410: {"description": "used or expired"}},
)
async def accept_invitation(
    request: Request, token: Annotated[str, Path(min_length=1, max_length=200)]
) -> PasswordSet:
    body: PasswordBody = await _body(request, PasswordBody)
    try:
        employee_id = await asyncio.to_thread(
            people(request).accept_invitation, token, body.password
        )
    except PasswordRejected as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=str(exc)) from exc
    except InvitationRefused as exc:
        code = status.HTTP_404_NOT_FOUND if exc.unknown else status.HTTP_410_GONE
        raise HTTPException(code, detail=str(exc)) from exc
    return PasswordSet(
        employee_id=employee_id, detail="password set: sign in with POST /auth/sign-in"
    )
