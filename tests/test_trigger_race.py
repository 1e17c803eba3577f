"""Two events that each satisfy the stage's trigger, arriving while the deal is already being
moved by the first, move it once. Seen in the server-restart fault test: the head confirmed
the contract task and the invoice was paid within milliseconds; the second trigger check ran
while the run loop was still entering `payment`, saw `contract`, and queued the same move
again, so the deal entered `payment` twice (and a driver waiting for `final` was refused)."""

from __future__ import annotations

import asyncio
import json
from concurrent.futures import ThreadPoolExecutor

from temporalio.client import WorkflowHistory
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer, Worker

from activities.robots import RobotActivities, compute_due_times
from funnel.client.deals import DealClient
from funnel.domain.activity_io import ActivityName
from funnel.domain.models import InvoicePaid, TaskCompleted, TaskStatus
from funnel.domain.pipeline import Pipeline
from funnel.runtime.temporal_client import DATA_CONVERTER
from funnel.storage.store import Store
from tests.held_robot import hold_robot
from tests.helpers import HISTORIES, eventually, in_stage, patch_ids, sample_deal
from tests.temporal_fixtures import new_deal_id, new_task_queue
from workflows.deal import DealWorkflow
from workflows.patches import PATCH_NOV_27, PATCH_ONE_MOVE_AT_A_TIME

SEVEN = ["new", "in_progress", "proposal", "negotiation", "contract", "payment", "final"]
RECORDED_BEFORE_THE_FIX = HISTORIES / "pusk_double_entry_before_fix.json"


def _entered(history: WorkflowHistory) -> list[str]:
    """The stages the deal entered, by its DealStage search-attribute upserts; a deal of
    PATCH_NOV_27 upserts none on entering the first stage, which its start had set."""
    upserts = (
        e.upsert_workflow_search_attributes_event_attributes.search_attributes.indexed_fields
        for e in history.events
    )
    stages = [json.loads(fields["DealStage"].data) for fields in upserts if "DealStage" in fields]
    start = history.events[0].workflow_execution_started_event_attributes.search_attributes
    if "DealStage" not in start.indexed_fields:  # started without search attributes
        return stages
    first = json.loads(start.indexed_fields["DealStage"].data)
    return stages if stages[:1] == [first] else [first, *stages]


async def test_two_triggers_during_one_move_enter_the_stage_once(
    dev_env: WorkflowEnvironment, store: Store, pusk: Pipeline
) -> None:
    """Rebuilt step by step as it happened: the executor's "done" is being recorded, the head
    has confirmed, and the invoice signal reaches the deal in the same workflow task as the
    end of that recording. Activities and workflows run on separate workers here so that the
    test can hold the workflow back while the activity finishes."""
    robots = RobotActivities(store)
    held = hold_robot(
        robots, "record_task_status", ActivityName.RECORD_TASK_STATUS, lambda c: c.by == "ivanov"
    )

    queue = new_task_queue()
    deal_id = new_deal_id()
    deals = DealClient(dev_env.client, task_queue=queue)

    def workflow_worker() -> Worker:
        # No cache: the restarted worker rebuilds the deal from its history, and nothing
        # sticks to the stopped one.
        return Worker(
            dev_env.client,
            task_queue=queue,
            workflows=[DealWorkflow],
            # Local activities (due times, the transition record) run where the workflow runs.
            activities=[compute_due_times, robots.record_stage_transition],
            activity_executor=executor,
            no_remote_activities=True,
            max_cached_workflows=0,
        )

    with ThreadPoolExecutor(max_workers=8) as executor:
        async with Worker(
            dev_env.client,
            task_queue=queue,
            activities=held.activities,
            activity_executor=executor,
        ):
            async with workflow_worker():
                await deals.start(sample_deal(deal_id), pusk)
                await deals.accept(deal_id, by="ivanov")
                for stage in ("proposal", "negotiation"):
                    await deals.move(deal_id, stage)
                state = await deals.move(deal_id, "contract")
                task_id = next(t.task_id for t in state.tasks if t.stage == "contract")
                await deals.task_completed(deal_id, TaskCompleted(task_id=task_id, by="ivanov"))
                assert await asyncio.to_thread(held.reached.wait, 30)
                await deals.task_completed(deal_id, TaskCompleted(task_id=task_id, by="smirnova"))
                await eventually(
                    deals,
                    deal_id,
                    lambda s: s.task(task_id).status is TaskStatus.DONE,  # type: ignore[union-attr]
                )
            await deals.invoice_paid(deal_id, InvoicePaid(invoice_id=f"{deal_id}-5"))
            held.release.set()
            await _activity_completed(deals, deal_id, ActivityName.RECORD_TASK_STATUS)
            async with workflow_worker():
                state = await in_stage(deals, deal_id, "final")
                history = await deals.history(deal_id)

    assert [v.stage for v in state.visits] == SEVEN
    assert _entered(history) == SEVEN
    entered = [e.stage for e in store.report_events(deal_id=deal_id) if e.kind == "stage_entered"]
    assert entered == SEVEN
    # A new deal runs with the fix (one patch for it and the other two changes).
    assert PATCH_NOV_27 in patch_ids(history)


async def _activity_completed(deals: DealClient, deal_id: str, name: str) -> None:
    """Wait until the history shows the first ``name`` activity completed."""
    for _ in range(300):
        history = await deals.history(deal_id)
        scheduled = {
            e.event_id
            for e in history.events
            if e.activity_task_scheduled_event_attributes.activity_type.name == name
        }
        if any(
            e.activity_task_completed_event_attributes.scheduled_event_id in scheduled
            for e in history.events
        ):
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{name} never completed in deal {deal_id}")


async def test_a_deal_that_entered_twice_before_the_fix_still_replays() -> None:
    history = WorkflowHistory.from_json("old", RECORDED_BEFORE_THE_FIX.read_text())
    assert _entered(history) == [*SEVEN[:-1], "payment", "final"]
    assert PATCH_ONE_MOVE_AT_A_TIME not in patch_ids(history)
    replayer = Replayer(workflows=[DealWorkflow], data_converter=DATA_CONVERTER)
    result = await replayer.replay_workflow(history, raise_on_replay_failure=True)
    assert result.replay_failure is None
