"""``funnel task``: list tasks from the store; complete, confirm or return one.

The deal workflow owns a task's state (it decides whether a completion needs the creator's
confirmation and whether the stage can move on), so done/confirm/return send the workflow
the ``task_event`` update and print the task as the workflow answers it; the store's copy
follows through the workflow's activity.
"""

from __future__ import annotations

import click

from funnel.domain.models import TaskAction, TaskEvent
from funnel.domain.task_ids import normalise_task_id
from funnel.runtime.settings import Settings
from starter.cli_support import (
    Failure,
    as_option,
    deal_client,
    emit,
    json_option,
    operator_actor,
    run_async,
)

STATUSES = ["open", "awaiting_confirmation", "done", "cancelled"]


# Annotated: starter.cli imports this module at its end (an import cycle mypy cannot type).
task_group: click.Group = click.Group(
    "task", help="Deal tasks: list them; done (executor), confirm or return (creator)."
)


@task_group.command("list")
@click.option("--deal", "deal_id", help="only tasks of this deal")
@click.option("--assignee", help="responsible or co-executor")
@click.option("--status", type=click.Choice(STATUSES))
@click.option("--to-confirm", is_flag=True, help="only tasks awaiting confirmation")
@click.option("--by", "creator", help="only tasks created by this employee (who confirms them)")
@json_option
def task_list(
    deal_id: str | None,
    assignee: str | None,
    status: str | None,
    to_confirm: bool,
    creator: str | None,
    as_json: bool,
) -> None:
    """Tasks in the store, oldest first. `--to-confirm --by smirnova`: what waits for
    smirnova's confirmation."""
    from funnel.storage.migrate import upgrade
    from funnel.storage.store import Store

    if to_confirm:
        if status not in (None, "awaiting_confirmation"):
            raise Failure(f"--to-confirm lists awaiting_confirmation tasks, not {status}")
        status = "awaiting_confirmation"
    url = Settings().effective_database_url
    upgrade(url)  # a fresh database answers "no tasks"; a no-op once migrated
    store = Store(url)
    tasks = store.tasks(deal_id=deal_id, assignee=assignee, status=status, created_by=creator)

    def human() -> None:
        for t in tasks:
            due = f"{t.deadline_at:%Y-%m-%d %H:%M}Z" if t.deadline_at else "-"
            team = f" +{','.join(t.co_executors)}" if t.co_executors else ""
            click.echo(
                f"{t.deal_id} {t.task_id} [{t.status}] {t.title} ({t.responsible}{team}; due {due})"
            )
        if not tasks:
            click.echo("no tasks")

    emit(as_json, [t.model_dump(mode="json") for t in tasks], human)


def _event_command(action: TaskAction, help_text: str) -> click.Command:
    @click.command(action.value if action is not TaskAction.COMPLETE else "done", help=help_text)
    @click.argument("deal_id")
    @click.argument("task_id")
    @click.option("--by", help="employee id of who does it (or --as)")
    @click.option("--comment", help="why (shown to the executor when returned)")
    @as_option
    @json_option
    @run_async
    async def command(
        deal_id: str,
        task_id: str,
        by: str | None,
        comment: str | None,
        as_employee: str | None,
        as_json: bool,
    ) -> None:
        if by is None and as_employee is None:
            raise Failure("say who does it: --as EMPLOYEE (or --by EMPLOYEE)")
        if action is TaskAction.RETURN and not (comment or "").strip():
            raise Failure("returning a task needs --comment saying what is missing")
        settings = Settings()
        actor = operator_actor(settings, as_employee)
        client = await deal_client(settings)
        event = TaskEvent(task_id=normalise_task_id(task_id), action=action, by=by, comment=comment)
        task = await client.task_event(deal_id, event, actor=actor)
        emit(as_json, task, lambda: click.echo(f"task {task.task_id}: {task.status.value}"))

    return command


task_group.add_command(_event_command(TaskAction.COMPLETE, "The executor reports the task done."))
task_group.add_command(
    _event_command(TaskAction.CONFIRM, "The creator confirms a task awaiting confirmation.")
)
task_group.add_command(
    _event_command(TaskAction.RETURN, "The creator returns the task to the executor.")
)
