"""What a driven deal cost and left behind: its history's size, the reaction to its
payment, and the store rows it must have written exactly once (bench/driver.py drives it)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from bench.driver import CONTRACT_SEQ, EXPECTED_NOTIFICATIONS, EXPECTED_TASKS, ROBOT_TYPES, STAGES
from funnel.domain.models import workflow_id_for
from funnel.storage.store import Store

# --- what a history costs -------------------------------------------------------------------


@dataclass
class HistoryCost:
    events: int
    bytes: int
    largest_event_bytes: int
    largest_event_type: str
    by_type: dict[str, int] = field(default_factory=dict)
    bytes_by_type: dict[str, int] = field(default_factory=dict)


async def history_cost(client: Client, deal_id: str) -> HistoryCost:
    history = await client.get_workflow_handle(workflow_id_for(deal_id)).fetch_history()
    largest = max(history.events, key=lambda e: e.ByteSize())
    sizes: Counter[str] = Counter()
    for event in history.events:
        sizes[EventType.Name(event.event_type).removeprefix("EVENT_TYPE_")] += event.ByteSize()
    counts = Counter(
        EventType.Name(e.event_type).removeprefix("EVENT_TYPE_") for e in history.events
    )
    return HistoryCost(
        events=len(history.events),
        bytes=sum(e.ByteSize() for e in history.events),
        largest_event_bytes=largest.ByteSize(),
        largest_event_type=EventType.Name(largest.event_type).removeprefix("EVENT_TYPE_"),
        by_type=dict(counts.most_common()),
        bytes_by_type=dict(sizes.most_common()),
    )


async def reaction_seconds(client: Client, deal_id: str, sent_at: float) -> float:
    """From ``invoice_paid`` sent to the first robot of the next stage started (the
    activity's ActivityTaskStarted in history; driver and server share this machine's clock)."""
    history = await client.get_workflow_handle(workflow_id_for(deal_id)).fetch_history()
    signalled = False
    robots: set[int] = set()
    for event in history.events:
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
            signalled = (
                signalled
                or event.workflow_execution_signaled_event_attributes.signal_name == "invoice_paid"
            )
        elif signalled and event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            attrs = event.activity_task_scheduled_event_attributes
            if attrs.activity_type.name in ROBOT_TYPES:
                robots.add(event.event_id)
        elif (
            event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED
            and event.activity_task_started_event_attributes.scheduled_event_id in robots
        ):
            return event.event_time.ToNanoseconds() / 1e9 - sent_at
    raise AssertionError(f"no robot started after invoice_paid in deal {deal_id}")


# --- exactly once -----------------------------------------------------------------------------


def _settled(status: str) -> str:
    return "open" if status == "cancelled" else status


def store_problems(store: Store, deal_ids: list[str]) -> list[str]:
    """What is missing or doubled in the store for deals driven to ``won``; empty if every
    notification, task, invoice and report row is there exactly once."""
    problems: list[str] = []
    inbox: Counter[str] = Counter()
    for person in ("ivanov", "smirnova", "petrov", "sidorova"):
        inbox.update(n.deal_id for n in store.inbox(person))
    for deal_id in deal_ids:
        record = store.get_deal(deal_id)
        if record is None or record.status != "won" or record.stage != "won":
            problems.append(f"{deal_id}: deal record {record and (record.stage, record.status)}")
        if inbox[deal_id] != EXPECTED_NOTIFICATIONS:
            problems.append(f"{deal_id}: {inbox[deal_id]} notifications")
        tasks = sorted(
            (t.key.removeprefix(f"{deal_id}:"), _settled(t.status))
            for t in store.tasks(deal_id=deal_id)
        )
        if tasks != EXPECTED_TASKS:
            problems.append(f"{deal_id}: tasks {tasks}")
        invoices = [(i.invoice_id, i.status) for i in store.invoices(deal_id)]
        if invoices != [(f"{deal_id}-{CONTRACT_SEQ}", "paid")]:
            problems.append(f"{deal_id}: invoices {invoices}")
        events = store.report_events(deal_id=deal_id)
        entered = [e.stage for e in events if e.kind == "stage_entered"]
        exited = [e.stage for e in events if e.kind == "stage_exited"]
        if entered != STAGES or exited != STAGES[:-1]:
            problems.append(f"{deal_id}: entered {entered}, exited {exited}")
    return problems
