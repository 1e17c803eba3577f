"""Carrying out a move: leaving the stage the deal is in, entering the next one (its deadline,
its record, its robots), and re-arming what waited after continue-as-new."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from temporalio import workflow
from temporalio.common import SearchAttributeUpdate

from workflows.context import DealContext, robot_key
from workflows.deadlines import DEADLINE, Deadlines
from workflows.moves import Move
from workflows.patches import PATCH_STAGE_PLAN
from workflows.payments import Payments
from workflows.robots import Robots
from workflows.tasks import Tasks

with workflow.unsafe.imports_passed_through():
    from funnel.domain.activity_io import ActivityName, StageTransition
    from funnel.domain.models import DealStatus, ReportEventView, StageVisit
    from funnel.domain.pipeline import Pipeline, Robot, Semantics, Stage
    from funnel.domain.robot_rules import Timing
    from funnel.domain.search_attributes import (
        DEAL_AMOUNT,
        DEAL_BREACHED,
        DEAL_PIPELINE,
        DEAL_RESPONSIBLE,
        DEAL_STAGE,
    )
    from funnel.domain.stage_plan import stage_plan
    from funnel.domain.timing import Due
    from funnel.runtime.metrics import record_invoice_paid_reaction, record_stage_transition


class Stages:
    def __init__(
        self,
        ctx: DealContext,
        robots: Robots,
        deadlines: Deadlines,
        tasks: Tasks,
        payments: Payments,
    ) -> None:
        self._ctx = ctx
        self._robots = robots
        self._deadlines = deadlines
        self._tasks = tasks
        self._payments = payments

    def resume(self) -> Stage:
        """After continue-as-new: re-arm what was waiting, rebuild the flows still pending."""
        ctx, state = self._ctx, self._ctx.state
        stage = ctx.pipeline.stage(state.stage)
        seq = state.seq
        previous: asyncio.Task[None] | None = None
        repeats = self._robots.repeats
        for robot in stage.robots:
            next_run = state.next_repetition(seq, robot.id)
            repeat = repeats.of(robot) if next_run is not None else None
            if next_run is not None and repeat is not None:
                # a repeating robot that ran: its repetitions go on where they waited
                flow = repeats.flow(seq, stage, robot, repeat, None, start=next_run.number)
                previous = ctx.spawn(flow)
                continue
            if state.ran(seq, robot.id):
                previous = None
                continue
            previous = self._robots.spawn(seq, stage, robot, previous)[1]
        for entry in state.waiting:
            if entry.kind == DEADLINE and entry.seq == seq:
                ctx.spawn(self._deadlines.flow(seq, stage))
            elif entry.seq != seq and ctx.pipeline.has_stage(entry.stage):
                # a robot kept waiting (on_leave: keep) after its stage was left
                kept = ctx.pipeline.stage(entry.stage)
                for robot in kept.robots:
                    if robot.id == entry.robot_id:
                        ctx.spawn(self._robots.flow(entry.seq, kept, robot, None))
        for task in state.tasks:
            if not task.status.closed:
                self._tasks.watch(task)
        return stage

    async def enter(self, move: Move) -> Stage:
        ctx, state = self._ctx, self._ctx.state
        now = ctx.now()
        # Another pipeline when the deal moves to another funnel (workflows/funnels.py).
        pipeline = move.pipeline or ctx.pipeline
        stage = pipeline.stage(move.stage)
        previous = state.visits[-1] if state.visits else None
        seq = state.seq + 1
        # Computed before the state changes, so that no query ever sees a visit without
        # its deadline.
        deadline_due, robot_dues = await self._dues_at_entry(seq, stage, now, pipeline)
        left = ctx.pipeline
        if previous is not None:
            previous.exited_at = now
            previous.exit_cause = move.cause
            # Closing, or leaving the funnel, ends everything the stage still waits for.
            ending = stage.terminal or pipeline is not left
            await self._robots.leave(previous.seq, left.stage(previous.stage), ending)
        if pipeline is not left:
            ctx.pipeline = pipeline
            state.pipeline_id, state.pipeline_version = pipeline.id, pipeline.version
        visit = StageVisit(
            seq=seq,
            stage=stage.id,
            entered_at=now,
            cause=move.cause,
            entered_by=move.by.id,
            via=move.by.via,
            entered_by_kind=move.by.kind,
            pipeline_id=pipeline.id,
        )
        state.visits.append(visit)
        if deadline_due is not None:
            self._deadlines.arm(seq, stage, deadline_due)
        self._robots.arm_at_entry(seq, stage, robot_dues)
        state.stage = stage.id
        state.breached = False
        state.waiting_tasks = []  # a task set left behind is not released later
        meter = workflow.metric_meter()  # metrics are not recorded on replay
        record_stage_transition(
            meter, ctx.pipeline.id, previous.stage if previous else None, stage.id
        )
        if move.cause == "invoice_paid" and previous is not None:
            paid_received_at = self._payments.paid_received_at
            since = max(paid_received_at or previous.entered_at, previous.entered_at)
            record_invoice_paid_reaction(meter, since=since, now=now, pipeline_id=ctx.pipeline.id)
        if stage.semantics is Semantics.SUCCESS:
            state.status = DealStatus.WON
        elif stage.semantics is Semantics.FAILURE:
            state.status = DealStatus.LOST
            state.lost_reason = move.reason
        self._upsert_stage(stage.id, pipeline_changed=pipeline is not left)
        workflow.set_current_details(f"**{stage.name}** since {now:%Y-%m-%d %H:%M} UTC")

        key = f"{state.deal_id}:{seq}:enter"
        transition = StageTransition(
            key=key,
            context=ctx.robot_context(stage),
            from_stage=previous.stage if previous else None,
            from_seq=previous.seq if previous else None,
            to_seq=seq,
            at=now,
            cause=move.cause,
            actor=move.by.id,
            reason=move.reason,
            via=move.by.via,
            actor_kind=move.by.kind,
            plan=stage_plan(state.waiting, seq),
            from_pipeline_id=left.id if pipeline is not left else None,
            from_pipeline_version=left.version if pipeline is not left else None,
        )
        summary = f"Record the move to {stage.name}"
        # The record is an idempotent store write of a few ms that the stage's first robot
        # waits for: as a local activity it costs no server round trip (the reaction to
        # `invoice_paid` is one round trip shorter). Deals that recorded their moves as
        # activities replay as they ran.
        if ctx.patches.transition_local:
            await ctx.call_local(ActivityName.RECORD_TRANSITION, transition, summary=summary)
        else:
            await ctx.call(ActivityName.RECORD_TRANSITION, transition, None, summary=summary)
        state.report_events.append(
            ReportEventView(key=key, kind="stage_entered", stage=stage.id, at=now)
        )
        if previous is not None and pipeline is left:
            await self._robots.catch_up(seq, left.stage(previous.stage), stage)
        await asyncio.gather(*self._robots.start_flows(seq, stage))
        return stage

    async def _dues_at_entry(
        self, seq: int, stage: Stage, now: datetime, pipeline: Pipeline
    ) -> tuple[Due | None, list[tuple[Robot, Due]]]:
        """The stage deadline's due time and, for deals since PATCH_STAGE_PLAN, those of
        the robots timed from the entry, in one local activity: the stage-transition record
        then carries the whole plan to the store (the board's "next"), and each such robot
        needs no computation of its own. Deals before it compute the deadline here and each
        robot's due time in its flow, as their histories hold. In ``pipeline``'s calendar
        (another one's when the deal moves to another funnel)."""
        timed = self._robots.timed_at_entry(seq, stage, pipeline.id)
        if not timed or not workflow.patched(PATCH_STAGE_PLAN):
            return await self._deadlines.due(seq, stage, now, pipeline), []
        deal_id = self._ctx.state.deal_id
        requests: list[tuple[str, Timing, datetime]] = [
            (robot_key(deal_id, seq, robot.id), robot, now) for robot in timed
        ]
        if stage.deadline is not None:
            requests.insert(0, (self._deadlines.key(seq), stage.deadline.timing, now))
        dues = await self._ctx.due_many(requests, pipeline=pipeline)
        deadline = dues.pop(0) if stage.deadline is not None else None
        return deadline, list(zip(timed, dues, strict=True))

    def _upsert_stage(self, stage_id: str, *, pipeline_changed: bool) -> None:
        """One upsert per stage entry: DealStage, and whichever of the others changed. Each
        attribute is a write to the server's visibility store, and most stay as the deal
        started (responsible, amount). Deals before PATCH_NOV_27 write the stage on every
        entry, as their histories hold; newer ones skip the upsert when nothing changed
        (the first stage, when the start set the attributes). DealPipeline is set by the
        start and written again only when the deal moves to another pipeline (a deal
        started before it has none until `funnel db backfill-team`)."""
        deal = self._ctx.state.deal
        current = workflow.info().typed_search_attributes
        others: list[SearchAttributeUpdate[Any]] = [
            DEAL_RESPONSIBLE.value_set(deal.responsible),
            DEAL_AMOUNT.value_set(float(deal.amount)),
            DEAL_BREACHED.value_set(False),
        ]
        if pipeline_changed:
            others.append(DEAL_PIPELINE.value_set(self._ctx.pipeline.id))
        updates = [u for u in others if current.get(u.key) != u.value]
        if not self._ctx.patches.nov_27 or current.get(DEAL_STAGE) != stage_id:
            updates.insert(0, DEAL_STAGE.value_set(stage_id))
        if updates:
            workflow.upsert_search_attributes(updates)
