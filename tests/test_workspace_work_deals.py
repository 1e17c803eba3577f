"""My work in a real browser, continued: a head's breaches of today (a manager is refused)
and the new deal form, whose errors are the API's, shown next to their fields (said in
Russian for PUSK's people, the API's own words for a manager who reads English).

The pipeline is PUSK's with one change: the acceptance deadline of ``new`` counts from a
datetime field, so that a deal started with it in the past breaches at once instead of
after a working hour."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
import yaml
from playwright.async_api import Browser, expect
from temporalio.testing import WorkflowEnvironment

from funnel.runtime.settings import DEFAULT_DIRECTORY, DEFAULT_PIPELINE
from tests.api_support import Stack, deal_body
from tests.work_support import soon
from tests.workspace_support import (
    browser,
    chromium_path,
    screenshot,
    signed_in,
    workspace_stack,
)

pytestmark = pytest.mark.skipif(chromium_path() is None, reason="no chromium on this machine")
__all__ = ["browser"]  # the module's chromium fixture


def pipeline_with_breach_field(folder: Path) -> Path:
    pusk = yaml.safe_load(DEFAULT_PIPELINE.read_text(encoding="utf-8"))
    pusk["fields"]["breach_at"] = "datetime"
    new = next(stage for stage in pusk["stages"] if stage["id"] == "new")
    new["deadline"] |= {"after": "1 minutes", "relative_to": "fields.breach_at"}
    path = folder / "pusk-breach-now.yaml"
    path.write_text(yaml.safe_dump(pusk, allow_unicode=True), encoding="utf-8")
    return path


def directory_with_an_english_manager(folder: Path) -> Path:
    people = yaml.safe_load(DEFAULT_DIRECTORY.read_text(encoding="utf-8"))
    people["employees"].append(
        {"id": "brown", "name": "Alice Brown", "department": "sales", "head": "smirnova",
         "language": "en", "timezone": "Europe/London"}
    )  # fmt: skip
    path = folder / "directory.yaml"
    path.write_text(yaml.safe_dump(people, allow_unicode=True), encoding="utf-8")
    return path


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def stack(
    dev_env: WorkflowEnvironment, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Stack]:
    folder = tmp_path_factory.mktemp("workspace-work-deals")
    pipeline = pipeline_with_breach_field(folder)
    directory = directory_with_an_english_manager(folder)
    async with workspace_stack(dev_env, folder, pipeline=pipeline, directory=directory) as s:
        yield s


async def breached_deal(stack: Stack, **changes: Any) -> str:
    """A deal whose acceptance deadline passed a minute ago: it breaches on arrival."""
    past = (datetime.now(UTC) - timedelta(minutes=2)).isoformat()
    r = await stack.http.post("/deals", json=deal_body(fields={"breach_at": past}, **changes))
    assert r.status_code == 201, r.text
    deal_id: str = r.json()["deal_id"]

    def breached() -> bool:
        record = stack.store.get_deal(deal_id)
        kinds = {e.kind for e in stack.store.report_events(deal_id=deal_id)}
        return record is not None and record.breached and "deadline_breached" in kinds

    await soon(breached, f"deal {deal_id} breached")
    return deal_id


async def test_the_head_sees_today_s_breaches_and_a_manager_is_refused(
    stack: Stack, browser: Browser
) -> None:
    overdue = await breached_deal(stack, contact={"name": "Oleg", "company": "Overdue & Co"})
    moved_on = await breached_deal(stack)
    accepted = await stack.http.post(f"/deals/{moved_on}/accept", headers=stack.as_person("ivanov"))
    assert accepted.status_code == 200, accepted.text
    elsewhere = await breached_deal(stack, responsible="kozlov", department_head="orlova")
    calm = (await stack.http.post("/deals", json=deal_body())).json()["deal_id"]

    head = await signed_in(browser, stack.base_url, "smirnova")
    await head.goto("/my/breaches")
    now_row = head.locator(f'#breaches-standing tr[data-deal-id="{overdue}"]')
    await expect(now_row).to_have_attribute("data-stage", "new")
    await expect(now_row).to_contain_text("Overdue & Co")
    await expect(now_row).to_contain_text("Новая сделка")  # the stage's name, in her language
    await expect(now_row).to_contain_text("Ivan Ivanov")
    await expect(now_row).to_contain_text("просрочена")
    await expect(now_row.locator("time")).to_have_count(1)  # since when
    await expect(now_row.get_by_role("link")).to_have_attribute("href", f"/deals/{overdue}")
    today_row = head.locator(f'#breaches-today tr[data-deal-id="{moved_on}"]')
    await expect(today_row).to_contain_text("перешла в «В работе»")
    # Outside her department, or never late: not hers to see here.
    for deal_id in (elsewhere, calm):
        await expect(head.locator(f'tr[data-deal-id="{deal_id}"]')).to_have_count(0)
    await screenshot(head, "work-breaches")
    await head.context.close()

    manager = await signed_in(browser, stack.base_url, "ivanov")
    await expect(manager.get_by_role("link", name="Просрочки отдела")).to_have_count(0)
    answer = await manager.goto("/my/breaches")
    assert answer is not None and answer.status == 403
    await expect(manager.locator("#refusal-reason")).to_contain_text("руководители отделов")
    await expect(manager.locator(f'tr[data-deal-id="{overdue}"]')).to_have_count(0)
    await screenshot(manager, "work-breaches-refused")
    await manager.context.close()


async def test_the_new_deal_form_shows_the_api_s_error_at_the_amount_then_creates_the_deal(
    stack: Stack, browser: Browser
) -> None:
    page = await signed_in(browser, stack.base_url, "ivanov")
    await page.goto("/deals/new")
    form = page.locator("#new-deal-form")
    # A manager sells under their own name and head by default.
    await expect(form.locator("select[name=responsible]")).to_have_value("ivanov")
    await expect(form.locator("select[name=department_head]")).to_have_value("smirnova")
    deal_id = await form.locator("input[name=deal_id]").input_value()
    await form.locator("input[name='contact.name']").fill("Olga Smirnova")
    await form.locator("input[name='contact.company']").fill("Vector")
    await form.locator("input[name='contact.email']").fill("olga@vector.example")
    await form.locator("input[name=service]").fill("website")
    await form.locator("input[name=amount]").fill("двести тысяч")
    await form.locator("input[name='fields.contract_due']").fill("2026-12-20")
    await form.get_by_role("checkbox", name="Pyotr Petrov").check()
    await page.get_by_role("button", name="Создать сделку").click()

    error = page.locator('[data-error-for="amount"]')
    await expect(error).to_be_visible()
    await expect(error).to_have_text("Нужно число, например 250000 или 250000.50")
    await expect(form.locator("input[name=amount]")).to_have_attribute("aria-invalid", "true")
    await expect(page.locator("[data-error-for]:visible")).to_have_count(1)  # that field only
    assert page.url.endswith("/deals/new")
    assert (await stack.http.get(f"/deals/{deal_id}")).status_code == 404
    await screenshot(page, "work-new-deal-error")

    await form.locator("input[name=amount]").fill("250 000,50")
    await page.get_by_role("button", name="Создать сделку").click()
    await page.wait_for_url(f"**/deals/{deal_id}")
    deal = (await stack.http.get(f"/deals/{deal_id}")).json()
    assert deal["deal"]["contact"] == {
        "name": "Olga Smirnova",
        "company": "Vector",
        "phone": None,
        "email": "olga@vector.example",
    }
    assert deal["deal"]["amount"] == "250000.50"
    assert deal["deal"]["responsible"] == "ivanov"
    assert deal["deal"]["department_head"] == "smirnova"
    assert deal["deal"]["sales_team"] == ["petrov"]
    assert deal["deal"]["fields"] == {"contract_due": "2026-12-20"}
    assert deal["stage"] == "new"
    await page.context.close()


async def test_the_form_lists_the_pipeline_s_custom_fields(stack: Stack, browser: Browser) -> None:
    page = await signed_in(browser, stack.base_url, "smirnova")
    await page.goto("/deals/new")
    form = page.locator("#new-deal-form")
    await expect(form.locator("input[name='fields.contract_due']")).to_have_attribute(
        "type", "date"
    )
    await expect(form.locator("input[name='fields.breach_at']")).to_have_attribute(
        "type", "datetime-local"
    )
    await expect(form.locator("input[name='fields.source']")).to_have_attribute("type", "text")
    # A head chooses the responsible; the head follows the responsible's own.
    await expect(form.locator("select[name=responsible]")).to_have_value("")
    await form.locator("select[name=responsible]").select_option("petrov")
    await expect(form.locator("select[name=department_head]")).to_have_value("smirnova")
    await screenshot(page, "work-new-deal")
    await page.context.close()


async def test_in_english_the_form_shows_the_api_s_own_message(
    stack: Stack, browser: Browser
) -> None:
    page = await signed_in(browser, stack.base_url, "brown")
    await page.goto("/deals/new")
    await expect(page.locator("html")).to_have_attribute("lang", "en")
    form = page.locator("#new-deal-form")
    await expect(form.locator("select[name=department_head]")).to_have_value("smirnova")
    await form.get_by_label("Contact name").fill("Tom")
    await form.get_by_label("Service").fill("website")
    await form.get_by_label("Amount").fill("-5")
    await page.get_by_role("button", name="Create the deal").click()
    await expect(page.locator('[data-error-for="amount"]')).to_have_text(
        "Input should be greater than or equal to 0"
    )
    await page.context.close()
