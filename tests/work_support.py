"""What the tests of my work share: waiting for the store to show what a deal's robots or
messages write (they run asynchronously), and deals started over the API."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

from tests.api_support import Stack, deal_body

T = TypeVar("T")


async def soon(read: Callable[[], T | None], what: str, timeout: float = 10.0) -> T:
    """``read()`` once it answers something (neither None nor empty nor False)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        found = read()
        if found:
            return found
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"never happened: {what}")
        await asyncio.sleep(0.05)


async def deal_in(stack: Stack, stage: str = "new", **changes: Any) -> str:
    """A deal started (with a service token) and moved to ``stage``."""
    r = await stack.http.post("/deals", json=deal_body(**changes))
    assert r.status_code == 201, r.text
    deal_id: str = r.json()["deal_id"]
    if stage != "new":
        responsible = stack.as_person(changes.get("responsible", "ivanov"))  # a move needs a person
        moved = await stack.http.post(
            f"/deals/{deal_id}/move", json={"stage": stage}, headers=responsible
        )
        assert moved.status_code == 200, moved.text
    return deal_id
