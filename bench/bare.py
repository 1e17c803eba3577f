"""The bare workflow: the shape of a PUSK deal with no business logic, the yardstick of
every benchmark here.

Per stage it runs the same number of activities, local activities, timers and messages as
``DealWorkflow`` does on the path the benchmarks drive (new -> in_progress -> proposal ->
negotiation -> contract -> payment -> final -> won), in the same order (one at a time),
takes the same update and signal inputs, and leaves a stage the same way (timers cancelled
by a condition). What it lacks is what we want to price: the pinned pipeline in the start
input, the deal context in every activity input, the update results, search attributes,
the `workflow.patched` markers of changes made while deals ran, summaries for the Web UI,
templates and the store. Activities are no-ops.

Its worker runs with ``python bench/run_worker.py bare --address HOST:PORT --task-queue Q``
(the workflow must live in an importable module, not ``__main__``).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta

from temporalio import activity, workflow
from temporalio.common import SearchAttributeKey

with workflow.unsafe.imports_passed_through():
    from funnel.domain.models import (
        AcceptInput,
        InvoicePaid,
        MoveInput,
        RunTemplateInput,
        TaskCompleted,
    )


@dataclass(frozen=True)
class Shape:
    """One stage: ``robots`` activities after the transition record, ``timers`` durable
    timers (the deadline and delayed robots), and whether the due times come from a local
    activity (every stage with a timer)."""

    robots: int
    timers: int
    leave_writes: int = 0  # store writes when the deal leaves (its open task cancelled)


# Counted from a history of ours on this path (pipelines/pusk.yaml as of the task-deadline
# and document robots): every stage also records its transition (a local activity, as ours
# does since `transition-record-local`) and, when it has timers, computes due times (a
# local activity). A created task arms its own deadline timer, so proposal and contract
# count two timers; the template's tasks arm theirs when they are created (run_template
# and task_completed below). Leaving `proposal` cancels its open task (one store write).
SHAPES: dict[str, Shape] = {
    "new": Shape(robots=2, timers=1),  # title, notify; deadline
    "in_progress": Shape(robots=0, timers=1),
    # task, title, document; deadline, task deadline; leaving cancels the open task
    "proposal": Shape(robots=3, timers=2, leave_writes=1),
    "negotiation": Shape(robots=1, timers=2),  # title; deadline, reminder
    "contract": Shape(robots=3, timers=2),  # task, invoice, document; deadline, task deadline
    "payment": Shape(robots=0, timers=1),
    "final": Shape(robots=1, timers=1),  # notify; deadline
    "won": Shape(robots=2, timers=0),  # complete, notify
    "lost": Shape(robots=2, timers=0),
}
TRIGGERS = {"new": "in_progress", "contract": "payment", "payment": "final", "final": "won"}
TEMPLATE_TASKS = ("kickoff", "design", "launch")  # the `website` task set of `final`
ESCALATION_ROBOTS = 2  # notify + report event, after one store write (the breach flag)


STAGE_ATTRIBUTE = SearchAttributeKey.for_keyword("DealStage")


@dataclass
class BareInput:
    deal_id: str
    # Absolute deadline of the first stage (the timer benchmark shares one across deals);
    # None: one day, which never fires during a benchmark.
    first_deadline_at: datetime | None = None
    # Variants that price a proposed change to DealWorkflow on the engine alone:
    # store writes (register, transition, message records) as local activities;
    # update results and activity inputs padded to the size ours carries.
    local_store: bool = False
    pad_update: int = 0
    pad_activity: int = 0
    # Upsert a stage search attribute on every stage entry, as ours does.
    upserts: bool = False


@activity.defn(name="bare_store")
async def bare_store(label: str) -> None:
    """A store write (register, transition, message record): nothing."""


@activity.defn(name="bare_transition")
async def bare_transition(label: str) -> None:
    """The stage transition record (a local activity, as ours): nothing."""


@activity.defn(name="bare_robot")
async def bare_robot(label: str) -> None:
    """A robot's side effect: nothing."""


@activity.defn(name="bare_due")
async def bare_due(label: str) -> None:
    """The due-time computation: nothing (run as a local activity, as ours is)."""


