"""`POST /deals` requests per second over HTTP vs starting deals directly, on one server.

    .venv/bin/python bench/http_api.py [--deals 200] [--concurrency 20] [--rounds 5]

Ways to open the same number of PUSK deals against one dev server and the product's worker,
each ``--concurrency`` at a time, in rounds (every way once per round, the worker's backlog
done before each), median of the rounds; the goal's ratio, ``POST /deals`` over
``start_workflow``, is also taken round by round (the two run back to back) and its median
printed, which holds up better than the ratio of medians when other work shares the machine:

- ``start_workflow``: ``client.start_workflow`` of the deal workflow with its id and task
  queue alone, as the issue measured it (the floor, 1.00);
- ``start_workflow + options``: the same with the search attributes, summary and details the
  product starts a deal with (``start_options``);
- ``DealClient.start``: what the API calls (the start, then the opening state built from the
  input, no round trip to the workflow);
- ``start + state query``: the start, then the ``state`` query, as ``POST /deals`` did before
  (the query waits until a worker has run the deal's first workflow task);
- ``update-with-start``: the start carrying an update (``update_fields`` setting ``source``,
  the cheapest update the workflow has): what answering from an update would cost;
- ``POST /deals``: over HTTP against ``funnel api`` in a process of its own, sent by the
  lean keep-alive client of bench/wire.py; ``POST /deals, httpx``: the same sent by httpx,
  whose own CPU per request (on the cores the server shares) lowers the rate.

The two slow ways (the query and update-with-start) run in the first ``--slow-rounds``
rounds only. Beside each rate, the CPU per deal spent in the timed window by the Temporal
server, the API process, the worker and this driver (two cores for all four), and their sum:
on a saturated machine the rates follow it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx
from temporalio.client import WithStartWorkflowOperation
from temporalio.common import WorkflowIDConflictPolicy

from bench.harness import ROOT, cpu_seconds, free_port, idle, wait_port
from bench.system import System, report, system
from bench.wire import Wire, wire
from funnel.client.deals import DealClient, start_options
from funnel.domain import messages
from funnel.domain.models import (
    DealSnapshot,
    DealWorkflowInput,
    UpdateFieldsInput,
    workflow_id_for,
)
from tests.helpers import sample_deal

TOKEN = "bench-token"
# Ten times slower than the rest: run in the first --slow-rounds rounds only.
SLOW = {"start + state query", "update-with-start"}
One = Callable[[str], Awaitable[object]]  # opens the deal with this id


async def timed(ids: list[str], concurrency: int, one: One) -> float:
    gate = asyncio.Semaphore(concurrency)

    async def limited(deal_id: str) -> None:
        async with gate:
            await one(deal_id)

    began = time.perf_counter()
    await asyncio.gather(*(limited(deal_id) for deal_id in ids))
    return len(ids) / (time.perf_counter() - began)


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


def ways(sys_: System, lean: Wire, http: httpx.AsyncClient) -> dict[str, One]:
    client, queue, pipeline = sys_.client, sys_.ours.task_queue, sys_.pipeline
    deals = DealClient(client, task_queue=queue)

    def start_input(deal_id: str) -> DealWorkflowInput:
        return DealWorkflowInput(deal=sample_deal(deal_id), pipeline=pipeline)

    async def plain(deal_id: str) -> object:
        return await client.start_workflow(
            messages.WORKFLOW_TYPE, start_input(deal_id), id=workflow_id_for(deal_id),
            task_queue=queue,
        )  # fmt: skip

    async def with_options(deal_id: str) -> object:
        options = start_options(sample_deal(deal_id), pipeline)
        return await client.start_workflow(
            messages.WORKFLOW_TYPE, start_input(deal_id), task_queue=queue, **options
        )

    async def client_start(deal_id: str) -> object:
        return await deals.start(sample_deal(deal_id), pipeline)

    async def start_and_query(deal_id: str) -> object:
        await deals.start(sample_deal(deal_id), pipeline)
        return await deals.read(deal_id)

    async def update_with_start(deal_id: str) -> object:
        operation: WithStartWorkflowOperation[Any, Any] = WithStartWorkflowOperation(
            messages.WORKFLOW_TYPE,
            start_input(deal_id),
            task_queue=queue,
            id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
            **start_options(sample_deal(deal_id), pipeline),
        )
        return await client.execute_update_with_start_workflow(
            messages.UPDATE_FIELDS,
            UpdateFieldsInput(fields={"source": "bench"}),
            start_workflow_operation=operation,
            result_type=DealSnapshot,
        )

    async def post(deal_id: str) -> object:
        answer = await lean.post_json("/deals", sample_deal(deal_id).model_dump(mode="json"))
        answer.raise_for_status()
        return answer

    async def post_httpx(deal_id: str) -> object:
        body = sample_deal(deal_id).model_dump(mode="json")
        return (await http.post("/deals", json=body)).raise_for_status()

    # The two ways of the goal run one after the other, so that the load of whatever else
    # shares the machine is alike for both; the slow ways last.
    return {
        "start_workflow": plain,
        "POST /deals": post,
        "start_workflow + options": with_options,
        "DealClient.start": client_start,
        "POST /deals, httpx": post_httpx,
        "start + state query": start_and_query,
        "update-with-start": update_with_start,
    }


def cpu(processes: dict[str, int]) -> dict[str, float]:
    return {name: cpu_seconds(pid) for name, pid in processes.items()} | {
        "driver": time.process_time()
    }


async def main(args: argparse.Namespace) -> None:
    rates: dict[str, list[float]] = {}
    cpu_ms: dict[str, dict[str, list[float]]] = {}
    async with system() as sys_:
        port = free_port()
        api = api_process(sys_, port)
        processes = {"server": sys_.server.pid or 0, "api": api.pid, "worker": sys_.ours.pid}
        try:
            wait_port(port, 60, process=api)
            headers = {"Authorization": f"Bearer {TOKEN}"}
            async with (
                wire(port, args.concurrency, headers) as lean,
                httpx.AsyncClient(
                    base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=60
                ) as http,
            ):
                every = ways(sys_, lean, http)
                for at, (name, one) in enumerate(every.items()):
                    await one(f"warm-{at}")  # imports, connections, the API's first request
                    rates[name], cpu_ms[name] = [], {k: [] for k in [*processes, "driver"]}
                for round_ in range(args.rounds):
                    for at, (name, one) in enumerate(every.items()):
                        if name in SLOW and round_ >= args.slow_rounds:
                            continue
                        await idle(sys_.ours.pid)  # the worker's backlog done
                        ids = [f"r{round_}-w{at}-{i}" for i in range(args.deals)]
                        before = cpu(processes)
                        rates[name].append(await timed(ids, args.concurrency, one))
                        for part, used in cpu(processes).items():
                            cpu_ms[name][part].append((used - before[part]) * 1000 / args.deals)
                    done = ", ".join(f"{k} {v[round_]:.1f}" for k, v in rates.items() if v[round_:])
                    print(f"round {round_ + 1} (deals/s): {done}", flush=True)
        finally:
            api.terminate()
            api.wait(15)
    median = {name: statistics.median(r) for name, r in rates.items()}
    floor, product = median["start_workflow"], median["start_workflow + options"]
    parts = [*processes, "driver"]
    per_deal = {
        name: {part: statistics.median(cpu_ms[name][part]) for part in parts} for name in rates
    }
    head = ["way to open a deal", "deals/s (rounds)", "vs start_workflow", "vs + options"]
    rows: list[tuple[str, ...]] = [(*head, *(f"{part} ms/deal" for part in parts), "all")]
    for name in rates:
        rows.append(
            (
                name,
                f"{median[name]:.1f} ({', '.join(f'{r:.1f}' for r in rates[name])})",
                f"{median[name] / floor:.2f}",
                f"{median[name] / product:.2f}",
                *(f"{per_deal[name][part]:.2f}" for part in parts),
                f"{sum(per_deal[name].values()):.2f}",
            )
        )
    # The goal's ratio round by round: each pair ran seconds apart, under the same load.
    paired = [p / s for p, s in zip(rates["POST /deals"], rates["start_workflow"], strict=True)]
    print(
        f"POST /deals / start_workflow by round: {', '.join(f'{r:.2f}' for r in paired)};"
        f" median {statistics.median(paired):.2f}"
    )
    figures = {"deals": args.deals, "concurrency": args.concurrency, "rounds": rates}
    figures |= {"median": median, "paired_ratio": paired, "cpu_ms_per_deal": cpu_ms}
    for name in ("start_workflow", "start_workflow + options"):
        ratio = sum(per_deal[name].values()) / sum(per_deal["POST /deals"].values())
        print(f"CPU per deal, all four processes, {name} / POST /deals: {ratio:.2f}")
    report("http_api", rows, figures)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--deals", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--slow-rounds", type=int, default=1, help="rounds with the slow ways")
    asyncio.run(main(parser.parse_args()))
