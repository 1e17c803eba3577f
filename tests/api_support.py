"""The real stack for the API tests: the session's Temporal dev server, a worker on its own
task queue, a SQLite store, and the FastAPI app served by uvicorn on a free port of
127.0.0.1, called over real HTTP with httpx."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from api.intake import sign
from api.server import running_api
from funnel.client.deals import DealClient
from funnel.runtime.settings import Settings
from funnel.storage.personal_tokens import PersonalTokens
from funnel.storage.store import Store
from tests.db_fixtures import migrate
from tests.temporal_fixtures import new_deal_id, new_task_queue, running_worker

WRITE = "tok-write"
READ = "tok-read"
LEADS = "tok-leads"
SECRET = "whsec-test"
TOKENS = {
    WRITE: ["deals:read", "deals:write", "leads:write"],
    READ: ["deals:read"],
    LEADS: ["leads:write"],
}
UI_BASE = "http://127.0.0.1:8233"
# Two departments, their heads and an admin: a directory for who reads and does what.
TWO_DEPARTMENTS = """
employees:
  - {id: ivanov, name: Ivan Ivanov, department: sales, head: smirnova}
  - {id: petrov, name: Pyotr Petrov, department: sales, head: smirnova}
  - {id: smirnova, name: Svetlana Smirnova, department: sales, role: head}
  - {id: kozlov, name: Kirill Kozlov, department: corporate, head: orlova}
  - {id: orlova, name: Olga Orlova, department: corporate, role: head}
  - {id: boss, name: Boris Bossov, department: board, role: admin}
"""


def two_departments(tmp: Path) -> Path:
    """TWO_DEPARTMENTS written as the directory file of a stack in ``tmp``."""
    directory = tmp / "directory.yaml"
    directory.write_text(TWO_DEPARTMENTS, encoding="utf-8")
    return directory


@dataclass
class Stack:
    base_url: str
    http: httpx.AsyncClient  # authorised with the WRITE token
    anon: httpx.AsyncClient  # no token
    store: Store
    deals: DealClient
    settings: Settings
    _tokens: dict[str, str] = field(default_factory=dict)

    def as_person(self, employee: str) -> dict[str, str]:
        """Headers acting as ``employee`` with a personal token (issued once per stack):
        accepting, moving, closing, confirming need a person, not the service token."""
        if employee not in self._tokens:
            self._tokens[employee] = PersonalTokens(self.store).issue(employee, "test", None).token
        return {"Authorization": f"Bearer {self._tokens[employee]}"}

    async def wait_for(
        self, deal_id: str, check: Callable[[dict[str, Any]], bool], timeout: float = 10.0
    ) -> dict[str, Any]:
        """Poll GET /deals/{id} until ``check`` holds (signals act asynchronously)."""
        deadline = time.monotonic() + timeout
        while True:
            deal: dict[str, Any] = (await self.http.get(f"/deals/{deal_id}")).json()
            if check(deal):
                return deal
            if time.monotonic() > deadline:
                raise AssertionError(f"deal {deal_id} never reached the expected state: {deal}")
            await asyncio.sleep(0.05)

    async def in_stage(self, deal_id: str, stage: str) -> dict[str, Any]:
        return await self.wait_for(deal_id, lambda d: d.get("stage") == stage)

    async def complete_in_order(self, deal_id: str, task_ids: list[str]) -> None:
        """Complete chained tasks over HTTP: each appears once the one before it is done."""
        for task_id in task_ids:

            def has_task(deal: dict[str, Any], task_id: str = task_id) -> bool:
                return any(t["task_id"] == task_id for t in deal["tasks"])

            await self.wait_for(deal_id, has_task)
            r = await self.http.post(f"/deals/{deal_id}/tasks/{task_id}/complete")
            assert r.status_code == 202, r.text


def api_settings(tmp: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "home": tmp,
        "database_url": f"sqlite:///{tmp / 'funnel.db'}",
        "api_tokens": TOKENS,
        "payment_webhook_secret": SECRET,
        "api_max_body_bytes": 64 * 1024,
        "api_temporal_timeout": 10.0,
        **overrides,
    }
    return Settings(**values)


@contextlib.asynccontextmanager
async def serve(settings: Settings, deals: DealClient, store: Store) -> AsyncIterator[str]:
    """The app on a port the OS picks; yields its base URL."""
    app = create_app(settings, deals, store)
    async with running_api(app, "127.0.0.1", 0) as server:
        port = server.servers[0].sockets[0].getsockname()[1]
        yield f"http://127.0.0.1:{port}"


@contextlib.asynccontextmanager
async def api_stack(env: WorkflowEnvironment, tmp: Path, **overrides: Any) -> AsyncIterator[Stack]:
    settings = api_settings(tmp, **overrides)
    migrate(settings.effective_database_url)
    store = Store(settings.effective_database_url)
    task_queue = new_task_queue()
    deals = DealClient(env.client, task_queue=task_queue, ui_base=UI_BASE)
    async with (
        running_worker(env.client, store, task_queue),
        serve(settings, deals, store) as base_url,
        httpx.AsyncClient(
            base_url=base_url, headers={"Authorization": f"Bearer {WRITE}"}, timeout=30
        ) as http,
        httpx.AsyncClient(base_url=base_url, timeout=30) as anon,
    ):
        yield Stack(base_url, http, anon, store, deals, settings)
    store.dispose()


def deal_body(deal_id: str | None = None, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "deal_id": deal_id or new_deal_id("API"),
        "contact": {
            "name": "Anna Petrova",
            "company": "Romashka LLC",
            "phone": "+7 900 1",
            "email": "anna@romashka.example",
        },
        "responsible": "ivanov",
        "department_head": "smirnova",
        "sales_team": ["petrov"],
        "service": "website",
        "amount": "250000",
        "currency": "RUB",
    }
    body.update(changes)
    return body


def signed(
    payload: dict[str, Any], *, secret: str = SECRET, age: float = 0
) -> tuple[bytes, dict[str, str]]:
    """A webhook delivery as a payment system sends it: raw body plus signature headers."""
    body = json.dumps(payload).encode()
    timestamp = str(int(time.time() - age))
    return body, {
        "Content-Type": "application/json",
        "X-Funnel-Timestamp": timestamp,
        "X-Funnel-Signature": sign(secret, timestamp, body),
    }
