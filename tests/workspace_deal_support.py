"""For the deal card's browser tests: PUSK's directory with most people reading English
(Petrov keeps Russian and his Yekaterinburg clock), deals set up over the API with the
service token, and the card opened in a signed-in browser."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
import yaml
from playwright.async_api import Browser, Page
from temporalio.testing import WorkflowEnvironment

from funnel.runtime.settings import DEFAULT_DIRECTORY
from tests.api_support import Stack, deal_body
from tests.workspace_support import signed_in, workspace_stack

RUSSIAN = {"petrov"}


def english_directory(tmp: Path) -> Path:
    """PUSK's directory, everyone but Petrov reading the workspace in English."""
    data = yaml.safe_load(DEFAULT_DIRECTORY.read_text(encoding="utf-8"))
    for employee in data["employees"]:
        employee["language"] = "ru" if employee["id"] in RUSSIAN else "en"
    path = tmp / "directory.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def stack(
    dev_env: WorkflowEnvironment, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Stack]:
    """The workspace for one test module, on the English directory."""
    tmp = tmp_path_factory.mktemp("workspace-deal")
    async with workspace_stack(dev_env, tmp, directory=english_directory(tmp)) as s:
        yield s


async def new_deal(stack: Stack, **changes: Any) -> str:
    """A deal of Ivanov's (head Smirnova, team Petrov), started over the API."""
    body = deal_body(fields={"contract_due": "2027-03-19"}, **changes)
    r = await stack.http.post("/deals", json=body)
    assert r.status_code == 201, r.text
    deal_id: str = r.json()["deal_id"]
    return deal_id


async def in_contract(stack: Stack, **changes: Any) -> str:
    """A deal in the contract stage, its task, invoice and contract document made."""
    deal_id = await new_deal(stack, **changes)
    # A move needs a person: the responsible's personal token.
    ivanov = stack.as_person(changes.get("responsible", "ivanov"))
    r = await stack.http.post(f"/deals/{deal_id}/move", json={"stage": "contract"}, headers=ivanov)
    assert r.status_code == 200, r.text
    await stack.wait_for(
        deal_id, lambda d: bool(d["tasks"] and d["invoices"] and d["documents"] and d["waiting"])
    )
    return deal_id


async def open_card(browser: Browser, stack: Stack, user: str, deal_id: str) -> Page:
    page = await signed_in(browser, stack.base_url, user)
    await page.goto(f"/deals/{deal_id}")
    return page
