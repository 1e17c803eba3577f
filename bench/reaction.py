"""Reaction: `invoice_paid` sent -> the first robot of the next stage (`final`) started,
p50 and p99, ours / bare, on the embedded dev server persisted in SQLite.

    .venv/bin/python bench/reaction.py [--deals 100] [--concurrency 10] [--rate 1]

Each deal is driven to `payment`; the driver waits until it is there, notes the time and
sends the signal; the robot's start is its ActivityTaskStarted event in the deal's history
(driver and server share this machine's clock). Two loads, the same for both kinds, each
with other deals moving at the same time:

- closed loop: ``--concurrency`` deals at a time, the next starting when one ends. The
  machine is saturated, so each step waits behind the others and the figure follows the
  CPU a deal costs (the throughput benchmark's ratio, again);
- paced: a deal started every ``1 / --rate`` seconds (an open loop, as customers arrive),
  a load both kinds keep up with: the figure is what a manager waits for on a busy day
  short of overload.
"""

from __future__ import annotations

import argparse
import asyncio
import shlex
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.driver import run_all, run_paced
from bench.measures import reaction_seconds
from bench.system import pct, report, system


async def main(args: argparse.Namespace) -> None:
    ms: dict[str, dict[str, list[float]]] = {"closed": {}, "paced": {}}
    async with system(ours_extra=shlex.split(args.ours_extra)) as sys_:
        for kind in ("bare", "ours"):
            for load in ("closed", "paced"):
                deals = sys_.deals(kind, args.deals, f"re-{load}")
                if load == "closed":
                    await run_all(deals, args.concurrency, wait_for_payment=True)
                else:
                    await run_paced(deals, args.rate, wait_for_payment=True)
                ms[load][kind] = [
                    1000 * await reaction_seconds(sys_.client, d.deal_id, d.invoice_sent_at or 0)
                    for d in deals
                ]
    rows = [("load", "figure", "ours ms", "bare ms", "ours/bare")]
    figures: dict[str, object] = {
        "deals": args.deals,
        "concurrency": args.concurrency,
        "rate_per_s": args.rate,
    }
    loads = {
        "closed": f"{args.concurrency} deals at a time",
        "paced": f"{args.rate:g} deal/s started",
    }
    for load, label in loads.items():
        for name, q in (("p50", 0.5), ("p99", 0.99)):
            ours, bare = pct(ms[load]["ours"], q), pct(ms[load]["bare"], q)
            rows.append((label, name, f"{ours:.0f}", f"{bare:.0f}", f"{ours / bare:.2f}"))
            key = name if load == "closed" else f"paced_{name}"
            figures[key] = {"ours_ms": round(ours, 1), "bare_ms": round(bare, 1)}
            figures[f"{key}_ratio"] = round(ours / bare, 3)
    report("reaction", rows, figures)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--deals", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=10, help="the closed loop's deals")
    parser.add_argument("--rate", type=float, default=1.0, help="the paced load's deals/s")
    parser.add_argument("--ours-extra", default="", help="flags for bench/run_worker.py ours")
    asyncio.run(main(parser.parse_args()))
