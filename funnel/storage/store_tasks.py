"""The store's tasks: created by the task robot, moved by their people (done, confirmed,
reopened) and cancelled when their deal leaves the stage (funnel/storage/store.py)."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any, get_args

import sqlalchemy as sa
from sqlalchemy import Connection

from funnel.storage.base import StoreBase, json_list_has, select_columns
from funnel.storage.records import Task, TaskIn, TaskStatusName
from funnel.storage.store_tables import deals, tasks
from funnel.storage.tables import to_utc

_TASK_STATUSES: tuple[str, ...] = get_args(TaskStatusName)


@dataclass(frozen=True)
class TaskReader:
    """A person reading tasks, with the deals they may read (funnel/client/read_scope.py)."""

    person: str
    responsibles: Collection[str]
    head: str | None = None


# Built once, with bound parameters (see funnel.storage.store._UPDATE_DEAL).
_TASK_KEY: sa.BindParameter[str] = sa.bindparam("_key")
_TASK_STATUS = sa.select(tasks.c.status).where(tasks.c.key == _TASK_KEY).with_for_update()
_UPDATE_TASK = sa.update(tasks).where(tasks.c.key == _TASK_KEY)
_TASK_BY_KEY = select_columns(tasks, Task).where(tasks.c.key == _TASK_KEY)


class TaskMethods(StoreBase):
    """The tasks part of :class:`funnel.storage.store.Store`."""

    def add_task(self, t: TaskIn) -> bool:
        return self._add(tasks, {**t.model_dump(), "status": "open"})

    def get_task(self, key: str) -> Task | None:
        return self._task(key)

    def _task(self, key: str, conn: Connection | None = None) -> Task | None:
        found = self._all(Task, _TASK_BY_KEY, conn, {"_key": key})
        return found[0] if found else None

    def tasks(
        self,
        *,
        deal_id: str | None = None,
        assignee: str | None = None,
        status: str | None = None,
        created_by: str | None = None,
        reader: TaskReader | None = None,
    ) -> list[Task]:
        """Oldest first; ``assignee`` matches the responsible or a co-executor;
        ``created_by`` with status awaiting_confirmation: what waits for that person;
        ``reader``: only what this person may read."""
        query = select_columns(tasks, Task)
        if deal_id is not None:
            query = query.where(tasks.c.deal_id == deal_id)
        if created_by is not None:
            query = query.where(tasks.c.created_by == created_by)
        if status is not None:
            query = query.where(tasks.c.status == status)
        if assignee is not None:
            query = query.where(self._assigned(assignee))
        if reader is not None:
            query = query.where(self._readable(reader))
        return self._all(Task, query.order_by(tasks.c.created_at, tasks.c.id))

    def _assigned(self, person: str) -> sa.ColumnElement[bool]:
        in_team = json_list_has(tasks.c.co_executors, person, on_postgresql=self._pg)
        return sa.or_(tasks.c.responsible == person, in_team)

    def _readable(self, reader: TaskReader) -> sa.ColumnElement[bool]:
        """A task of a deal in the reader's scope (by the deal's responsible or head: the
        deals table has no sales team), or one they work on or created."""
        theirs: list[sa.ColumnElement[bool]] = [
            deals.c.responsible.in_(sorted(reader.responsibles))
        ]
        if reader.head is not None:
            theirs.append(deals.c.department_head == reader.head)
        of_deal = sa.select(1).where(deals.c.deal_id == tasks.c.deal_id, sa.or_(*theirs))
        return sa.or_(
            sa.exists(of_deal), self._assigned(reader.person), tasks.c.created_by == reader.person
        )

    def set_task_status(self, key: str, status: str, *, by: str | None, at: datetime) -> Task:
        """Move a task; setting the status it already has changes nothing (a retried
        activity must not overwrite who completed it and when)."""
        if status not in _TASK_STATUSES:
            raise ValueError(f"unknown task status {status!r}")
        at = to_utc(at)
        with self._tx(write=True) as conn:
            current = conn.execute(_TASK_STATUS, {"_key": key}).scalar()
            if current is None:
                raise KeyError(f"unknown task {key}")
            if current != status:
                changes: dict[str, Any] = {"status": status}
                if status == "open":  # reopened, e.g. the confirmation was refused
                    changes.update(completed_by=None, completed_at=None, confirmed_by=None)
                elif status == "done" and current == "awaiting_confirmation":
                    changes.update(confirmed_by=by)
                elif status == "cancelled":  # closed by compensation: nobody completed it
                    pass
                else:  # completed now (done directly, or awaiting confirmation)
                    changes.update(completed_by=by, completed_at=at, confirmed_by=None)
                conn.execute(_UPDATE_TASK, {**changes, "_key": key})
            task = self._task(key, conn)
        assert task is not None
        return task
