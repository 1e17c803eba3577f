"""Drives deals through the seven PUSK stages by messages, for ours and for the bare
workflow alike, reads what their histories cost, and checks that a deal left exactly what
it should in the store.

The path: start -> accept -> move proposal -> move negotiation -> move contract -> the head
confirms the contract task -> invoice paid -> (in final) run the task template -> the three
tasks done -> won. Every update carries an id derived from the deal and the step, so a
driver that retries after a fault (server down, worker killed) never applies a step twice:
Temporal deduplicates updates by id, and our signals are idempotent.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client, WorkflowHandle, WorkflowUpdateRPCTimeoutOrCancelledError
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from funnel.client.deals import start_options
from funnel.domain.models import (
    AcceptInput,
    DealSnapshot,
    DealWorkflowInput,
    InvoicePaid,
    MoveInput,
    RunTemplateInput,
    TaskCompleted,
    TaskView,
    workflow_id_for,
)
from funnel.domain.pipeline import Pipeline
from tests.helpers import sample_deal

T = TypeVar("T")

# Answers that will be the same on every try (the deal is closed, the request is malformed);
# anything else (the server down, restarting or overloaded, the worker killed) may pass later.
PERMANENT = {
    RPCStatusCode.INVALID_ARGUMENT,
    RPCStatusCode.ALREADY_EXISTS,
    RPCStatusCode.PERMISSION_DENIED,
    RPCStatusCode.UNAUTHENTICATED,
    RPCStatusCode.UNIMPLEMENTED,
}


def _deal_closed(error: RPCError) -> bool:
    # Not every NOT_FOUND is final: a restarting server may not know a deal for a moment.
    return error.status == RPCStatusCode.NOT_FOUND and "already completed" in error.message


STAGES = ["new", "in_progress", "proposal", "negotiation", "contract", "payment", "final", "won"]
CONTRACT_SEQ, FINAL_SEQ = 5, 7  # the stage entry numbers of contract and final on this path
# The 6th stage entry is `payment`'s, the 7th `final`'s.
PAYMENT_MARKERS, FINAL_MARKERS = 6, 7
# The transition record of each stage entry: a local activity whose marker names it.
TRANSITION_RECORD = {
    "ours": b'"activity_type":"record_stage_transition"',
    "bare": b'"activity_type":"bare_transition"',
}
TEMPLATE_TASKS = ("kickoff", "design", "launch")  # the `website` task set
ROBOT_TYPES = {
    "notify",
    "set_deal_title",
    "create_task",
    "write_report_event",
    "create_invoice",
    "complete_deal",
    "bare_robot",
}
# What one deal of this path leaves in the store: notify_new (1), notify_paid (responsible
# and the two of the sales team), notify_won (responsible and head).
EXPECTED_NOTIFICATIONS = 6
# The proposal task is left behind when the manager moves the deal on: open, or cancelled
# where the pipeline's leaving policy cancels a stage's tasks.
EXPECTED_TASKS = sorted(
    [("3:prepare_proposal_task", "open"), ("5:signed_contract_task", "done")]
    + [(f"7:template:{name}", "done") for name in TEMPLATE_TASKS]
)


# An activity's closing events, with the attribute that names its scheduled event.
_ACTIVITY_CLOSED = {
    EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED: "activity_task_completed_event_attributes",
    EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED: "activity_task_failed_event_attributes",
    EventType.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT: "activity_task_timed_out_event_attributes",
    EventType.EVENT_TYPE_ACTIVITY_TASK_CANCELED: "activity_task_canceled_event_attributes",
}


@dataclass
class Deal:
    """One deal to drive; ``kind`` is ``ours`` or ``bare``."""

    client: Client
    kind: str
    deal_id: str
    task_queue: str
    pipeline: Pipeline | None = None
    retry: bool = False  # keep retrying a step through server and worker outages
    retries: int = 0
    invoice_sent_at: float | None = None
    bare_options: dict[str, Any] = field(default_factory=dict)  # BareInput's variant knobs
    # The deal's history as read so far by one long poll per deal (see _read_history).
    _events: list[HistoryEvent] = field(default_factory=list, init=False, repr=False)
    _grew: asyncio.Condition = field(default_factory=asyncio.Condition, init=False, repr=False)
    _reader: asyncio.Task[None] | None = field(default=None, init=False, repr=False)

    @property
    def handle(self) -> WorkflowHandle[Any, Any]:
        return self.client.get_workflow_handle(workflow_id_for(self.deal_id))

    async def _try(self, step: Callable[[], Awaitable[T]]) -> T:
        while True:
            try:
                return await step()
            except (RPCError, WorkflowUpdateRPCTimeoutOrCancelledError) as error:
                # A cancelled update surfaces as WorkflowUpdateRPCTimeoutOrCancelledError:
                # never retry once this task is being cancelled, or it can never stop.
                task = asyncio.current_task()
                if not self.retry or (task is not None and task.cancelling()):
                    raise
                if isinstance(error, RPCError) and (
                    error.status in PERMANENT or _deal_closed(error)
                ):
                    raise
                self.retries += 1
                await asyncio.sleep(0.5)

    async def start(self) -> None:
        options: dict[str, Any] = {"id": workflow_id_for(self.deal_id)}
        if self.kind == "ours":
            assert self.pipeline is not None
            deal = sample_deal(self.deal_id)
            arg: Any = DealWorkflowInput(deal=deal, pipeline=self.pipeline)
            workflow = "DealWorkflow"
            options = start_options(deal, self.pipeline)  # as the product starts a deal
        else:
            from bench.bare import BareInput

            arg = BareInput(deal_id=self.deal_id, **self.bare_options)
            workflow = "BareDeal"

        async def start() -> None:
            # A retry of a start that reached the server finds the deal already there.
            with contextlib.suppress(WorkflowAlreadyStartedError):
                await self.client.start_workflow(
                    workflow, arg, task_queue=self.task_queue, **options
                )

        await self._try(start)

    async def update(self, step: str, name: str, arg: Any) -> Any:
        result_type: Any = str
        if self.kind == "ours":
            result_type = list[TaskView] if name == "run_template" else DealSnapshot
        return await self._try(
            lambda: self.handle.execute_update(
                name, arg, id=f"{self.deal_id}:{step}", result_type=result_type
            )
        )

    async def signal(self, name: str, arg: Any) -> None:
        try:
            await self._try(lambda: self.handle.signal(name, arg))
        except RPCError as error:
            # The last signal of the path closes the deal. When the server took it but its
            # answer was lost (server overloaded, worker killed), the retry finds the deal
            # closed: the signal did land. Whether the deal ended as it should is checked
            # by awaiting its result, not here.
            if not (self.retry and _deal_closed(error)):
                raise

    async def _wait_task(self, name: str) -> None:
        """Wait until the deal holds template task ``name``: the robot that creates it
        completed, and so did the workflow task that took its result. Ours and bare alike
        (the driver waits the same way for both), followed in the history (a long poll):
        polling a query every few ms would load the worker and the server with query tasks."""
        if self.kind == "ours":  # create_task's input names the task
            robot, wanted = "create_task", f'"task_id":"{FINAL_SEQ}-{name}"'.encode()
        else:  # bare_robot's input is "<deal>:<seq>:template:<name>"
            robot, wanted = "bare_robot", f":{FINAL_SEQ}:template:{name}".encode()

        scheduled: set[int] = set()
        created_at: int | None = None  # the event id of the robot's completion

        def done(event: HistoryEvent) -> bool:
            nonlocal created_at
            if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
                attrs = event.activity_task_scheduled_event_attributes
                if attrs.activity_type.name == robot and any(
                    wanted in p.data for p in attrs.input.payloads
                ):
                    scheduled.add(event.event_id)
            elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
                completed = event.activity_task_completed_event_attributes
                if completed.scheduled_event_id in scheduled:
                    created_at = event.event_id
            return (
                created_at is not None
                and event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED
                and event.event_id > created_at
            )

        await self._follow(done, f"task {name} existed")

    async def wait_markers(self, count: int) -> None:
        """Wait until the deal has entered ``count`` stages (its ``count``-th transition
        record), following its history on the server (a long poll): polling a query instead
        would load the worker with query tasks, more for ours (the whole DealState) than for
        bare, and skew the comparison."""

        entered = 0

        def done(event: HistoryEvent) -> bool:
            nonlocal entered
            entered += self._is_stage_entry(event)
            return entered >= count

        await self._follow(done, f"stage entry {count}")

    async def wait_at_rest(self, count: int) -> None:
        """Wait until the deal has entered ``count`` stages and has nothing in flight: every
        activity it scheduled has closed and a workflow task completed after that. A payment
        comes to a deal resting in its stage, not in the milliseconds in which the robots of
        the message before it (the head confirming the contract) still run; sent then, it
        would wait for their workflow task, and the reaction would time that instead."""
        entered, open_activities = 0, set()

        def done(event: HistoryEvent) -> bool:
            nonlocal entered
            entered += self._is_stage_entry(event)
            kind = event.event_type
            if kind == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
                open_activities.add(event.event_id)
            elif kind in _ACTIVITY_CLOSED:
                attrs = getattr(event, _ACTIVITY_CLOSED[kind])
                open_activities.discard(attrs.scheduled_event_id)
            return (
                entered >= count
                and kind == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED
                and not open_activities
            )

        await self._follow(done, f"stage entry {count} at rest")

    async def _follow(self, done: Callable[[HistoryEvent], bool], what: str) -> None:
        """Go through the deal's history from its first event, then wait for new ones, until
        ``done`` says so. Every wait of a deal reads the one history its reader keeps, so
        an event crosses the wire and is parsed once per deal whatever the number of waits:
        reading from the start for each wait cost the driver more for the kind with the
        bigger history, on the CPU both kinds share."""
        if self._reader is None:
            self._reader = asyncio.create_task(self._read_history())
        reader, seen = self._reader, 0
        while True:
            async with self._grew:
                await self._grew.wait_for(functools.partial(self._news, reader, seen))
                fresh = self._events[seen:]
            for event in fresh:
                seen += 1
                if done(event):
                    return
            if reader.done() and seen == len(self._events):
                reader.result()  # the reader's own error, if it failed
                raise RuntimeError(f"deal {self.deal_id} closed before {what}")

    def _news(self, reader: asyncio.Task[None], seen: int) -> bool:
        return seen < len(self._events) or reader.done()

    async def _read_history(self) -> None:
        """Read the history with a long poll until the deal closes, keeping each event once.
        A read that the server breaks off (the history's branch moved on under it: an
        update's speculative workflow task) or that a fault cuts off starts again from the
        first event; events already kept are skipped by their id."""

        async def read() -> None:
            while True:
                try:
                    async for event in self.handle.fetch_history_events(wait_new_event=True):
                        if self._events and event.event_id <= self._events[-1].event_id:
                            continue
                        async with self._grew:
                            self._events.append(event)
                            self._grew.notify_all()
                    return
                except RPCError as error:
                    if "branch" not in error.message:
                        raise

        try:
            await self._try(read)
        finally:
            async with self._grew:
                self._grew.notify_all()

    def _is_stage_entry(self, event: HistoryEvent) -> bool:
        """The transition record of a stage entry: a local activity in both kinds."""
        if event.event_type != EventType.EVENT_TYPE_MARKER_RECORDED:
            return False
        details = event.marker_recorded_event_attributes.details
        wanted = TRANSITION_RECORD[self.kind]
        return "data" in details and any(wanted in p.data for p in details["data"].payloads)

    async def to_payment(self) -> None:
        await self.start()
        await self.update("accept", "accept", AcceptInput(by="ivanov"))
        for stage in ("proposal", "negotiation", "contract"):
            state = await self.update(stage, "move_to_stage", MoveInput(stage=stage, by="ivanov"))
        # The executor reports the contract signed, then the head (the task's creator)
        # confirms it: that moves the deal to `payment`.
        contract_task = f"{CONTRACT_SEQ}-signed_contract_task"
        if isinstance(state, DealSnapshot):  # ours names its tasks; take the name it gave
            contract_task = next(t.task_id for t in state.tasks if t.stage == "contract")
        for by in ("ivanov", "smirnova"):
            await self.signal("task_completed", TaskCompleted(task_id=contract_task, by=by))

    async def pay(self) -> None:
        self.invoice_sent_at = time.time()
        await self.signal("invoice_paid", InvoicePaid(invoice_id=f"{self.deal_id}-{CONTRACT_SEQ}"))

    async def finish(self) -> None:
        await self.wait_markers(FINAL_MARKERS)
        await self.update("template", "run_template", RunTemplateInput(by="ivanov"))
        for name in TEMPLATE_TASKS:
            # The website set is a chain (kick-off -> design -> launch): each task exists
            # once the one before it is done.
            await self._wait_task(name)
            task_id = f"{FINAL_SEQ}-{name}"
            await self.signal("task_completed", TaskCompleted(task_id=task_id, by="ivanov"))
        await self._try(lambda: self.handle.result())

    async def run(self, *, wait_for_payment: bool = False) -> None:
        """The whole path; with ``wait_for_payment`` the invoice is paid only once the deal
        rests in ``payment`` (the reaction benchmark times from that signal)."""
        try:
            await self.to_payment()
            if wait_for_payment:
                await self.wait_at_rest(PAYMENT_MARKERS)
            await self.pay()
            await self.finish()
        finally:
            if self._reader is not None:
                self._reader.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await self._reader


async def run_all(deals: list[Deal], concurrency: int, **kwargs: Any) -> float:
    """Drive every deal, ``concurrency`` at a time (a closed loop: a deal starts when one
    ends, so the load is as high as the system takes); returns the wall time in seconds."""
    gate = asyncio.Semaphore(concurrency)

    async def one(deal: Deal) -> None:
        async with gate:
            await deal.run(**kwargs)

    return await _drive([one(d) for d in deals])


async def run_paced(deals: list[Deal], per_second: float, **kwargs: Any) -> float:
    """Start a deal every ``1 / per_second`` seconds whatever the others are doing (an open
    loop: the offered load is the same for every kind, as it is for a real funnel, where
    customers do not wait for the worker); returns the wall time in seconds."""
    began = time.perf_counter()

    async def one(at: int, deal: Deal) -> None:
        await asyncio.sleep(max(0.0, began + at / per_second - time.perf_counter()))
        await deal.run(**kwargs)

    return await _drive([one(i, d) for i, d in enumerate(deals)])


async def _drive(runs: list[Coroutine[Any, Any, None]]) -> float:
    began = time.perf_counter()
    tasks = [asyncio.ensure_future(run) for run in runs]
    try:
        await asyncio.gather(*tasks)
    finally:
        # One deal failing must not leave the others retrying in the background.
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return time.perf_counter() - began
