"""A deal's tasks: creating one, watching its deadline, the confirmation loop's notices,
and writing each status change to the store in order."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError

from workflows.context import DealContext
from workflows.patches import PATCH_CONFIRMATION_LOOP, PATCH_ONE_ALARM

with workflow.unsafe.imports_passed_through():
    from funnel.domain.activity_io import (
        ActivityName,
        CreatedTask,
        CreateTaskCall,
        TaskStatusCall,
    )
    from funnel.domain.durations import Duration
    from funnel.domain.models import (
        DealStatus,
        TaskAction,
        TaskComment,
        TaskEvent,
        TaskStatus,
        TaskView,
        WaitingRobot,
    )
    from funnel.domain.people import Doer
    from funnel.domain.pipeline import ROLE_HEAD, NotifyRobot, Stage
    from funnel.domain.robot_rules import Timing
    from funnel.domain.text import literal

ONE_ALARM_WINDOW = timedelta(minutes=1)
_OPEN = DealStatus.OPEN


class Tasks:
    def __init__(self, ctx: DealContext) -> None:
        self._ctx = ctx
        # One status write at a time, in the order the events came: two quick events (done,
        # then confirmed) must not reach the store the other way round.
        self._writes = asyncio.Lock()

    async def create(
        self,
        seq: int,
        stage: Stage,
        robot_id: str,
        summary: str,
        key: str,
        *,
        title: str,
        description: str,
        deadline: Duration | None,
        responsible: str,
        co_executors: list[str],
        created_by: str,
        needs_confirmation: bool,
    ) -> None:
        ctx = self._ctx
        task_id = f"{seq}-{robot_id}"
        created = await ctx.call(
            ActivityName.CREATE_TASK,
            CreateTaskCall(
                key=key,
                task_id=task_id,
                robot_id=robot_id,
                context=ctx.robot_context(stage),
                title=title,
                description=description,
                deadline=deadline,
                calendar=ctx.pipeline.calendar,
                responsible=ctx.person(responsible),
                co_executors=ctx.people(co_executors),
                created_by=ctx.person(created_by),
                needs_confirmation=needs_confirmation,
                at=ctx.now(),
            ),
            CreatedTask,
            summary=summary,
        )
        if ctx.state.task(task_id) is None:
            task = TaskView(
                task_id=task_id,
                key=key,
                seq=seq,
                stage=stage.id,
                title=created.title,
                responsible=ctx.person(responsible),
                co_executors=ctx.people(co_executors),
                created_by=ctx.person(created_by),
                needs_confirmation=needs_confirmation,
                deadline_at=created.deadline_at,
            )
            ctx.state.tasks.append(task)
            self.watch(task)

    def watch(self, task: TaskView) -> None:
        if task.deadline_at is not None and not task.overdue:
            self._ctx.spawn(self._overdue_flow(task))

    async def _overdue_flow(self, task: TaskView) -> None:
        """A task still open at its deadline escalates like a stage deadline: the executor
        and the head are told and the report gets a `task_overdue` event."""
        ctx = self._ctx
        assert task.deadline_at is not None
        remaining = task.deadline_at - ctx.now()
        if remaining > timedelta(0):
            try:
                await workflow.wait_condition(
                    lambda: task.status.closed or ctx.state.status is not _OPEN,
                    timeout=remaining,
                    timeout_summary=f"Task {task.task_id} due {task.deadline_at:%Y-%m-%d %H:%M}Z",
                )
                return
            except TimeoutError:
                pass
        if task.status.closed or ctx.state.status is not _OPEN:
            return
        task.overdue = True
        stage = ctx.pipeline.stage(task.stage) if ctx.pipeline.has_stage(task.stage) else None
        if stage is None:
            return
        with ctx.working():
            try:
                # When the stage deadline of the same visit falls in the same minute it tells
                # the same people: one breach, one message. The report still gets the task.
                told_with_breach = self._stage_breach_covers(task, stage) and workflow.patched(
                    PATCH_ONE_ALARM
                )
                if not told_with_breach:
                    await ctx.notify(
                        f"{task.key}:overdue",
                        stage,
                        ctx.people([task.responsible, ROLE_HEAD]),
                        f"Task overdue: {task.title} (deal {{{{ deal.title }}}})",
                        f"Task {task.task_id} overdue: notify executor and head",
                    )
                await ctx.write_report(
                    f"{task.key}:overdue:report",
                    stage,
                    "task_overdue",
                    task.task_id,
                    f"Write the overdue task {task.task_id} to the report",
                    extra={"told_with": "the stage deadline breach"} if told_with_breach else None,
                )
            except ActivityError as err:
                workflow.logger.warning("task overdue escalation failed: %s", err)

    def _stage_breach_covers(self, task: TaskView, stage: Stage) -> bool:
        """The task's visit is the current one, and its stage deadline, which notifies
        people too, falls within a minute of the task's deadline."""
        state = self._ctx.state
        if task.seq != state.seq or not state.visits or task.deadline_at is None:
            return False
        escalate = stage.deadline.escalate if stage.deadline else []
        if not any(isinstance(robot, NotifyRobot) for robot in escalate):
            return False
        stage_deadline = state.visits[-1].deadline_at
        if stage_deadline is None:
            return False
        return abs(stage_deadline - task.deadline_at) <= ONE_ALARM_WINDOW

    async def tell(
        self, task: TaskView, action: TaskAction, by: str | None, comment: str | None
    ) -> None:
        """The confirmation loop: a task done by its executor that needs confirmation is
        announced to its creator; a returned task is announced to its executor with the
        reason (and the reason goes to the report). Deals recorded before told nobody
        (PATCH_CONFIRMATION_LOOP, checked only when there is someone to tell)."""
        ctx = self._ctx
        awaiting = action is TaskAction.COMPLETE and task.status is TaskStatus.AWAITING_CONFIRMATION
        returned = action is TaskAction.RETURN
        if not (awaiting or returned) or not workflow.patched(PATCH_CONFIRMATION_LOOP):
            return
        if not ctx.pipeline.has_stage(task.stage):
            return
        stage = ctx.pipeline.stage(task.stage)
        who = literal(by or "someone")
        title = literal(task.title)
        if awaiting:
            key = f"{task.key}:to-confirm:{task.returned}"
            recipients = [task.created_by]
            message = (
                f"{title} is done by {who} and awaits your confirmation"
                " (deal {{ deal.title }})."
            )
        else:
            key = f"{task.key}:returned:{task.returned}"
            recipients = [task.responsible, *task.co_executors]
            reason = f": {literal(comment.strip())}" if comment and comment.strip() else ""
            message = f"{title} was returned by {who}{reason} (deal {{{{ deal.title }}}})."
        with ctx.working():
            try:
                await ctx.notify(
                    key,
                    stage,
                    recipients,
                    message,
                    f"Task {task.task_id}: {'to confirm' if awaiting else 'returned'}",
                )
                if returned:
                    await ctx.write_report(
                        f"{key}:report",
                        stage,
                        "task_returned",
                        task.task_id,
                        f"Write the return of task {task.task_id} to the report",
                        extra={"by": by, "comment": comment},
                    )
            except ActivityError as err:
                workflow.logger.warning("task notice failed: %s", err)

    async def set_status(self, task: TaskView, status: TaskStatus, by: str | None) -> None:
        task.status = status
        async with self._writes:
            await self._ctx.call(
                ActivityName.RECORD_TASK_STATUS,
                TaskStatusCall(key=task.key, status=status, by=by, at=self._ctx.now()),
                None,
                summary=f"Task {task.task_id}: {status.value}",
            )

    def record_event(
        self,
        task: TaskView,
        action: TaskAction,
        by: Doer,
        comment: str | None,
    ) -> TaskStatus:
        """Keep the event with the task (who, how, when; and the comment, if any) and
        answer the status it brings (not yet written: ``set_status`` does that)."""
        if action is TaskAction.COMPLETE:
            status = completed_status(task, by.id)
        elif action is TaskAction.CONFIRM:
            status = TaskStatus.DONE
        else:
            task.returned += 1
            status = TaskStatus.OPEN
        event = TaskComment(
            action=action, by=by.id, at=self._ctx.now(), via=by.via, by_kind=by.kind
        )
        task.events.append(event)
        if comment and comment.strip():
            task.comments.append(event.model_copy(update={"text": comment}))
        return status

    def event_problem(self, input: TaskEvent) -> str | None:
        """Why a task event does not apply to the task as it is now, or None."""
        state = self._ctx.state
        task = state.task(input.task_id)
        if task is None:
            known = ", ".join(t.task_id for t in state.tasks) or "none"
            return f"deal {state.deal_id} has no task {input.task_id!r} (its tasks: {known})"
        allowed = {
            TaskAction.COMPLETE: (TaskStatus.OPEN,),
            TaskAction.CONFIRM: (TaskStatus.AWAITING_CONFIRMATION,),
            TaskAction.RETURN: (TaskStatus.AWAITING_CONFIRMATION,),
        }[input.action]
        if task.status not in allowed:
            return (
                f"task {task.task_id} is {task.status.value}; it cannot be"
                f" {input.action.value}ed now"
            )
        creator_only = input.action in (TaskAction.CONFIRM, TaskAction.RETURN)
        if creator_only and input.by is not None and input.by != task.created_by:
            return (
                f"only the task's creator {task.created_by} can"
                f" {input.action.value} it, not {input.by}"
            )
        return None

    def deadlines(self) -> list[WaitingRobot]:
        """The open tasks' deadlines, as the `plan` query shows them."""
        return [
            WaitingRobot(
                key=f"{t.key}:overdue",
                kind="task_deadline",
                seq=t.seq,
                stage=t.stage,
                robot_id=t.task_id,
                title=f"Task due: {t.title}",
                due_at=t.deadline_at,
                rule="the task's deadline",
                base=t.deadline_at,
                timing=Timing(),
            )
            for t in self._ctx.state.tasks
            if t.deadline_at is not None and not t.overdue and not t.status.closed
        ]


def completed_status(task: TaskView, by: str | None) -> TaskStatus:
    """A completed task needing its creator's confirmation waits for it, unless the creator
    completed it (which confirms it)."""
    by_creator = by is not None and by == task.created_by
    if task.needs_confirmation and not by_creator:
        return TaskStatus.AWAITING_CONFIRMATION
    return TaskStatus.DONE
