"""Moving a running deal to another funnel, in the deal's workflow on the real dev server:
what the old funnel's stage waited for ends (even a robot set to keep), the deal runs in the
new pipeline across continue-as-new, a robot whose target lost its stage fails with the
reason and leaves the deal where it is, the demo runs deals in both shipped funnels side by
side, and the moves' histories replay on the current code (tests/test_replay.py)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor

from temporalio.client import WorkflowHistory
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from funnel.client.deals import DealClient
from funnel.domain.pipeline import Pipeline
from funnel.domain.robot_runs import RunOutcome
from funnel.runtime.pipelines import Pipelines
from funnel.runtime.settings import Settings
from funnel.runtime.temporal_client import DATA_CONVERTER
from funnel.storage.store import Store
from starter.demo import run_demo
from tests.helpers import (
    eventually,
    keep_history,
    messages_to,
    mini_pipeline,
    notify,
    sample_deal,
    start_with_history_limit,
)
from tests.temporal_fixtures import deal_system, new_deal_id, new_task_queue
from worker import ACTIVITY_THREADS, build_worker
from workflows.deal import DealWorkflow


def _other(stages: list[dict[str, object]], version: str = "other-1") -> Pipeline:
    """A second small pipeline, ``other``, next to ``mini``."""
    pipeline = mini_pipeline(stages, version=version)
    return pipeline.model_copy(update={"id": "other", "name": "Other funnel"})


def _mover(**settings: object) -> dict[str, object]:
    return {
        "id": "to_other",
        "type": "move_to_funnel",
        "title": "Move to the other funnel",
        "pipeline": "other",
        "stage": "start",
        **settings,
    }


@contextlib.asynccontextmanager
async def _system(
    env: WorkflowEnvironment, store: Store, pipelines: Callable[[], Pipelines]
) -> AsyncIterator[DealClient]:
    """A worker whose move_to_funnel robots find ``pipelines``."""
    task_queue = new_task_queue()
    with ThreadPoolExecutor(max_workers=ACTIVITY_THREADS) as executor:
        worker = build_worker(
            env.client, store, task_queue=task_queue, executor=executor, pipelines=pipelines
        )
        async with worker:
            yield DealClient(env.client, task_queue=task_queue)


async def test_leaving_the_funnel_ends_what_waited_and_the_deal_stays_in_the_new_one(
    dev_env: WorkflowEnvironment, store: Store
) -> None:
    mini = mini_pipeline(
        [
            {
                "id": "a",
                "name": "A",
                "robots": [notify("later", delay="2 days", on_leave="keep")],
                "deadline": {"after": "3 days"},
            },
            {"id": "b", "name": "B"},
        ]
    )
    other = _other(
        [{"id": "start", "name": "Start", "robots": [notify("welcome")]}, {"id": "b", "name": "B"}]
    )
    deal_id = new_deal_id("FC")
    async with deal_system(dev_env, store) as deals:
        # Continue-as-new after about 40 events: the moves below cross it.
        await start_with_history_limit(dev_env, deals, sample_deal(deal_id), mini, 40)
        await eventually(deals, deal_id, lambda s: len(s.waiting) == 2)
        state = await deals.move_to_funnel(deal_id, other, "start", "a better fit", "ivanov")
        assert (state.pipeline_id, state.pipeline_version, state.stage) == (
            "other",
            "other-1",
            "start",
        )
        assert state.waiting == []  # the kept robot and the deadline of A ended with A
        assert {(r.stage, r.robot_id): r.outcome for r in state.robot_runs} == {
            ("a", "later"): RunOutcome.CANCELLED,
            ("start", "welcome"): RunOutcome.DONE,
        }
        for _ in range(8):
            await deals.move(deal_id, "b")
            await deals.move(deal_id, "start")
        state = await eventually(deals, deal_id, lambda s: s.runs > 1)
        assert (await deals.pipeline(deal_id)).id == "other"  # carried over by continue-as-new
        state = await deals.move(deal_id, "b")
        await keep_history(deals, deal_id, "mini_moved_to_other_funnel")
    assert state.pipeline_id == "other" and state.stage == "b"
    assert [v.pipeline_id for v in state.visits[:2]] == ["mini", "other"]
    assert messages_to(store, "ivanov", deal_id) == ["welcome ran"] * 9
    assert "later ran" not in messages_to(store, "ivanov", deal_id)


async def test_a_robot_whose_target_lost_its_stage_fails_and_the_deal_stays(
    dev_env: WorkflowEnvironment, store: Store
) -> None:
    mini = mini_pipeline([{"id": "a", "name": "A", "robots": [_mover(), notify("after")]}])
    # The other funnel as its files are now: its `start` stage was renamed.
    renamed = _other([{"id": "begin", "name": "Begin"}])
    deal_id = new_deal_id("FR")
    async with _system(dev_env, store, lambda: Pipelines.of(mini, renamed)) as deals:
        await deals.start(sample_deal(deal_id), mini)
        state = await eventually(deals, deal_id, lambda s: len(s.robot_runs) == 2)
    runs = {r.robot_id: r for r in state.robot_runs}
    assert runs["to_other"].outcome is RunOutcome.FAILED
    assert "'start' is not a stage of pipeline 'other'" in (runs["to_other"].error or "")
    assert runs["after"].outcome is RunOutcome.DONE  # not moved: the stage goes on
    assert (state.pipeline_id, state.stage) == ("mini", "a")


async def test_a_robot_moves_the_deal_and_the_history_replays(
    dev_env: WorkflowEnvironment, store: Store
) -> None:
    other = _other([{"id": "start", "name": "Start", "robots": [notify("welcome")]}])
    mini = mini_pipeline(
        [{"id": "a", "name": "A", "robots": [notify("first"), _mover(delay="1 minutes")]}]
    )
    deal_id = new_deal_id("FH")
    async with _system(dev_env, store, lambda: Pipelines.of(mini, other)) as deals:
        await deals.start(sample_deal(deal_id), mini)
        state = await eventually(deals, deal_id, lambda s: len(s.waiting) == 1)
        assert state.waiting[0].robot_id == "to_other"
        # A person moves it first: the robot's wait ends with its stage.
        state = await deals.move_to_funnel(deal_id, other, "start", None, "ivanov")
        history = await deals.history(deal_id)
        await keep_history(deals, deal_id, "mini_person_moved_to_other_funnel")
    assert {r.robot_id: r.outcome for r in state.robot_runs}["to_other"] is RunOutcome.CANCELLED
    replayer = Replayer(workflows=[DealWorkflow], data_converter=DATA_CONVERTER)
    result = await replayer.replay_workflow(
        WorkflowHistory.from_json(deal_id, history.to_json()), raise_on_replay_failure=True
    )
    assert result.replay_failure is None


async def test_the_demo_runs_deals_in_both_funnels_side_by_side(
    dev_env: WorkflowEnvironment, store: Store
) -> None:
    async with deal_system(dev_env, store) as deals:
        results = await run_demo(deals, Pipelines.from_settings(Settings()), echo=False)
        by_person, by_robot = results[-2].deal_id, results[-1].deal_id
        await keep_history(deals, by_person, "pusk_moved_to_repeat_sales_by_a_person")
        await keep_history(deals, by_robot, "repeat_sales_new_project_moved_to_pusk_by_robot")
    where = [(r.pipeline, r.stage, r.status) for r in results]
    assert where == [
        ("pusk", "won", "won"),
        ("pusk", "lost", "lost"),
        ("pusk", "proposal", "open"),
        ("repeat_sales", "won", "won"),
        ("repeat_sales", "order", "open"),  # moved there by its manager
        ("pusk", "proposal", "open"),  # a new project: moved there by the robot
    ]
