"""The deal card, continued: editing the deal (the title and the invoice follow the amount,
the plan's timer follows a date field, a bad value is named next to its field), text that
looks like HTML staying text, the scope's refusal, each viewer's clock, and a closed deal
read from its record once retention deleted its workflow."""

from __future__ import annotations

from datetime import datetime

import pytest
from playwright.async_api import Browser, Page, expect

from tests.api_support import Stack
from tests.test_closed_record import delete_workflow
from tests.workspace_deal_support import in_contract, new_deal, open_card, stack
from tests.workspace_support import browser, chromium_path, screenshot
from web.formatting import moment
from web.i18n import Language

pytestmark = pytest.mark.skipif(chromium_path() is None, reason="no chromium on this machine")
__all__ = ["browser", "stack"]  # the module's fixtures

REMINDER = "[data-plan-key$=':contract_due_reminder']"


async def _save_edit(page: Page, **values: str) -> None:
    form = page.locator("#edit-form")
    if not await form.is_visible():
        await page.get_by_text("Edit the deal").click()
    for name, value in values.items():
        await form.locator(f"[name='{name}']").fill(value)
    await form.get_by_role("button", name="Save changes").click()


async def test_editing_the_amount_renames_the_deal_and_a_date_moves_its_timer(
    stack: Stack, browser: Browser
) -> None:
    deal_id = await in_contract(stack)
    page = await open_card(browser, stack, "ivanov", deal_id)
    reminder = page.locator(REMINDER)
    await expect(reminder).to_contain_text("(2027-03-19)")
    due_before = await reminder.locator("time").get_attribute("datetime")

    await _save_edit(page, amount="-5")
    error = page.locator("[data-error-for=amount]")
    await expect(error).to_contain_text("greater than or equal to 0")
    await expect(page.locator("#deal-title")).to_have_text("Romashka LLC / website / 250000 RUB")

    await _save_edit(page, amount="300000")
    await expect(page.locator("#deal-title")).to_have_text("Romashka LLC / website / 300000 RUB")
    await expect(page.locator("#deal-amount")).to_contain_text("300,000")
    open_invoice = page.locator("#deal-invoices tr[data-invoice-id]", has_text="awaiting payment")
    await expect(open_invoice.locator(".invoice-outstanding")).to_contain_text("300,000")
    edited = page.locator("#deal-timeline li[data-kind=edit]")
    await expect(edited).to_contain_text("Ivan Ivanov (web)")
    await expect(edited).to_contain_text("amount: 250000 → 300000")

    await _save_edit(page, **{"fields.contract_due": "2027-04-16"})
    await expect(reminder).to_contain_text("(2027-04-16)")
    due_after = await reminder.locator("time").get_attribute("datetime")
    assert due_before and due_after
    assert datetime.fromisoformat(due_after) > datetime.fromisoformat(due_before)
    await page.context.close()


async def test_html_in_a_company_name_and_a_comment_stays_text(
    stack: Stack, browser: Browser
) -> None:
    script = "<script>window.pwned = true</script>"
    contact = {"name": "Eve", "company": f"{script}Evil LLC", "phone": None, "email": None}
    deal_id = await new_deal(stack, contact=contact)
    page = await open_card(browser, stack, "ivanov", deal_id)
    await expect(page.locator("#deal-title")).to_contain_text(f"{script}Evil LLC")
    await page.locator("#comment-form textarea").fill(f"{script}<b>call them</b>")
    await page.get_by_role("button", name="Comment", exact=True).click()
    comment = page.locator("#deal-timeline li[data-kind=comment]")
    await expect(comment).to_contain_text(f"{script}<b>call them</b>")
    await expect(comment).to_contain_text("Ivan Ivanov (web)")
    assert await page.locator("#deal-card script, #deal-card b").count() == 0
    assert await page.evaluate("window.pwned") is None
    await page.context.close()


async def test_a_manager_cannot_open_another_manager_s_deal(stack: Stack, browser: Browser) -> None:
    deal_id = await new_deal(stack)
    page = await open_card(browser, stack, "sidorova", deal_id)
    reason = f"deal {deal_id} is not one of your deals (sidorova)"
    await expect(page.locator("#deal-refusal")).to_have_text(reason)
    answer = await page.evaluate(
        "url => fetch(url).then(async r => [r.status, (await r.json()).detail])",
        f"/deals/{deal_id}",
    )
    assert answer == [403, reason]  # the page says what the API says
    assert await page.locator("#deal-card").count() == 0
    await page.context.close()


async def test_the_plan_shows_due_times_on_each_viewer_s_clock(
    stack: Stack, browser: Browser
) -> None:
    deal_id = await in_contract(stack)
    shown: dict[str, list[str]] = {}
    viewers: tuple[tuple[str, str, Language], ...] = (
        ("ivanov", "Europe/Moscow", "en"),
        ("petrov", "Asia/Yekaterinburg", "ru"),
    )
    for user, zone, language in viewers:
        page = await open_card(browser, stack, user, deal_id)
        await expect(page.locator("#deal-plan")).to_contain_text(zone)
        times = page.locator("#deal-plan time")
        assert await times.count() >= 3  # the stage deadline, the task's, the reminder
        shown[user] = []
        for index in range(await times.count()):
            due = datetime.fromisoformat(await times.nth(index).get_attribute("datetime") or "")
            text = await times.nth(index).inner_text()
            assert text == moment(due, zone, language)
            shown[user].append(text)
        if user == "petrov":
            await expect(page.locator("#deal-plan h2")).to_have_text("План")
            await expect(page.locator(REMINDER)).to_contain_text("за 2 рабочих дня до поля")
            await screenshot(page, "deal-card-ru")
        await page.context.close()
    assert shown["ivanov"] != shown["petrov"]


async def test_a_closed_deal_past_retention_shows_its_record(
    stack: Stack, browser: Browser
) -> None:
    deal_id = await in_contract(stack)
    r = await stack.http.post(
        f"/deals/{deal_id}/close",
        json={"outcome": "lost", "reason": "chose a competitor"},
        headers=stack.as_person("ivanov"),
    )
    assert r.status_code == 200, r.text
    await stack.deals.result(deal_id)  # the workflow ended, after writing its record
    await delete_workflow(stack.deals.temporal_client, deal_id)

    page = await open_card(browser, stack, "ivanov", deal_id)
    card = page.locator("#deal-card")
    await expect(card).to_have_attribute("data-source", "record")
    await expect(card).to_have_attribute("data-status", "lost")
    await expect(page.locator("#deal-record-note")).to_be_visible()
    await expect(page.locator(".deal-header")).to_contain_text("chose a competitor")
    await expect(page.locator("#stage-path li[data-stage=contract]")).to_contain_text("Contract")
    await expect(page.locator("#deal-plan")).to_contain_text("nothing will happen any more")
    robots = page.locator("#deal-timeline li[data-kind=robot]", has_text="Render the contract")
    await expect(robots).to_have_count(1)
    await expect(page.locator("#deal-documents")).to_contain_text("Contract")
    assert await page.locator("#deal-actions, [data-task-action]").count() == 0
    await page.context.close()
