"""The fault tests, larger: hundreds of deals moving while the worker is SIGKILLed again
and again, the persisted dev server is stopped and started, and the database (a private
PostgreSQL, never the machine's shared one) goes away for a while. Prints what survived.

    .venv/bin/python bench/faults_bench.py [--deals 300] [--kills 6] [--no-pg]

Survived means: the deal's workflow completed as won, and the store holds every
notification, task, invoice and report row of it exactly once (``bench/driver.py``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


from bench.driver import Deal, run_all
from bench.harness import DevServer, PrivatePostgres, WorkerProcess, connect
from bench.measures import store_problems
from bench.system import report
from funnel.runtime.pipeline_loader import load_pipeline
from funnel.runtime.settings import DEFAULT_PIPELINE
from funnel.storage.migrate import upgrade
from funnel.storage.store import Store


async def main(args: argparse.Namespace) -> None:
    rng = random.Random(args.seed)
    faults: list[str] = []
    with contextlib.ExitStack() as stack:
        home = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="funnel-faults-")))
        pg = None if args.no_pg else stack.enter_context(PrivatePostgres())
        db = pg.url if pg else f"sqlite:///{home / 'funnel.db'}"
        upgrade(db)
        store = Store(db)
        server = stack.enter_context(DevServer(home / "temporal"))
        client = await connect(server.address)
        worker = stack.enter_context(
            WorkerProcess(
                address=server.address, task_queue="faults", db_url=db, log=home / "w.log"
            )
        )
        pipeline = load_pipeline(DEFAULT_PIPELINE)
        deals = [
            Deal(client, "ours", f"F{i}-{rng.randrange(10**6)}", "faults", pipeline, retry=True)
            for i in range(args.deals)
        ]
        began = time.perf_counter()
        drive = asyncio.create_task(run_all(deals, args.concurrency))
        while store.get_deal(deals[0].deal_id) is None:  # the worker is up
            await asyncio.sleep(0.1)
        plan = ["kill"] * args.kills + ["server"] + ([] if pg is None else ["database"])
        rng.shuffle(plan)
        for fault in plan:
            await asyncio.sleep(rng.uniform(1.0, 4.0))
            if drive.done():
                break
            faults.append(fault)
            if fault == "kill":
                worker.kill()
                await asyncio.sleep(rng.uniform(0.0, 1.0))
                worker.start()
            elif fault == "server":
                await asyncio.to_thread(server.stop)
                await asyncio.sleep(2.0)
                await asyncio.to_thread(server.start)
                await asyncio.sleep(1.0)
                # A worker that lost the server may have exited: a supervisor (systemd,
                # Kubernetes) would start it again; count it if it had to.
                if worker.ensure_running():
                    faults.append("worker exited after the server restart")
            elif pg is not None:
                await asyncio.to_thread(pg.stop)
                await asyncio.sleep(5.0)
                await asyncio.to_thread(pg.start)
        await asyncio.wait_for(drive, args.timeout)
        elapsed = time.perf_counter() - began
        problems = store_problems(store, [d.deal_id for d in deals])
        store.dispose()
    broken = {p.split(":", 1)[0] for p in problems}
    rows = [
        ("figure", "value"),
        ("deals driven", str(args.deals)),
        ("deals won with every row exactly once", str(args.deals - len(broken))),
        ("deals with a missing or doubled row", str(len(broken))),
        ("faults injected", ", ".join(faults)),
        ("worker starts", str(worker.starts)),
        ("driver retries (server/worker away)", str(sum(d.retries for d in deals))),
        ("wall time (s)", f"{elapsed:.0f}"),
        ("database", "private PostgreSQL" if pg else "SQLite"),
    ]
    report(
        "faults",
        rows,
        {
            "deals": args.deals,
            "survived": args.deals - len(broken),
            "faults": faults,
            "problems": problems[:20],
            "seconds": round(elapsed, 1),
        },
    )
    for problem in problems[:20]:
        print(problem, file=sys.stderr)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--deals", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--kills", type=int, default=6)
    parser.add_argument("--no-pg", action="store_true", help="SQLite store, no database outage")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--timeout", type=float, default=1200)
    asyncio.run(main(parser.parse_args()))
