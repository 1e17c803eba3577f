"""People sign in and act as themselves, over real HTTP against the real stack: password
sign-in and its session cookie, CSRF, the lock on failures, personal tokens, invitation
links; service tokens keep working and never pass as a person."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import pytest_asyncio
from temporalio.testing import WorkflowEnvironment

from funnel.storage.people import People
from funnel.storage.people_tables import sessions
from funnel.storage.personal_tokens import PersonalTokens
from tests.api_support import LEADS, WRITE, Stack, api_stack, deal_body

PASSWORD = "correct horse battery"


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def stack(
    dev_env: WorkflowEnvironment, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Stack]:
    async with api_stack(dev_env, tmp_path_factory.mktemp("api-sign-in")) as s:
        people = People(s.store)
        for employee in ("ivanov", "smirnova", "petrov"):
            people.set_password(employee, PASSWORD)
        yield s


@pytest_asyncio.fixture(loop_scope="session")
async def browser(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    """A client with its own cookie jar, like a browser."""
    async with httpx.AsyncClient(base_url=stack.base_url, timeout=30) as client:
        yield client


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def sign_in(client: httpx.AsyncClient, user: str, password: str = PASSWORD) -> str:
    r = await client.post("/auth/sign-in", json={"user": user, "password": password})
    assert r.status_code == 200, r.text
    csrf: str = r.json()["csrf_token"]
    return csrf


async def test_sign_in_sets_a_session_cookie_and_me_answers(
    stack: Stack, browser: httpx.AsyncClient
) -> None:
    r = await browser.post("/auth/sign-in", json={"user": "ivanov", "password": PASSWORD})
    assert r.status_code == 200, r.text
    cookie = r.headers["set-cookie"].lower()
    assert "funnel_session=" in cookie and "httponly" in cookie and "samesite=lax" in cookie
    assert "secure" not in cookie  # plain http here; https or FUNNEL_SESSION_COOKIE_SECURE
    me = (await browser.get("/auth/me")).json()
    assert me["id"] == "ivanov" and me["role"] == "manager" and me["department"] == "sales"
    assert me["timezone"] == "Europe/Moscow" and me["language"] == "ru" and me["via"] == "web"
    assert me["csrf_token"] == r.json()["csrf_token"]
    assert (await browser.get("/deals", params={"page_size": 1})).status_code == 200


async def test_sign_in_by_e_mail_from_an_html_form(browser: httpx.AsyncClient) -> None:
    r = await browser.post(
        "/auth/sign-in", data={"user": "Petrov@pusk.example", "password": PASSWORD}
    )
    assert r.status_code == 200, r.text
    assert r.json()["person"]["id"] == "petrov"


async def test_wrong_password_and_unknown_user_get_the_same_answer(
    browser: httpx.AsyncClient,
) -> None:
    started = time.perf_counter()
    wrong = await browser.post("/auth/sign-in", json={"user": "ivanov", "password": "x" * 12})
    wrong_took = time.perf_counter() - started
    started = time.perf_counter()
    unknown = await browser.post("/auth/sign-in", json={"user": "nobody", "password": "x" * 12})
    unknown_took = time.perf_counter() - started
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json() == {"detail": "wrong user or password"}
    assert "set-cookie" not in wrong.headers
    # Both do the argon2 work: neither answers in a fraction of the other's time.
    assert unknown_took > wrong_took / 4 and wrong_took > unknown_took / 4


async def test_repeated_failures_lock_the_user_from_this_address(
    browser: httpx.AsyncClient,
) -> None:
    for _ in range(5):
        r = await browser.post("/auth/sign-in", json={"user": "smirnova", "password": "no" * 6})
        assert r.status_code == 401
    # Locked now: even the right password waits.
    r = await browser.post("/auth/sign-in", json={"user": "smirnova", "password": PASSWORD})
    assert r.status_code == 429 and int(r.headers["retry-after"]) > 800
    assert "too many failed sign-ins" in r.json()["detail"]
    # An unknown name is locked the same way (the lock tells nothing about who exists).
    for _ in range(5):
        await browser.post("/auth/sign-in", json={"user": "ghost", "password": "no" * 6})
    r = await browser.post("/auth/sign-in", json={"user": "ghost", "password": "no" * 6})
    assert r.status_code == 429
    # Another person from the same address is not locked.
    await sign_in(browser, "petrov")


async def test_expired_session_is_refused(stack: Stack, browser: httpx.AsyncClient) -> None:
    await sign_in(browser, "ivanov")
    with stack.store.transaction(write=True) as conn:
        conn.execute(
            sessions.update()
            .where(sessions.c.employee_id == "ivanov")
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    r = await browser.get("/auth/me")
    assert r.status_code == 401 and "expired" in r.json()["detail"]


async def test_sign_out_ends_the_session(stack: Stack, browser: httpx.AsyncClient) -> None:
    csrf = await sign_in(browser, "petrov")
    cookie = browser.cookies["funnel_session"]
    assert (await browser.post("/auth/sign-out")).status_code == 403  # no CSRF header
    r = await browser.post("/auth/sign-out", headers={"X-CSRF-Token": csrf})
    assert r.status_code == 204
    # The old cookie, sent again, is refused: the session is gone on the server.
    r = await browser.get("/auth/me")
    assert r.status_code == 401
    r = await stack.anon.get("/auth/me", headers={"Cookie": f"funnel_session={cookie}"})
    assert r.status_code == 401


async def test_a_change_with_the_cookie_needs_the_csrf_header(
    browser: httpx.AsyncClient,
) -> None:
    csrf = await sign_in(browser, "ivanov")
    r = await browser.post("/deals", json=deal_body())
    assert r.status_code == 403 and "X-CSRF-Token" in r.json()["detail"]
    r = await browser.post("/deals", json=deal_body(), headers={"X-CSRF-Token": "forged"})
    assert r.status_code == 403
    r = await browser.post("/deals", json=deal_body(), headers={"X-CSRF-Token": csrf})
    assert r.status_code == 201, r.text
    # A person has their role's scopes: not leads:write, which stays with web forms.
    r = await browser.post("/leads", json={}, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 403 and "leads:write" in r.json()["detail"]


async def test_personal_token_acts_as_its_person(stack: Stack) -> None:
    tokens = PersonalTokens(stack.store)
    issued = tokens.issue("smirnova", "laptop", datetime.now(UTC) + timedelta(days=1))
    me = (await stack.anon.get("/auth/me", headers=bearer(issued.token))).json()
    assert me["id"] == "smirnova" and me["role"] == "head" and me["via"] == "api"
    assert me["csrf_token"] is None
    # A token needs no CSRF header: no browser sends it by itself.
    r = await stack.anon.post("/deals", json=deal_body(), headers=bearer(issued.token))
    assert r.status_code == 201, r.text
    listed = {t.token_id: t for t in tokens.list("smirnova")}
    assert listed[issued.token_id].last_used_at is not None
    assert tokens.revoke(issued.token_id)
    r = await stack.anon.get("/deals", headers=bearer(issued.token))
    assert r.status_code == 401 and "revoked" in r.json()["detail"]


async def test_expired_personal_token_is_refused(stack: Stack) -> None:
    issued = PersonalTokens(stack.store).issue(
        "ivanov", "old", datetime.now(UTC) - timedelta(seconds=1)
    )
    assert (await stack.anon.get("/auth/me", headers=bearer(issued.token))).status_code == 401


async def test_service_token_still_works_and_is_not_a_person(stack: Stack) -> None:
    assert (await stack.http.get("/deals", params={"page_size": 1})).status_code == 200
    r = await stack.anon.get("/auth/me", headers=bearer(WRITE))
    assert r.status_code == 403 and "not a person" in r.json()["detail"]
    # Nor does a service token pass as a session cookie.
    r = await stack.anon.get("/auth/me", headers={"Cookie": f"funnel_session={WRITE}"})
    assert r.status_code == 401
    assert (await stack.anon.get("/deals", headers=bearer(LEADS))).status_code == 403


async def test_invitation_link_sets_a_password_once(
    stack: Stack, browser: httpx.AsyncClient
) -> None:
    token, _ = People(stack.store).invite("sidorova", timedelta(hours=1))
    r = await browser.post(f"/auth/invitations/{token}", json={"password": "short"})
    assert r.status_code == 422 and "too short" in r.json()["detail"]
    r = await browser.post(f"/auth/invitations/{token}", json={"password": "sidorova's own pw"})
    assert r.status_code == 200 and r.json()["employee_id"] == "sidorova"
    await sign_in(browser, "sidorova", "sidorova's own pw")
    r = await browser.post(f"/auth/invitations/{token}", json={"password": "another password"})
    assert r.status_code == 410 and "already used" in r.json()["detail"]
    r = await browser.post("/auth/invitations/not-a-link", json={"password": "another password"})
    assert r.status_code == 404


async def test_a_person_acts_as_themselves_on_a_deal(stack: Stack) -> None:
    """Through the HTTP API with personal tokens: the deal checks the person who calls, and a
    forged `by` changes nothing."""
    tokens = PersonalTokens(stack.store)
    until = datetime.now(UTC) + timedelta(days=1)
    ivanov = bearer(tokens.issue("ivanov", "t", until).token)
    petrov = bearer(tokens.issue("petrov", "t", until).token)
    r = await stack.anon.post("/deals", json=deal_body(), headers=ivanov)
    deal_id = r.json()["deal_id"]
    r = await stack.anon.post(f"/deals/{deal_id}/accept", json={"by": "ivanov"}, headers=petrov)
    assert r.status_code == 409 and "petrov" in r.json()["detail"], r.text
    r = await stack.anon.post(f"/deals/{deal_id}/accept", json={}, headers=ivanov)
    assert r.status_code == 200 and r.json()["stage"] == "in_progress", r.text
    visit = r.json()["visits"][-1]
    assert (visit["entered_by"], visit["via"]) == ("ivanov", "api")
