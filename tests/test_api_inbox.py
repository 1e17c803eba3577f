"""``/inbox`` over real HTTP: a person reads and marks their own in-app notifications, never
anyone else's; a service token has no inbox."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
import pytest_asyncio
from temporalio.testing import WorkflowEnvironment

from funnel.storage.personal_tokens import PersonalTokens
from tests.api_support import Stack, api_stack
from tests.work_support import deal_in, soon


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def stack(
    dev_env: WorkflowEnvironment, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Stack]:
    async with api_stack(dev_env, tmp_path_factory.mktemp("api-inbox")) as s:
        yield s


def bearer(stack: Stack, employee: str) -> dict[str, str]:
    issued = PersonalTokens(stack.store).issue(
        employee, "inbox test", datetime.now(UTC) + timedelta(hours=1)
    )
    return {"Authorization": f"Bearer {issued.token}"}


async def new_deals_told_to_ivanov(stack: Stack, count: int) -> list[str]:
    """Start deals for ivanov; each tells him in-app that it arrived."""
    deal_ids = [await deal_in(stack) for _ in range(count)]

    def told() -> bool:
        return {n.deal_id for n in stack.store.inbox("ivanov")}.issuperset(deal_ids)

    await soon(told, f"ivanov told of {deal_ids}")
    return deal_ids


async def test_a_person_reads_marks_one_and_marks_all_read(stack: Stack) -> None:
    deal_ids = await new_deals_told_to_ivanov(stack, 2)
    ivanov = bearer(stack, "ivanov")

    page = (await stack.anon.get("/inbox", headers=ivanov)).json()
    mine = [n for n in page["notifications"] if n["deal_id"] in deal_ids]
    assert len(mine) == 2 and not any(n["read"] for n in mine)
    assert {n["recipient"] for n in page["notifications"]} == {"ivanov"}
    times = [n["created_at"] for n in page["notifications"]]
    assert times == sorted(times, reverse=True)  # newest first
    unread = page["unread"]
    assert unread >= 2

    r = await stack.anon.post(f"/inbox/{mine[0]['id']}/read", headers=ivanov)
    assert r.status_code == 200, r.text
    assert r.json() == {"marked": 1, "unread": unread - 1}
    again = await stack.anon.post(f"/inbox/{mine[0]['id']}/read", headers=ivanov)
    assert again.json() == {"marked": 0, "unread": unread - 1}  # idempotent
    only_unread = (await stack.anon.get("/inbox?unread=true", headers=ivanov)).json()
    assert mine[0]["id"] not in {n["id"] for n in only_unread["notifications"]}
    assert mine[1]["id"] in {n["id"] for n in only_unread["notifications"]}

    r = await stack.anon.post("/inbox/read-all", headers=ivanov)
    assert r.json() == {"marked": unread - 1, "unread": 0}
    assert (await stack.anon.get("/inbox?unread=true", headers=ivanov)).json() == {
        "notifications": [],
        "unread": 0,
    }


async def test_nobody_reads_or_marks_another_person_s_notifications(stack: Stack) -> None:
    (deal_id,) = await new_deals_told_to_ivanov(stack, 1)
    note = next(n for n in stack.store.inbox("ivanov") if n.deal_id == deal_id)
    petrov = bearer(stack, "petrov")

    seen = (await stack.anon.get("/inbox", headers=petrov)).json()["notifications"]
    assert all(n["recipient"] == "petrov" for n in seen)
    r = await stack.anon.post(f"/inbox/{note.id}/read", headers=petrov)
    assert r.status_code == 404
    assert r.json()["detail"] == f"you have no notification {note.id}"
    await stack.anon.post("/inbox/read-all", headers=petrov)
    still = next(n for n in stack.store.inbox("ivanov") if n.id == note.id)
    assert not still.read


async def test_a_service_token_has_no_inbox_and_a_stranger_must_sign_in(stack: Stack) -> None:
    r = await stack.http.get("/inbox")
    assert r.status_code == 403
    assert "personal token" in r.json()["detail"]
    assert (await stack.http.post("/inbox/read-all")).status_code == 403
    assert (await stack.anon.get("/inbox")).status_code == 401
    assert (await stack.anon.post("/inbox/1/read")).status_code == 401
