"""Reassigning a deal's people: its open tasks and waiting robots follow the pipeline's
rules for the new people (executor, co-executors, creator who confirms; the responsible's
own working time), behind a patch that deals edited before replay without."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from temporalio.client import WorkflowHistory
from temporalio.testing import WorkflowEnvironment

from funnel.client.deals import DealRejected
from funnel.domain.edits import EditDealInput
from funnel.domain.models import TaskAction, TaskEvent, TaskStatus
from funnel.domain.people import Actor, Role, Via
from funnel.domain.pipeline import Pipeline
from funnel.storage.store import Store
from tests.helpers import (
    HISTORIES,
    eventually,
    in_stage,
    keep_history,
    messages_to,
    mini_pipeline,
    notify,
    patch_ids,
    sample_deal,
)
from tests.temporal_fixtures import deal_system, new_deal_id
from workflows.patches import PATCH_EDIT_PEOPLE_FOLLOW

MSK = ZoneInfo("Europe/Moscow")
IVANOV = Actor(kind="person", id="ivanov", role=Role.MANAGER, department="sales", via=Via.WEB)
PETROV = Actor(kind="person", id="petrov", role=Role.MANAGER, department="sales", via=Via.WEB)
SMIRNOVA = Actor(kind="person", id="smirnova", role=Role.HEAD, department="sales", via=Via.API)
ORLOVA = Actor(kind="person", id="orlova", role=Role.HEAD, department="corporate", via=Via.WEB)
# ivanov works on Sundays only, petrov on Wednesdays only: a robot waiting for the
# responsible's working time is due on another day once the deal is petrov's.
SCHEDULES: dict[str, Any] = {
    "ivanov": {"weekend": [0, 1, 2, 3, 4, 5]},
    "petrov": {"weekend": [0, 1, 3, 4, 5, 6]},
}
PIPELINE = mini_pipeline(
    [
        {
            "id": "work",
            "name": "Work",
            "robots": [
                {
                    "id": "signed",
                    "type": "create_task",
                    "title": "The head's task for the responsible and the team",
                    "task_title": "Get it signed",
                    "responsible": "responsible",
                    "co_executors": ["sales_team"],
                    "created_by": "head",
                    "needs_confirmation": True,
                    "start": "with_stage",
                },
                notify(
                    "in_his_hours",
                    delay="1 days",
                    responsible_working_time=True,
                    start="with_stage",
                ),
            ],
        }
    ],
    calendar={"timezone": "Europe/Moscow", "country": None},
    schedules=SCHEDULES,
)
EDIT = EditDealInput(
    responsible="petrov", department_head="orlova", sales_team=["sidorova", "kozlov"]
)


def _weekday(when: datetime) -> int:
    return when.astimezone(MSK).weekday()


async def test_reassigned_people_take_over_tasks_and_timers(
    dev_env: WorkflowEnvironment, store: Store
) -> None:
    """A new responsible, head and sales team: the open task's executor, co-executors and
    creator follow the robot's roles (`created_by: head` gives the new head), in the deal
    and in the store; the robot waiting for the responsible's working time is due on the
    new responsible's working day."""
    deal_id = new_deal_id("E")
    async with deal_system(dev_env, store) as deals:
        await deals.start(sample_deal(deal_id), PIPELINE)
        before = await eventually(deals, deal_id, lambda s: bool(s.tasks) and bool(s.waiting))
        state = await deals.edit(deal_id, EDIT, actor=SMIRNOVA)
        await keep_history(deals, deal_id, "mini_edit_people_follow")
        history = await deals.history(deal_id)
    [task] = state.tasks
    assert (task.responsible, task.co_executors, task.created_by) == (
        "petrov",
        ["sidorova", "kozlov"],
        "orlova",
    )
    [row] = store.tasks(deal_id=deal_id)
    assert (row.responsible, row.co_executors, row.created_by) == (
        "petrov",
        ["sidorova", "kozlov"],
        "orlova",
    )
    [was], [now] = before.waiting, state.waiting
    assert _weekday(was.due_at) == 6 and _weekday(now.due_at) == 2  # Sunday, then Wednesday
    assert now.base == was.base and "responsible's working time" in now.rule
    [edited] = [e.details for e in store.report_events(deal_id=deal_id) if e.kind == "deal_edited"]
    assert edited["tasks_moved"] == [task.task_id]
    assert PATCH_EDIT_PEOPLE_FOLLOW in patch_ids(history)


def test_deals_edited_before_replay_without_following() -> None:
    """The history recorded before the change (tests/histories, replayed by test_replay.py)
    moved only the executor and recomputed nothing: it holds no marker of the patch."""
    old = WorkflowHistory.from_json(
        "old", (HISTORIES / "mini_edit_before_people_follow.json").read_text()
    )
    assert PATCH_EDIT_PEOPLE_FOLLOW not in patch_ids(old)
    assert "edit_deal" in old.to_json()


async def test_the_new_head_confirms_a_task_waiting_for_confirmation(
    dev_env: WorkflowEnvironment, store: Store, pusk: Pipeline
) -> None:
    """The contract task is created on behalf of the head: a new responsible takes over its
    execution and the head still confirms; a new head becomes its confirmer, is told it
    waits, and the old head can no longer confirm it."""
    deal_id = new_deal_id("E")
    async with deal_system(dev_env, store) as deals:
        await deals.start(sample_deal(deal_id), pusk)
        await deals.move(deal_id, "contract", actor=IVANOV)
        state = await eventually(deals, deal_id, lambda s: bool(s.tasks))
        task_id = state.tasks[0].task_id
        state = await deals.edit(deal_id, EditDealInput(responsible="petrov"), actor=SMIRNOVA)
        task = state.task(task_id)
        assert task is not None and (task.responsible, task.created_by) == ("petrov", "smirnova")
        done = TaskEvent(task_id=task_id, action=TaskAction.COMPLETE)
        task = await deals.task_event(deal_id, done, actor=PETROV)
        assert task.status is TaskStatus.AWAITING_CONFIRMATION
        state = await deals.edit(deal_id, EditDealInput(department_head="orlova"), actor=SMIRNOVA)
        assert state.task(task_id).created_by == "orlova"  # type: ignore[union-attr]
        confirm = TaskEvent(task_id=task_id, action=TaskAction.CONFIRM)
        with pytest.raises(DealRejected, match="only its creator orlova can"):
            await deals.task_event(deal_id, confirm, actor=SMIRNOVA)
        task = await deals.task_event(deal_id, confirm, actor=ORLOVA)
        assert task.status is TaskStatus.DONE
        await in_stage(deals, deal_id, "payment")
    told = messages_to(store, "orlova", deal_id)
    assert any("awaits your confirmation" in m and "reassigned to you" in m for m in told), told
    assert [r.created_by for r in store.tasks(deal_id=deal_id)] == ["orlova"]
