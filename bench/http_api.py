"""`POST /deals` requests per second over HTTP vs starting deals directly, on one server.

    .venv/bin/python bench/http_api.py [--deals 300] [--concurrency 20]

Three ways to open the same number of PUSK deals, in this order: ``client.start_workflow``
alone (the engine's floor), ``DealClient.start`` (start, then query the state, as the API
does), and ``POST /deals`` against ``funnel api`` running in a process of its own (the
HTTP API of issue 6, in ``api/``). Ratios are against ``start_workflow``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx

from bench.harness import ROOT, free_port, idle, wait_port
from bench.system import System, report, system
from funnel.client.deals import DealClient
from funnel.domain.models import DealWorkflowInput, workflow_id_for
from tests.helpers import sample_deal

TOKEN = "bench-token"


async def timed(n: int, concurrency: int, one: Callable[[int], Awaitable[None]]) -> float:
    gate = asyncio.Semaphore(concurrency)

    async def limited(i: int) -> None:
        async with gate:
            await one(i)

    began = time.perf_counter()
    await asyncio.gather(*(limited(i) for i in range(n)))
    return n / (time.perf_counter() - began)


def api_process(sys_: System, port: int) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    env.update(
        TEMPORAL_ADDRESS=sys_.server.address,
        FUNNEL_TASK_QUEUE=sys_.ours.task_queue,
        FUNNEL_DATABASE_URL=sys_.ours.db_url or "",
        FUNNEL_API_TOKENS=json.dumps({TOKEN: ["deals:read", "deals:write"]}),
        FUNNEL_HOME=str(sys_.home),
    )
    command = [sys.executable, "-c", "from starter.cli import main; main()", "api"]
    log = (sys_.home / "api.log").open("ab")
    return subprocess.Popen(
        [*command, "--port", str(port)], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
    )


async def main(args: argparse.Namespace) -> None:
    rates: dict[str, float] = {}
    async with system() as sys_:
        queue = sys_.ours.task_queue

        async def direct(i: int) -> None:
            deal_id = f"st-{i}"
            await sys_.client.start_workflow(
                "DealWorkflow",
                DealWorkflowInput(deal=sample_deal(deal_id), pipeline=sys_.pipeline),
                id=workflow_id_for(deal_id),
                task_queue=queue,
            )

        rates["start_workflow"] = await timed(args.deals, args.concurrency, direct)
        await idle(sys_.ours.pid)  # the worker's backlog done: each way starts from quiet
        deals = DealClient(sys_.client, task_queue=queue)

        async def client_start(i: int) -> None:
            await deals.start(sample_deal(f"dc-{i}"), sys_.pipeline)

        rates["DealClient.start"] = await timed(args.deals, args.concurrency, client_start)
        await idle(sys_.ours.pid)
        port = free_port()
        api = api_process(sys_, port)
        try:
            wait_port(port, 60, process=api)
            headers = {"Authorization": f"Bearer {TOKEN}"}
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60) as http:

                async def post(i: int) -> None:
                    body = sample_deal(f"http-{i}").model_dump(mode="json")
                    response = await http.post("/deals", json=body, headers=headers)
                    response.raise_for_status()

                rates["POST /deals"] = await timed(args.deals, args.concurrency, post)
        finally:
            api.terminate()
            api.wait(15)
    floor = rates["start_workflow"]
    rows = [("way to open a deal", "deals/s", "vs start_workflow")]
    rows += [(k, f"{v:.1f}", f"{v / floor:.2f}") for k, v in rates.items()]
    report("http_api", rows, {"deals": args.deals, "concurrency": args.concurrency, **rates})


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--deals", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=20)
    asyncio.run(main(parser.parse_args()))
