"""What the proposed DealWorkflow changes are worth, priced on the bare workflow: the bare
shape as it is, then with one cost of ours added or removed at a time, on one server in one
run, against ours as it is.

    .venv/bin/python bench/proposals.py [--deals 60] [--concurrency 30] [--reaction-deals 40]

Variants (see ``BareInput``): ``local_store`` runs every store write (register, message
records; the stage transition is a local activity already) as a local activity; ``upserts``
upserts a stage search attribute on every stage entry, as ours does; ``pad_update`` makes
every update result as large as ours'; ``pad_activity`` makes every activity input as large
as ours' (which carry the deal and the pipeline's names). The sizes are measured from a deal of ours
driven first. A variant that moves bare's figure by x% would move ours by roughly as much.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.driver import run_all
from bench.measures import history_cost, reaction_seconds
from bench.system import System, pct, report, system


async def measure(
    sys_: System, kind: str, options: dict[str, Any], args: argparse.Namespace
) -> tuple[float, float]:
    """(deals/s, reaction p50 ms) for one variant."""
    deals = sys_.deals(kind, args.deals, "pr", bare_options=options)
    rate = args.deals / await run_all(deals, args.concurrency)
    timed = sys_.deals(kind, args.reaction_deals, "prr", bare_options=options)
    await run_all(timed, 10, wait_for_payment=True)
    ms = [
        1000 * await reaction_seconds(sys_.client, d.deal_id, d.invoice_sent_at or 0) for d in timed
    ]
    return rate, pct(ms, 0.5)


async def main(args: argparse.Namespace) -> None:
    async with system() as sys_:
        probe = sys_.deals("ours", 1, "probe")
        await run_all(probe, 1)
        cost = await history_cost(sys_.client, probe[0].deal_id)
        update = (
            cost.bytes_by_type["WORKFLOW_EXECUTION_UPDATE_COMPLETED"]
            // cost.by_type["WORKFLOW_EXECUTION_UPDATE_COMPLETED"]
        )
        scheduled = (
            cost.bytes_by_type["ACTIVITY_TASK_SCHEDULED"] // cost.by_type["ACTIVITY_TASK_SCHEDULED"]
        )
        variants: list[tuple[str, str, dict[str, Any]]] = [
            ("bare", "bare", {}),
            ("bare + local store writes", "bare", {"local_store": True}),
            ("bare + a stage upsert per entry", "bare", {"upserts": True}),
            (f"bare + {update} B update results", "bare", {"pad_update": update}),
            (f"bare + {scheduled} B activity inputs", "bare", {"pad_activity": scheduled}),
            ("ours", "ours", {}),
        ]
        results: dict[str, list[tuple[float, float]]] = {name: [] for name, _, _ in variants}
        for _ in range(args.rounds):
            for name, kind, options in variants:
                results[name].append(await measure(sys_, kind, options, args))
                print(name, results[name][-1], flush=True)
    base = statistics.median(r[0] for r in results["bare"])
    base_ms = statistics.median(r[1] for r in results["bare"])
    rows = [("variant", "deals/s", "vs bare", "reaction p50 ms", "vs bare")]
    figures: dict[str, Any] = {"update_result_bytes": update, "activity_input_bytes": scheduled}
    for name, _, _ in variants:
        rate = statistics.median(r[0] for r in results[name])
        ms = statistics.median(r[1] for r in results[name])
        rows.append((name, f"{rate:.2f}", f"{rate / base:.2f}", f"{ms:.0f}", f"{ms / base_ms:.2f}"))
        figures[name] = {"deals_per_s": rate, "reaction_p50_ms": ms}
    report("proposals", rows, figures)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--deals", type=int, default=60)
    parser.add_argument("--concurrency", type=int, default=30)
    parser.add_argument("--reaction-deals", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=1)
    asyncio.run(main(parser.parse_args()))
