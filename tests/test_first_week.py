"""What a sales team hits in its first week with the shipped PUSK funnel: moving a deal back
and forth, the stage and task alarms, the contract document, the title, the confirmation
loop, and a notify robot's own channels. Timers on the time-skipping test server."""

from __future__ import annotations

from datetime import timedelta

from temporalio.testing import WorkflowEnvironment

from funnel.domain.models import TaskAction, TaskEvent, TaskStatus, UpdateFieldsInput
from funnel.domain.pipeline import Pipeline
from funnel.domain.robot_runs import RunOutcome
from funnel.storage.store import Store
from tests.helpers import eventually, messages_to, mini_pipeline, notify, sample_deal
from tests.temporal_fixtures import deal_system, new_deal_id


async def test_contract_proposal_contract_leaves_one_task_and_one_invoice(
    ts_env: WorkflowEnvironment, store: Store, pusk: Pipeline
) -> None:
    deal_id = new_deal_id()
    async with deal_system(ts_env, store) as deals:
        await deals.start(sample_deal(deal_id), pusk)
        await deals.accept(deal_id, by="ivanov")
        await deals.move(deal_id, "contract")
        await deals.move(deal_id, "proposal")
        state = await deals.move(deal_id, "contract")
        # A week passes: the cancelled task of the first visit never escalates.
        await ts_env.sleep(timedelta(days=8))
        state = await deals.state(deal_id)

    contract_tasks = [t for t in state.tasks if t.task_id.endswith("signed_contract_task")]
    assert [t.status for t in contract_tasks] == [TaskStatus.CANCELLED, TaskStatus.OPEN]
    assert [t.status for t in store.tasks(deal_id=deal_id) if "contract" in t.key] == [
        "cancelled",
        "open",
    ]
    collectable = [i for i in state.invoices if i.open]
    assert len(collectable) == 1 and len(state.invoices) == 1
    assert len(store.invoices(deal_id)) == 1
    reuse = [r for r in state.robot_runs if r.robot_id == "issue_invoice"]
    assert [r.outcome for r in reuse] == [RunOutcome.DONE, RunOutcome.REUSED]
    overdue = [
        e.details["text"] for e in store.report_events(deal_id=deal_id) if e.kind == "task_overdue"
    ]
    assert overdue == [contract_tasks[1].task_id]  # only the live task, never the cancelled one


async def test_one_breach_one_message_when_task_and_stage_are_due_together(
    ts_env: WorkflowEnvironment, store: Store, pusk: Pipeline
) -> None:
    deal_id = new_deal_id()
    async with deal_system(ts_env, store) as deals:
        await deals.start(sample_deal(deal_id), pusk)
        await deals.move(deal_id, "contract")
        await ts_env.sleep(timedelta(days=8))
        state = await deals.state(deal_id)
    assert state.breached
    kinds = [e.kind for e in store.report_events(deal_id=deal_id)]
    assert kinds.count("deadline_breached") == 1 and kinds.count("task_overdue") == 1
    for person in ("ivanov", "smirnova"):
        alarms = [
            m for m in messages_to(store, person, deal_id) if "overdue" in m or "breached" in m
        ]
        assert len(alarms) == 1, (person, alarms)


async def test_the_contract_is_made_on_entering_contract_even_with_a_due_date(
    ts_env: WorkflowEnvironment, store: Store, pusk: Pipeline
) -> None:
    deal_id = new_deal_id()
    async with deal_system(ts_env, store) as deals:
        await deals.start(sample_deal(deal_id), pusk)
        now = await ts_env.get_current_time()
        due = (now + timedelta(days=30)).date().isoformat()
        await deals.update_fields(deal_id, UpdateFieldsInput(fields={"contract_due": due}))
        await deals.move(deal_id, "proposal")
        state = await deals.move(deal_id, "contract")
        state = await eventually(deals, deal_id, lambda s: bool(s.documents))
    names = [d.name for d in state.documents]
    assert "Contract" in names
    assert any(w.robot_id == "contract_due_reminder" for w in state.waiting)
    # proposal -> contract skips negotiation: the eye-catching title is gone all the same
    assert not state.title.startswith("!!!")
    assert state.title == "Romashka LLC / website / 250000 RUB"


async def test_the_confirmation_loop_tells_each_side(
    ts_env: WorkflowEnvironment, store: Store, pusk: Pipeline
) -> None:
    deal_id = new_deal_id()
    async with deal_system(ts_env, store) as deals:
        await deals.start(sample_deal(deal_id), pusk)
        state = await deals.move(deal_id, "contract")
        task = next(t for t in state.tasks if t.task_id.endswith("signed_contract_task"))
        done = TaskEvent(task_id=task.task_id, action=TaskAction.COMPLETE, by="ivanov")
        await deals.task_event(deal_id, done)
        waiting = store.tasks(status="awaiting_confirmation", created_by="smirnova")
        assert [t.task_id for t in waiting if t.deal_id == deal_id] == [task.task_id]
        await eventually(
            deals,
            deal_id,
            lambda _: any(
                "awaits your confirmation" in m for m in messages_to(store, "smirnova", deal_id)
            ),
        )
        returned = TaskEvent(
            task_id=task.task_id,
            action=TaskAction.RETURN,
            by="smirnova",
            comment="The second page is not signed",
        )
        view = await deals.task_event(deal_id, returned)
        assert view.status is TaskStatus.OPEN and view.returned == 1
        assert [c.text for c in view.comments] == ["The second page is not signed"]
        await eventually(
            deals,
            deal_id,
            lambda _: any(
                "returned by smirnova: The second page is not signed" in m
                for m in messages_to(store, "ivanov", deal_id)
            ),
        )
        state = await deals.state(deal_id)
    assert state.task(task.task_id).comments[0].by == "smirnova"  # type: ignore[union-attr]
    returns = [e for e in store.report_events(deal_id=deal_id) if e.kind == "task_returned"]
    assert [e.details["comment"] for e in returns] == ["The second page is not signed"]


async def test_a_notify_robots_channels_override_the_persons(
    ts_env: WorkflowEnvironment, store: Store
) -> None:
    pipeline = mini_pipeline(
        [
            {
                "id": "start",
                "name": "Start",
                "robots": [
                    notify("webhook_only", channels=["webhook"]),
                    notify("own_channels"),
                ],
            }
        ]
    )
    deal_id = new_deal_id()
    async with deal_system(ts_env, store) as deals:
        await deals.start(sample_deal(deal_id), pipeline)
        await eventually(deals, deal_id, lambda s: len(s.robot_runs) == 2)
    # ivanov's own channel is the in-app inbox; the first robot names only the webhook.
    assert messages_to(store, "ivanov", deal_id) == ["own_channels ran"]
