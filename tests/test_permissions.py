"""The funnel's control points: a request carrying an actor is checked by the deal (who may
accept, move, close, complete, confirm, run the task set), refused with who and why and
nothing changed, and the history records who did each action and how. Against the real dev
server, through DealClient."""

from __future__ import annotations

import pytest
from temporalio.testing import WorkflowEnvironment

from funnel.client.deals import DealClient, DealRejected
from funnel.domain.models import (
    CloseInput,
    DealState,
    Outcome,
    TaskAction,
    TaskCompleted,
    TaskEvent,
    TaskStatus,
    UpdateFieldsInput,
)
from funnel.domain.people import Actor, Role, Via
from funnel.domain.pipeline import Pipeline
from funnel.storage.store import Store
from tests.helpers import eventually, sample_deal
from tests.temporal_fixtures import deal_system, new_deal_id

# sample_deal: responsible ivanov, head smirnova, sales team petrov and sidorova.
IVANOV = Actor(kind="person", id="ivanov", role=Role.MANAGER, department="sales", via=Via.WEB)
SMIRNOVA = Actor(kind="person", id="smirnova", role=Role.HEAD, department="sales", via=Via.API)
PETROV = Actor(kind="person", id="petrov", role=Role.MANAGER, department="sales", via=Via.WEB)
ADMIN = Actor(kind="person", id="root", role=Role.ADMIN, via=Via.CLI)
FORM = Actor(kind="service", id="lead-form", via=Via.WEBHOOK)


def _entries(store: Store, deal_id: str) -> list[str]:
    return [e.stage for e in store.report_events(deal_id=deal_id) if e.kind == "stage_entered"]


async def _refused(call: object, *expected: str) -> str:
    with pytest.raises(DealRejected) as refused:
        await call  # type: ignore[misc]
    for part in expected:
        assert part in str(refused.value), str(refused.value)
    return str(refused.value)


async def _started(deals: DealClient, pusk: Pipeline) -> str:
    deal_id = new_deal_id("P")
    await deals.start(sample_deal(deal_id), pusk)
    # In `new`, its entry written to the store: what a refused request must leave as it is.
    await eventually(deals, deal_id, lambda s: bool(s.report_events))
    return deal_id


def _task(state: DealState, stage: str) -> str:
    return next(t.task_id for t in state.tasks if t.stage == stage)


async def test_accept_by_the_responsible_their_head_or_an_admin(
    dev_env: WorkflowEnvironment, store: Store, pusk: Pipeline
) -> None:
    async with deal_system(dev_env, store) as deals:
        deal_id = await _started(deals, pusk)
        await _refused(
            deals.accept(deal_id, actor=PETROV),
            f"petrov cannot accept deal {deal_id}: only its responsible ivanov,"
            " their head smirnova or an admin can",
        )
        await _refused(deals.accept(deal_id, actor=FORM), "service lead-form cannot accept")
        # A `by` in the body naming someone else than the caller is a forgery.
        await _refused(
            deals.accept(deal_id, by="ivanov", actor=SMIRNOVA),
            "by ivanov differs from the caller smirnova",
        )
        # Nothing changed: no stage entered, no acceptance written.
        state = await deals.state(deal_id)
        assert [v.stage for v in state.visits] == ["new"] and state.accepted_at is None
        assert _entries(store, deal_id) == ["new"]
        assert not [e for e in store.report_events(deal_id=deal_id) if e.kind == "deal_accepted"]

        # The head accepts (a `by` repeating the caller is fine); the history says who, how.
        state = await deals.accept(deal_id, by="smirnova", actor=SMIRNOVA)
        visit = state.visits[-1]
        assert (visit.stage, visit.entered_by, visit.via) == ("in_progress", "smirnova", Via.API)
        rows = [e for e in store.report_events(deal_id=deal_id) if e.stage == "in_progress"]
        entered = next(e for e in rows if e.kind == "stage_entered")
        assert entered.actor == "smirnova" and entered.details["via"] == "api"
        accepted = next(
            e for e in store.report_events(deal_id=deal_id) if e.kind == "deal_accepted"
        )
        assert accepted.details["by"] == "smirnova" and accepted.details["via"] == "api"

        other = await _started(deals, pusk)
        state = await deals.accept(other, actor=ADMIN)
        assert (state.stage, state.visits[-1].entered_by) == ("in_progress", "root")


