"""The workspace in a real browser: the API stack of tests/api_support.py with the
directory's people given passwords, and Debian's chromium driven by Playwright (no browser
download: ``executable_path``). Screenshots go to test-artifacts/ for people to look at."""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest_asyncio
from playwright.async_api import Browser, Page, async_playwright
from temporalio.testing import WorkflowEnvironment

from funnel.storage.directory import Directory
from funnel.storage.people import People
from tests.api_support import Stack, api_stack

PASSWORD = "correct horse battery"
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
CHROMIUM = os.environ.get("FUNNEL_CHROMIUM", "/usr/bin/chromium")
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",  # this machine's closed network refuses them
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def chromium_path() -> str | None:
    return CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium")


@contextlib.asynccontextmanager
async def workspace_stack(
    env: WorkflowEnvironment, tmp: Path, **overrides: Any
) -> AsyncIterator[Stack]:
    """The API (and so the workspace) with every employee of the directory able to sign in
    with PASSWORD."""
    async with api_stack(env, tmp, **overrides) as stack:
        people = People(stack.store)
        for employee in Directory.load(stack.settings.directory):
            people.set_password(employee.id, PASSWORD)
        yield stack


@contextlib.asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    path = chromium_path()
    if path is None:
        raise RuntimeError("no chromium: apt-get install chromium (.ci/run does)")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=path, args=FLAGS)
        try:
            yield browser
        finally:
            await browser.close()


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def browser() -> AsyncIterator[Browser]:
    """The test module's chromium; a test file imports it (and names it in ``__all__``)."""
    async with chromium() as b:
        yield b


async def signed_in(browser: Browser, base_url: str, user: str, **context: Any) -> Page:
    """A new browser context (its own cookies) signed in as ``user`` through the form."""
    ctx = await browser.new_context(
        base_url=base_url, viewport={"width": 1400, "height": 900}, **context
    )
    page = await ctx.new_page()
    await page.goto("/sign-in")
    await page.fill("input[name=user]", user)
    await page.fill("input[name=password]", PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_url(lambda url: "/sign-in" not in url)
    return page


async def screenshot(page: Page, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    await page.screenshot(path=str(path), full_page=True)
    return path
