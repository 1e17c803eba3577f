"""``funnel demo``: sample deals through the two shipped funnels so a newcomer sees them work.

PUSK's funnel: deal 1 walks every stage to won (acceptance, proposal, negotiation, the
head-confirmed contract task, the invoice paid, the task set); deal 2 is paid before it
reaches payment and then lost; deal 3 stays in the proposal stage with its deadline and task
waiting. The repeat-sales funnel and moves between the two: starter/demo_funnels.py.
"""

from __future__ import annotations

import asyncio
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
from funnel.runtime.pipelines import Pipelines

PUSK, REPEAT_SALES = "pusk", "repeat_sales"  # the shipped funnels (pipelines/)


class DemoResult(BaseModel):
    deal_id: str
    title: str
    pipeline: str
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


Step = tuple[str, Callable[[], Awaitable[object]]]


class Demo:
    """One demo run: walks deals through their steps and says what happened to each."""

    def __init__(self, client: DealClient, *, echo: bool) -> None:
        self.client = client
        self.echo = echo
        self.run = datetime.now(UTC).strftime("%Y%m%d%H%M%S")
        self.results: list[DemoResult] = []

    def deal_id(self, n: int) -> str:
        return f"demo-{self.run}-{n}"

    async def walk(self, deal: DealInput, pipeline: Pipeline, steps: list[Step]) -> None:
        client = self.client
        done: list[str] = []
        await client.start(deal, pipeline)
        for label, step in steps:
            await step()
            done.append(label)
        state = await client.state(deal.deal_id)
        result = DemoResult(
            deal_id=deal.deal_id,
            title=state.title,
            pipeline=state.pipeline_id,
            stage=state.stage,
            status=state.status.value,
            steps=done,
            web_ui=client.ui_link(deal.deal_id),
        )
        self.results.append(result)
        if self.echo:
            where = f"{result.pipeline}/{result.stage}"
            click.echo(f"{result.deal_id}: {result.title} -> {where} ({result.status})")
            for label in done:
                click.echo(f"    {label}")
            if result.web_ui:
                click.echo(f"    {result.web_ui}")

    async def open_task(self, deal_id: str, stage: str) -> str:
        state: DealState = await self.client.state(deal_id)
        return next(
            t.task_id for t in state.tasks if t.stage == stage and t.status is not TaskStatus.DONE
        )

    async def finish_tasks(self, deal_id: str, stage: str, won: str = "won") -> None:
        """Run the task set of the service sold and complete its tasks as they appear
        (a website's are kick-off -> design -> launch, each created when the one it
        depends on is done), until the deal is won."""
        client = self.client
        await client.run_template(deal_id, by="ivanov")
        while (state := await client.state(deal_id)).stage != won:
            for task in state.tasks:
                if task.stage == stage and task.status is TaskStatus.OPEN:
                    await client.task_event(
                        deal_id,
                        TaskEvent(task_id=task.task_id, action=TaskAction.COMPLETE, by="ivanov"),
                    )

    async def pay_first_invoice(self, deal_id: str, waits_in: str, then: str) -> None:
        await wait_stage(self.client, deal_id, waits_in)
        state = await self.client.state(deal_id)
        paid = InvoicePaid(invoice_id=state.invoices[0].invoice_id)
        await self.client.invoice_paid(deal_id, paid)
        await wait_stage(self.client, deal_id, then)


async def run_demo(client: DealClient, pipelines: Pipelines, *, echo: bool) -> list[DemoResult]:
    """The PUSK deals, then (when the repeat-sales funnel is loaded too) the deals of the
    second funnel and those moving between the two."""
    demo = Demo(client, echo=echo)
    pusk = pipelines.get(PUSK) if PUSK in pipelines else pipelines.default
    await pusk_deals(demo, pusk)
    if PUSK in pipelines and REPEAT_SALES in pipelines:
        from starter.demo_funnels import repeat_sales_deals

        await repeat_sales_deals(demo, pusk, pipelines.get(REPEAT_SALES))
    return demo.results


async def pusk_deals(demo: Demo, pipeline: Pipeline) -> None:
    client = demo.client
    won = demo_deal(demo.deal_id(1), "Romashka LLC", "website", "250000")
    wid = won.deal_id

    async def contract_task_done() -> None:
        task_id = await demo.open_task(wid, "contract")
        await client.task_completed(wid, TaskCompleted(task_id=task_id, by="ivanov"))
        await client.task_completed(wid, TaskCompleted(task_id=task_id, by="smirnova"))

    await demo.walk(
        won,
        pipeline,
        [
            ("accepted by the responsible", lambda: client.accept(wid, by="ivanov")),
            ("moved to proposal", lambda: client.move(wid, "proposal", by="ivanov")),
            ("moved to negotiation", lambda: client.move(wid, "negotiation", by="ivanov")),
            ("moved to contract", lambda: client.move(wid, "contract", by="ivanov")),
            ("contract task done and confirmed by the head", contract_task_done),
            (
                "invoice paid: moved to final by itself",
                lambda: demo.pay_first_invoice(wid, "payment", "final"),
            ),
            ("task set run and done: won", lambda: demo.finish_tasks(wid, "final")),
        ],
    )

    lost = demo_deal(demo.deal_id(2), "Vasilek JSC", "consulting", "90000")
    lid = lost.deal_id
    await demo.walk(
        lost,
        pipeline,
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

    waiting = demo_deal(demo.deal_id(3), "Landysh Ltd", "website", "180000")
    pid = waiting.deal_id
    await demo.walk(
        waiting,
        pipeline,
        [
            ("accepted", lambda: client.accept(pid, by="ivanov")),
            (
                "moved to proposal: task and deadline waiting",
                lambda: client.move(pid, "proposal", by="ivanov"),
            ),
        ],
    )


async def wait_stage(client: DealClient, deal_id: str, stage: str) -> None:
    for _ in range(200):
        if (await client.state(deal_id)).stage == stage:
            return
        await asyncio.sleep(0.05)
    raise RuntimeError(f"deal {deal_id} did not reach {stage}")
