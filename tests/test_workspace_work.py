"""My work in a real browser: a manager's open and overdue tasks and completing one, a
head's confirmations (confirm, return with a comment), the inbox with its unread badge, and
a ``<script>`` in a title that stays text. PUSK's directory: the pages are in Russian."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import pytest_asyncio
from playwright.async_api import Browser, Page, expect
from temporalio.testing import WorkflowEnvironment

from funnel.storage.records import Task, TaskIn
from tests.api_support import Stack
from tests.work_support import deal_in, soon
from tests.workspace_support import (
    browser,
    chromium_path,
    screenshot,
    signed_in,
    workspace_stack,
)

pytestmark = pytest.mark.skipif(chromium_path() is None, reason="no chromium on this machine")
__all__ = ["browser"]  # the module's chromium fixture

SCRIPT = "<script>window.__pwned = 1</script>"


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def stack(
    dev_env: WorkflowEnvironment, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Stack]:
    async with workspace_stack(dev_env, tmp_path_factory.mktemp("workspace-work")) as s:
        yield s


async def task_of(stack: Stack, deal_id: str, robot_id: str, status: str = "open") -> Task:
    """The deal's task once the robot (or a message) put it in the store with ``status``."""

    def find() -> Task | None:
        found = stack.store.tasks(deal_id=deal_id, status=status)
        return next((t for t in found if t.robot_id == robot_id), None)

    return await soon(find, f"{status} task {robot_id} in deal {deal_id}")


def row(page: Page, task: Task, section: str = "") -> Any:
    where = f"{section} " if section else ""
    return page.locator(f'{where}tr[data-task-id="{task.task_id}"][data-deal-id="{task.deal_id}"]')


async def test_a_manager_sees_open_and_overdue_tasks_and_completes_one(
    stack: Stack, browser: Browser
) -> None:
    deal_id = await deal_in(stack, "proposal")
    proposal = await task_of(stack, deal_id, "prepare_proposal_task")
    # A task deadline is at least a minute of real time away, and the browser needs the
    # real-time server: the overdue task is the store's row as the task robot writes it,
    # a deadline already behind it.
    now = datetime.now(UTC)
    late = TaskIn(
        key=f"{deal_id}:2:call_back",
        deal_id=deal_id,
        stage="proposal",
        robot_id="call_back",
        title="Call Anna back about the proposal",
        description="She asked for a call on Monday.",
        responsible="ivanov",
        created_by="ivanov",
        needs_confirmation=False,
        deadline_at=now - timedelta(hours=3),
        created_at=now - timedelta(days=1),
    )
    assert stack.store.add_task(late)
    overdue = await task_of(stack, deal_id, "call_back")

    page = await signed_in(browser, stack.base_url, "ivanov")
    await page.goto("/my/tasks")
    late_row = row(page, overdue, "#tasks-overdue")
    await expect(late_row).to_contain_text("Call Anna back about the proposal")
    await expect(late_row.locator(".badge.breached")).to_have_text("просрочена")
    open_row = row(page, proposal, "#tasks-open")
    await expect(open_row).to_contain_text("Prepare the commercial proposal for Romashka LLC")
    await expect(open_row.get_by_role("link", name="Romashka LLC")).to_have_attribute(
        "href", f"/deals/{deal_id}"
    )
    assert await row(page, proposal, "#tasks-overdue").count() == 0
    await screenshot(page, "work-tasks-manager")

    await open_row.get_by_role(
        "button", name="Выполнено: Prepare the commercial proposal for Romashka LLC"
    ).click()
    await expect(open_row.locator(".work-task-state")).to_have_text("Выполнена")
    done = await task_of(stack, deal_id, "prepare_proposal_task", status="done")
    assert done.completed_by == "ivanov"
    await page.reload()
    await expect(row(page, overdue, "#tasks-overdue")).to_have_count(1)
    await expect(row(page, proposal)).to_have_count(0)
    await page.context.close()


