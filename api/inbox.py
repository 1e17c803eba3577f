"""``/inbox``: the in-app notifications of the person calling (signed in, or with a personal
token), newest first, and marking them read. Only one's own: another person's notification
is answered as unknown (404), and a service token has no inbox (403)."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, status
from pydantic import BaseModel, Field

from api.auth import DEALS_READ, require_scope
from api.schemas import Problem
from funnel.domain.people import Actor
from funnel.storage.records import Notification
from funnel.storage.store import Store

router = APIRouter(
    prefix="/inbox",
    tags=["inbox"],
    responses={
        401: {"model": Problem, "description": "not signed in"},
        403: {"model": Problem, "description": "a service token: the inbox is a person's"},
    },
)

# Reading and marking one's own notifications changes no deal: deals:read is enough.
Reader = Annotated[Actor, Depends(require_scope(DEALS_READ))]


class InboxPage(BaseModel):
    notifications: list[Notification] = Field(description="newest first")
    unread: int = Field(description="how many of the person's notifications are unread")


class MarkedRead(BaseModel):
    marked: int = Field(description="notifications that were unread and now are read")
    unread: int


def _person(actor: Actor) -> str:
    if actor.kind != "person":
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            detail="the inbox is a person's: sign in, or call with a personal token",
        )
    return actor.id


def _store(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


@router.get("", summary="My notifications, newest first, with the unread count")
async def my_inbox(
    request: Request,
    actor: Reader,
    unread: Annotated[bool, Query(description="only the unread ones")] = False,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> InboxPage:
    me, store = _person(actor), _store(request)

    def read() -> InboxPage:
        found = store.inbox(me, unread_only=unread, limit=limit)
        return InboxPage(notifications=found, unread=store.unread_count(me))

    return await asyncio.to_thread(read)


@router.post(
    "/{notification_id}/read",
    summary="Mark one of my notifications read (again: no change)",
    responses={404: {"model": Problem, "description": "no such notification of mine"}},
)
async def mark_read(
    request: Request, actor: Reader, notification_id: Annotated[int, Path(ge=1, le=2**63 - 1)]
) -> MarkedRead:
    me, store = _person(actor), _store(request)

    def mark() -> MarkedRead:
        before = store.unread_count(me)
        try:
            store.mark_read(notification_id, recipient=me)
        except KeyError:
            raise HTTPException(
                status.HTTP_404_NOT_FOUND,
                detail=f"you have no notification {notification_id}",
            ) from None
        after = store.unread_count(me)
        return MarkedRead(marked=before - after, unread=after)

    return await asyncio.to_thread(mark)


@router.post("/read-all", summary="Mark all my notifications read")
async def mark_all_read(request: Request, actor: Reader) -> MarkedRead:
    me, store = _person(actor), _store(request)

    def mark() -> MarkedRead:
        return MarkedRead(marked=store.mark_all_read(me), unread=store.unread_count(me))

    return await asyncio.to_thread(mark)
