"""``/my/tasks``: the viewer's open tasks across deals (overdue first), those they finished
that wait for someone's confirmation, and those waiting for theirs, read from the store.
The buttons call the API's task endpoints, so the deal decides who may do what."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from api.read_scope import task_reader
from funnel.storage.records import Task
from funnel.storage.work_reads import DealBrief
from web.render import page
from web.viewer import CurrentViewer
from web.work_common import people_names, stage_names, store, work_reads

router = APIRouter(include_in_schema=False)


@dataclass(frozen=True)
class TaskRow:
    task: Task
    deal: DealBrief | None  # None: a deal the store has no row for (yet)
    overdue: bool


@dataclass(frozen=True)
class MyTasks:
    overdue: list[TaskRow]
    open: list[TaskRow]
    sent_for_confirmation: list[TaskRow]  # mine, done, waiting for their creator
    to_confirm: list[TaskRow]  # created by me, done by someone, waiting for me

    @property
    def empty(self) -> bool:
        return not (self.overdue or self.open or self.sent_for_confirmation or self.to_confirm)


def _by_deadline(row: TaskRow) -> tuple[bool, datetime, str]:
    deadline = row.task.deadline_at
    return (deadline is None, deadline or datetime.max.replace(tzinfo=UTC), row.task.key)


def _read(request: Request, me: str) -> MyTasks:
    tasks, reader = store(request), task_reader(request)
    mine_open = tasks.tasks(assignee=me, status="open", reader=reader)
    mine_done = tasks.tasks(assignee=me, status="awaiting_confirmation", reader=reader)
    to_confirm = tasks.tasks(created_by=me, status="awaiting_confirmation", reader=reader)
    waiting_for_me = {t.key for t in to_confirm}
    mine_done = [t for t in mine_done if t.key not in waiting_for_me]
    found = [*mine_open, *mine_done, *to_confirm]
    deals = work_reads(request).deal_briefs({t.deal_id for t in found})
    now = datetime.now(UTC)

    def rows(chosen: list[Task]) -> list[TaskRow]:
        made = [
            TaskRow(
                t,
                deals.get(t.deal_id),
                t.status == "open" and t.deadline_at is not None and t.deadline_at < now,
            )
            for t in chosen
        ]
        return sorted(made, key=_by_deadline)

    open_rows = rows(mine_open)
    return MyTasks(
        overdue=[r for r in open_rows if r.overdue],
        open=[r for r in open_rows if not r.overdue],
        sent_for_confirmation=rows(mine_done),
        to_confirm=rows(to_confirm),
    )


@router.get("/my/tasks", response_class=HTMLResponse)
async def my_tasks(request: Request, viewer: CurrentViewer) -> HTMLResponse:
    mine = await asyncio.to_thread(_read, request, viewer.id)
    return page(
        request,
        viewer,
        "work_tasks.html.jinja",
        tasks=mine,
        people=people_names(request),
        stages=stage_names(request, viewer.language),
    )
