"""The deal card in a real browser against the real worker: opened from its URL (the same
URL answers API clients with JSON), accepted, moved, refused with the deal's reason, and
the contract stage's task completed by the manager, returned with a comment and confirmed
by the head who created it."""

from __future__ import annotations

import httpx
import pytest
from playwright.async_api import Browser, expect

from tests.api_support import Stack
from tests.workspace_deal_support import in_contract, new_deal, open_card, stack
from tests.workspace_support import browser, chromium_path, screenshot

pytestmark = pytest.mark.skipif(chromium_path() is None, reason="no chromium on this machine")
__all__ = ["browser", "stack"]  # the module's fixtures


async def test_the_card_opens_from_its_url_and_api_clients_still_get_json(
    stack: Stack, browser: Browser
) -> None:
    deal_id = await new_deal(stack)
    page = await open_card(browser, stack, "ivanov", deal_id)
    card = page.locator("#deal-card")
    await expect(card).to_have_attribute("data-deal-id", deal_id)
    await expect(page.locator("#deal-title")).to_have_text("Romashka LLC / website / 250000 RUB")
    await expect(page.locator("#deal-amount")).to_contain_text("250,000")
    await expect(page.locator("#deal-contact")).to_contain_text("Anna Petrova, Romashka LLC")
    await expect(page.locator("#deal-responsible")).to_have_text("Ivan Ivanov")
    await expect(page.locator("#deal-head")).to_have_text("Svetlana Smirnova")
    await expect(page.locator("#deal-team")).to_have_text("Pyotr Petrov")
    await expect(page.locator("#stage-path li[data-stage=new]")).to_contain_text("New deal")
    link = await page.locator("#deal-ui-link").get_attribute("href")
    assert link is not None and link.endswith(f"/workflows/deal-{deal_id}")

    # The same URL, asked for JSON by the signed-in page or with a token: the API.
    answer = await page.evaluate(
        "url => fetch(url, {headers: {Accept: 'application/json'}}).then(r => r.json())",
        f"/deals/{deal_id}",
    )
    assert answer["deal_id"] == deal_id and answer["stage"] == "new"
    token = await stack.http.get(f"/deals/{deal_id}", headers={"Accept": "text/html"})
    assert token.headers["content-type"] == "application/json"
    async with httpx.AsyncClient(base_url=stack.base_url) as anon:
        stranger = await anon.get(f"/deals/{deal_id}", headers={"Accept": "text/html"})
        bare = await anon.get(f"/deals/{deal_id}")
        prefers_json = await anon.get(
            f"/deals/{deal_id}", headers={"Accept": "application/json, text/html;q=0.9"}
        )
    assert stranger.status_code == 303
    assert stranger.headers["location"] == f"/sign-in?next=%2Fdeals%2F{deal_id}"
    assert bare.status_code == 401 and "detail" in bare.json()
    assert prefers_json.status_code == 401  # the API's answer, not the sign-in page
    await page.context.close()


async def test_accepting_and_a_refused_close_with_the_deal_s_reason(
    stack: Stack, browser: Browser
) -> None:
    deal_id = await new_deal(stack)
    page = await open_card(browser, stack, "ivanov", deal_id)
    await page.get_by_role("button", name="Accept").click()
    await expect(page.locator("#deal-card")).to_have_attribute("data-stage", "in_progress")
    await expect(page.get_by_role("button", name="Accept")).to_have_count(0)
    entered = page.locator("#deal-timeline li[data-kind=stage][data-detail=accepted]")
    await expect(entered).to_contain_text("Ivan Ivanov (web)")
    await expect(entered).to_contain_text("Entered “In progress”")

    # Lost without a reason: the deal refuses, and the card says why.
    await page.locator("#close-form select[name=outcome]").select_option("lost")
    await page.get_by_role("button", name="Close the deal").click()
    await expect(page.locator("#flash")).to_contain_text("reason")
    await expect(page.locator("#deal-card")).to_have_attribute("data-status", "open")

    await page.locator("#move-form select[name=stage]").select_option("proposal")
    await page.get_by_role("button", name="Move", exact=True).click()
    await expect(page.locator("#deal-card")).to_have_attribute("data-stage", "proposal")
    await expect(page.locator("#stage-path li")).to_have_count(3)
    await page.context.close()


async def test_the_contract_task_completed_returned_and_confirmed_by_its_creator(
    stack: Stack, browser: Browser
) -> None:
    deal_id = await in_contract(stack)
    manager = await open_card(browser, stack, "ivanov", deal_id)
    task = manager.locator("[data-task-id]", has_text="Get the contract signed")
    await expect(task).to_have_attribute("data-status", "open")
    # Only the head who created the task confirms it: the manager is offered no Confirm.
    await expect(task.get_by_role("button", name="Confirm")).to_have_count(0)
    await task.get_by_role("button", name="Complete").click()
    await expect(task).to_have_attribute("data-status", "awaiting_confirmation")

    head = await open_card(browser, stack, "smirnova", deal_id)
    task_of_head = head.locator("[data-task-id]", has_text="Get the contract signed")
    await task_of_head.locator("input[name=comment]").fill("The client's stamp is missing")
    await task_of_head.get_by_role("button", name="Return").click()
    await expect(task_of_head).to_have_attribute("data-status", "open")
    await expect(task_of_head).to_contain_text("The client's stamp is missing")

    await manager.reload()
    await expect(task).to_contain_text("The client's stamp is missing")
    returned = manager.locator("#deal-timeline li[data-kind=task][data-detail=return]")
    await expect(returned).to_contain_text("Svetlana Smirnova (web)")
    await expect(returned).to_contain_text("The client's stamp is missing")
    await task.get_by_role("button", name="Complete").click()
    await expect(task).to_have_attribute("data-status", "awaiting_confirmation")

    await head.reload()
    await screenshot(head, "deal-card")  # docs/images/deal-card.png is a copy of it
    await task_of_head.get_by_role("button", name="Confirm").click()
    await expect(task_of_head).to_have_attribute("data-status", "done")
    # Every task of the stage done: the deal moves on to payment by itself.
    await head.reload()
    await expect(head.locator("#deal-card")).to_have_attribute("data-stage", "payment")
    await expect(head.locator("#deal-invoices")).to_contain_text("250,000")
    contract = head.locator("#deal-documents a", has_text="HTML").first  # then the invoice
    html = await head.request.get(stack.base_url + (await contract.get_attribute("href") or ""))
    assert html.status == 200 and "Romashka" in await html.text()
    await manager.context.close()
    await head.context.close()


async def test_running_the_task_set_of_the_final_stage(stack: Stack, browser: Browser) -> None:
    deal_id = await new_deal(stack)
    r = await stack.http.post(
        f"/deals/{deal_id}/move", json={"stage": "final"}, headers=stack.as_person("ivanov")
    )
    assert r.status_code == 200, r.text
    page = await open_card(browser, stack, "ivanov", deal_id)
    await page.get_by_role("button", name="Run the task set").click()
    # The website's set: the kick-off first, the design once the kick-off is done.
    await expect(page.locator("[data-task-id]")).to_have_count(1)
    await expect(page.locator("[data-task-id]")).to_contain_text("Kick-off meeting")
    await expect(page.get_by_role("button", name="Run the task set")).to_have_count(0)
    await page.context.close()
