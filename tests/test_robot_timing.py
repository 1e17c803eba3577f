"""When robots and deadlines are due, on the time-skipping server with the real Russian
production calendar: date-anchored timers, New Year holidays, a moved working Saturday,
timers that follow a changed field, time of day, the responsible's own working time, and
robots counted after the previous one or from the stage entry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from temporalio.testing import WorkflowEnvironment

from funnel.client.deals import DealClient
from funnel.domain.calendar import WorkingCalendar
from funnel.domain.models import UpdateFieldsInput
from funnel.storage.store import Store
from tests.helpers import eventually, messages_to, mini_pipeline, notify, sample_deal
from tests.temporal_fixtures import deal_system, new_deal_id

MSK = ZoneInfo("Europe/Moscow")


def msk(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=MSK).astimezone(UTC)


async def _skip_past(env: WorkflowEnvironment, moment: datetime, *, before: bool) -> bool:
    """Skip to just before (or after) ``moment``; False when it already passed."""
    now = await env.get_current_time()
    target = moment - timedelta(minutes=1) if before else moment + timedelta(minutes=1)
    if target <= now:
        return False
    await env.sleep(target - now)
    return True


async def _started(deals: DealClient, deal_id: str, **fields: object) -> None:
    deal = sample_deal(deal_id).model_copy(update={"fields": dict(fields)})
    await deals.start(deal, PIPELINES["contract"])


PIPELINES = {
    "contract": mini_pipeline(
        [
            {
                "id": "contract",
                "name": "Contract",
                "deadline": {
                    "after": "1 working days",
                    "relative_to": "fields.contract_due",
                    "escalate": [notify("breach", to=["head"])],
                },
                "robots": [
                    notify(
                        "before_due",
                        relative_to="fields.contract_due",
                        direction="before",
                        delay="2 working days",
                    )
                ],
            },
        ],
        fields={"contract_due": "date"},
    ),
}


async def test_deadline_anchored_on_a_date_crosses_the_new_year_holidays(
    ts_env: WorkflowEnvironment, store: Store
) -> None:
    deal_id = new_deal_id()
    async with deal_system(ts_env, store) as deals:
        await _started(deals, deal_id, contract_due="2026-12-30")
        state = await eventually(deals, deal_id, lambda s: len(s.waiting) == 2)
        # 2026-12-30 09:00 MSK + 1 working day: 12-31 and January 1-10 are days off in the
        # Russian production calendar, so the deadline is Monday 2027-01-11 09:00 MSK.
        assert state.visits[-1].deadline_at == msk(2027, 1, 11, 9, 0)
        # 2 working days before 2026-12-30 09:00 is the end of Friday 12-25... counted back
        # from the last working moment before it (12-29 18:00): Friday 2026-12-25 18:00.
        plan = {w.robot_id: w for w in await deals.plan(deal_id)}
        assert plan["before_due"].due_at == msk(2026, 12, 25, 18, 0)
        assert "2 working days before field fields.contract_due" in plan["before_due"].rule
        if await _skip_past(ts_env, msk(2027, 1, 11, 9, 0), before=True):
            assert not (await deals.state(deal_id)).breached
            assert messages_to(store, "ivanov", deal_id) == ["before_due ran"]
        await _skip_past(ts_env, msk(2027, 1, 11, 9, 0), before=False)
        state = await deals.state(deal_id)
    assert state.breached
    assert messages_to(store, "smirnova", deal_id) == ["breach ran"]


async def test_a_delay_lands_on_a_moved_working_saturday(
    ts_env: WorkflowEnvironment, store: Store
) -> None:
    pipeline = mini_pipeline(
        [
            {
                "id": "kickoff",
                "name": "Kick-off",
                "robots": [notify("call", relative_to="fields.meeting", delay="1 working days")],
            }
        ],
        fields={"meeting": "date"},
    )
    deal_id = new_deal_id()
    async with deal_system(ts_env, store) as deals:
        # Friday 2027-02-19; Saturday 2027-02-20 is a working day in the 2027 calendar.
        deal = sample_deal(deal_id).model_copy(update={"fields": {"meeting": "2027-02-19"}})
        await deals.start(deal, pipeline)
        await eventually(deals, deal_id, lambda s: bool(s.waiting))
        plan = await deals.plan(deal_id)
        assert [(w.robot_id, w.due_at) for w in plan] == [("call", msk(2027, 2, 20, 9, 0))]
        await _skip_past(ts_env, msk(2027, 2, 20, 9, 0), before=False)
        await eventually(deals, deal_id, lambda s: not s.waiting)
    assert messages_to(store, "ivanov", deal_id) == ["call ran"]


async def test_a_timer_follows_its_date_field_when_it_changes(
    ts_env: WorkflowEnvironment, store: Store
) -> None:
    deal_id = new_deal_id()
    now = await ts_env.get_current_time()
    first = (now + timedelta(days=20)).date()
    later = (now + timedelta(days=40)).date()
    async with deal_system(ts_env, store) as deals:
        await _started(deals, deal_id, contract_due=first.isoformat())
        armed = await eventually(deals, deal_id, lambda s: len(s.waiting) == 2)
        before = {w.robot_id: w.due_at for w in armed.waiting}
        state = await deals.update_fields(
            deal_id, UpdateFieldsInput(fields={"contract_due": later.isoformat()})
        )
        after = {w.robot_id: w.due_at for w in state.waiting}
        assert after["before_due"] - before["before_due"] >= timedelta(days=7)
        assert after["deadline"] == state.visits[-1].deadline_at
        assert after["deadline"] > before["deadline"]
        # The old due time passes with nothing sent; the new one fires once.
        await _skip_past(ts_env, before["before_due"], before=False)
        assert messages_to(store, "ivanov", deal_id) == []
        await _skip_past(ts_env, after["before_due"], before=False)
        await eventually(deals, deal_id, lambda s: len(s.waiting) == 1)
    assert messages_to(store, "ivanov", deal_id) == ["before_due ran"]


async def test_time_of_day_and_the_responsibles_own_working_time(
    ts_env: WorkflowEnvironment, store: Store
) -> None:
    pipeline = mini_pipeline(
        [
            {
                "id": "call",
                "name": "Call",
                "robots": [
                    notify("at_ten", at_time="10:00", start="with_stage"),
                    notify("in_his_hours", responsible_working_time=True, start="with_stage"),
                ],
            }
        ],
        # ivanov works from Vladivostok (UTC+10), 10:00-19:00 his time.
        schedules={
            "ivanov": {"timezone": "Asia/Vladivostok", "work_start": "10:00", "work_end": "19:00"}
        },
    )
    deal_id = new_deal_id()
    async with deal_system(ts_env, store) as deals:
        await deals.start(sample_deal(deal_id), pipeline)
        state = await eventually(
            deals,
            deal_id,
            lambda s: (
                any(w.robot_id == "at_ten" for w in s.waiting)
                and (
                    any(w.robot_id == "in_his_hours" for w in s.waiting)
                    or any(r.robot_id == "in_his_hours" for r in s.robot_runs)
                )
            ),
        )
    entered = state.visits[0].entered_at
    at_ten = next(w for w in state.waiting if w.robot_id == "at_ten").due_at.astimezone(MSK)
    assert (at_ten.hour, at_ten.minute) == (10, 0)
    assert timedelta(0) < at_ten - entered <= timedelta(days=1)
    # The responsible's own calendar decides: his next working moment in Vladivostok.
    expected = WorkingCalendar(pipeline.calendar_for("ivanov")).next_working_moment(entered)
    local = expected.astimezone(ZoneInfo("Asia/Vladivostok"))
    assert 10 <= local.hour < 19
    waiting = [w.due_at for w in state.waiting if w.robot_id == "in_his_hours"]
    ran = [r for r in state.robot_runs if r.robot_id == "in_his_hours"]
    assert waiting == [expected] or (expected == entered and [r.outcome for r in ran] == ["done"])


async def test_after_previous_counts_from_the_robot_above_with_stage_from_the_entry(
    ts_env: WorkflowEnvironment, store: Store
) -> None:
    pipeline = mini_pipeline(
        [
            {
                "id": "wait",
                "name": "Wait",
                "robots": [
                    notify("first", delay="1 hours"),
                    notify("chained", delay="1 hours"),  # start: after_previous (the default)
                    notify("parallel", delay="1 hours", start="with_stage"),
                ],
            }
        ]
    )
    deal_id = new_deal_id()
    async with deal_system(ts_env, store) as deals:
        await deals.start(sample_deal(deal_id), pipeline)
        state = await eventually(deals, deal_id, lambda s: len(s.waiting) == 2)
        entered = state.visits[0].entered_at
        assert {w.robot_id: w.due_at - entered for w in state.waiting} == {
            "first": timedelta(hours=1),
            "parallel": timedelta(hours=1),
        }
        await ts_env.sleep(timedelta(minutes=61))
        state = await eventually(
            deals, deal_id, lambda s: [w.robot_id for w in s.waiting] == ["chained"]
        )
        chained = state.waiting[0]
        assert timedelta(hours=2) <= chained.due_at - entered < timedelta(hours=2, minutes=1)
        await ts_env.sleep(timedelta(hours=1))
        await eventually(deals, deal_id, lambda s: not s.waiting)
    assert sorted(messages_to(store, "ivanov", deal_id)) == [
        "chained ran",
        "first ran",
        "parallel ran",
    ]
