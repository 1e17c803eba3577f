"""Worker memory with N open deals (default 10,000) waiting on timers, ours / bare.

    .venv/bin/python bench/memory.py [--deals 10000] [--cache 1000]

Starts N PUSK deals and N bare ones; each runs its first stage and then waits on its
deadline timer. Once a worker has gone idle (no CPU used for 3 s) its resident memory is
read from /proc. A worker keeps at most ``max_cached_workflows`` deals in memory (the SDK
default is 1,000; ``--cache`` sets it for both workers): the others are evicted and
replayed from history when their timer fires or a message comes, so memory is bounded by
the cache, not by the number of open deals.
"""

from __future__ import annotations

import argparse
import asyncio
import shlex
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.bare import BareInput
from bench.harness import idle, rss_mib
from bench.system import System, report, system
from funnel.domain.models import DealWorkflowInput, workflow_id_for
from tests.helpers import sample_deal


async def open_deals(sys_: System, kind: str, n: int) -> float:
    gate = asyncio.Semaphore(50)

    async def begin(i: int) -> None:
        deal_id = f"mem-{kind}-{i}"
        if kind == "ours":
            arg: object = DealWorkflowInput(deal=sample_deal(deal_id), pipeline=sys_.pipeline)
            queue, workflow = sys_.ours.task_queue, "DealWorkflow"
        else:
            arg, queue, workflow = BareInput(deal_id=deal_id), sys_.bare.task_queue, "BareDeal"
        async with gate:
            await sys_.client.start_workflow(
                workflow, arg, id=workflow_id_for(deal_id), task_queue=queue
            )

    began = time.perf_counter()
    await asyncio.gather(*(begin(i) for i in range(n)))
    await idle((sys_.ours if kind == "ours" else sys_.bare).pid)
    return time.perf_counter() - began


async def main(args: argparse.Namespace) -> None:
    extra = ["--cache", str(args.cache)]
    rss: dict[str, tuple[float, float]] = {}
    seconds: dict[str, float] = {}
    ours_extra = [*extra, *shlex.split(args.ours_extra)]
    async with system(ours_extra=ours_extra, bare_extra=extra) as sys_:
        for kind in ("bare", "ours"):
            pid = (sys_.ours if kind == "ours" else sys_.bare).pid
            before = rss_mib(pid)
            seconds[kind] = await open_deals(sys_, kind, args.deals)
            rss[kind] = (before, rss_mib(pid))
            print(f"{kind}: {rss[kind][0]:.0f} -> {rss[kind][1]:.0f} MiB", flush=True)
        server_rss = rss_mib(sys_.server.pid or 0)
    grow = {k: v[1] - v[0] for k, v in rss.items()}
    rows = [
        ("figure", "ours", "bare", "ours/bare"),
        (
            f"worker RSS, {args.deals} open deals (MiB)",
            f"{rss['ours'][1]:.0f}",
            f"{rss['bare'][1]:.0f}",
            f"{rss['ours'][1] / rss['bare'][1]:.2f}",
        ),
        (
            "growth over the idle worker (MiB)",
            f"{grow['ours']:.0f}",
            f"{grow['bare']:.0f}",
            f"{grow['ours'] / max(grow['bare'], 1):.2f}",
        ),
        ("seconds to open them", f"{seconds['ours']:.0f}", f"{seconds['bare']:.0f}", ""),
    ]
    report(
        "memory",
        rows,
        {
            "deals": args.deals,
            "max_cached_workflows": args.cache,
            "rss_mib": rss,
            "server_rss_mib": round(server_rss),
            "open_seconds": seconds,
        },
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--deals", type=int, default=10_000)
    parser.add_argument("--cache", type=int, default=1000, help="max_cached_workflows")
    parser.add_argument("--ours-extra", default="", help="flags for bench/run_worker.py ours")
    asyncio.run(main(parser.parse_args()))
