"""What the board's browser tests share: deals started and moved over the API (as a
service would), and the board's columns and cards as a person sees them."""

from __future__ import annotations

from typing import Any

from playwright.async_api import Locator, Page

from tests.api_support import Stack, deal_body

STAGES = ["new", "in_progress", "proposal", "negotiation", "contract", "payment", "final"]


async def start_deal(stack: Stack, *, stage: str = "new", **changes: Any) -> str:
    """A deal started over the API (the service token) and moved to ``stage``."""
    r = await stack.http.post("/deals", json=deal_body(**changes))
    assert r.status_code == 201, r.text
    deal_id: str = r.json()["deal_id"]
    if stage != "new":
        r = await stack.http.post(f"/deals/{deal_id}/move", json={"stage": stage})
        assert r.status_code == 200, r.text
    return deal_id


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
