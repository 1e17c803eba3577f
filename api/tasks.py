"""``GET /tasks``: tasks across deals from the store (a person's work, what waits for their
confirmation); each carries the deal workflow's task id that the task endpoints take."""

from __future__ import annotations

import asyncio
from typing import Annotated, Literal

from fastapi import APIRouter, Body, Depends, HTTPException, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from api.auth import DEALS_READ, DEALS_WRITE, require_scope
from api.caller import request_actor
from api.errors import DEAL_ERRORS, temporal
from api.read_scope import task_reader
from funnel.client.deals import DealClient
from funnel.domain.models import DEAL_ID_PATTERN, TaskAction, TaskEvent, TaskView
from funnel.domain.task_ids import normalise_task_id
from funnel.domain.text import NO_CONTROL_CHARACTERS, FreeText, OneLine
from funnel.storage.records import Task
from funnel.storage.store import Store

router = APIRouter(prefix="/tasks", tags=["tasks"])
# Confirm or return: updates, so the caller hears at once whether the deal took it (409
# with the reason when it did not: not the task's creator, not awaiting confirmation).
deal_tasks = APIRouter(prefix="/deals", tags=["deals"], responses=DEAL_ERRORS)

Person = Annotated[str | None, Query(max_length=200, pattern=NO_CONTROL_CHARACTERS)]


class TasksPage(BaseModel):
    tasks: list[Task]


@router.get(
    "",
    dependencies=[Depends(require_scope(DEALS_READ))],
    summary="Tasks across deals, oldest first",
)
async def list_tasks(
    request: Request,
    assignee: Person = None,
    to_confirm_by: Annotated[
        str | None,
        Query(
            max_length=200,
            pattern=NO_CONTROL_CHARACTERS,
            description="tasks awaiting this employee's confirmation (they created them)",
        ),
    ] = None,
    status: Literal["open", "awaiting_confirmation", "done", "cancelled"] | None = None,
    deal_id: Person = None,
) -> TasksPage:
    store: Store = request.app.state.store
    if to_confirm_by is not None:
        status = "awaiting_confirmation"
    tasks = await asyncio.to_thread(
        store.tasks,
        deal_id=deal_id,
        assignee=assignee,
        status=status,
        created_by=to_confirm_by,
        reader=task_reader(request),  # a person: the tasks of their deals, and their own
    )
    return TasksPage(tasks=tasks)


class TaskDecision(BaseModel):
    model_config = ConfigDict(extra="forbid")
    by: OneLine | None = Field(
        default=None, description="optional: the caller's own id (anyone else: 409)"
    )
    comment: FreeText | None = None


@deal_tasks.post(
    "/{deal_id}/tasks/{task_id}/{action}",
    dependencies=[Depends(require_scope(DEALS_WRITE))],
    summary="Confirm a task awaiting confirmation, or return it with a comment (its creator)",
)
async def decide_task(
    request: Request,
    deal_id: Annotated[str, Path(pattern=DEAL_ID_PATTERN)],
    task_id: Annotated[str, Path(min_length=1, max_length=200, pattern=NO_CONTROL_CHARACTERS)],
    action: Literal["confirm", "return"],
    body: Annotated[TaskDecision | None, Body()] = None,
) -> TaskView:
    body = body or TaskDecision()
    if action == "return" and not (body.comment or "").strip():
        raise HTTPException(
            422,  # well-formed, but a return without its reason
            detail="returning a task needs a comment saying what is missing",
        )
    deals: DealClient = request.app.state.deal_client
    event = TaskEvent(
        task_id=normalise_task_id(task_id),
        action=TaskAction(action),
        by=body.by,
        comment=body.comment,
    )
    return await temporal(request, deals.task_event(deal_id, event, actor=request_actor(request)))
