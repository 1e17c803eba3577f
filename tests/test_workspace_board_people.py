"""Who sees what on the board, and how they narrow it: a manager their own deals (and, asked,
those of their sales team), a head the department's, never another department's; filters by
person, overdue and text, kept in the address; the board in English for an English-speaking
employee; a company name with markup in it stays text, on the page and in live updates."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import pytest_asyncio
import yaml
from playwright.async_api import Browser, Page, expect

from funnel.runtime.settings import PROJECT
from funnel.storage.records import DealRecord
from tests.api_support import Stack
from tests.workspace_board_support import (
    card,
    card_in,
    column,
    open_board,
    stack_fixture,
    start_deal,
)
from tests.workspace_support import browser, chromium_path, screenshot, signed_in

pytestmark = pytest.mark.skipif(chromium_path() is None, reason="no chromium on this machine")
__all__ = ["browser"]  # the module's chromium fixture

MARKUP = '<script>window.pwned = 1</script><img src=x onerror="window.pwned = 2">'


def _directory(folder: Path) -> Path:
    """PUSK's people, petrov reading English, and a second department (retail)."""
    people = yaml.safe_load((PROJECT / "directory.yaml").read_text(encoding="utf-8"))
    for employee in people["employees"]:
        if employee["id"] == "petrov":
            employee["language"] = "en"
    people["employees"] += [
        {"id": "volkova", "name": "Vera Volkova", "department": "retail", "role": "head"},
        {"id": "kozlov", "name": "Kirill Kozlov", "department": "retail", "head": "volkova"},
    ]
    path = folder / "directory.yaml"
    path.write_text(yaml.safe_dump(people, allow_unicode=True), encoding="utf-8")
    return path


stack = stack_fixture("board-people", directory=_directory)


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def deals(stack: Stack) -> dict[str, str]:
    """ivanov's deal (petrov in its sales team), petrov's, and retail's kozlov's."""
    return {
        "ivanov": await start_deal(stack, sales_team=["petrov"]),
        "petrov": await start_deal(stack, responsible="petrov", sales_team=[]),
        "kozlov": await start_deal(
            stack, responsible="kozlov", department_head="volkova", sales_team=[]
        ),
    }


async def _shown(page: Page) -> set[str]:
    ids = page.locator(".board-card").evaluate_all("cards => cards.map(c => c.dataset.dealId)")
    return set(await ids)


async def test_a_manager_sees_their_own_deals_and_asked_their_teams(
    stack: Stack, browser: Browser, deals: dict[str, str]
) -> None:
    ivanov = await signed_in(browser, stack.base_url, "ivanov")
    await open_board(ivanov)
    assert await _shown(ivanov) >= {deals["ivanov"]}
    assert not await _shown(ivanov) & {deals["petrov"], deals["kozlov"]}

    petrov = await signed_in(browser, stack.base_url, "petrov")
    await open_board(petrov)
    assert deals["petrov"] in await _shown(petrov)
    assert deals["ivanov"] not in await _shown(petrov)
    await open_board(petrov, "responsible=")  # anyone: the deals whose team they are in too
    assert {deals["petrov"], deals["ivanov"]} <= await _shown(petrov)
    assert deals["kozlov"] not in await _shown(petrov)
    await ivanov.context.close()
    await petrov.context.close()


async def test_a_head_sees_the_department_and_narrows_it_to_a_person(
    stack: Stack, browser: Browser, deals: dict[str, str]
) -> None:
    smirnova = await signed_in(browser, stack.base_url, "smirnova")
    await open_board(smirnova)
    assert {deals["ivanov"], deals["petrov"]} <= await _shown(smirnova)
    assert deals["kozlov"] not in await _shown(smirnova)
    await expect(smirnova.locator("select[name=department]")).to_have_value("sales")
    options = await smirnova.locator("select[name=responsible] option").all_inner_texts()
    assert "Kirill Kozlov" not in options  # another department's people are not offered

    await smirnova.locator("select[name=responsible]").select_option("petrov")
    await smirnova.wait_for_url("**responsible=petrov**")
    assert deals["petrov"] in await _shown(smirnova)
    assert deals["ivanov"] not in await _shown(smirnova)
    bookmarked = smirnova.url
    await smirnova.goto("/")
    await smirnova.goto(bookmarked)  # the address keeps the filters
    assert deals["ivanov"] not in await _shown(smirnova)
    await expect(smirnova.locator("select[name=responsible]")).to_have_value("petrov")

    volkova = await signed_in(browser, stack.base_url, "volkova")
    await open_board(volkova)
    assert deals["kozlov"] in await _shown(volkova)
    assert not await _shown(volkova) & {deals["ivanov"], deals["petrov"]}
    await smirnova.context.close()
    await volkova.context.close()


