"""A deal through the PUSK funnel on the real Temporal dev server, with the store checked
for exactly-once side effects."""

from __future__ import annotations

from collections import Counter

import pytest
from temporalio.testing import WorkflowEnvironment

from funnel.client.deals import BadFilter, DealRejected
from funnel.domain.models import (
    CloseInput,
    DealStatus,
    InvoicePaid,
    Outcome,
    TaskAction,
    TaskCompleted,
    TaskEvent,
    TaskStatus,
)
from funnel.domain.pipeline import Pipeline
from funnel.storage.store import Store
from tests.helpers import eventually, in_stage, keep_history, sample_deal
from tests.temporal_fixtures import deal_system, new_deal_id

SEVEN = ["new", "in_progress", "proposal", "negotiation", "contract", "payment", "final"]


async def test_deal_walks_all_seven_stages_to_won(
    dev_env: WorkflowEnvironment, store: Store, pusk: Pipeline
) -> None:
    deal_id = new_deal_id()
    async with deal_system(dev_env, store) as deals:
        state = await deals.start(sample_deal(deal_id), pusk)
        assert state.stage == "new"
        state = await deals.accept(deal_id, by="ivanov")
        assert state.stage == "in_progress" and state.accepted_at is not None
        await deals.move(deal_id, "proposal")
        state = await deals.state(deal_id)
        assert state.title.startswith("!!! PROPOSAL: Romashka LLC")
        await deals.move(deal_id, "negotiation")
        state = await deals.move(deal_id, "contract")
        contract_task = next(t for t in state.tasks if t.stage == "contract")
        assert contract_task.created_by == "smirnova" and contract_task.needs_confirmation

        # The executor's "done" is not enough: the head must confirm the signed contract.
        await deals.task_completed(
            deal_id, TaskCompleted(task_id=contract_task.task_id, by="ivanov")
        )
        state = await eventually(
            deals,
            deal_id,
            lambda s: s.task(contract_task.task_id).status is TaskStatus.AWAITING_CONFIRMATION,  # type: ignore[union-attr]
        )
        assert state.stage == "contract"
        await deals.task_completed(
            deal_id, TaskCompleted(task_id=contract_task.task_id, by="smirnova")
        )
        state = await in_stage(deals, deal_id, "payment")
        invoice = state.invoices[0]
        assert invoice.invoice_id == f"{deal_id}-5" and invoice.paid_at is None

        await deals.invoice_paid(deal_id, InvoicePaid(invoice_id=invoice.invoice_id))
        await in_stage(deals, deal_id, "final")
        tasks = await deals.run_template(deal_id, by="ivanov")
        assert [t.task_id for t in tasks] == ["7-kickoff"]  # design waits for the kick-off
        assert await deals.run_template(deal_id) == tasks  # a second run creates nothing
        for step, created in (("kickoff", "design"), ("design", "launch"), ("launch", None)):
            done = TaskEvent(task_id=f"7-{step}", action=TaskAction.COMPLETE, by="ivanov")
            await deals.task_event(deal_id, done)
            state = await deals.state(deal_id)
            if created is not None:
                assert state.task(f"7-{created}") is not None and state.stage == "final"
        state = await in_stage(deals, deal_id, "won")
        result = await deals.result(deal_id)
        await keep_history(deals, deal_id, "pusk_all_stages_won")

    assert result.status is DealStatus.WON
    assert [v.stage for v in state.visits] == [*SEVEN, "won"]
    assert all(v.exited_at is not None for v in state.visits[:-1])
    assert [v.cause for v in state.visits] == [
        "start",
        "accepted",
        "moved",
        "moved",
        "moved",
        "tasks_done",
        "invoice_paid",
        "tasks_done",
    ]

    record = store.get_deal(deal_id)
    assert record is not None
    assert record.status == "won" and record.stage == "won" and record.closed_at is not None
    assert record.title == "Romashka LLC / website / 250000 RUB"
    # Every notification exactly once per robot and recipient.
    inbox_ivanov = Counter(n.key for n in store.inbox("ivanov"))
    assert all(count == 1 for count in inbox_ivanov.values())
    assert any(":1:notify_new:" in key for key in inbox_ivanov)
    assert any(":8:notify_won:" in key for key in inbox_ivanov)
    assert {n.key.split(":")[2] for n in store.inbox("petrov")} == {"notify_paid"}
    entered = [e.stage for e in store.report_events(deal_id=deal_id) if e.kind == "stage_entered"]
    assert entered == [*SEVEN, "won"]
    assert [i.status for i in store.invoices(deal_id)] == ["paid"]
    assert len(store.tasks(deal_id=deal_id)) == 5  # proposal, contract and three from the set


async def test_invoice_paid_early_takes_effect_in_payment(
    dev_env: WorkflowEnvironment, store: Store, pusk: Pipeline
) -> None:
    deal_id = new_deal_id()
    async with deal_system(dev_env, store) as deals:
        await deals.start(sample_deal(deal_id), pusk)
        await deals.invoice_paid(deal_id, InvoicePaid(invoice_id="PAY-1", prepayment=True))
        state = await eventually(deals, deal_id, lambda s: bool(s.invoices))
        assert state.stage == "new"  # kept, not acted on: new has no payment trigger
        await deals.move(deal_id, "contract")
        state = await deals.move(deal_id, "payment")
        state = await in_stage(deals, deal_id, "final")
    paid = state.invoice("PAY-1")
    assert paid is not None and paid.applied_in_seq == 3
    assert state.visits[-1].cause == "invoice_paid"


