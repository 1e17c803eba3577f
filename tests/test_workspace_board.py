"""The board in a real browser, as PUSK's people see it (Russian): the stages as columns with
their totals, a card per deal with what comes next, and moving a deal by dragging its card
or from its "Move to..." menu, with the deal's refusal rolling the card back."""

from __future__ import annotations

import pytest
from playwright.async_api import Page, expect

from tests.api_support import Stack
from tests.workspace_board_support import (
    STAGES,
    card,
    card_in,
    column,
    open_board,
    person_fixture,
    stack_fixture,
    stage_of,
    start_deal,
)
from tests.workspace_support import browser, chromium_path, screenshot

pytestmark = pytest.mark.skipif(chromium_path() is None, reason="no chromium on this machine")
__all__ = ["browser"]  # the module's chromium fixture


stack = stack_fixture("board")
ivanov = person_fixture("ivanov")


async def test_the_russian_board_shows_the_stages_and_the_deals_in_them(
    stack: Stack, ivanov: Page
) -> None:
    new = await start_deal(stack, contact={"name": "Анна Петрова", "company": "ООО Ромашка"})
    talks = await start_deal(stack, stage="negotiation", amount="1500000")
    await open_board(ivanov)

    columns = ivanov.locator(".board-columns > .board-column")
    assert [await c.get_attribute("data-stage") for c in await columns.all()] == STAGES
    assert await ivanov.locator(".board-closing [data-stage]").evaluate_all(
        "zones => zones.map(z => z.dataset.stage)"
    ) == ["won", "lost"]
    heads = await ivanov.locator(".board-column-head h2").all_inner_texts()
    assert heads[:4] == ["Новая сделка", "В работе", "Коммерческое предложение", "Переговоры"]
    assert heads[-2:] == ["Сделка успешна", "Сделка провалена"]

    fresh = card_in(ivanov, "new", new)
    await expect(fresh).to_contain_text("ООО Ромашка")
    await expect(fresh).to_contain_text("Ivan Ivanov")
    await expect(fresh).to_contain_text("250 000,00")
    await expect(fresh).to_contain_text("В стадии:")
    await expect(fresh).to_contain_text("Срок стадии")  # 1 working hour to take it into work
    negotiation = card_in(ivanov, "negotiation", talks)
    # The plan the deal sent with its stage entry: the reminder to call again comes first.
    await expect(negotiation).to_contain_text("Напомнить ответственному перезвонить клиенту")
    await expect(negotiation).to_contain_text("рабоч")
    head = column(ivanov, "negotiation").locator(".board-column-head")
    await expect(head).to_contain_text("1 500 000,00")
    await expect(head.locator(".board-count")).to_have_text("1 сделка")
    await screenshot(ivanov, "board-ru")


async def test_a_card_dragged_to_the_next_column_stays_there_after_a_reload(
    stack: Stack, ivanov: Page
) -> None:
    deal_id = await start_deal(stack)
    await open_board(ivanov)
    await card(ivanov, deal_id).drag_to(column(ivanov, "in_progress"))
    await expect(card_in(ivanov, "in_progress", deal_id)).to_be_visible()
    await expect(ivanov.locator("#flash")).to_contain_text("перемещена")
    assert await stage_of(stack, deal_id) == "in_progress"  # accepted: new's trigger
    await ivanov.reload()
    await expect(card_in(ivanov, "in_progress", deal_id)).to_be_visible()


async def test_hovering_a_column_while_dragging_shows_what_entering_it_does(
    stack: Stack, ivanov: Page
) -> None:
    deal_id = await start_deal(stack, stage="proposal")
    await open_board(ivanov)
    preview = column(ivanov, "negotiation").locator(".board-preview")
    await expect(preview).to_be_hidden()
    await card(ivanov, deal_id).locator(".board-card-company").hover()
    await ivanov.mouse.down()
    box = await column(ivanov, "negotiation").bounding_box()
    assert box is not None
    for step in range(2):  # the drag starts on the first move, hovers on the next
        await ivanov.mouse.move(box["x"] + 30 + step * 10, box["y"] + 60, steps=5)
    await expect(preview).to_be_visible()
    await expect(preview).to_contain_text("через 10 рабочих дней")
    await expect(preview).to_contain_text("Срок стадии: через 15 рабочих дней")
    await screenshot(ivanov, "board-drag-preview")
    await ivanov.keyboard.press("Escape")
    await ivanov.mouse.up()


