"""The workspace's door: a page asks for sign-in first, the form signs a person in and
takes them where they were going, and the API's /docs loads nothing from outside."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio
from playwright.async_api import Browser
from temporalio.testing import WorkflowEnvironment

from tests.api_support import Stack
from tests.workspace_support import browser, chromium_path, signed_in, workspace_stack

pytestmark = pytest.mark.skipif(chromium_path() is None, reason="no chromium on this machine")
__all__ = ["browser"]  # the module's chromium fixture


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def stack(
    dev_env: WorkflowEnvironment, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Stack]:
    async with workspace_stack(dev_env, tmp_path_factory.mktemp("workspace-door")) as s:
        yield s


async def test_a_page_sends_a_stranger_to_the_sign_in_form(stack: Stack) -> None:
    async with httpx.AsyncClient(base_url=stack.base_url) as anon:
        r = await anon.get("/?stage=new")
    assert r.status_code == 303
    assert r.headers["location"] == "/sign-in?next=%2F%3Fstage%3Dnew"


async def test_wrong_password_is_shown_on_the_form(stack: Stack, browser: Browser) -> None:
    ctx = await browser.new_context(base_url=stack.base_url)
    page = await ctx.new_page()
    await page.goto("/sign-in")
    await page.fill("input[name=user]", "ivanov")
    await page.fill("input[name=password]", "not the password")
    await page.click("button[type=submit]")
    error = page.locator("#sign-in-error")
    await error.wait_for(state="visible")
    assert "wrong user or password" in await error.inner_text()
    assert page.url.endswith("/sign-in")
    await ctx.close()


async def test_signing_in_opens_the_workspace_in_the_person_s_language(
    stack: Stack, browser: Browser
) -> None:
    page = await signed_in(browser, stack.base_url, "ivanov")
    await page.goto("/sign-in?next=/")  # the form is still there when signed in
    assert await page.locator("html").get_attribute("lang") in {"ru", "en"}
    me = await page.evaluate("fetch('/auth/me').then(r => r.json())")
    assert me["id"] == "ivanov"
    await page.context.close()


async def test_sign_in_refuses_to_send_people_off_site(stack: Stack) -> None:
    async with httpx.AsyncClient(base_url=stack.base_url) as anon:
        html = (await anon.get("/sign-in?next=//evil.example/")).text
    assert 'data-next="/"' in html


async def test_api_docs_load_from_this_server_only(stack: Stack, browser: Browser) -> None:
    ctx = await browser.new_context(base_url=stack.base_url)
    page = await ctx.new_page()
    outside: list[str] = []
    page.on(
        "request",
        lambda request: (
            outside.append(request.url)
            if not request.url.startswith(stack.base_url) and not request.url.startswith("data:")
            else None
        ),
    )
    await page.goto("/docs")
    await page.locator(".swagger-ui .info .title").wait_for()
    assert "Sales funnel API" in await page.locator(".swagger-ui .info .title").inner_text()
    assert outside == []
    await ctx.close()
