"""Robots that repeat until something happens (``repeat: {every, until, max}``), on the
time-skipping server with the Russian production calendar: repetitions every working hour up
to ``max`` (then the robot chained below runs), stopped when the deal is accepted, when the
stage is left or when a task is done, each one notifying once under its own key, also when
its activity is retried, and shown in the plan as "2 of 3"."""

from __future__ import annotations

import functools
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from temporalio import activity
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.robots import RobotActivities
from funnel.client.deals import DealClient
from funnel.domain.activity_io import ActivityName, NotifyCall, NotifyResult
from funnel.domain.calendar import WorkingCalendar
from funnel.domain.models import DealState, TaskCompleted, WaitingRobot
from funnel.domain.pipeline import Pipeline
from funnel.domain.repeats import Repetition
from funnel.domain.robot_runs import RunOutcome
from funnel.storage.store import Store
from tests.helpers import (
    eventually,
    messages_to,
    mini_pipeline,
    notify,
    sample_deal,
    start_with_history_limit,
    working_day_at,
)
from tests.temporal_fixtures import deal_system, new_deal_id, new_task_queue
from worker import deal_activities
from workflows.deal import DealWorkflow

MSK = ZoneInfo("Europe/Moscow")
MINUTE = timedelta(minutes=1)


def remind(**repeat: Any) -> dict[str, Any]:
    """A reminder to the responsible that runs at once, then every working hour."""
    return notify("remind", repeat={"every": "1 working hours", **repeat})


def one_stage(*robots: dict[str, Any], **stage: Any) -> Pipeline:
    return mini_pipeline(
        [
            {"id": "new", "name": "New", "robots": list(robots), **stage},
            {"id": "work", "name": "Work"},
        ]
    )


async def skip_to(env: WorkflowEnvironment, moment: datetime) -> None:
    await env.sleep(moment + MINUTE - await env.get_current_time())


async def next_run(deals: DealClient, deal_id: str, number: int) -> WaitingRobot:
    """The plan's entry of the reminder's repetition ``number``, once it is armed."""
    await eventually(
        deals,
        deal_id,
        lambda s: any(w.repetition and w.repetition.number == number for w in s.waiting),
    )
    return next(w for w in await deals.plan(deal_id) if w.robot_id == "remind")


async def reminded_twice(
    env: WorkflowEnvironment, deals: DealClient, deal_id: str, pipeline: Pipeline
) -> WaitingRobot:
    """Start the deal, let the reminder run twice: the plan's entry of the third run."""
    await deals.start(sample_deal(deal_id), pipeline)
    second = await next_run(deals, deal_id, 2)
    await skip_to(env, second.due_at)
    return await next_run(deals, deal_id, 3)


def runs(state: DealState, robot_id: str = "remind") -> list[tuple[str, str | None, str | None]]:
    return [
        (r.outcome.value, str(r.repetition) if r.repetition else None, r.error)
        for r in state.robot_runs
        if r.robot_id == robot_id
    ]