async def test_a_refused_move_rolls_back_with_the_deals_reason(stack: Stack, ivanov: Page) -> None:
    deal_id = await start_deal(stack, stage="contract")
    await open_board(ivanov)
    # Back past the contract needs a reason: the deal refuses, the card comes back.
    await card(ivanov, deal_id).drag_to(column(ivanov, "proposal"))
    flash = ivanov.locator("#flash")
    await expect(flash).to_contain_text("Сделка осталась на месте")
    await expect(flash).to_contain_text("needs a reason")
    await expect(card_in(ivanov, "contract", deal_id)).to_be_visible()
    await expect(card_in(ivanov, "proposal", deal_id)).to_have_count(0)
    assert await stage_of(stack, deal_id) == "contract"


async def test_lost_asks_for_the_reason_and_won_for_a_confirmation(
    stack: Stack, ivanov: Page
) -> None:
    lost, won = await start_deal(stack, stage="negotiation"), await start_deal(stack, stage="final")
    await open_board(ivanov)
    dialog = ivanov.locator("#board-lost-dialog")
    await card(ivanov, lost).drag_to(column(ivanov, "lost"))
    await expect(dialog).to_be_visible()
    await dialog.get_by_role("button", name="Отмена").click()  # thought better of it
    await expect(card_in(ivanov, "negotiation", lost)).to_be_visible()

    await card(ivanov, lost).drag_to(column(ivanov, "lost"))
    await dialog.locator("textarea").fill("выбрали конкурента")
    await dialog.get_by_role("button", name="Закрыть как проваленную").click()
    await expect(card(ivanov, lost)).to_have_count(0)
    closed = (await stack.http.get(f"/deals/{lost}")).json()
    assert (closed["status"], closed["lost_reason"]) == ("lost", "выбрали конкурента")

    await card(ivanov, won).drag_to(column(ivanov, "won"))
    confirm = ivanov.locator("#board-won-dialog")
    await expect(confirm).to_contain_text("как успешную?")
    await confirm.get_by_role("button", name="Да, сделка успешна").click()
    await expect(card(ivanov, won)).to_have_count(0)
    assert (await stack.http.get(f"/deals/{won}")).json()["status"] == "won"


async def test_a_lost_reason_of_blanks_is_refused_and_rolled_back(
    stack: Stack, ivanov: Page
) -> None:
    deal_id = await start_deal(stack, stage="proposal")
    await open_board(ivanov)
    await card(ivanov, deal_id).drag_to(column(ivanov, "lost"))
    dialog = ivanov.locator("#board-lost-dialog")
    await dialog.locator("textarea").fill("   ")
    await dialog.get_by_role("button", name="Закрыть как проваленную").click()
    await expect(ivanov.locator("#flash")).to_contain_text("Сделка осталась на месте")
    await expect(card_in(ivanov, "proposal", deal_id)).to_be_visible()
    assert (await stack.http.get(f"/deals/{deal_id}")).json()["status"] == "open"


async def test_the_move_to_menu_moves_a_deal_without_a_mouse(stack: Stack, ivanov: Page) -> None:
    deal_id = await start_deal(stack, stage="in_progress")
    await open_board(ivanov)
    opener = card(ivanov, deal_id).get_by_role("button", name="Переместить сделку")
    await opener.focus()
    await ivanov.keyboard.press("Enter")
    dialog = ivanov.get_by_role("dialog", name="Переместить в стадию")
    await expect(dialog).to_be_visible()
    here = dialog.get_by_role("button", name="В работе", exact=True)
    await expect(here).to_be_disabled()
    # The first stage is focused; Tab walks down to the one wanted.
    await expect(dialog.get_by_role("button", name="Новая сделка")).to_be_focused()
    for _ in range(2):  # past `in_progress` (disabled: skipped) to `negotiation`
        await ivanov.keyboard.press("Tab")
    await expect(dialog.get_by_role("button", name="Переговоры")).to_be_focused()
    await ivanov.keyboard.press("Enter")
    await expect(card_in(ivanov, "negotiation", deal_id)).to_be_visible()
    await expect(dialog).to_be_hidden()
    assert await stage_of(stack, deal_id) == "negotiation"