async def test_overdue_and_text_filters(stack: Stack, browser: Browser) -> None:
    daisy = await start_deal(stack, contact={"name": "Ирина", "company": "ООО Ромашка-Плюс"})
    late = await start_deal(stack, contact={"name": "Олег", "company": "Лютик"})
    # Once it has entered `new` (its robots renamed it), the store records a breach as the
    # deadline's robot would.
    await stack.wait_for(late, lambda d: not d["title"].startswith("Deal "))
    stack.store.update_deal(late, breached=True)
    smirnova = await signed_in(browser, stack.base_url, "smirnova")
    await open_board(smirnova, "q=ромашка-плюс")  # any case, any alphabet
    assert daisy in await _shown(smirnova) and late not in await _shown(smirnova)
    await open_board(smirnova, "breached=1")
    assert late in await _shown(smirnova) and daisy not in await _shown(smirnova)
    await expect(card(smirnova, late).locator(".badge.breached")).to_have_text("Просрочено")
    await expect(smirnova.locator("input[name=breached]")).to_be_checked()
    await smirnova.context.close()


async def test_an_english_speaking_employee_reads_the_board_in_english(
    stack: Stack, browser: Browser, deals: dict[str, str]
) -> None:
    petrov = await signed_in(browser, stack.base_url, "petrov")
    await open_board(petrov)
    assert await petrov.locator("html").get_attribute("lang") == "en"
    heads = await petrov.locator(".board-column-head h2").all_inner_texts()
    assert heads[:3] == ["New deal", "In progress", "Commercial proposal"]
    mine = card_in(petrov, "new", deals["petrov"])
    await expect(mine).to_contain_text("In stage:")
    await expect(mine).to_contain_text("Stage deadline")
    await expect(mine.get_by_role("button", name="Move deal")).to_have_text("Move to…")
    await expect(column(petrov, "new").locator(".board-count")).to_contain_text("deal")
    await screenshot(petrov, "board-en")
    await petrov.context.close()


async def test_markup_in_a_company_name_stays_text(stack: Stack, browser: Browser) -> None:
    before = await start_deal(stack, contact={"name": "Eve", "company": MARKUP})
    ivanov = await signed_in(browser, stack.base_url, "ivanov")
    await open_board(ivanov)
    await expect(card(ivanov, before).locator(".board-card-company")).to_have_text(MARKUP)
    after = await start_deal(stack, contact={"name": "Eve", "company": MARKUP})
    await expect(card(ivanov, after).locator(".board-card-company")).to_have_text(MARKUP)
    assert await ivanov.evaluate("window.pwned") is None
    assert await ivanov.locator(".board-card script, .board-card img").count() == 0
    await ivanov.context.close()


async def test_a_long_column_shows_its_first_cards_and_more_on_request(
    stack: Stack, browser: Browser
) -> None:
    # Sixty of sidorova's deals in `proposal`, as the store registers them (the board reads
    # nothing else), the oldest in the stage first.
    start = datetime(2026, 11, 2, 9, tzinfo=UTC)
    for n in range(60):
        stack.store.add_deal(
            DealRecord(
                deal_id=f"LONG-{n:02}", title=f"Long {n:02}", pipeline_id="pusk",
                pipeline_version="v", stage="proposal", status="open", responsible="sidorova",
                department_head="smirnova", service="website", amount=Decimal(1000),
                currency="RUB", contact_name="Anna", contact_company="Long Ltd",
                started_at=start + timedelta(hours=n),
            )
        )  # fmt: skip
    smirnova = await signed_in(browser, stack.base_url, "smirnova")
    await open_board(smirnova, "responsible=sidorova")
    cards = column(smirnova, "proposal").locator(".board-card")
    head = column(smirnova, "proposal").locator(".board-column-head")
    await expect(head.locator(".board-count")).to_have_text("60 сделок")  # all, not the shown
    await expect(head.locator(".board-sum")).to_contain_text("60 000,00")
    await expect(cards).to_have_count(50)
    await expect(cards.first).to_have_attribute("data-deal-id", "LONG-00")
    await column(smirnova, "proposal").get_by_role("button", name="Показать ещё").click()
    await expect(cards).to_have_count(60)
    await expect(cards.last).to_have_attribute("data-deal-id", "LONG-59")
    await expect(column(smirnova, "proposal").locator(".board-more")).to_have_count(0)
    await smirnova.context.close()
