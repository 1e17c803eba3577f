"""Throughput: complete seven-stage deals per second driven by messages, ours / bare, on
the embedded dev server persisted in SQLite; plus what a completed deal's history costs.

    .venv/bin/python bench/throughput.py [--deals 200] [--concurrency 50] [--rounds 2]
        [--no-pragmas] [--ours-extra "--cache 2000"] [--bare-extra "--runner sdk"] [--db URL]

Rounds alternate bare and ours on one server, so the ratio holds on a noisy machine; the
figure is the median of the rounds. Each deal takes 11 messages (4 moves, 1 template run as
updates; 5 task/invoice signals; a start) and one query loop to see it reach `final`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shlex
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.driver import run_all
from bench.harness import cpu_seconds
from bench.measures import HistoryCost, history_cost
from bench.system import report, system
from funnel.domain.pipeline import Pipeline

DOCUMENT_ROBOTS = ("render_document", "send_invoice")


def without_documents(pipeline: Pipeline) -> Pipeline:
    """PUSK without its document robots (the proposal, the contract, and the invoice sent to
    the client): prices the documents (a jinja2 render, a file and a row each; their PDFs are
    made on the first download or for the invoice's e-mail, and the benchmark does neither).
    Ours then has two activities fewer than bare per deal (bare has the two rendered
    documents and no invoice e-mail), which favours ours slightly."""
    stages = [
        s.model_copy(update={"robots": [r for r in s.robots if r.type not in DOCUMENT_ROBOTS]})
        for s in pipeline.stages
    ]
    return pipeline.model_copy(update={"stages": stages})


async def main(args: argparse.Namespace) -> None:
    rates: dict[str, list[float]] = {"bare": [], "ours": []}
    # CPU seconds per deal of the worker, the server and this driver: where the time goes
    # (all three share the machine's cores, so each counts against the rate).
    cpu: dict[str, dict[str, list[float]]] = {
        k: {"worker": [], "server": [], "driver": []} for k in rates
    }
    async with system(
        pragmas=not args.no_pragmas,
        db_url=args.db,
        ours_extra=shlex.split(args.ours_extra),
        bare_extra=shlex.split(args.bare_extra),
    ) as sys_:
        if args.no_documents:
            sys_.pipeline = without_documents(sys_.pipeline)
        for round_ in range(args.rounds):
            for kind in ("bare", "ours"):
                deals = sys_.deals(kind, args.deals, f"tp{round_}")
                worker = (sys_.ours if kind == "ours" else sys_.bare).pid
                server = sys_.server.pid or 0
                pids = {"worker": worker, "server": server, "driver": os.getpid()}
                before = {proc: cpu_seconds(pid) for proc, pid in pids.items()}
                seconds = await run_all(deals, args.concurrency)
                for proc, pid in pids.items():
                    cpu[kind][proc].append((cpu_seconds(pid) - before[proc]) / args.deals)
                rates[kind].append(args.deals / seconds)
                print(f"round {round_} {kind}: {args.deals / seconds:.2f} deals/s", flush=True)
        costs: dict[str, HistoryCost] = {}
        for kind in ("bare", "ours"):
            one = sys_.deals(kind, 1, "hist")
            await run_all(one, 1)
            costs[kind] = await history_cost(sys_.client, one[0].deal_id)
    med = statistics.median
    ours, bare = med(rates["ours"]), med(rates["bare"])
    rows = [
        ("figure", "ours", "bare", "ours/bare"),
        ("deals/s (median of rounds)", f"{ours:.2f}", f"{bare:.2f}", f"{ours / bare:.2f}"),
        *(
            (
                f"{proc} CPU s per deal",
                f"{med(cpu['ours'][proc]):.3f}",
                f"{med(cpu['bare'][proc]):.3f}",
                f"{med(cpu['ours'][proc]) / med(cpu['bare'][proc]):.2f}",
            )
            for proc in ("worker", "server", "driver")
        ),
        (
            "history events per deal",
            str(costs["ours"].events),
            str(costs["bare"].events),
            f"{costs['ours'].events / costs['bare'].events:.2f}",
        ),
        (
            "history bytes per deal",
            str(costs["ours"].bytes),
            str(costs["bare"].bytes),
            f"{costs['ours'].bytes / costs['bare'].bytes:.1f}",
        ),
        (
            "largest event (bytes, type)",
            f"{costs['ours'].largest_event_bytes} {costs['ours'].largest_event_type}",
            f"{costs['bare'].largest_event_bytes} {costs['bare'].largest_event_type}",
            "",
        ),
    ]
    report(
        "throughput",
        rows,
        {
            "deals": args.deals,
            "concurrency": args.concurrency,
            "pragmas": not args.no_pragmas,
            "ours_extra": args.ours_extra,
            "bare_extra": args.bare_extra,
            "no_documents": args.no_documents,
            "deals_per_s": {"ours": rates["ours"], "bare": rates["bare"]},
            "ratio": round(ours / bare, 3),
            "cpu_s_per_deal": cpu,
            "history": {k: vars(v) for k, v in costs.items()},
        },
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--deals", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--no-pragmas", action="store_true", help="SQLite defaults on the server")
    parser.add_argument(
        "--no-documents", action="store_true", help="ours without its document robots"
    )
    parser.add_argument("--ours-extra", default="", help="flags for bench/run_worker.py ours")
    parser.add_argument("--bare-extra", default="", help="flags for bench/run_worker.py bare")
    parser.add_argument("--db", default=None, help="store URL (default: SQLite in the temp dir)")
    asyncio.run(main(parser.parse_args()))
