"""Many identical clicks at once change a deal once: a request whose check held when it was
sent but no longer holds when the deal applies it is refused with the reason (the HTTP API
answers 409), and nothing happens twice. Against the real dev server, many concurrent
requests per deal."""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from collections.abc import Awaitable, Sequence
from typing import Any

from temporalio.testing import WorkflowEnvironment

from funnel.client.deals import DealClient, DealRejected
from funnel.domain.models import CloseInput, Outcome, TaskAction, TaskEvent, TaskStatus
from funnel.domain.pipeline import Pipeline
from funnel.storage.store import Store
from tests.helpers import sample_deal
from tests.temporal_fixtures import deal_system, new_deal_id


async def _all(calls: Sequence[Awaitable[Any]]) -> tuple[list[Any], list[str]]:
    """Run the calls at once: the answers of those that went through, and the reasons of
    those refused."""
    results = await asyncio.gather(*calls, return_exceptions=True)
    refused = [str(r) for r in results if isinstance(r, DealRejected)]
    unexpected = [
        r for r in results if isinstance(r, BaseException) and not isinstance(r, DealRejected)
    ]
    assert not unexpected, unexpected
    return [r for r in results if not isinstance(r, BaseException)], refused


def _entries(store: Store, deal_id: str) -> list[str]:
    return [e.stage for e in store.report_events(deal_id=deal_id) if e.kind == "stage_entered"]


async def _in_progress(deals: DealClient, pusk: Pipeline) -> str:
    deal_id = new_deal_id()
    await deals.start(sample_deal(deal_id), pusk)
    await deals.accept(deal_id, by="ivanov")
    return deal_id


async def test_ten_accepts_at_once_accept_the_deal_once(
    dev_env: WorkflowEnvironment, store: Store, pusk: Pipeline
) -> None:
    deal_id = new_deal_id()
    async with deal_system(dev_env, store) as deals:
        await deals.start(sample_deal(deal_id), pusk)
        done, refused = await _all([deals.accept(deal_id, by="ivanov") for _ in range(10)])
        assert len(done) == 1 and len(refused) == 9
        assert all("in_progress" in r or "accept" in r for r in refused), refused
        state = await deals.state(deal_id)
    assert [v.stage for v in state.visits] == ["new", "in_progress"]
    assert _entries(store, deal_id) == ["new", "in_progress"]
    accepted = [e for e in store.report_events(deal_id=deal_id) if e.kind == "deal_accepted"]
    assert len(accepted) == 1


async def test_concurrent_moves_never_enter_a_stage_twice_in_a_row(
    dev_env: WorkflowEnvironment, store: Store, pusk: Pipeline
) -> None:
    async with deal_system(dev_env, store) as deals:
        deal_id = await _in_progress(deals, pusk)
        done, refused = await _all([deals.move(deal_id, "proposal") for _ in range(6)])
        assert len(done) == 1 and len(refused) == 5
        assert all("already in stage 'proposal'" in r for r in refused), refused
        # Mixed targets: whichever order they come in, no stage is entered twice in a row.
        targets = ["negotiation", "proposal"] * 3
        more, refused = await _all([deals.move(deal_id, t) for t in targets])
        assert all("already in stage" in r for r in refused), refused
        done += more
        state = await deals.state(deal_id)
    stages = [v.stage for v in state.visits]
    assert all(a != b for a, b in itertools.pairwise(stages)), stages
    assert len(stages) == 2 + len(done)
    assert _entries(store, deal_id) == stages


async def test_concurrent_closes_close_once(
    dev_env: WorkflowEnvironment, store: Store, pusk: Pipeline
) -> None:
    async with deal_system(dev_env, store) as deals:
        deal_id = await _in_progress(deals, pusk)
        closes = [
            deals.close(deal_id, CloseInput(outcome=Outcome.LOST, reason=f"try {i}"))
            for i in range(6)
        ]
        done, refused = await _all(closes)
        assert len(done) == 1 and len(refused) == 5
        assert all("closed" in r for r in refused), refused
        state = await deals.state(deal_id)
    assert [v.stage for v in state.visits] == ["new", "in_progress", "lost"]
    assert _entries(store, deal_id) == ["new", "in_progress", "lost"]


async def test_a_task_completed_by_many_clicks_is_completed_once(
    dev_env: WorkflowEnvironment, store: Store, pusk: Pipeline
) -> None:
    async with deal_system(dev_env, store) as deals:
        deal_id = await _in_progress(deals, pusk)
        state = await deals.move(deal_id, "contract")
        task = next(t for t in state.tasks if t.stage == "contract")
        completes = [
            deals.task_event(
                deal_id, TaskEvent(task_id=task.task_id, action=TaskAction.COMPLETE, by="ivanov")
            )
            for _ in range(8)
        ]
        done, refused = await _all(completes)
        assert len(done) == 1 and len(refused) == 7
        assert all("awaiting_confirmation" in r for r in refused), refused
        confirms = [
            deals.task_event(
                deal_id, TaskEvent(task_id=task.task_id, action=TaskAction.CONFIRM, by="smirnova")
            )
            for _ in range(5)
        ]
        done, refused = await _all(confirms)
        assert len(done) == 1 and len(refused) == 4
        state = await deals.state(deal_id)
    assert state.task(task.task_id).status is TaskStatus.DONE  # type: ignore[union-attr]
    assert Counter(v.stage for v in state.visits)["payment"] == 1


async def test_run_template_many_times_creates_one_task_set(
    dev_env: WorkflowEnvironment, store: Store, pusk: Pipeline
) -> None:
    async with deal_system(dev_env, store) as deals:
        deal_id = await _in_progress(deals, pusk)
        await deals.move(deal_id, "final")
        done, refused = await _all([deals.run_template(deal_id) for _ in range(6)])
        assert not refused and len(done) == 6
        assert all([t.task_id for t in d] == ["3-kickoff"] for d in done), done
        # Closed meanwhile: a run_template that arrives with the close is refused, not
        # answered with an empty set.
        results, refused = await _all(
            [
                deals.close(deal_id, CloseInput(outcome=Outcome.LOST, reason="gone")),
                deals.run_template(deal_id),
            ]
        )
    assert len(store.tasks(deal_id=deal_id)) == 1
    assert len(results) + len(refused) == 2
