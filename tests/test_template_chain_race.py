"""A deal closed as won while the last task of a template chain was still being created.

The benchmark found it: the executor reports `design` done, the deal releases `launch`
(the next task of the `website` chain) and starts its create_task robot; any message that
reaches the deal before that robot finishes (here, a payment signal) checks the stage's
trigger, which saw every existing task done and nothing waiting, and moved the deal to
`won`: `launch` was created in a closed deal and never done. Rebuilt step by step by
holding the robot that creates `launch`."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.robots import RobotActivities
from funnel.client.deals import DealClient
from funnel.domain.activity_io import ActivityName
from funnel.domain.models import DealStatus, InvoicePaid, TaskCompleted, TaskStatus
from funnel.domain.pipeline import Pipeline
from funnel.storage.store import Store
from tests.held_robot import hold_robot
from tests.helpers import eventually, in_stage, sample_deal
from tests.temporal_fixtures import new_deal_id, new_task_queue
from workflows.deal import DealWorkflow


async def test_a_message_while_the_last_chained_task_is_created_does_not_close_the_deal(
    dev_env: WorkflowEnvironment, store: Store, pusk: Pipeline
) -> None:
    held = hold_robot(
        RobotActivities(store),
        "create_task",
        ActivityName.CREATE_TASK,
        lambda call: call.robot_id == "launch",
    )
    queue = new_task_queue()
    deal_id = new_deal_id()
    deals = DealClient(dev_env.client, task_queue=queue)
    with ThreadPoolExecutor(max_workers=8) as executor:
        async with Worker(
            dev_env.client,
            task_queue=queue,
            workflows=[DealWorkflow],
            activities=held.activities,
            activity_executor=executor,
        ):
            await deals.start(sample_deal(deal_id), pusk)
            await deals.accept(deal_id, by="ivanov")
            for stage in ("proposal", "negotiation"):
                await deals.move(deal_id, stage)
            state = await deals.move(deal_id, "contract")
            contract = next(t.task_id for t in state.tasks if t.stage == "contract")
            for by in ("ivanov", "smirnova"):  # done by the executor, confirmed by the head
                await deals.task_completed(deal_id, TaskCompleted(task_id=contract, by=by))
            await deals.invoice_paid(deal_id, InvoicePaid(invoice_id=f"{deal_id}-5"))
            await in_stage(deals, deal_id, "final")
            [kickoff] = await deals.run_template(deal_id, by="ivanov")
            await deals.task_completed(deal_id, TaskCompleted(task_id=kickoff.task_id, by="a"))
            design = (
                await eventually(deals, deal_id, lambda s: s.task("7-design") is not None)
            ).task("7-design")
            assert design is not None
            await deals.task_completed(deal_id, TaskCompleted(task_id=design.task_id, by="a"))
            assert await asyncio.to_thread(held.reached.wait, 30)
            # A message while `launch` is being created: a second payment arrives.
            await deals.invoice_paid(
                deal_id, InvoicePaid(invoice_id=f"{deal_id}-extra", prepayment=True)
            )
            await eventually(deals, deal_id, lambda s: s.invoice(f"{deal_id}-extra") is not None)
            held.release.set()
            state = await eventually(deals, deal_id, lambda s: s.task("7-launch") is not None)
            assert state.stage == "final" and state.status is DealStatus.OPEN
            launch = state.task("7-launch")
            assert launch is not None and launch.status is TaskStatus.OPEN
            await deals.task_completed(deal_id, TaskCompleted(task_id="7-launch", by="a"))
            result = await deals.result(deal_id)
    assert result.status is DealStatus.WON
    launch_row = next(t for t in store.tasks(deal_id=deal_id) if t.key.endswith("launch"))
    assert launch_row.status == "done"
