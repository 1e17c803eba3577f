"""An edit reassigning a deal's people (responsible, head, sales team): the open tasks of the
current visit follow the pipeline's rules, and waiting robots counted in the responsible's
working time are counted in the new responsible's (PATCH_EDIT_PEOPLE_FOLLOW; deals edited
before moved the executor only, workflows/edits.py).

A task's people are the roles its robot names (``responsible``, ``co_executors``,
``created_by``; a task-set template's creator is the responsible) resolved for the deal as
edited: the contract task "created on behalf of the head" gets the new head as its creator,
who confirms it; the creator stays when the head stays. An employee id named in the
pipeline stays. A task whose robot the pipeline no longer has moves to the new responsible
when the old one was its executor, as before.
"""

from __future__ import annotations

from dataclasses import dataclass

from temporalio import workflow

from workflows.context import DealContext

with workflow.unsafe.imports_passed_through():
    from funnel.domain.activity_io import TaskPeople
    from funnel.domain.models import DealInput, TaskStatus, TaskView
    from funnel.domain.pipeline import ROLE_RESPONSIBLE, CreateTaskRobot, Pipeline, Stage
    from funnel.domain.text import literal


@dataclass(frozen=True)
class TaskRule:
    """The roles (or employee ids) a task's robot names for its people."""

    responsible: str
    co_executors: list[str]
    created_by: str


def task_rule(pipeline: Pipeline, task: TaskView, service: str) -> TaskRule | None:
    """The rule of the robot or task-set template that made ``task`` (its id is
    ``<visit>-<robot id>``), or None when the pipeline has no such robot any more."""
    if not pipeline.has_stage(task.stage):
        return None
    stage = pipeline.stage(task.stage)
    robot_id = task.task_id.split("-", 1)[1]
    escalate = stage.deadline.escalate if stage.deadline else []
    for robot in [*stage.robots, *escalate]:
        if isinstance(robot, CreateTaskRobot) and robot.id == robot_id:
            return TaskRule(robot.responsible, robot.co_executors, robot.created_by)
    sets = stage.task_sets
    for templates in [sets.get(service, []), sets.get("default", []), *sets.values()]:
        for template in templates:
            if template.id == robot_id:
                return TaskRule(template.responsible, template.co_executors, ROLE_RESPONSIBLE)
    return None


@dataclass(frozen=True)
class Handover:
    """An open task whose people changed, and who confirmed it before."""

    task: TaskView
    old_creator: str

    def people(self) -> TaskPeople:
        t = self.task
        return TaskPeople(
            key=t.key, responsible=t.responsible, co_executors=t.co_executors,
            created_by=t.created_by,
        )  # fmt: skip


class Reassign:
    def __init__(self, ctx: DealContext) -> None:
        self._ctx = ctx

    def follow_rules(self, old: DealInput) -> list[Handover]:
        """Give the open tasks of the current visit their people by the pipeline's rules
        for the deal as edited; answer those that changed."""
        ctx, state = self._ctx, self._ctx.state
        changed: list[Handover] = []
        for task in state.tasks:
            if task.seq != state.seq or task.status.closed:
                continue
            rule = task_rule(ctx.pipeline, task, state.deal.service)
            if rule is None:
                moves = task.responsible == old.responsible
                people = (
                    state.deal.responsible if moves else task.responsible,
                    task.co_executors,
                    task.created_by,
                )
            else:
                people = (
                    ctx.person(rule.responsible),
                    ctx.people(rule.co_executors),
                    ctx.person(rule.created_by),
                )
            if people != (task.responsible, task.co_executors, task.created_by):
                changed.append(Handover(task, task.created_by))
                task.responsible, task.co_executors, task.created_by = people
        return changed

    async def tell_new_confirmers(self, key: str, stage: Stage, handovers: list[Handover]) -> None:
        """A task already waiting for its confirmation whose creator changed: the new
        creator hears it waits for them (the old one was told when it was done)."""
        for handover in handovers:
            task = handover.task
            if task.status is not TaskStatus.AWAITING_CONFIRMATION:
                continue
            if task.created_by == handover.old_creator:
                continue
            await self._ctx.notify(
                f"{key}:to-confirm:{task.task_id}",
                stage,
                [task.created_by],
                f"{literal(task.title)} is done and awaits your confirmation (deal"
                " {{ deal.title }}, reassigned to you).",
                f"Tell the new confirmer of task {task.task_id}",
            )
