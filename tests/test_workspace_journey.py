"""Issue 18's whole journey in a real browser: a lead from a company's web form lands on
the board of the directory's first manager; from there PUSK's manager (Ivanov) and head
(Smirnova) run the deal to won in the browser alone - accept by dragging, edit the amount,
move through the stages, complete the tasks, the head confirms the signed contract, the
manager records the client's payment on the invoice, runs the final stage's task set and
the deal closes won by itself. The head gets in through the one-time link `funnel up --demo`
prints. PUSK's directory: every page in Russian. Screenshots: test-artifacts/journey-*.png.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
import pytest_asyncio
from playwright.async_api import Browser, Page, expect
from temporalio.testing import WorkflowEnvironment

from funnel.storage.directory import Directory
from funnel.storage.people import People
from starter.first_sign_in import echo_workspace, invite_people_without_password
from tests.api_support import LEADS, Stack, api_stack
from tests.workspace_board_support import card, card_in, column, open_board
from tests.workspace_support import (
    PASSWORD,
    browser,
    chromium_path,
    screenshot,
    signed_in,
)

pytestmark = pytest.mark.skipif(chromium_path() is None, reason="no chromium on this machine")
__all__ = ["browser"]  # the module's chromium fixture

MANAGER, HEAD = "ivanov", "smirnova"
NEW_PASSWORD = "the head's own secret"


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def stack(
    dev_env: WorkflowEnvironment, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Stack]:
    """PUSK's directory with no lead settings (leads go to its first manager). Only the
    manager has a password, as after `funnel user set-password ivanov`; the others have
    none yet."""
    async with api_stack(dev_env, tmp_path_factory.mktemp("workspace-journey")) as s:
        People(s.store).set_password(MANAGER, PASSWORD)
        yield s


async def shot(page: Page, step: str) -> None:
    await screenshot(page, f"journey-{step}")


async def test_demo_start_hands_out_links_only_to_people_without_a_password(
    stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    echo_workspace(stack.settings, stack.store, demo=False)
    plain = capsys.readouterr().out
    assert f"Workspace: http://127.0.0.1:{stack.settings.api_port}/" in plain
    assert "funnel user set-password ID" in plain and "/auth/invitations/" not in plain

    invited = {i.employee_id for i in invite_people_without_password(stack.settings, stack.store)}
    everyone = {e.id for e in Directory.load(stack.settings.directory)}
    assert invited == everyone - {MANAGER}  # Ivanov has his password already


async def test_a_lead_from_the_web_form_is_run_to_won_in_the_browser(
    stack: Stack, browser: Browser
) -> None:
    # A company's site posts the form with its token, which may do nothing else.
    form = {"Authorization": f"Bearer {LEADS}"}
    lead = {
        "name": "Olga Kuznetsova",
        "company": "Berezka LLC",
        "service": "website",
        "email": "olga@berezka.example",
        "phone": "+7 900 555-12-34",
        "source": "site",
    }
    r = await stack.anon.post("/leads", json=lead, headers=form)
    assert r.status_code == 201, r.text
    deal_id = r.json()["deal_id"]

    # The manager signs in and finds the lead on his board, his by default.
    ivanov = await signed_in(browser, stack.base_url, MANAGER)
    await open_board(ivanov)
    lead_card = card_in(ivanov, "new", deal_id)
    await expect(lead_card).to_contain_text("Berezka LLC")
    await expect(lead_card).to_contain_text("Ivan Ivanov")
    await shot(ivanov, "01-lead-on-the-board")

    # Dragged into work: accepted.
    await card(ivanov, deal_id).drag_to(column(ivanov, "in_progress"))
    await expect(card_in(ivanov, "in_progress", deal_id)).to_be_visible()
    await expect(ivanov.locator("#flash")).to_contain_text("В работе")
    await shot(ivanov, "02-accepted")

    # The card: the lead came without an amount; the manager sets it.
    await card(ivanov, deal_id).locator(".board-card-title").click()
    deal = ivanov.locator("#deal-card")
    await expect(deal).to_have_attribute("data-deal-id", deal_id)
    await expect(ivanov.locator("#deal-head")).to_have_text("Svetlana Smirnova")
    await ivanov.locator("#deal-edit summary").click()
    await ivanov.locator("#edit-form input[name=amount]").fill("250000")
    await ivanov.locator("#edit-form button[type=submit]").click()
    await expect(ivanov.locator("#deal-amount")).to_contain_text("250 000,00")
    await expect(ivanov.locator("#deal-title")).to_have_text("Berezka LLC / website / 250000 RUB")

    # "Move to" offers the next stage first; the proposal's task is done on the card.
    moving = ivanov.locator("#move-form select[name=stage]")
    await expect(moving.locator("option:checked")).to_have_text("Коммерческое предложение")
    await ivanov.get_by_role("button", name="Перевести", exact=True).click()
    await expect(deal).to_have_attribute("data-stage", "proposal")
    proposal = ivanov.locator("[data-task-id]", has_text="Prepare the commercial proposal")
    await proposal.get_by_role("button", name="Выполнить").click()
    await expect(proposal).to_have_attribute("data-status", "done")
    await shot(ivanov, "03-proposal-done")

    # Back on the board: "Move to..." from the keyboard, then a drag to the contract.
    await open_board(ivanov)
    await card(ivanov, deal_id).get_by_role("button", name="Переместить сделку").click()
    dialog = ivanov.get_by_role("dialog", name="Переместить в стадию")
    await dialog.get_by_role("button", name="Переговоры").click()
    await expect(card_in(ivanov, "negotiation", deal_id)).to_be_visible()
    await card(ivanov, deal_id).drag_to(column(ivanov, "contract"))
    await expect(card_in(ivanov, "contract", deal_id)).to_be_visible()
    await shot(ivanov, "04-contract-on-the-board")

    # The contract stage: the signed-contract task (the head's to confirm) and the invoice.
    await ivanov.goto(f"/deals/{deal_id}")
    contract = ivanov.locator("[data-task-id]", has_text="Get the contract signed")
    await expect(contract).to_contain_text("закрывает Svetlana Smirnova")
    invoice = ivanov.locator("#deal-invoices tr[data-invoice-id]")
    await expect(invoice).to_contain_text("250 000,00 ₽")
    await expect(invoice).to_contain_text("ждёт оплаты")
    await contract.get_by_role("button", name="Выполнить").click()
    await expect(contract).to_have_attribute("data-status", "awaiting_confirmation")
    await shot(ivanov, "05-contract-task-done")

    # The head's first visit: the link `funnel up --demo` printed for her.
    [link] = [
        i.link
        for i in invite_people_without_password(stack.settings, stack.store)
        if i.employee_id == HEAD
    ]
    head_context = await browser.new_context(
        base_url=stack.base_url, viewport={"width": 1400, "height": 900}
    )
    smirnova = await head_context.new_page()
    await smirnova.goto(link.removeprefix(stack.settings.effective_public_url))
    await smirnova.locator("input[name=password]").fill(NEW_PASSWORD)
    await smirnova.locator("input[name=repeat]").fill(NEW_PASSWORD)
    await smirnova.get_by_role("button", name=re.compile("sign in|войти", re.I)).click()
    await expect(smirnova.locator(".who")).to_have_text("Svetlana Smirnova")
    await expect(card_in(smirnova, "contract", deal_id)).to_be_visible()  # her department's

    # Her tasks: the contract waits for her confirmation.
    await smirnova.goto("/my/tasks")
    waiting = smirnova.locator(f'#tasks-to-confirm tr[data-deal-id="{deal_id}"]')
    await expect(waiting).to_contain_text("Get the contract signed")
    await expect(waiting).to_contain_text("Ivan Ivanov")
    await shot(smirnova, "06-head-confirms")
    await waiting.get_by_role("button", name="Подтвердить").click()
    await expect(waiting).to_contain_text("Подтверждена")
    await smirnova.goto(f"/deals/{deal_id}")
    await expect(smirnova.locator("#deal-card")).to_have_attribute("data-stage", "payment")
    await expect(smirnova.locator(".deal-header hgroup p")).to_contain_text("стадия «Оплата»")

    # The client pays by bank transfer in two parts; the manager records each on the invoice.
    await ivanov.reload()
    await expect(deal).to_have_attribute("data-stage", "payment")
    payment = ivanov.locator("#deal-invoices .payment-form")
    await expect(payment.locator("input[name=amount]")).to_have_value("250000")
    await payment.locator("input[name=amount]").fill("100 000")
    await payment.get_by_role("button", name="Отметить оплату").click()
    await expect(invoice.locator(".invoice-outstanding")).to_have_text("150 000,00 ₽")
    await expect(deal).to_have_attribute("data-stage", "payment")  # partly paid: it waits
    paid = ivanov.locator("#deal-timeline li[data-kind=payment]")
    await expect(paid).to_contain_text("Ivan Ivanov (в браузере)")
    await expect(paid).to_contain_text("Оплата 100 000,00 ₽")
    await shot(ivanov, "07-partly-paid")
    await payment.get_by_role("button", name="Отметить оплату").click()  # the rest
    await expect(deal).to_have_attribute("data-stage", "final")  # paid: it moved by itself
    await expect(invoice).to_contain_text("оплачен")
    await expect(ivanov.locator("#deal-invoices .payment-form")).to_have_count(0)

    # The final stage: the website's task set, each task made once the one before is done.
    await ivanov.get_by_role("button", name="Создать задачи по услуге").click()
    for title in ("Kick-off meeting", "Design the website", "Launch the website"):
        task = ivanov.locator("[data-task-id]", has_text=title)
        await task.get_by_role("button", name="Выполнить").click()
        await expect(task).to_have_attribute("data-status", "done")
    # The last task done: the deal is won without a reload.
    await expect(deal).to_have_attribute("data-status", "won")
    await expect(ivanov.locator(".deal-header hgroup p")).to_contain_text("Успешна")
    await shot(ivanov, "08-won")

    # Closed deals leave the board.
    await open_board(ivanov)
    await expect(card(ivanov, deal_id)).to_have_count(0)
    await ivanov.context.close()
    await head_context.close()


async def test_an_invitation_link_works_once(stack: Stack, browser: Browser) -> None:
    token, _ = People(stack.store).invite("petrov", timedelta(hours=1))
    for attempt in ("first", "again"):
        context = await browser.new_context(base_url=stack.base_url, locale="ru-RU")
        page = await context.new_page()
        await page.goto(f"/auth/invitations/{token}")
        await expect(page.locator("h1")).to_have_text("Ваш пароль")
        await page.locator("input[name=password]").fill(NEW_PASSWORD)
        await page.locator("input[name=repeat]").fill(NEW_PASSWORD + "!")
        await page.get_by_role("button", name="Задать пароль и войти").click()
        await expect(page.locator("#invitation-error")).to_have_text("Пароли не совпадают")
        await page.locator("input[name=repeat]").fill(NEW_PASSWORD)
        await page.get_by_role("button", name="Задать пароль и войти").click()
        if attempt == "first":
            await expect(page.locator(".who")).to_have_text("Pyotr Petrov")
        else:
            await expect(page.locator("#invitation-error")).to_contain_text("already used")
        await context.close()


async def test_a_payment_is_recorded_only_by_someone_who_reads_the_deal(stack: Stack) -> None:
    lead = {"name": "Ivan Belov", "email": "belov@lipa.example", "company": "Lipa"}
    r = await stack.anon.post("/leads", json=lead, headers={"Authorization": f"Bearer {LEADS}"})
    deal_id = r.json()["deal_id"]
    url = f"/deals/{deal_id}/invoices/{deal_id}-1/paid"
    # Petrov manages other deals: this one is not his to read, nor to record money on.
    r = await stack.http.post(url, json={}, headers=stack.as_person("petrov"))
    assert r.status_code == 403, r.text
    assert "not one of your deals" in r.json()["detail"]
