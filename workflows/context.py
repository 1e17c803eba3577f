"""What every part of a deal's workflow shares: the deal's state, its pinned pipeline, the
patched behaviours of the run, the robots in flight, and the helpers that call activities.

:class:`DealContext` is created once per workflow run and handed to each part (moves,
robots, deadlines, tasks, task sets, payments) in its constructor; the parts keep no copy
of the state, so a migration (a new pipeline) or continue-as-new is seen by all of them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError

from workflows.patches import RunPatches

with workflow.unsafe.imports_passed_through():
    from funnel.domain.activity_io import (
        ActivityName,
        NotifyCall,
        NotifyResult,
        ReportEventCall,
        RobotContext,
    )
    from funnel.domain.conditions import deal_values, holds
    from funnel.domain.models import DealState, DealStatus, ReportEventView, WaitingRobot
    from funnel.domain.pipeline import ROLE_HEAD, ROLE_RESPONSIBLE, ROLE_SALES_TEAM, Pipeline, Stage
    from funnel.domain.robot_rules import Condition, Timing
    from funnel.domain.timing import Due, DueRequest

T = TypeVar("T")

# Robots write to the store or to people: retry with backoff for as long as it takes (a
# database outage must delay a robot, never lose it); a bad template is not retried.
ROBOT_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=1),
    non_retryable_error_types=["TemplateProblem"],
)
# A robot's attempt may send its deliveries to several channels in turn, each client allowed
# 10 s (integration settings): 30 s covers that. An attempt cut off by a killed worker is
# retried only when this expires: it is what a crash costs a robot.
ROBOT_TIMEOUT = timedelta(seconds=30)
TIMING_FIELDS = {"delay", "relative_to", "direction", "at_time", "responsible_working_time"}


def robot_key(deal_id: str, seq: int, robot_id: str) -> str:
    """The idempotency key of a robot's effects in one stage visit."""
    return f"{deal_id}:{seq}:{robot_id}"


def invalid(message: str) -> ApplicationError:
    """A request a validator refuses (it never reaches the history)."""
    return ApplicationError(message, type="InvalidMove")