async def test_duplicate_invoice_paid_changes_nothing(
    dev_env: WorkflowEnvironment, store: Store, pusk: Pipeline
) -> None:
    deal_id = new_deal_id()
    async with deal_system(dev_env, store) as deals:
        await deals.start(sample_deal(deal_id), pusk)
        await deals.move(deal_id, "payment")
        await deals.invoice_paid(deal_id, InvoicePaid(invoice_id="PAY-1", prepayment=True))
        first = await in_stage(deals, deal_id, "final")
        await deals.invoice_paid(deal_id, InvoicePaid(invoice_id="PAY-1", prepayment=True))
        await deals.move(deal_id, "payment")  # a later visit to payment: PAY-1 is used up
        await deals.invoice_paid(deal_id, InvoicePaid(invoice_id="PAY-1", prepayment=True))
        state = await eventually(deals, deal_id, lambda s: s.stage == "payment")
    assert len(state.invoices) == 1 and len(first.invoices) == 1
    assert state.invoices[0].paid_at == first.invoices[0].paid_at
    assert [v.stage for v in state.visits] == ["new", "payment", "final", "payment"]
    assert [i.status for i in store.invoices(deal_id)] == ["paid"]


async def test_move_back_and_reentry_runs_the_stage_again(
    dev_env: WorkflowEnvironment, store: Store, pusk: Pipeline
) -> None:
    deal_id = new_deal_id()
    async with deal_system(dev_env, store) as deals:
        await deals.start(sample_deal(deal_id), pusk)
        await deals.move(deal_id, "proposal")
        await deals.move(deal_id, "in_progress", reason="client changed the brief")
        state = await deals.move(deal_id, "proposal")
        await keep_history(deals, deal_id, "pusk_move_back_reentry")
    assert [v.stage for v in state.visits] == ["new", "proposal", "in_progress", "proposal"]
    proposal_tasks = [t for t in state.tasks if t.stage == "proposal"]
    assert [t.task_id for t in proposal_tasks] == [
        "2-prepare_proposal_task",
        "4-prepare_proposal_task",
    ]
    assert len(store.tasks(deal_id=deal_id)) == 2
    # Only the current visit's deadline is armed.
    assert state.visits[1].exited_at is not None and state.visits[3].exited_at is None


@pytest.mark.parametrize("stage", SEVEN)
async def test_lost_from_any_stage(
    dev_env: WorkflowEnvironment, store: Store, pusk: Pipeline, stage: str
) -> None:
    deal_id = new_deal_id()
    async with deal_system(dev_env, store) as deals:
        await deals.start(sample_deal(deal_id), pusk)
        if stage != "new":
            await deals.move(deal_id, stage)
        state = await deals.move(deal_id, "lost", reason="budget cut")
        result = await deals.result(deal_id)
        await keep_history(deals, deal_id, f"pusk_lost_from_{stage}")
    assert result.status is DealStatus.LOST and result.lost_reason == "budget cut"
    assert state.visits[-2].stage == stage
    record = store.get_deal(deal_id)
    assert record is not None and record.status == "lost" and record.lost_reason == "budget cut"
    assert any("budget cut" in n.message for n in store.inbox("smirnova"))


async def test_invalid_updates_are_rejected_before_history(
    dev_env: WorkflowEnvironment, store: Store, pusk: Pipeline
) -> None:
    deal_id = new_deal_id()
    async with deal_system(dev_env, store) as deals:
        await deals.start(sample_deal(deal_id), pusk)
        with pytest.raises(DealRejected, match=r"unknown stage 'nowhere'.*new, in_progress"):
            await deals.move(deal_id, "nowhere")
        with pytest.raises(DealRejected, match="already in stage 'new'"):
            await deals.move(deal_id, "new")
        with pytest.raises(DealRejected, match="needs a reason"):
            await deals.move(deal_id, "lost")
        with pytest.raises(DealRejected, match="no task template"):
            await deals.run_template(deal_id)
        await deals.move(deal_id, "proposal")
        with pytest.raises(DealRejected, match="nothing to accept"):
            await deals.accept(deal_id)
        await deals.close(deal_id, CloseInput(outcome=Outcome.WON))
        with pytest.raises(DealRejected, match="closed"):
            await deals.move(deal_id, "new")
        history = await deals.history(deal_id)
    accepted_updates = [
        e
        for e in history.events
        if e.HasField("workflow_execution_update_accepted_event_attributes")
    ]
    assert len(accepted_updates) == 2  # the move to proposal and the close, nothing else


async def test_listing_refuses_a_filter_with_a_control_character(
    dev_env: WorkflowEnvironment, store: Store
) -> None:
    # A NUL cut the server's visibility query short; the CLI shows this message.
    async with deal_system(dev_env, store) as deals:
        with pytest.raises(BadFilter, match="control character"):
            await deals.list(responsible="ivanov\x00")