async def test_moves_and_closing_by_a_lead_back_past_the_contract_with_a_reason(
    dev_env: WorkflowEnvironment, store: Store, pusk: Pipeline
) -> None:
    async with deal_system(dev_env, store) as deals:
        deal_id = await _started(deals, pusk)
        await deals.accept(deal_id, actor=IVANOV)
        await _refused(
            deals.move(deal_id, "proposal", actor=PETROV),
            "petrov cannot move to 'proposal' deal",
        )
        await _refused(deals.move(deal_id, "proposal", actor=FORM), "a person must")
        assert (await deals.state(deal_id)).stage == "in_progress"

        state = await deals.move(deal_id, "proposal", actor=IVANOV)
        # The proposal task: a co-executor of the sales team may complete it, an outsider
        # (the head's another department colleague) may not.
        proposal = _task(await eventually(deals, deal_id, lambda s: bool(s.tasks)), "proposal")
        outsider = Actor(kind="person", id="kozlov", role=Role.MANAGER, via=Via.WEB)
        await _refused(
            deals.task_event(
                deal_id, TaskEvent(task_id=proposal, action=TaskAction.COMPLETE), actor=outsider
            ),
            f"kozlov cannot complete task {proposal}: only its executor ivanov,"
            " co-executors petrov, sidorova or its creator ivanov can",
        )
        task = await deals.task_event(
            deal_id, TaskEvent(task_id=proposal, action=TaskAction.COMPLETE), actor=PETROV
        )
        assert task.status is TaskStatus.DONE
        assert [(e.by, e.via) for e in task.events] == [("petrov", Via.WEB)]

        await deals.move(deal_id, "contract", actor=SMIRNOVA)
        entries = _entries(store, deal_id)
        await _refused(
            deals.move(deal_id, "proposal", actor=IVANOV),
            "ivanov moves deal",
            "back from 'contract' to 'proposal', before 'contract': that needs a reason",
        )
        assert (await deals.state(deal_id)).stage == "contract"
        assert _entries(store, deal_id) == entries
        state = await deals.move(deal_id, "proposal", reason="the client wants more", actor=IVANOV)
        assert state.stage == "proposal"
        # Forward, then back before the contract from a stage before it: no reason needed.
        await deals.move(deal_id, "negotiation", actor=ADMIN)
        await deals.move(deal_id, "in_progress", actor=IVANOV)

        await _refused(
            deals.close(deal_id, CloseInput(outcome=Outcome.LOST, reason="x"), actor=PETROV),
            "petrov cannot close (lost) deal",
        )
        await _refused(
            deals.close(deal_id, CloseInput(outcome=Outcome.LOST), actor=SMIRNOVA), "needs a reason"
        )
        state = await deals.close(
            deal_id, CloseInput(outcome=Outcome.LOST, reason="chose a competitor"), actor=SMIRNOVA
        )
    who = [(v.stage, v.entered_by, v.via) for v in state.visits]
    assert who == [
        ("new", None, None),
        ("in_progress", "ivanov", Via.WEB),
        ("proposal", "ivanov", Via.WEB),
        ("contract", "smirnova", Via.API),
        ("proposal", "ivanov", Via.WEB),
        ("negotiation", "root", Via.CLI),
        ("in_progress", "ivanov", Via.WEB),
        ("lost", "smirnova", Via.API),
    ]
    lost = [e for e in store.report_events(deal_id=deal_id) if e.kind == "stage_entered"][-1]
    assert (lost.stage, lost.actor, lost.details["via"]) == ("lost", "smirnova", "api")


