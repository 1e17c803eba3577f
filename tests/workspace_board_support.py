"""What the board's browser tests share: deals started and moved over the API (as a
service would), and the board's columns and cards as a person sees them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from playwright.async_api import Browser, Locator, Page
from temporalio.testing import WorkflowEnvironment

from tests.api_support import Stack, deal_body
from tests.workspace_support import signed_in, workspace_stack

STAGES = ["new", "in_progress", "proposal", "negotiation", "contract", "payment", "final"]


def stack_fixture(name: str, **settings: Callable[[Path], Any]) -> Any:
    """A module's workspace stack (fixture ``stack``); each setting is made from the
    stack's folder (a directory file written there, say)."""

    @pytest_asyncio.fixture(scope="module", loop_scope="session")
    async def stack(
        dev_env: WorkflowEnvironment, tmp_path_factory: pytest.TempPathFactory
    ) -> AsyncIterator[Stack]:
        folder = tmp_path_factory.mktemp(name)
        overrides = {key: make(folder) for key, make in settings.items()}
        async with workspace_stack(dev_env, folder, **overrides) as s:
            yield s

    return stack


def person_fixture(user: str) -> Any:
    """A page signed in as ``user`` for one test (fixture named after them)."""

    @pytest_asyncio.fixture(loop_scope="session", name=user)
    async def page(stack: Stack, browser: Browser) -> AsyncIterator[Page]:
        signed = await signed_in(browser, stack.base_url, user)
        yield signed
        await signed.context.close()

    return page


async def start_deal(stack: Stack, *, stage: str = "new", **changes: Any) -> str:
    """A deal started over the API (the service token, as a web form would) and moved to
    ``stage`` by its responsible."""
    body = deal_body(**changes)
    r = await stack.http.post("/deals", json=body)
    assert r.status_code == 201, r.text
    deal_id: str = r.json()["deal_id"]
    if stage != "new":
        await act(stack, body["responsible"], deal_id, "move", {"stage": stage})
    return deal_id


async def act(stack: Stack, person: str, deal_id: str, action: str, body: Any) -> None:
    """``person`` moves or closes the deal over the API (with their personal token)."""
    r = await stack.http.post(
        f"/deals/{deal_id}/{action}", json=body, headers=stack.as_person(person)
    )
    assert r.status_code == 200, r.text


async def stage_of(stack: Stack, deal_id: str) -> str:
    stage: str = (await stack.http.get(f"/deals/{deal_id}")).json()["stage"]
    return stage


def column(page: Page, stage: str) -> Locator:
    return page.locator(f'.board-column[data-stage="{stage}"]')


def card(page: Page, deal_id: str) -> Locator:
    return page.locator(f'.board-card[data-deal-id="{deal_id}"]')


def card_in(page: Page, stage: str, deal_id: str) -> Locator:
    return column(page, stage).locator(f'.board-card[data-deal-id="{deal_id}"]')


async def open_board(page: Page, query: str = "") -> None:
    await page.goto("/" + (f"?{query}" if query else ""))
    await page.locator("#board").wait_for()