async def test_a_head_confirms_one_task_and_returns_another_with_a_comment(
    stack: Stack, browser: Browser
) -> None:
    confirmed_deal = await deal_in(stack, "contract")
    returned_deal = await deal_in(stack, "contract")
    to_confirm = await task_of(stack, confirmed_deal, "signed_contract_task")
    to_return = await task_of(stack, returned_deal, "signed_contract_task")

    # The executor finishes one in the browser: it waits for the head (its creator).
    ivanov = await signed_in(browser, stack.base_url, "ivanov")
    await ivanov.goto("/my/tasks")
    mine = row(ivanov, to_confirm, "#tasks-open")
    await mine.get_by_role("button", name=f"Выполнено: {to_confirm.title}").click()
    await expect(mine.locator(".work-task-state")).to_have_text(
        "Выполнена, отправлена на подтверждение"
    )
    await task_of(stack, confirmed_deal, "signed_contract_task", "awaiting_confirmation")
    await ivanov.reload()
    await expect(row(ivanov, to_confirm, "#tasks-sent")).to_contain_text(
        "Ждёт подтверждения: Svetlana Smirnova"
    )
    # ... and the other one over the API.
    r = await stack.http.post(
        f"/deals/{returned_deal}/tasks/{to_return.task_id}/complete",
        headers=stack.as_person("ivanov"),
    )
    assert r.status_code == 202, r.text
    await task_of(stack, returned_deal, "signed_contract_task", "awaiting_confirmation")

    head = await signed_in(browser, stack.base_url, "smirnova")
    await head.goto("/my/tasks")
    await expect(row(head, to_confirm, "#tasks-to-confirm")).to_contain_text(
        "Выполнил(а): Ivan Ivanov"
    )
    await expect(row(head, to_return, "#tasks-to-confirm")).to_have_count(1)
    await screenshot(head, "work-tasks-head")

    first = row(head, to_confirm, "#tasks-to-confirm")
    await first.get_by_role("button", name=f"Подтвердить: {to_confirm.title}").click()
    await expect(first.locator(".work-task-state")).to_have_text("Подтверждена")
    await stack.in_stage(confirmed_deal, "payment")  # the stage's tasks are done

    second = row(head, to_return)
    await second.get_by_role("button", name=f"Вернуть на доработку: {to_return.title}").click()
    dialog = head.locator("#return-dialog")
    await expect(dialog).to_be_visible()
    await dialog.locator("textarea[name=comment]").fill("Скан без подписи клиента")
    await screenshot(head, "work-tasks-return-dialog")
    await dialog.get_by_role("button", name="Вернуть").click()
    await expect(dialog).to_be_hidden()
    await expect(second.locator(".work-task-state")).to_have_text("Возвращена на доработку")
    reopened = await task_of(stack, returned_deal, "signed_contract_task", "open")
    assert reopened.completed_by is None
    await soon(
        lambda: [
            n
            for n in stack.store.inbox("ivanov")
            if n.deal_id == returned_deal and "Скан без подписи клиента" in n.message
        ],
        "ivanov told why the task came back",
    )
    await head.context.close()
    await ivanov.context.close()


async def test_the_inbox_shows_the_unread_count_and_marking_read_lowers_it(
    stack: Stack, browser: Browser
) -> None:
    # sidorova's inbox holds only what these deals tell her.
    deal_ids = [await deal_in(stack, "new", responsible="sidorova") for _ in range(3)]
    await soon(lambda: len(stack.store.inbox("sidorova", unread_only=True)) == 3, "3 told")
    page = await signed_in(browser, stack.base_url, "sidorova")
    await page.goto("/my/inbox")
    badge = page.locator("#inbox-unread")
    await expect(badge).to_have_text("3")
    items = page.locator("#inbox li[data-notification-id]")
    await expect(items).to_have_count(3)
    await expect(page.locator("#inbox li.unread")).to_have_count(3)
    newest = items.first
    newest_first = [n.deal_id for n in stack.store.inbox("sidorova")]
    assert sorted(newest_first) == sorted(deal_ids)
    shown = await items.evaluate_all("items => items.map(item => item.dataset.dealId)")
    assert shown == newest_first
    await expect(newest).to_contain_text("New deal for you")
    await screenshot(page, "work-inbox")

    await newest.get_by_role("button", name="Прочитано").click()
    await expect(badge).to_have_text("2")
    await expect(newest).to_have_class("read")
    await expect(page.locator("#inbox-summary")).to_have_text("Непрочитанных: 2")
    await page.goto("/my/tasks")  # another page: the badge comes from the server
    await expect(page.locator("#inbox-unread")).to_have_text("2")

    await page.goto("/my/inbox")
    await page.get_by_role("button", name="Отметить все прочитанными").click()
    await expect(page.locator("#inbox li.unread")).to_have_count(0)
    await expect(badge).to_have_text("")
    await expect(badge).to_be_hidden()
    assert stack.store.unread_count("sidorova") == 0
    await page.context.close()

    signed_out = await stack.anon.get("/my/inbox/unread")
    assert signed_out.status_code == 286 and signed_out.text == ""  # htmx stops polling


async def test_a_script_in_a_notification_or_a_task_title_stays_text(
    stack: Stack, browser: Browser
) -> None:
    contact = {"name": "Anna", "company": SCRIPT, "phone": "+7 900 2", "email": "a@x.example"}
    deal_id = await deal_in(stack, "proposal", responsible="petrov", contact=contact)
    task = await task_of(stack, deal_id, "prepare_proposal_task")
    assert SCRIPT in task.title

    page = await signed_in(browser, stack.base_url, "petrov")
    await page.goto("/my/tasks")
    await expect(row(page, task, "#tasks-open").locator(".work-task-title")).to_have_text(
        f"Prepare the commercial proposal for {SCRIPT}"
    )
    await page.goto("/my/inbox")
    told = page.locator(f'#inbox li[data-deal-id="{deal_id}"] .work-note-message')
    await expect(told.first).to_contain_text(SCRIPT)
    assert await page.evaluate("window.__pwned") is None
    assert await page.locator("#inbox script").count() == 0
    await page.context.close()