async def test_the_creator_alone_confirms_and_the_lead_runs_the_task_set(
    dev_env: WorkflowEnvironment, store: Store, pusk: Pipeline
) -> None:
    async with deal_system(dev_env, store) as deals:
        deal_id = await _started(deals, pusk)
        await deals.accept(deal_id, actor=IVANOV)
        await deals.move(deal_id, "contract", actor=IVANOV)
        state = await eventually(
            deals, deal_id, lambda s: any(t.stage == "contract" for t in s.tasks)
        )
        contract = _task(state, "contract")  # created by the head smirnova, executor ivanov

        def event(action: TaskAction, comment: str | None = None) -> TaskEvent:
            return TaskEvent(task_id=contract, action=action, comment=comment)

        await _refused(
            deals.task_event(
                deal_id,
                event(TaskAction.COMPLETE),
                actor=SMIRNOVA.model_copy(update={"id": "kozlov"}),
            ),
            "kozlov cannot complete task",
        )
        # A forged `by`: the caller is ivanov, the body says the creator did it.
        forged = TaskEvent(task_id=contract, action=TaskAction.COMPLETE, by="smirnova")
        await _refused(
            deals.task_event(deal_id, forged, actor=IVANOV),
            "by smirnova differs from the caller ivanov",
        )
        assert (await deals.state(deal_id)).task(contract).status is TaskStatus.OPEN  # type: ignore[union-attr]

        task = await deals.task_event(deal_id, event(TaskAction.COMPLETE), actor=IVANOV)
        assert task.status is TaskStatus.AWAITING_CONFIRMATION
        for who in (IVANOV, ADMIN, FORM):
            await _refused(
                deals.task_event(deal_id, event(TaskAction.CONFIRM), actor=who),
                f"cannot confirm task {contract}: only its creator smirnova can",
            )
        task = await deals.task_event(deal_id, event(TaskAction.RETURN, "unsigned"), actor=SMIRNOVA)
        task = await deals.task_event(deal_id, event(TaskAction.COMPLETE), actor=IVANOV)
        task = await deals.task_event(deal_id, event(TaskAction.CONFIRM), actor=SMIRNOVA)
        assert task.status is TaskStatus.DONE
        assert [(e.action, e.by, e.via) for e in task.events] == [
            (TaskAction.COMPLETE, "ivanov", Via.WEB),
            (TaskAction.RETURN, "smirnova", Via.API),
            (TaskAction.COMPLETE, "ivanov", Via.WEB),
            (TaskAction.CONFIRM, "smirnova", Via.API),
        ]
        assert [(c.by, c.text, c.via) for c in task.comments] == [("smirnova", "unsigned", Via.API)]

        await deals.move(deal_id, "final", actor=IVANOV)
        await _refused(
            deals.run_template(deal_id, actor=PETROV), "petrov cannot run the task set of deal"
        )
        await _refused(deals.run_template(deal_id, actor=FORM), "a person must")
        assert not [t for t in (await deals.state(deal_id)).tasks if t.stage == "final"]
        tasks = await deals.run_template(deal_id, actor=SMIRNOVA)
        assert tasks and all(t.stage == "final" for t in tasks)


async def test_fields_by_the_deal_team_or_a_service_and_a_signal_from_an_outsider_ignored(
    dev_env: WorkflowEnvironment, store: Store, pusk: Pipeline
) -> None:
    outsider = Actor(kind="person", id="kozlov", role=Role.MANAGER, via=Via.WEB)
    async with deal_system(dev_env, store) as deals:
        deal_id = await _started(deals, pusk)
        await deals.accept(deal_id, actor=IVANOV)
        await _refused(
            deals.update_fields(deal_id, UpdateFieldsInput(fields={"amount": 1}), actor=outsider),
            "kozlov cannot change the fields of deal",
        )
        assert (await deals.state(deal_id)).deal.amount == 250000
        for who, amount in ((PETROV, 300000), (FORM, 310000)):
            state = await deals.update_fields(
                deal_id, UpdateFieldsInput(fields={"amount": amount}), actor=who
            )
            assert state.deal.amount == amount

        await deals.move(deal_id, "proposal", actor=IVANOV)
        state = await eventually(deals, deal_id, lambda s: bool(s.tasks))
        proposal = _task(state, "proposal")
        # A signal cannot answer: the outsider's completion is logged and changes nothing;
        # the integration's goes through and is recorded.
        await deals.task_completed(deal_id, TaskCompleted(task_id=proposal), actor=outsider)
        await deals.task_completed(deal_id, TaskCompleted(task_id=proposal), actor=FORM)
        state = await eventually(
            deals,
            deal_id,
            lambda s: s.task(proposal).status is TaskStatus.DONE,  # type: ignore[union-attr]
        )
    events = state.task(proposal).events  # type: ignore[union-attr]
    assert [(e.by, e.via) for e in events] == [("lead-form", Via.WEBHOOK)]
