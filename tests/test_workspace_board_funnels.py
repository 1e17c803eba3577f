"""The board of each funnel in a real browser: a selector switches between PUSK's funnel and
repeat sales (the columns and cards of the one chosen, kept in the query string), and a deal
moved to the other funnel leaves the board without a reload; the new deal form starts a deal
in the funnel chosen."""

from __future__ import annotations

import pytest
from playwright.async_api import Page, expect

from tests.api_support import Stack
from tests.workspace_board_support import (
    STAGES,
    card,
    card_in,
    open_board,
    person_fixture,
    stack_fixture,
    start_deal,
)
from tests.workspace_support import browser, chromium_path

pytestmark = pytest.mark.skipif(chromium_path() is None, reason="no chromium on this machine")
__all__ = ["browser"]  # the module's chromium fixture

stack = stack_fixture("board-funnels")
ivanov = person_fixture("ivanov")


async def test_the_selector_shows_the_board_of_the_other_funnel(stack: Stack, ivanov: Page) -> None:
    repeat = await start_deal(stack, pipeline="repeat_sales")
    plain = await start_deal(stack)
    await open_board(ivanov)
    columns = ivanov.locator(".board-columns > .board-column")
    assert [await c.get_attribute("data-stage") for c in await columns.all()] == STAGES
    await expect(card_in(ivanov, "new", plain)).to_be_visible()
    await expect(card(ivanov, repeat)).to_have_count(0)

    await ivanov.select_option("#board-pipeline", "repeat_sales")
    await ivanov.wait_for_url("**pipeline=repeat_sales**")
    stages = [await c.get_attribute("data-stage") for c in await columns.all()]
    assert stages == ["new", "order", "invoice", "final"]
    await expect(card_in(ivanov, "new", repeat)).to_be_visible()
    await expect(card(ivanov, plain)).to_have_count(0)
    assert "pipeline=repeat_sales" in (
        await ivanov.locator("#board").get_attribute("data-filters") or ""
    )

    refused = await ivanov.goto("/?pipeline=partners")
    assert refused is not None and refused.status == 404


async def test_a_deal_moved_to_the_other_funnel_leaves_the_board(
    stack: Stack, ivanov: Page
) -> None:
    deal_id = await start_deal(stack)
    await open_board(ivanov)
    await expect(card_in(ivanov, "new", deal_id)).to_be_visible()
    r = await stack.http.post(
        f"/deals/{deal_id}/move-to-funnel",
        json={"pipeline": "repeat_sales", "stage": "order"},
        headers=stack.as_person("ivanov"),
    )
    assert r.status_code == 200, r.text
    await expect(card(ivanov, deal_id)).to_have_count(0)  # the live updates took it off
    await open_board(ivanov, "pipeline=repeat_sales")
    await expect(card_in(ivanov, "order", deal_id)).to_be_visible()
    # The deal's card: its path names the stage of the funnel it came from.
    await ivanov.goto(f"/deals/{deal_id}")
    path = ivanov.locator("#stage-path")
    await expect(path).to_contain_text("new (pusk)")
    await expect(path).to_contain_text("Заказ согласован")  # repeat sales' order, in Russian


async def test_the_new_deal_form_starts_a_deal_in_the_funnel_chosen(
    stack: Stack, ivanov: Page
) -> None:
    await ivanov.goto("/deals/new")
    form = ivanov.locator("#new-deal-form")
    await expect(form.locator("select[name=pipeline]")).to_have_value("pusk")  # the default
    # Every funnel's fields: repeat sales' `new_project` next to PUSK's `contract_due`.
    await expect(form.locator("input[name='fields.new_project']")).to_have_attribute(
        "type", "checkbox"
    )
    await expect(form.locator("input[name='fields.contract_due']")).to_have_count(1)
    deal_id = await form.locator("input[name=deal_id]").input_value()
    await form.locator("input[name='contact.name']").fill("Olga Smirnova")
    await form.locator("input[name='contact.email']").fill("olga@vector.example")
    await form.locator("input[name=service]").fill("support")
    await form.locator("input[name=amount]").fill("60000")
    await form.locator("select[name=pipeline]").select_option("repeat_sales")
    await ivanov.get_by_role("button", name="Создать сделку").click()
    await ivanov.wait_for_url(f"**/deals/{deal_id}")
    deal = (await stack.http.get(f"/deals/{deal_id}")).json()
    assert (deal["pipeline_id"], deal["stage"]) == ("repeat_sales", "new")