class DealContext:
    """The state a deal's parts share, and the activity-calling helpers they use."""

    def __init__(self, state: DealState, pipeline: Pipeline) -> None:
        self.state = state
        self.pipeline = pipeline  # the worker's shared copy of the pinned version
        self.patches = RunPatches()  # decided when the run starts
        self.busy = 0  # robot activities in flight (continue-as-new waits for none)
        self.timers: list[asyncio.Task[None]] = []  # flows still running (robots, deadlines)

    # --- the deal -------------------------------------------------------------------------

    def now(self) -> datetime:
        return workflow.now()

    def current_stage(self) -> Stage:
        return self.pipeline.stage(self.state.stage)

    def require_open(self) -> None:
        if self.state.status is not DealStatus.OPEN:
            raise ApplicationError(
                f"deal {self.state.deal_id} is closed ({self.state.status.value}) and cannot"
                " change any more",
                type="DealClosed",
            )

    def condition_holds(self, condition: Condition | None) -> bool:
        values = deal_values(self.state.deal, title=self.state.title, stage=self.state.stage)
        return holds(condition, values, self.pipeline)

    def robot_context(self, stage: Stage) -> RobotContext:
        return RobotContext(
            deal=self.state.deal,
            pipeline_id=self.pipeline.id,
            pipeline_version=self.pipeline.version,
            title=self.state.title,
            stage_id=stage.id,
            stage_name=stage.name,
            lost_reason=self.state.lost_reason,
        )

    def people(self, refs: list[str]) -> list[str]:
        """Roles (responsible, head, sales_team) resolved to employee ids, in order, once."""
        people: list[str] = []
        for ref in refs:
            ids = self.state.deal.sales_team if ref == ROLE_SALES_TEAM else [self.person(ref)]
            people += [p for p in ids if p not in people]
        return people

    def person(self, ref: str) -> str:
        if ref == ROLE_RESPONSIBLE:
            return self.state.deal.responsible
        if ref == ROLE_HEAD:
            return self.state.deal.department_head
        return ref

    # --- flows and activities -------------------------------------------------------------

    def spawn(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        self.timers = [t for t in self.timers if not t.done()]
        task: asyncio.Task[None] = asyncio.create_task(coro)
        self.timers.append(task)
        return task

    @contextmanager
    def working(self) -> Iterator[None]:
        """Counts an effect in flight: the run does not continue-as-new under it."""
        self.busy += 1
        try:
            yield
        finally:
            self.busy -= 1

    async def call(self, name: str, arg: Any, result_type: type[T] | None, *, summary: str) -> T:
        result: T = await workflow.execute_activity(
            name,
            arg,
            result_type=result_type,
            start_to_close_timeout=ROBOT_TIMEOUT,
            retry_policy=ROBOT_RETRY,
            summary=summary,
        )
        return result

    async def call_local(self, name: str, arg: Any, *, summary: str) -> None:
        """A store write as a local activity: run by this worker within the workflow task,
        retried as robots are (a database outage delays it, never loses it)."""
        await workflow.execute_local_activity(
            name,
            arg,
            start_to_close_timeout=ROBOT_TIMEOUT,
            retry_policy=ROBOT_RETRY,
            summary=summary,
        )

    async def notify(
        self,
        key: str,
        stage: Stage,
        recipients: list[str],
        message: str,
        summary: str,
        channels: Sequence[str] | None = None,
    ) -> None:
        """Tell people (the NOTIFY activity): ``message`` is a template over the deal."""
        await self.call(
            ActivityName.NOTIFY,
            NotifyCall(
                key=key,
                context=self.robot_context(stage),
                recipients=recipients,
                message=message,
                at=self.now(),
                channels=list(channels) if channels is not None else None,
            ),
            NotifyResult,
            summary=summary,
        )

    async def write_report(
        self,
        key: str,
        stage: Stage,
        kind: str,
        details: str,
        summary: str,
        extra: dict[str, Any] | None = None,
    ) -> None:
        now = self.now()
        await self.call(
            ActivityName.WRITE_REPORT_EVENT,
            ReportEventCall(
                key=key,
                context=self.robot_context(stage),
                kind=kind,
                details=details,
                at=now,
                extra=extra or {},
            ),
            None,
            summary=summary,
        )
        self.state.report_events.append(ReportEventView(key=key, kind=kind, stage=stage.id, at=now))

    # --- due times and waiting ------------------------------------------------------------

    async def due(
        self, key: str, timing: Timing, base: datetime, *, pipeline: Pipeline | None = None
    ) -> Due:
        return (await self.due_many([(key, timing, base)], pipeline=pipeline))[0]

    async def due_many(
        self, items: list[tuple[str, Timing, datetime]], *, pipeline: Pipeline | None = None
    ) -> list[Due]:
        """In the calendar of ``pipeline`` (default: the deal's; another one's for a stage
        of the pipeline the deal is moving into)."""
        pipeline = pipeline or self.pipeline
        # A local activity: the holiday data lives outside the sandbox, and the recorded
        # result means replay never recomputes a due time with newer holiday data.
        requests = [
            DueRequest(
                key=key,
                base=base,
                timing=Timing.model_validate(timing.model_dump(include=TIMING_FIELDS)),
                anchor_value=self._field_text(timing.relative_to),
                calendar=pipeline.calendar,
                responsible_calendar=pipeline.calendar_for(self.state.deal.responsible),
            )
            for key, timing, base in items
        ]
        result: list[Due] = await workflow.execute_local_activity(
            ActivityName.DUE_TIMES,
            requests,
            result_type=list[Due],
            start_to_close_timeout=timedelta(seconds=10),
            summary="Compute due times in working time",
        )
        return result

    def _field_text(self, path: str | None) -> str | None:
        if path is None:
            return None
        value = self.state.deal.fields.get(path.removeprefix("fields."))
        return None if value is None or value == "" else str(value)

    async def wait_for(self, key: str, stop: Callable[[], bool] | None = None) -> bool:
        """Sleep until the waiting entry's due time; True when it came. The entry may be
        removed (its stage was left: False) or get a new due time (a date field changed:
        sleep again) while waiting. ``stop`` (what a repeating robot waits for) ends the wait
        as soon as it holds: the entry is removed, False."""
        while True:
            entry = self.state.waiting_entry(key)
            if entry is None:
                return False
            if stop is not None and stop():
                self.state.waiting = [w for w in self.state.waiting if w.key != key]
                return False
            due_at = entry.due_at
            remaining = due_at - self.now()
            if remaining <= timedelta(0):
                break

            def moved(entry: WaitingRobot = entry, due_at: datetime = due_at) -> bool:
                if stop is not None and stop():
                    return True
                return self.state.waiting_entry(key) is not entry or entry.due_at != due_at

            try:
                await workflow.wait_condition(
                    moved,
                    timeout=remaining,
                    timeout_summary=f"{entry.title} at {due_at:%Y-%m-%d %H:%M}Z",
                )
            except TimeoutError:
                break
        self.state.waiting = [w for w in self.state.waiting if w.key != key]
        return True