@workflow.defn(name="BareDeal")
class BareDeal:
    def __init__(self) -> None:
        self._stage = "new"
        self._seq = 0
        self._next: str | None = None
        self._entered = 0
        self._paid = False
        self._tasks: dict[str, bool] = {}
        self._timers: list[asyncio.Task[None]] = []
        self._input = BareInput(deal_id="")

    @workflow.run
    async def run(self, input: BareInput) -> str:
        self._input = input
        await self._act("bare_store", "register")
        stage: str | None = "new"
        while stage is not None:
            await self._enter(stage)
            if stage in ("won", "lost"):
                break
            self._check()
            await workflow.wait_condition(lambda: self._next is not None)
            for i in range(SHAPES[self._stage].leave_writes):
                await self._act("bare_store", f"{self._seq}:leave:{i}")
            stage, self._next = self._next, None
        await asyncio.gather(*self._timers)
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self._stage

    async def _act(self, name: str, label: str) -> None:
        arg = f"{self._input.deal_id}:{label}" + " " * self._input.pad_activity
        timeout = timedelta(seconds=30)
        if name == "bare_store" and self._input.local_store:
            await workflow.execute_local_activity(name, arg, start_to_close_timeout=timeout)
        else:
            await workflow.execute_activity(name, arg, start_to_close_timeout=timeout)

    async def _enter(self, stage: str) -> None:
        self._seq += 1
        self._stage = stage
        seq = self._seq
        shape = SHAPES[stage]
        if shape.timers:
            await workflow.execute_local_activity(
                "bare_due", stage, start_to_close_timeout=timedelta(seconds=10)
            )
        if self._input.upserts:
            workflow.upsert_search_attributes([STAGE_ATTRIBUTE.value_set(stage)])
        await workflow.execute_local_activity(
            "bare_transition", f"{seq}:enter", start_to_close_timeout=timedelta(seconds=30)
        )
        for i in range(shape.robots):
            await self._act("bare_robot", f"{seq}:{i}")
        for i in range(shape.timers):
            due = workflow.now() + timedelta(days=1 + i)
            deadline = i == shape.timers - 1
            if deadline and seq == 1 and self._input.first_deadline_at is not None:
                due = self._input.first_deadline_at
            self._timers.append(asyncio.create_task(self._timer(seq, due, deadline)))
        self._entered = seq

    async def _timer(self, seq: int, due: datetime, deadline: bool) -> None:
        remaining = max(due - workflow.now(), timedelta(milliseconds=1))
        try:
            await workflow.wait_condition(lambda: self._seq != seq, timeout=remaining)
            return
        except TimeoutError:
            pass
        if self._seq != seq:
            return
        if deadline:
            await self._act("bare_store", f"{seq}:breach")
            for i in range(ESCALATION_ROBOTS):
                await self._act("bare_robot", f"{seq}:escalate:{i}")
        else:
            await self._act("bare_robot", f"{seq}:later")

    def _check(self) -> None:
        if self._next is not None:
            return
        if self._stage == "payment" and self._paid:
            self._next = TRIGGERS["payment"]
        elif self._stage in ("contract", "final"):
            mine = [done for key, done in self._tasks.items() if key.startswith(f"{self._seq}-")]
            if mine and all(mine):
                self._next = TRIGGERS[self._stage]

    async def _move(self, stage: str) -> str:
        await workflow.wait_condition(lambda: self._next is None)
        self._next = stage
        target = self._seq + 1
        await workflow.wait_condition(lambda: self._entered >= target)
        return self._stage + " " * self._input.pad_update

    @workflow.update
    async def accept(self, input: AcceptInput) -> str:
        await self._act("bare_robot", "accepted")  # ours writes a report event
        return await self._move(TRIGGERS["new"])

    @workflow.update
    async def move_to_stage(self, input: MoveInput) -> str:
        if input.stage == "contract":
            # `contract` opens one task; ours creates it as a robot of the stage.
            self._tasks[f"{self._seq + 1}-contract"] = False
        return await self._move(input.stage)

    @workflow.update
    async def run_template(self, input: RunTemplateInput) -> str:
        # The set is a chain, as ours' `website` set: the first task now, each next one
        # when the one before it is done (task_completed).
        for name in TEMPLATE_TASKS:
            self._tasks[f"{self._seq}-{name}"] = False
        await self._template_task(0)
        self._check()
        return self._stage + " " * self._input.pad_update

    async def _template_task(self, i: int) -> None:
        await self._act("bare_robot", f"{self._seq}:template:{TEMPLATE_TASKS[i]}")
        due = workflow.now() + timedelta(days=2 + i)  # the task's own deadline
        self._timers.append(asyncio.create_task(self._timer(self._seq, due, False)))

    @workflow.signal
    async def invoice_paid(self, input: InvoicePaid) -> None:
        self._paid = True
        self._check()
        await self._act("bare_store", "paid")

    @workflow.signal
    async def task_completed(self, input: TaskCompleted) -> None:
        # The driver names tasks as ours does (<seq>-<robot or template id>); only the
        # seq prefix matters here.
        seq, name = input.task_id.split("-", 1)
        for key in self._tasks:
            if key.startswith(f"{seq}-") and not self._tasks[key]:
                self._tasks[key] = True
                break
        self._check()
        await self._act("bare_store", "task")
        if name in TEMPLATE_TASKS[:-1]:
            await self._template_task(TEMPLATE_TASKS.index(name) + 1)

    @workflow.query
    def stage(self) -> str:
        return self._stage


ACTIVITIES = [bare_store, bare_transition, bare_robot, bare_due]