async def test_a_reminder_repeats_every_working_hour_up_to_max_then_the_head_is_told(
    ts_env: WorkflowEnvironment, store: Store
) -> None:
    pipeline = one_stage(remind(max=3), notify("tell_head", to=["head"]))
    deal_id = new_deal_id()
    start = await working_day_at(ts_env, pipeline, time(17, 30))
    calendar = WorkingCalendar(pipeline.calendar)
    async with deal_system(ts_env, store) as deals:
        await deals.start(sample_deal(deal_id), pipeline)
        second = await next_run(deals, deal_id, 2)
        # At once at 17:30, then one working hour later: 30 minutes today, 30 the next
        # working morning (09:30), never at night.
        expected = calendar.add(start, second.timing.delay)  # type: ignore[arg-type]
        assert expected.astimezone(MSK).time() == time(9, 30)
        assert abs(second.due_at - expected) < MINUTE
        assert second.repetition == Repetition(number=2, of=3)
        assert "repetition 2 of 3, every 1 working hours until stage_left" in second.rule
        assert second.title == "Robot remind (2 of 3)"
        assert messages_to(store, "ivanov", deal_id) == ["remind ran"]

        await skip_to(ts_env, second.due_at)
        third = await next_run(deals, deal_id, 3)
        assert abs(third.due_at - (second.due_at + timedelta(hours=1))) < MINUTE
        assert messages_to(store, "ivanov", deal_id) == ["remind ran"] * 2

        await skip_to(ts_env, third.due_at)
        state = await eventually(deals, deal_id, lambda s: bool(runs(s, "tell_head")))
        # A day later nothing more: the repetitions ended at max.
        await ts_env.sleep(timedelta(days=1))
        state = await deals.state(deal_id)
    assert runs(state) == [("done", f"{n} of 3", None) for n in (1, 2, 3)]
    assert runs(state, "tell_head") == [("done", None, None)]
    assert state.waiting == []
    assert messages_to(store, "ivanov", deal_id) == ["remind ran"] * 3
    assert messages_to(store, "smirnova", deal_id) == ["tell_head ran"]
    keys = [n.key for n in store.deal_notifications(deal_id) if n.recipient == "ivanov"]
    assert keys == [
        f"{deal_id}:1:remind:ivanov",
        f"{deal_id}:1:remind:2:ivanov",
        f"{deal_id}:1:remind:3:ivanov",
    ]


async def test_accepting_between_two_repetitions_stops_them_and_the_head_is_not_told(
    ts_env: WorkflowEnvironment, store: Store
) -> None:
    pipeline = one_stage(
        remind(until="accepted", max=5),
        notify("tell_head", to=["head"]),
        triggers=[{"event": "accepted", "to": "work"}],
    )
    deal_id = new_deal_id()
    await working_day_at(ts_env, pipeline, time(10, 0))
    async with deal_system(ts_env, store) as deals:
        third = await reminded_twice(ts_env, deals, deal_id, pipeline)
        assert third.repetition == Repetition(number=3, of=5)
        await ts_env.sleep(timedelta(minutes=20))  # halfway to the third reminder
        await deals.accept(deal_id, by="ivanov")
        state = await eventually(deals, deal_id, lambda s: s.stage == "work")
        assert not any(w.robot_id == "remind" for w in await deals.plan(deal_id))
        await ts_env.sleep(timedelta(hours=5))
        state = await deals.state(deal_id)
    assert runs(state) == [
        ("done", "1 of 5", None),
        ("done", "2 of 5", None),
        ("stopped", "3 of 5", "the deal was accepted"),
    ]
    [(outcome, _, why)] = runs(state, "tell_head")
    assert outcome == RunOutcome.SKIPPED_CONDITION.value
    assert why == "the repetitions of remind stopped: the deal was accepted"
    assert messages_to(store, "ivanov", deal_id) == ["remind ran"] * 2
    assert messages_to(store, "smirnova", deal_id) == []


async def test_leaving_the_stage_stops_the_repetitions(
    ts_env: WorkflowEnvironment, store: Store
) -> None:
    pipeline = one_stage(remind(max=4))
    deal_id = new_deal_id()
    await working_day_at(ts_env, pipeline, time(10, 0))
    async with deal_system(ts_env, store) as deals:
        await reminded_twice(ts_env, deals, deal_id, pipeline)
        await deals.move(deal_id, "work")
        await ts_env.sleep(timedelta(hours=6))
        state = await deals.state(deal_id)
    assert runs(state) == [
        ("done", "1 of 4", None),
        ("done", "2 of 4", None),
        ("stopped", "3 of 4", "the deal left the stage"),
    ]
    assert state.waiting == []
    assert messages_to(store, "ivanov", deal_id) == ["remind ran"] * 2


