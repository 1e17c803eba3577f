"""Timer accuracy: N deals (default 1,000) sharing one deadline; how late the escalation
robot starts, p50/p99, ours / bare, on the embedded dev server persisted in SQLite.

    .venv/bin/python bench/timers.py [--deals 1000] [--lead 240]

A generated test pipeline has one process stage with the robots of PUSK's `new` and a
deadline of "1 working minutes" on a calendar whose working day starts ``--lead`` seconds
from now (UTC, no holidays): every deal started before that moment gets the same due time,
the start of work + 1 minute, as a real Monday-morning backlog does. The bare deals get the
same instant one minute later, as an absolute timer. Lateness is the escalation robot's
ActivityTaskStarted minus the deadline (and, for reference, the TimerFired event's lag).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from bench.bare import BareInput
from bench.driver import ROBOT_TYPES
from bench.system import pct, report, system
from funnel.domain.models import DealWorkflowInput, workflow_id_for
from funnel.runtime.pipeline_loader import load_pipeline
from tests.helpers import sample_deal

PIPELINE = """\
id: timer_bench
name: Timer benchmark
calendar: {{timezone: UTC, country: null, work_start: "{start}", work_end: "{end}", weekend: []}}
stages:
  - id: new
    name: New deal
    robots:
      - {{id: standard_title, type: set_title, title: Title, template: "{{{{ deal.service }}}}"}}
      - {{id: notify_new, type: notify, title: Tell, to: [responsible], message: "New deal"}}
    deadline:
      after: 1 working minutes
      escalate:
        - {{id: notify_head, type: notify, title: Too slow, to: [head], message: "Too slow"}}
        - {{id: breach_report, type: report_event, title: Report, kind: deadline_breached}}
    triggers: [{{event: accepted, to: won}}]
  - id: won
    name: Won
    semantics: success
    robots: [{{id: complete, type: complete_deal, title: Complete}}]
  - id: lost
    name: Lost
    semantics: failure
    robots: [{{id: complete_lost, type: complete_deal, title: Complete}}]
"""


async def lateness(client: Client, deal_id: str, deadline: datetime) -> tuple[float, float] | None:
    """(timer fired, escalation robot started) minus the deadline, in ms; None if not yet."""
    history = await client.get_workflow_handle(workflow_id_for(deal_id)).fetch_history()
    fired: float | None = None
    robots: set[int] = set()
    for event in history.events:
        at = event.event_time.ToNanoseconds() / 1e9
        if event.event_type == EventType.EVENT_TYPE_TIMER_FIRED:
            fired = at
        elif fired and event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            if event.activity_task_scheduled_event_attributes.activity_type.name in ROBOT_TYPES:
                robots.add(event.event_id)
        elif (
            event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED
            and event.activity_task_started_event_attributes.scheduled_event_id in robots
        ):
            assert fired is not None
            due = deadline.timestamp()
            return 1000 * (fired - due), 1000 * (at - due)
    return None


async def main(args: argparse.Namespace) -> None:
    start = (datetime.now(UTC) + timedelta(seconds=args.lead)).replace(second=0, microsecond=0)
    start += timedelta(minutes=1)
    if start.date() != (start + timedelta(hours=1)).date():
        sys.exit("too close to midnight UTC for a one-day working window; run again later")
    deadlines = {"ours": start + timedelta(minutes=1), "bare": start + timedelta(minutes=2)}
    end = start + timedelta(hours=1)
    with __import__("tempfile").TemporaryDirectory() as tmp:
        path = Path(tmp) / "timer.yaml"
        path.write_text(PIPELINE.format(start=f"{start:%H:%M}", end=f"{end:%H:%M}"))
        pipeline = load_pipeline(path)
        async with system() as sys_:
            ids = {k: [f"tm-{k}-{i}" for i in range(args.deals)] for k in deadlines}
            gate = asyncio.Semaphore(50)

            async def begin(kind: str, deal_id: str) -> None:
                arg: object = BareInput(deal_id=deal_id, first_deadline_at=deadlines["bare"])
                queue = sys_.bare.task_queue
                workflow = "BareDeal"
                if kind == "ours":
                    arg = DealWorkflowInput(deal=sample_deal(deal_id), pipeline=pipeline)
                    queue, workflow = sys_.ours.task_queue, "DealWorkflow"
                async with gate:
                    await sys_.client.start_workflow(
                        workflow, arg, id=workflow_id_for(deal_id), task_queue=queue
                    )

            await asyncio.gather(*(begin(k, d) for k, v in ids.items() for d in v))
            print(f"{2 * args.deals} deals started; deadlines {deadlines}", flush=True)
            results: dict[str, list[tuple[float, float]]] = {}
            for kind, deadline in deadlines.items():
                await asyncio.sleep(max(0.0, (deadline - datetime.now(UTC)).total_seconds()))
                pending = list(ids[kind])
                results[kind] = []
                while pending:
                    await asyncio.sleep(2)
                    found = await asyncio.gather(
                        *(lateness(sys_.client, d, deadline) for d in pending)
                    )
                    results[kind] += [f for f in found if f is not None]
                    pending = [d for d, f in zip(pending, found, strict=True) if f is None]
    rows = [("figure", "ours ms", "bare ms", "ours/bare")]
    figures: dict[str, object] = {"deals": args.deals}
    for name, q in (("p50", 0.5), ("p99", 0.99)):
        for what, at in (("timer fired", 0), ("escalation started", 1)):
            ours = pct([r[at] for r in results["ours"]], q)
            bare = pct([r[at] for r in results["bare"]], q)
            rows.append((f"{what} {name}", f"{ours:.0f}", f"{bare:.0f}", f"{ours / bare:.2f}"))
            figures[f"{what.replace(' ', '_')}_{name}_ms"] = {"ours": ours, "bare": bare}
    report("timers", rows, figures)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--deals", type=int, default=1000)
    parser.add_argument("--lead", type=int, default=240, help="seconds to start the deals in")
    asyncio.run(main(parser.parse_args()))
