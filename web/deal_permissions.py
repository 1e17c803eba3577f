"""What the viewer may do on the deal card: the buttons it shows.

The rules are the deal's own (workflows/permissions.py); the card only hides what would be
refused. The deal still checks every request, and a refusal comes back with its reason.
"""

from __future__ import annotations

from dataclasses import dataclass

from funnel.domain.models import DealState, DealStatus, TaskStatus, TaskView
from funnel.domain.people import Role
from funnel.domain.pipeline import Pipeline, TriggerEvent
from web.viewer import Viewer


@dataclass(frozen=True)
class DealPermissions:
    viewer: str
    open: bool  # nothing can be done to a won or lost deal
    lead: bool  # the responsible, their head or an admin
    reader: bool  # the lead, or one of the sales team
    accept: bool  # the stage the deal is in waits for its acceptance
    task_set: bool  # the stage has a task set for the service, not run in this visit

    def complete(self, task: TaskView) -> bool:
        """The executor, a co-executor or the creator (whose completion confirms it)."""
        doers = (task.responsible, *task.co_executors, task.created_by)
        return self.open and task.status is TaskStatus.OPEN and self.viewer in doers

    def decide(self, task: TaskView) -> bool:
        """Confirm or return: the task's creator only, not even an admin."""
        waiting = task.status is TaskStatus.AWAITING_CONFIRMATION
        return self.open and waiting and self.viewer == task.created_by


def permissions(viewer: Viewer, state: DealState, pipeline: Pipeline | None) -> DealPermissions:
    deal = state.deal
    admin = viewer.role is Role.ADMIN
    lead = admin or viewer.id in (deal.responsible, deal.department_head)
    is_open = state.status is DealStatus.OPEN
    stage = pipeline.stage(state.stage) if pipeline and pipeline.has_stage(state.stage) else None
    accept = stage is not None and stage.trigger(TriggerEvent.ACCEPTED) is not None
    task_sets = stage.task_sets if stage is not None else {}
    has_set = deal.service in task_sets or "default" in task_sets
    return DealPermissions(
        viewer=viewer.id,
        open=is_open,
        lead=lead and is_open,
        reader=(lead or viewer.id in deal.sales_team) and is_open,
        accept=lead and is_open and accept,
        task_set=lead and is_open and has_set and state.template_run_in_seq != state.seq,
    )
