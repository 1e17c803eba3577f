"""``funnel demo``: sample deals through the PUSK funnel so a newcomer sees it work.

Deal 1 walks every stage to won (acceptance, proposal, negotiation, the head-confirmed
contract task, the invoice paid, the task set); deal 2 is paid before it reaches payment and
then lost; deal 3 stays in the proposal stage with its deadline and task waiting.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from decimal import Decimal

import click
from pydantic import BaseModel

from funnel.client.deals import DealClient
from funnel.domain.models import (
    CloseInput,
    Contact,
    DealInput,
    DealState,
    InvoicePaid,
    Outcome,
    TaskAction,
    TaskCompleted,
    TaskEvent,
    TaskStatus,
)
from funnel.domain.pipeline import Pipeline


class DemoResult(BaseModel):
    deal_id: str
    title: str
    stage: str
    status: str
    steps: list[str]
    web_ui: str | None = None


def demo_deal(deal_id: str, company: str, service: str, amount: str) -> DealInput:
    return DealInput(
        deal_id=deal_id,
        contact=Contact(
            name="Anna Petrova", company=company, phone="+7 900 000-00-00", email="anna@example.com"
        ),
        responsible="ivanov",
        department_head="smirnova",
        sales_team=["petrov", "sidorova"],
        service=service,
        amount=Decimal(amount),
        currency="RUB",
        fields={"source": "demo"},
    )


async def run_demo(client: DealClient, pipeline: Pipeline, *, echo: bool) -> list[DemoResult]:
    run = datetime.now(UTC).strftime("%Y%m%d%H%M%S")
    results: list[DemoResult] = []

    async def walk(
        deal: DealInput, steps: list[tuple[str, Callable[[], Awaitable[object]]]]
    ) -> None:
        done: list[str] = []
        state = await client.start(deal, pipeline)
        for label, step in steps:
            await step()
            done.append(label)
        state = await client.state(deal.deal_id)
        result = DemoResult(
            deal_id=deal.deal_id,
            title=state.title,
            stage=state.stage,
            status=state.status.value,
            steps=done,
            web_ui=client.ui_link(deal.deal_id),
        )
        results.append(result)
        if echo:
            click.echo(f"{result.deal_id}: {result.title} -> {result.stage} ({result.status})")
            for label in done:
                click.echo(f"    {label}")
            if result.web_ui:
                click.echo(f"    {result.web_ui}")

    async def open_task(deal_id: str, stage: str) -> str:
        state: DealState = await client.state(deal_id)
        return next(
            t.task_id for t in state.tasks if t.stage == stage and t.status is not TaskStatus.DONE
        )

    won = demo_deal(f"demo-{run}-1", "Romashka LLC", "website", "250000")
    wid = won.deal_id

    async def contract_task_done() -> None:
        task_id = await open_task(wid, "contract")
        await client.task_completed(wid, TaskCompleted(task_id=task_id, by="ivanov"))
        await client.task_completed(wid, TaskCompleted(task_id=task_id, by="smirnova"))

    async def invoice_paid() -> None:
        await _wait_stage(client, wid, "payment")
        state = await client.state(wid)
        await client.invoice_paid(wid, InvoicePaid(invoice_id=state.invoices[0].invoice_id))
        await _wait_stage(client, wid, "final")

    async def finish_tasks() -> None:
        # The website set is kick-off -> design -> launch: each is created when the one it
        # depends on is done, so complete them as they appear.
        await client.run_template(wid, by="ivanov")
        while (state := await client.state(wid)).stage != "won":
            for task in state.tasks:
                if task.stage == "final" and task.status is TaskStatus.OPEN:
                    await client.task_event(
                        wid,
                        TaskEvent(task_id=task.task_id, action=TaskAction.COMPLETE, by="ivanov"),
                    )

    await walk(
        won,
        [
            ("accepted by the responsible", lambda: client.accept(wid, by="ivanov")),
            ("moved to proposal", lambda: client.move(wid, "proposal", by="ivanov")),
            ("moved to negotiation", lambda: client.move(wid, "negotiation", by="ivanov")),
            ("moved to contract", lambda: client.move(wid, "contract", by="ivanov")),
            ("contract task done and confirmed by the head", contract_task_done),
            ("invoice paid: moved to final by itself", invoice_paid),
            ("task set run and done: won", finish_tasks),
        ],
    )

    lost = demo_deal(f"demo-{run}-2", "Vasilek JSC", "consulting", "90000")
    lid = lost.deal_id
    await walk(
        lost,
        [
            ("accepted", lambda: client.accept(lid, by="ivanov")),
            (
                "invoice paid early (kept until payment)",
                lambda: client.invoice_paid(
                    lid, InvoicePaid(invoice_id="EARLY-1", prepayment=True)
                ),
            ),
            ("moved to negotiation", lambda: client.move(lid, "negotiation", by="ivanov")),
            (
                "lost: the client chose a competitor",
                lambda: client.close(
                    lid, CloseInput(outcome=Outcome.LOST, reason="chose a competitor", by="ivanov")
                ),
            ),
        ],
    )

    waiting = demo_deal(f"demo-{run}-3", "Landysh Ltd", "website", "180000")
    pid = waiting.deal_id
    await walk(
        waiting,
        [
            ("accepted", lambda: client.accept(pid, by="ivanov")),
            (
                "moved to proposal: task and deadline waiting",
                lambda: client.move(pid, "proposal", by="ivanov"),
            ),
        ],
    )
    return results


async def _wait_stage(client: DealClient, deal_id: str, stage: str) -> None:
    import asyncio

    for _ in range(200):
        if (await client.state(deal_id)).stage == stage:
            return
        await asyncio.sleep(0.05)
    raise RuntimeError(f"deal {deal_id} did not reach {stage}")
