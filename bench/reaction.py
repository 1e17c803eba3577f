"""Reaction: `invoice_paid` sent -> the first robot of the next stage (`final`) started,
p50 and p99, ours / bare, on the embedded dev server persisted in SQLite.

    .venv/bin/python bench/reaction.py [--deals 100] [--concurrency 10] [--ours-extra "..."]

Each deal is driven to `payment`; the driver waits until it is there, notes the time and
sends the signal; the robot's start is its ActivityTaskStarted event in the deal's history
(driver and server share this machine's clock). Concurrency keeps a realistic background of
other deals moving at the same time.
"""

from __future__ import annotations

import argparse
import asyncio
import shlex
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.driver import reaction_seconds, run_all
from bench.system import pct, report, system


async def main(args: argparse.Namespace) -> None:
    ms: dict[str, list[float]] = {}
    async with system(ours_extra=shlex.split(args.ours_extra)) as sys_:
        for kind in ("bare", "ours"):
            deals = sys_.deals(kind, args.deals, "re")
            await run_all(deals, args.concurrency, wait_for_payment=True)
            ms[kind] = [
                1000 * await reaction_seconds(sys_.client, d.deal_id, d.invoice_sent_at or 0)
                for d in deals
            ]
    rows = [("figure", "ours ms", "bare ms", "ours/bare")]
    figures: dict[str, object] = {"deals": args.deals, "concurrency": args.concurrency}
    for name, q in (("p50", 0.5), ("p99", 0.99)):
        ours, bare = pct(ms["ours"], q), pct(ms["bare"], q)
        rows.append((f"reaction {name}", f"{ours:.0f}", f"{bare:.0f}", f"{ours / bare:.2f}"))
        figures[name] = {"ours_ms": round(ours, 1), "bare_ms": round(bare, 1)}
        figures[f"{name}_ratio"] = round(ours / bare, 3)
    report("reaction", rows, figures)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--deals", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--ours-extra", default="", help="flags for bench/run_worker.py ours")
    asyncio.run(main(parser.parse_args()))
