"""Stage deadlines and delayed robots on durable timers, on the time-skipping test server:
weeks of working time pass in well under a second."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from temporalio.testing import WorkflowEnvironment

from funnel.domain.pipeline import Pipeline
from funnel.storage.store import Store
from tests.helpers import eventually, keep_history, sample_deal
from tests.temporal_fixtures import deal_system, new_deal_id

DEADLINE_STAGES = ["new", "in_progress", "proposal", "negotiation", "contract", "payment", "final"]


@pytest.mark.parametrize("stage", DEADLINE_STAGES)
async def test_deadline_breach_escalates(
    ts_env: WorkflowEnvironment, store: Store, pusk: Pipeline, stage: str
) -> None:
    deal_id = new_deal_id()
    async with deal_system(ts_env, store) as deals:
        await deals.start(sample_deal(deal_id), pusk)
        if stage != "new":
            await deals.move(deal_id, stage)
        before = await eventually(
            deals,
            deal_id,
            lambda s: (
                bool(s.visits)
                and s.visits[-1].stage == stage
                and s.visits[-1].deadline_at is not None
            ),
        )
        deadline_at = before.visits[-1].deadline_at
        assert deadline_at is not None and not before.breached
        # Just before the deadline nothing has happened...
        await ts_env.sleep(deadline_at - await ts_env.get_current_time() - timedelta(minutes=1))
        assert not (await deals.state(deal_id)).breached
        assert not [
            e for e in store.report_events(deal_id=deal_id) if e.kind == "deadline_breached"
        ]
        # ...just after it, the escalation robots have run.
        await ts_env.sleep(timedelta(minutes=2))
        state = await deals.state(deal_id)
        await keep_history(deals, deal_id, f"pusk_breach_in_{stage}")

    assert state.breached and state.visits[-1].breached and state.breach_count == 1
    record = store.get_deal(deal_id)
    assert record is not None and record.breached
    breaches = [e for e in store.report_events(deal_id=deal_id) if e.kind == "deadline_breached"]
    assert len(breaches) == 1 and breaches[0].stage == stage
    head_notes = [
        n
        for n in store.inbox("smirnova")
        if n.deal_id == deal_id and ":overdue" not in n.key  # task deadlines escalate too
    ]
    assert len(head_notes) == 1
    assert abs(head_notes[0].created_at - deadline_at) < timedelta(minutes=1)
    responsible_breach = [
        n for n in store.inbox("ivanov") if n.deal_id == deal_id and "breach" in n.key
    ]
    # The acceptance control of `new` tells the head only; other stages tell both.
    assert len(responsible_breach) == (0 if stage == "new" else 1)


async def test_leaving_the_stage_cancels_its_deadline(
    ts_env: WorkflowEnvironment, store: Store, pusk: Pipeline
) -> None:
    deal_id = new_deal_id()
    async with deal_system(ts_env, store) as deals:
        await deals.start(sample_deal(deal_id), pusk)
        proposal = await deals.move(deal_id, "proposal")
        await deals.move(deal_id, "negotiation")
        proposal_deadline = proposal.visits[-1].deadline_at
        assert proposal_deadline is not None
        # Well past the proposal deadline, well before negotiation's (15 working days).
        await ts_env.sleep(proposal_deadline - await ts_env.get_current_time() + timedelta(hours=2))
        state = await deals.state(deal_id)
    assert [v.breached for v in state.visits] == [False, False, False]
    assert not [e for e in store.report_events(deal_id=deal_id) if e.kind == "deadline_breached"]


def _delayed_pipeline(pusk: Pipeline, holiday: date) -> Pipeline:
    """A two-stage funnel whose first stage reminds the responsible after 6 working days, on
    a calendar of Monday-Friday, whole-day working hours, with one company holiday."""
    data = pusk.model_dump(mode="json")
    data["calendar"] = {
        "timezone": "UTC",
        "country": None,
        "work_start": "00:00",
        "work_end": "23:59",
        "weekend": [5, 6],
        "extra_holidays": [holiday.isoformat()],
    }
    first = {
        "id": "new",
        "name": "New",
        "robots": [
            {
                "id": "call_again",
                "type": "notify",
                "title": "Call again",
                "to": ["responsible"],
                "message": "Call {{ contact.name }} again",
                "delay": "6 working days",
            }
        ],
    }
    data["stages"] = [first, *[s for s in data["stages"] if s["id"] in ("won", "lost")]]
    return Pipeline.model_validate(data)


def _expected_due(start: datetime, holiday: date, working_days: int) -> datetime:
    """The rule written out by hand: skip weekends and the holiday, keep the time of day."""

    def working(day: date) -> bool:
        return day.weekday() < 5 and day != holiday

    moment = start
    if not working(moment.date()):
        day = moment.date()
        while not working(day):
            day += timedelta(days=1)
        moment = datetime.combine(day, datetime.min.time(), tzinfo=start.tzinfo)
    day, counted = moment.date(), 0
    while counted < working_days:
        day += timedelta(days=1)
        counted += working(day)
    return datetime.combine(day, moment.time(), tzinfo=start.tzinfo)


async def test_delayed_robot_skips_weekend_and_holiday(
    ts_env: WorkflowEnvironment, store: Store, pusk: Pipeline
) -> None:
    now = await ts_env.get_current_time()
    monday = now.date() + timedelta(days=7 - now.weekday())  # the first Monday after today
    pipeline = _delayed_pipeline(pusk, holiday=monday)
    deal_id = new_deal_id()
    async with deal_system(ts_env, store) as deals:
        await deals.start(sample_deal(deal_id), pipeline)
        state = await eventually(deals, deal_id, lambda s: bool(s.waiting))
        entered = state.visits[0].entered_at
        expected = _expected_due(entered, monday, 6)
        assert [(w.robot_id, w.due_at) for w in state.waiting] == [("call_again", expected)]
        assert expected.weekday() < 5 and expected.date() != monday
        assert (expected - entered) >= timedelta(days=8)  # a weekend and the holiday skipped

        await ts_env.sleep(expected - await ts_env.get_current_time() - timedelta(minutes=5))
        assert not [n for n in store.inbox("ivanov") if n.deal_id == deal_id]
        await ts_env.sleep(timedelta(minutes=10))
        state = await deals.state(deal_id)
    notes = [n for n in store.inbox("ivanov") if n.deal_id == deal_id]
    assert [n.message for n in notes] == ["Call Anna Petrova again"]
    assert abs(notes[0].created_at - expected) < timedelta(minutes=1)
    assert state.waiting == []
