"""``funnel demo``, the second funnel: a repeat order of an existing client walked through
the repeat-sales funnel to won, a PUSK deal a manager moves to repeat sales (it is a repeat
order after all), and a repeat request that is a new project, which the repeat-sales
funnel's ``move_to_funnel`` robot sends to PUSK's proposal stage by itself."""

from __future__ import annotations

import asyncio

from funnel.domain.pipeline import Pipeline
from starter.demo import Demo, demo_deal, wait_stage


async def repeat_sales_deals(demo: Demo, pusk: Pipeline, repeat_sales: Pipeline) -> None:
    client = demo.client
    again = demo_deal(demo.deal_id(4), "Romashka LLC", "support", "60000")
    aid = again.deal_id
    await demo.walk(
        again,
        repeat_sales,
        [
            ("accepted: the order is agreed", lambda: client.accept(aid, by="ivanov")),
            ("moved to invoice: invoice issued", lambda: client.move(aid, "invoice", by="ivanov")),
            (
                "invoice paid: moved to fulfilment by itself",
                lambda: demo.pay_first_invoice(aid, "invoice", "final"),
            ),
            ("task set run and done: won", lambda: demo.finish_tasks(aid, "final")),
        ],
    )

    moved = demo_deal(demo.deal_id(5), "Kolokolchik LLC", "website", "120000")
    mid = moved.deal_id
    await demo.walk(
        moved,
        pusk,
        [
            ("accepted in PUSK's funnel", lambda: client.accept(mid, by="ivanov")),
            (
                "moved by the manager to repeat sales, stage order: its reminder waits",
                lambda: client.move_to_funnel(
                    mid, repeat_sales, "order", "an existing client's repeat order", "ivanov"
                ),
            ),
        ],
    )

    project = demo_deal(demo.deal_id(6), "Romashka LLC", "website", "300000")
    project = project.model_copy(update={"fields": {**project.fields, "new_project": True}})
    pid = project.deal_id

    async def routed() -> None:
        await wait_stage(client, pid, "proposal")
        while (await client.state(pid)).pipeline_id != pusk.id:
            await asyncio.sleep(0.05)

    await demo.walk(
        project,
        repeat_sales,
        [("a new project: moved by the robot to PUSK's proposal, its task made", routed)],
    )
