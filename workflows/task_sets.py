"""The task set of the service sold (`run_template`): its independent tasks at once, each
dependent task once the tasks it depends on are done."""

from __future__ import annotations

from collections.abc import Callable

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

from workflows.context import DealContext
from workflows.tasks import Tasks

with workflow.unsafe.imports_passed_through():
    from funnel.domain.models import TaskStatus, TaskView
    from funnel.domain.pipeline import ROLE_RESPONSIBLE, Stage, TaskTemplate


class TaskSets:
    def __init__(self, ctx: DealContext, tasks: Tasks, check_triggers: Callable[[], None]) -> None:
        self._ctx = ctx
        self._tasks = tasks
        self._check_triggers = check_triggers  # the set's last task done moves the deal on
        # Template tasks whose create_task robot is running: until their task exists, the
        # stage's tasks are not all done (PATCH_NOV_27; an empty set for older deals).
        self.creating: set[str] = set()

    async def run(self) -> list[TaskView]:
        ctx, state = self._ctx, self._ctx.state
        seq = state.seq
        stage = ctx.current_stage()
        templates = self._task_set(stage)
        if state.template_run_in_seq != seq:
            # Marked before the activities run so that a second request while they run
            # returns the same set instead of creating another.
            state.template_run_in_seq = seq
            state.waiting_tasks = [t.id for t in templates if t.depends_on]
            independent = [t for t in templates if not t.depends_on]
            if ctx.patches.nov_27:
                self.creating.update(t.id for t in independent)
            for template in independent:
                await self._create_from_template(seq, stage, template)
            self._check_triggers()
        else:
            await workflow.wait_condition(
                lambda: all(
                    state.task(f"{seq}-{t.id}")
                    for t in templates
                    if t.id not in state.waiting_tasks
                )
            )
        return [t for t in state.tasks if t.seq == seq]

    def problem(self, stage: Stage) -> str | None:
        """Why the stage (the one the deal is in or entering) has no task set to run."""
        if not stage.task_sets:
            where = [s.id for s in self._ctx.pipeline.stages if s.task_sets]
            return (
                f"stage {stage.id!r} has no task template (templates are in: "
                f"{', '.join(where) or 'no stage'})"
            )
        service = self._ctx.state.deal.service
        if service not in stage.task_sets and "default" not in stage.task_sets:
            return (
                f"no task set for service {service!r} in stage {stage.id!r}"
                f" (known: {', '.join(stage.task_sets)})"
            )
        return None

    def _task_set(self, stage: Stage) -> list[TaskTemplate]:
        sets = stage.task_sets
        return sets.get(self._ctx.state.deal.service) or sets.get("default", [])

    async def _task_from_template(self, seq: int, stage: Stage, template: TaskTemplate) -> None:
        key = f"{self._ctx.state.deal_id}:{seq}:template:{template.id}"
        try:
            await self._tasks.create(
                seq,
                stage,
                template.id,
                f"Task from template: {template.id}",
                key,
                title=template.title,
                description=template.description,
                deadline=template.deadline,
                responsible=template.responsible,
                co_executors=template.co_executors,
                created_by=ROLE_RESPONSIBLE,
                needs_confirmation=False,
            )
        except ActivityError as err:
            raise ApplicationError(
                f"task {template.id!r} could not be created: {err.cause}"
            ) from err

    async def release_dependent(self) -> None:
        """Create the template tasks whose dependencies are now all done."""
        ctx, state = self._ctx, self._ctx.state
        seq = state.template_run_in_seq
        if seq is None or seq != state.seq or not state.waiting_tasks:
            return
        stage = ctx.current_stage()
        done = {
            t.task_id.split("-", 1)[1]
            for t in state.tasks
            if t.seq == seq and t.status is TaskStatus.DONE
        }
        for template in self._task_set(stage):
            if template.id in state.waiting_tasks and set(template.depends_on) <= done:
                if ctx.patches.nov_27:
                    self.creating.add(template.id)
                state.waiting_tasks.remove(template.id)
                await self._create_from_template(seq, stage, template)

    async def _create_from_template(self, seq: int, stage: Stage, template: TaskTemplate) -> None:
        """Create the task, then stop counting it as being created (done or failed)."""
        try:
            await self._task_from_template(seq, stage, template)
        finally:
            self.creating.discard(template.id)
