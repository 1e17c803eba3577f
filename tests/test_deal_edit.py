"""Editing a running deal (people, amount, date fields) and commenting on it, through
DealClient against the real dev server (timers: the time-skipping server)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from funnel.client.deals import DealClient, DealRejected
from funnel.domain.edits import CommentInput, EditDealInput
from funnel.domain.models import CloseInput, Outcome, UpdateFieldsInput, workflow_id_for
from funnel.domain.people import Actor, Role, Via
from funnel.domain.pipeline import Pipeline
from funnel.domain.search_attributes import DEAL_AMOUNT, DEAL_RESPONSIBLE
from funnel.storage.directory import Directory, Employee
from funnel.storage.store import Store
from tests.helpers import eventually, messages_to, sample_deal
from tests.temporal_fixtures import deal_system, new_deal_id
from tests.test_cli_deals import funnel

# sample_deal: responsible ivanov, head smirnova, sales team petrov and sidorova.
IVANOV = Actor(kind="person", id="ivanov", role=Role.MANAGER, department="sales", via=Via.WEB)
SMIRNOVA = Actor(kind="person", id="smirnova", role=Role.HEAD, department="sales", via=Via.API)
PETROV = Actor(kind="person", id="petrov", role=Role.MANAGER, department="sales", via=Via.WEB)
KOZLOV = Actor(kind="person", id="kozlov", role=Role.MANAGER, department="other", via=Via.WEB)
FORM = Actor(kind="service", id="lead-form", via=Via.WEBHOOK)


def _edits(store: Store, deal_id: str) -> list[dict[str, object]]:
    return [e.details for e in store.report_events(deal_id=deal_id) if e.kind == "deal_edited"]


async def test_reassigning_moves_the_open_task_tells_both_and_reissues_the_invoice(
    dev_env: WorkflowEnvironment, store: Store, pusk: Pipeline
) -> None:
    deal_id = new_deal_id("E")
    async with deal_system(dev_env, store) as deals:
        await deals.start(sample_deal(deal_id), pusk)
        await deals.move(deal_id, "contract")
        before = await eventually(deals, deal_id, lambda s: bool(s.invoices and s.tasks))
        task = before.tasks[0]
        assert task.responsible == "ivanov"
        edit = EditDealInput(responsible="petrov", amount=Decimal(300000), reason="vacation")
        state = await deals.edit(deal_id, edit, actor=SMIRNOVA)
        desc = await deals.temporal_client.get_workflow_handle(workflow_id_for(deal_id)).describe()
    # The open task, in the deal and in the store, is petrov's now.
    assert state.deal.responsible == "petrov" and state.task(task.task_id).responsible == "petrov"  # type: ignore[union-attr]
    assert [t.responsible for t in store.tasks(deal_id=deal_id)] == ["petrov"]
    record = store.get_deal(deal_id)
    assert record is not None and (record.responsible, record.amount) == ("petrov", Decimal(300000))
    for person in ("ivanov", "petrov"):
        assert any("reassigned" in m for m in messages_to(store, person, deal_id)), person
    # The unpaid invoice follows the amount: cancelled and issued again.
    old, new = state.invoices
    assert old.cancelled_at is not None and old.amount == 250000
    assert new.open and new.amount == 300000 and new.invoice_id != old.invoice_id
    assert {i.invoice_id: i.status for i in store.invoices(deal_id)} == {
        old.invoice_id: "cancelled",
        new.invoice_id: "issued",
    }
    assert state.title == "Romashka LLC / website / 300000 RUB"
    assert desc.typed_search_attributes.get(DEAL_RESPONSIBLE) == "petrov"
    assert desc.typed_search_attributes.get(DEAL_AMOUNT) == 300000.0
    (edited,) = _edits(store, deal_id)
    assert edited["by"] == "smirnova" and edited["via"] == "api" and edited["reason"] == "vacation"
    assert edited["changes"] == {
        "responsible": ["ivanov", "petrov"],
        "amount": ["250000", "300000"],
    }
    assert edited["tasks_moved"] == [task.task_id]


async def test_a_waiting_robot_calls_on_the_new_responsible(
    ts_env: WorkflowEnvironment, store: Store, pusk: Pipeline
) -> None:
    deal_id = new_deal_id("E")
    async with deal_system(ts_env, store) as deals:
        await deals.start(sample_deal(deal_id), pusk)
        await deals.move(deal_id, "negotiation")
        await eventually(
            deals, deal_id, lambda s: any(w.robot_id == "call_again" for w in s.waiting)
        )
        await deals.edit(deal_id, EditDealInput(responsible="petrov"), actor=IVANOV)
        await ts_env.sleep(timedelta(days=16))
        await deals.state(deal_id)
    assert any(m.startswith("Call Anna Petrova") for m in messages_to(store, "petrov", deal_id))
    assert not any(m.startswith("Call") for m in messages_to(store, "ivanov", deal_id))


async def test_a_date_field_edit_moves_its_timer(
    dev_env: WorkflowEnvironment, store: Store, pusk: Pipeline
) -> None:
    deal_id = new_deal_id("E")
    async with deal_system(dev_env, store) as deals:
        await deals.start(sample_deal(deal_id), pusk)
        await deals.update_fields(deal_id, UpdateFieldsInput(fields={"contract_due": "2030-06-20"}))
        await deals.move(deal_id, "contract")

        def reminder_due(state: object) -> object:
            return next(w.due_at for w in state.waiting if w.robot_id == "contract_due_reminder")  # type: ignore[attr-defined]

        before = reminder_due(await eventually(deals, deal_id, lambda s: bool(s.waiting)))
        edit = EditDealInput(fields={"contract_due": "2030-07-22"})
        after = reminder_due(await deals.edit(deal_id, edit, actor=IVANOV))
    assert before.month == 6 and after.month == 7  # type: ignore[attr-defined]
    assert _edits(store, deal_id)[0]["changes"] == {
        "fields.contract_due": ["2030-06-20", "2030-07-22"]
    }


async def test_who_may_edit_and_comment_and_nothing_changes_when_refused(
    dev_env: WorkflowEnvironment, store: Store, pusk: Pipeline
) -> None:
    deal_id = new_deal_id("E")
    async with deal_system(dev_env, store) as deals:
        await deals.start(sample_deal(deal_id), pusk)
        await deals.move(deal_id, "contract")
        before = await eventually(deals, deal_id, lambda s: bool(s.invoices and s.tasks))
        edit = EditDealInput(responsible="sidorova", amount=Decimal(1))
        for actor, why in (
            (PETROV, "petrov cannot edit deal"),
            (KOZLOV, "kozlov cannot edit deal"),
            (FORM, "service lead-form cannot edit"),
        ):
            with pytest.raises(DealRejected, match=why):
                await deals.edit(deal_id, edit, actor=actor)
        with pytest.raises(DealRejected, match="changes nothing"):
            await deals.edit(deal_id, EditDealInput(responsible="ivanov"), actor=IVANOV)
        # An id the directory does not know is refused before the deal hears of it.
        directory = Directory([Employee(id="ivanov", name="Ivanov")])
        with pytest.raises(DealRejected, match="no such employee in the directory: nobody"):
            await deals.edit(deal_id, EditDealInput(responsible="nobody"), directory=directory)
        with pytest.raises(DealRejected, match="kozlov cannot comment on"):
            await deals.comment(deal_id, CommentInput(text="hi"), actor=KOZLOV)
        with pytest.raises(DealRejected, match="a person must"):
            await deals.comment(deal_id, CommentInput(text="hi"))
        after = await deals.state(deal_id)
        assert after.deal == before.deal and after.invoices == before.invoices
        assert after.tasks == before.tasks and after.comments == []
        assert _edits(store, deal_id) == []
        await deals.close(deal_id, CloseInput(outcome=Outcome.LOST, reason="gone"), actor=IVANOV)
        with pytest.raises(DealRejected, match="closed"):
            await deals.edit(deal_id, EditDealInput(service="seo"), actor=IVANOV)


async def test_comments_on_the_deal_and_on_a_task_are_kept_and_recorded(
    dev_env: WorkflowEnvironment, store: Store, pusk: Pipeline
) -> None:
    deal_id = new_deal_id("E")
    async with deal_system(dev_env, store) as deals:
        await deals.start(sample_deal(deal_id), pusk)
        await deals.move(deal_id, "contract")
        task_id = (await eventually(deals, deal_id, lambda s: bool(s.tasks))).tasks[0].task_id
        await deals.comment(deal_id, CommentInput(text="Client asked for a call"), actor=IVANOV)
        on_task = CommentInput(text="Courier sent", task_id=task_id)
        state = await deals.comment(deal_id, on_task, actor=PETROV)
        with pytest.raises(DealRejected, match="has no task"):
            await deals.comment(deal_id, CommentInput(text="x", task_id="9-x"), actor=PETROV)
    assert [(c.by, c.text, c.task_id) for c in state.comments] == [
        ("ivanov", "Client asked for a call", None),
        ("petrov", "Courier sent", task_id),
    ]
    task = state.task(task_id)
    assert task is not None and [(c.by, c.text) for c in task.comments] == [
        ("petrov", "Courier sent")
    ]
    recorded = [e.details for e in store.report_events(deal_id=deal_id) if e.kind == "comment"]
    assert [(d["by"], d["text"], d["task_id"]) for d in recorded] == [
        ("ivanov", "Client asked for a call", None),
        ("petrov", "Courier sent", task_id),
    ]
    _ = DealClient  # the client under test


async def test_the_cli_edits_and_comments_as_an_employee(
    dev_env: WorkflowEnvironment, store: Store, tmp_path: Path, pusk: Pipeline
) -> None:
    db = tmp_path / "funnel.db"
    async with deal_system(dev_env, store) as deals:
        deal_id = new_deal_id("E")
        await deals.start(sample_deal(deal_id), pusk)
        unknown = await funnel(dev_env, db, "deal", "edit", deal_id, "--responsible", "nobody")
        assert unknown.exit_code != 0 and "no such employee in the directory: nobody" in (
            unknown.output
        )
        args = ("--responsible", "petrov", "--amount", "300000", "--as", "smirnova")
        edited = await funnel(dev_env, db, "deal", "edit", deal_id, *args)
        assert edited.exit_code == 0 and "300000 RUB" in edited.output, edited.output
        said = await funnel(dev_env, db, "deal", "comment", deal_id, "call me", "--as", "petrov")
        assert said.exit_code == 0 and "petrov: call me" in said.output, said.output
        state = await deals.state(deal_id)
    assert state.deal.responsible == "petrov" and state.comments[0].via == "cli"