async def test_the_task_done_stops_the_reminders_of_it(
    ts_env: WorkflowEnvironment, store: Store
) -> None:
    task = {"id": "make_kp", "type": "create_task", "title": "Task", "task_title": "Do the KP"}
    pipeline = one_stage(task, remind(until="task_done", max=5))
    deal_id = new_deal_id()
    await working_day_at(ts_env, pipeline, time(10, 0))
    async with deal_system(ts_env, store) as deals:
        await deals.start(sample_deal(deal_id), pipeline)
        await next_run(deals, deal_id, 2)
        await deals.task_completed(deal_id, TaskCompleted(task_id="1-make_kp", by="ivanov"))
        state = await eventually(deals, deal_id, lambda s: len(runs(s)) == 2)
        await ts_env.sleep(timedelta(hours=5))
        state = await deals.state(deal_id)
    assert runs(state) == [
        ("done", "1 of 5", None),
        ("stopped", "2 of 5", "task 1-make_kp is done"),
    ]
    assert messages_to(store, "ivanov", deal_id) == ["remind ran"]


async def test_a_retried_repetition_notifies_once(
    ts_env: WorkflowEnvironment, store: Store
) -> None:
    """The second reminder's activity delivers, then loses its answer (as a worker killed
    at that moment would); Temporal runs it again with the same key: one notification."""
    robots = RobotActivities(store)
    attempts: list[int] = []

    @activity.defn(name=ActivityName.NOTIFY)
    @functools.wraps(robots.notify, updated=())
    def notify_losing_one_answer(call: NotifyCall) -> NotifyResult:
        result = robots.notify(call)
        if call.key.endswith(":remind:2"):
            attempts.append(activity.info().attempt)
            if activity.info().attempt == 1:
                raise RuntimeError("the answer was lost")
        return result

    every = [a for a in deal_activities(store, robots) if a.__name__ != "notify"]
    pipeline = one_stage(remind(max=3))
    deal_id, queue = new_deal_id(), new_task_queue()
    await working_day_at(ts_env, pipeline, time(10, 0))
    with ThreadPoolExecutor(max_workers=4) as executor:
        async with Worker(
            ts_env.client,
            task_queue=queue,
            workflows=[DealWorkflow],
            activities=[*every, notify_losing_one_answer],
            activity_executor=executor,
        ):
            deals = DealClient(ts_env.client, task_queue=queue)
            await deals.start(sample_deal(deal_id), pipeline)
            second = await next_run(deals, deal_id, 2)
            await skip_to(ts_env, second.due_at)
            state = await eventually(deals, deal_id, lambda s: len(runs(s)) == 2)
    assert attempts == [1, 2]
    assert [r[0] for r in runs(state)] == ["done", "done"]
    keys = [n.key for n in store.deal_notifications(deal_id)]
    assert keys == [f"{deal_id}:1:remind:ivanov", f"{deal_id}:1:remind:2:ivanov"]


async def test_repetitions_go_on_where_they_waited_after_continue_as_new(
    ts_env: WorkflowEnvironment, store: Store
) -> None:
    pipeline = one_stage(remind(max=4), notify("tell_head", to=["head"]))
    deal_id = new_deal_id()
    await working_day_at(ts_env, pipeline, time(10, 0))
    async with deal_system(ts_env, store) as deals:
        # The deal continues-as-new while its reminders wait.
        await start_with_history_limit(ts_env, deals, sample_deal(deal_id), pipeline, 25)
        # No query until the reminders are over: the time-skipping test server at times
        # leaves a query unanswered when it reaches a run that is continuing-as-new.
        await ts_env.sleep(timedelta(hours=4, minutes=5))
        state = await eventually(deals, deal_id, lambda s: bool(runs(s, "tell_head")))
        await ts_env.sleep(timedelta(days=1))
        state = await deals.state(deal_id)
    assert runs(state) == [("done", f"{n} of 4", None) for n in (1, 2, 3, 4)]
    assert state.runs > 2  # continued-as-new more than once: between repetitions too
    assert runs(state, "tell_head") == [("done", None, None)]
    assert messages_to(store, "ivanov", deal_id) == ["remind ran"] * 4
    assert messages_to(store, "smirnova", deal_id) == ["tell_head ran"]
