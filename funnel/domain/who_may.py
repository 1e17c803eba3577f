"""Who may act on a task, and whether a request's ``by`` may stand: the rules the deal
enforces (workflows/permissions.py, in its validators and when it applies a change) and the
HTTP API asks first where the deal cannot answer (a task completion is a signal).

A service (a system holding a service token: a payment system, a web form, an integration)
acts as itself and never as a person: a ``by`` naming anyone else is refused wherever it
would make the service pass for that person. Where the ``by`` would only be a label (custom
fields) the deal ignores it instead and records the service (workflows/permissions.py).
"""

from __future__ import annotations

from funnel.domain.models import TaskAction, TaskView
from funnel.domain.people import Actor


def acting_problem(actor: Actor | None, by: str | None, what: str) -> str | None:
    """A ``by`` naming someone else than the authenticated caller: from a person a forgery
    (or a mistake), from a service an attempt to act as a person. ``what`` says what the
    request does ("accept deal D-1"), for the reason."""
    if actor is None or by is None or by == actor.id:
        return None
    if actor.kind == "service":
        return (
            f"service {actor.id} cannot {what} as {by}: a service token never acts as a"
            f" person ({by} signs in or uses a personal token; leave out by)"
        )
    return f"by {by} differs from the caller {actor.id}"


def task_problem(
    actor: Actor | None, by: str | None, task: TaskView, action: TaskAction
) -> str | None:
    """Complete: its executor, a co-executor or its creator (whose completion confirms
    it), or a service reporting the work done as itself (its completion never confirms:
    a task that needs confirmation then waits for its creator). Confirm or return: its
    creator only (not an admin, not a service: the confirmation is the creator's control
    point). None: allowed; a request without an actor is not checked."""
    if actor is None:
        return None
    problem = acting_problem(actor, by, f"{action.value} task {task.task_id}")
    if problem is not None:
        return problem
    if action is TaskAction.COMPLETE:
        if actor.kind == "service":
            return None
        if actor.id in (task.responsible, *task.co_executors, task.created_by):
            return None
        co = f", co-executors {', '.join(task.co_executors)}" if task.co_executors else ""
        return (
            f"{actor.id} cannot complete task {task.task_id}: only its executor"
            f" {task.responsible}{co} or its creator {task.created_by} can"
        )
    if actor.kind == "person" and actor.id == task.created_by:
        return None
    kind = "service " if actor.kind == "service" else ""
    return (
        f"{kind}{actor.id} cannot {action.value} task {task.task_id}: only its creator"
        f" {task.created_by} can"
    )
