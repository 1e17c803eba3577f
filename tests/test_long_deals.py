"""A deal that lives long or takes many messages continues-as-new before the history limits,
carrying its state, pending events, waiting timers and de-duplication keys with nothing lost
(shown with a lowered limit)."""

from __future__ import annotations

from datetime import timedelta

from temporalio.testing import WorkflowEnvironment

from funnel.domain.models import InvoicePaid
from funnel.storage.store import Store
from tests.helpers import (
    eventually,
    messages_to,
    mini_pipeline,
    notify,
    sample_deal,
    start_with_history_limit,
)
from tests.temporal_fixtures import deal_system, new_deal_id


async def test_many_moves_continue_as_new_and_lose_nothing(
    ts_env: WorkflowEnvironment, store: Store
) -> None:
    pipeline = mini_pipeline(
        [
            {"id": "a", "name": "A", "robots": [notify("in_a")]},
            {
                "id": "b",
                "name": "B",
                "robots": [notify("in_b")],
                "deadline": {"after": "10 days", "escalate": [notify("late_b", to=["head"])]},
            },
            {"id": "pay", "name": "Pay", "triggers": [{"event": "invoice_paid", "to": "won"}]},
        ]
    )
    deal_id = new_deal_id()
    async with deal_system(ts_env, store) as deals:
        # Continue-as-new after ~60 events.
        await start_with_history_limit(ts_env, deals, sample_deal(deal_id), pipeline, 60)
        await deals.invoice_paid(
            deal_id, InvoicePaid(invoice_id="EARLY", prepayment=True)
        )  # kept for `pay`
        for _ in range(6):
            await deals.move(deal_id, "b")
            await deals.move(deal_id, "a")
        await deals.move(deal_id, "b")
        state = await eventually(deals, deal_id, lambda s: s.runs > 1 and bool(s.waiting))
        assert [w.robot_id for w in state.waiting] == ["deadline"]  # carried over
        # The duplicate of an invoice paid in an earlier run is still recognised.
        await deals.invoice_paid(deal_id, InvoicePaid(invoice_id="EARLY", prepayment=True))
        # The deadline armed before continue-as-new still fires in the new run.
        await ts_env.sleep(timedelta(days=11))
        state = await eventually(deals, deal_id, lambda s: s.breached)
        await deals.move(deal_id, "pay")
        state = await eventually(deals, deal_id, lambda s: s.stage == "won")
        result = await deals.result(deal_id)
    assert result.status.value == "won"
    assert state.runs > 1
    assert [v.stage for v in state.visits][-3:] == ["b", "pay", "won"]
    assert len(state.visits) == 1 + 13 + 2  # every visit of every run is kept
    assert [i.invoice_id for i in state.invoices] == ["EARLY"]
    assert messages_to(store, "ivanov", deal_id) == [
        "in_a ran",
        *(["in_b ran", "in_a ran"] * 6),
        "in_b ran",
    ]
    assert messages_to(store, "smirnova", deal_id) == ["late_b ran"]
