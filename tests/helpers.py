"""Small helpers shared by the workflow tests."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Awaitable, Callable
from datetime import datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from temporalio.client import WorkflowHistory
from temporalio.testing import WorkflowEnvironment

from funnel.client.deals import DealClient
from funnel.domain.calendar import WorkingCalendar
from funnel.domain.messages import WORKFLOW_TYPE
from funnel.domain.models import (
    Contact,
    DealInput,
    DealState,
    DealWorkflowInput,
    workflow_id_for,
)
from funnel.domain.pipeline import Pipeline


def sample_deal(deal_id: str, *, service: str = "website", amount: str = "250000") -> DealInput:
    return DealInput(
        deal_id=deal_id,
        contact=Contact(
            name="Anna Petrova",
            company="Romashka LLC",
            phone="+7 900 1",
            email="anna@romashka.example",
        ),
        responsible="ivanov",
        department_head="smirnova",
        sales_team=["petrov", "sidorova"],
        service=service,
        amount=Decimal(amount),
        currency="RUB",
    )


async def eventually(
    client: DealClient, deal_id: str, check: Callable[[DealState], bool], *, timeout: float = 10.0
) -> DealState:
    """Poll the deal's state until ``check`` holds (signals are asynchronous)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        state = await client.state(deal_id)
        if check(state):
            return state
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"deal {deal_id} never reached the expected state: {state}")
        await asyncio.sleep(0.05)


async def in_stage(client: DealClient, deal_id: str, stage: str) -> DealState:
    return await eventually(client, deal_id, lambda s: s.stage == stage)


Step = Callable[[], Awaitable[object]]


HISTORIES = Path(__file__).parent / "histories"


async def keep_history(deals: DealClient, deal_id: str, name: str) -> None:
    """With FUNNEL_RECORD_HISTORIES=1, save the deal's history as a replay fixture:
    `tests/test_replay.py` replays every saved history on the current workflow code, so a
    change that would break running deals fails CI."""
    if os.environ.get("FUNNEL_RECORD_HISTORIES") != "1":
        return
    path = HISTORIES / f"{name}.json"
    if path.exists():
        return  # a committed history stands for the behaviour it was recorded with: keep it
    history = await deals.history(deal_id)
    HISTORIES.mkdir(exist_ok=True)
    path.write_text(history.to_json())


def patch_ids(history: WorkflowHistory) -> list[str]:
    """The workflow.patched ids whose markers the history holds, in order."""
    return [
        json.loads(e.marker_recorded_event_attributes.details["patch-data"].payloads[0].data)["id"]
        for e in history.events
        if e.marker_recorded_event_attributes.marker_name == "core_patch"
    ]


def mini_pipeline(
    stages: list[dict[str, Any]],
    *,
    calendar: dict[str, Any] | None = None,
    fields: dict[str, str] | None = None,
    schedules: dict[str, Any] | None = None,
    version: str = "test-1",
) -> Pipeline:
    """A small pipeline for one behaviour: the given process stages, then won and lost."""
    return Pipeline.model_validate(
        {
            "id": "mini",
            "name": "Mini funnel",
            "version": version,
            "calendar": calendar or {"timezone": "Europe/Moscow", "country": "RU"},
            "fields": fields or {},
            "schedules": schedules or {},
            "stages": [
                *stages,
                {"id": "won", "name": "Won", "semantics": "success"},
                {"id": "lost", "name": "Lost", "semantics": "failure"},
            ],
        }
    )


def notify(robot_id: str, **settings: Any) -> dict[str, Any]:
    """A notify robot telling the responsible its own id, plus any settings."""
    return {
        "id": robot_id,
        "type": "notify",
        "title": f"Robot {robot_id}",
        "to": ["responsible"],
        "message": f"{robot_id} ran",
        **settings,
    }


def messages_to(store: Any, person: str, deal_id: str) -> list[str]:
    return [n.message for n in reversed(store.inbox(person)) if n.deal_id == deal_id]


async def working_day_at(env: WorkflowEnvironment, pipeline: Pipeline, wall: time) -> datetime:
    """Skip the time-skipping server's clock to ``wall`` o'clock (the pipeline's zone) on a
    working day at least a day ahead."""
    now = await env.get_current_time()
    zone = ZoneInfo(pipeline.calendar.timezone)
    tomorrow = datetime.combine((now + timedelta(days=1)).astimezone(zone).date(), time(0), zone)
    day = WorkingCalendar(pipeline.calendar).next_working_moment(tomorrow).astimezone(zone)
    moment = datetime.combine(day.date(), wall, zone)
    await env.sleep(moment - now)
    return moment


async def start_with_history_limit(
    env: WorkflowEnvironment, deals: DealClient, deal: DealInput, pipeline: Pipeline, limit: int
) -> None:
    """Start the deal's workflow directly, with a lowered history limit: it continues-as-new
    after about ``limit`` events."""
    await env.client.start_workflow(
        WORKFLOW_TYPE,
        DealWorkflowInput(deal=deal, pipeline=pipeline, history_limit=limit),
        id=workflow_id_for(deal.deal_id),
        task_queue=deals._task_queue,
    )
