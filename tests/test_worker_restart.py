"""A worker stopped mid-deal and a new one started: the deal goes on from where it was
(its history is replayed) and nothing is lost or sent twice."""

from __future__ import annotations

from collections import Counter

from temporalio.testing import WorkflowEnvironment

from funnel.client.deals import DealClient
from funnel.domain.models import InvoicePaid, TaskCompleted
from funnel.domain.pipeline import Pipeline
from funnel.storage.store import Store
from tests.helpers import in_stage, sample_deal
from tests.temporal_fixtures import new_deal_id, new_task_queue, running_worker


async def test_worker_restart_mid_deal_loses_nothing_and_repeats_nothing(
    dev_env: WorkflowEnvironment, store: Store, pusk: Pipeline
) -> None:
    deal_id = new_deal_id()
    task_queue = new_task_queue()
    deals = DealClient(dev_env.client, task_queue=task_queue)

    async with running_worker(dev_env.client, store, task_queue):
        await deals.start(sample_deal(deal_id), pusk)
        await deals.accept(deal_id)
        state = await deals.move(deal_id, "contract")
    contract_task = state.tasks[-1].task_id

    # No worker runs now: the messages wait in the deal's history.
    await deals.task_completed(deal_id, TaskCompleted(task_id=contract_task, by="smirnova"))
    await deals.invoice_paid(deal_id, InvoicePaid(invoice_id=state.invoices[0].invoice_id))

    async with running_worker(dev_env.client, store, task_queue):
        state = await in_stage(deals, deal_id, "final")

    assert [v.stage for v in state.visits] == ["new", "in_progress", "contract", "payment", "final"]
    assert [v.cause for v in state.visits[-2:]] == ["tasks_done", "invoice_paid"]
    keys = Counter(
        n.key for person in ("ivanov", "smirnova", "petrov") for n in store.inbox(person)
    )
    assert keys and max(keys.values()) == 1
    assert len(store.tasks(deal_id=deal_id)) == 1
    assert [(i.invoice_id, i.status) for i in store.invoices(deal_id)] == [(f"{deal_id}-3", "paid")]
    entered = [e.stage for e in store.report_events(deal_id=deal_id) if e.kind == "stage_entered"]
    assert entered == ["new", "in_progress", "contract", "payment", "final"]
