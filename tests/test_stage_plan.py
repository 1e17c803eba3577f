"""What the board reads about a deal's stage without asking its workflow: when the deal
entered the stage and what waits there (the deadline and the timed robots with their due
times), written by the stage-transition record. Entering a stage computes the due times of
its timed robots with its deadline in one local activity (PATCH_STAGE_PLAN): new deals do,
deals recorded before replay as they ran. Open deals of a database from before get their
stage entry time from their report events (migration 0010)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import sqlalchemy as sa
from temporalio.client import WorkflowHistory
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from funnel.domain.calendar import WorkingCalendar
from funnel.domain.calendar_spec import CalendarSpec
from funnel.domain.pipeline import Pipeline
from funnel.domain.stage_plan import PlanEntry
from funnel.runtime.temporal_client import DATA_CONVERTER
from funnel.storage.migrate import downgrade, upgrade
from funnel.storage.store import Store
from funnel.storage.store_tables import deals as deals_table
from tests.helpers import (
    HISTORIES,
    eventually,
    keep_history,
    messages_to,
    mini_pipeline,
    notify,
    patch_ids,
    sample_deal,
)
from tests.temporal_fixtures import deal_system, new_deal_id
from workflows.deal import DealWorkflow
from workflows.patches import PATCH_STAGE_PLAN

MOSCOW = "+03:00"


def _row(store: Store, deal_id: str) -> dict[str, object]:
    c = deals_table.c
    query = sa.select(c.stage, c.stage_entered_at, c.plan, c.updated_at, c.sales_team)
    with store.transaction() as conn:
        row = conn.execute(query.where(c.deal_id == deal_id)).one()
    return dict(row._mapping)


def _plan(store: Store, deal_id: str) -> list[PlanEntry]:
    entries = _row(store, deal_id)["plan"]
    assert isinstance(entries, list)
    return [PlanEntry.model_validate(e) for e in entries]


def _due_time_calls(history: WorkflowHistory) -> int:
    return sum(
        "compute_due_times" in str(e.marker_recorded_event_attributes.details)
        for e in history.events
        if e.marker_recorded_event_attributes.marker_name == "core_local_activity"
    )


async def test_entering_a_stage_records_its_plan_for_the_board_and_replays(
    dev_env: WorkflowEnvironment, store: Store, pusk: Pipeline
) -> None:
    deal_id = new_deal_id()
    async with deal_system(dev_env, store) as deals:
        await deals.start(sample_deal(deal_id), pusk)
        await deals.accept(deal_id, by="ivanov")
        await deals.move(deal_id, "negotiation")
        state = await eventually(deals, deal_id, lambda s: len(s.waiting) == 2)
        await keep_history(deals, deal_id, "pusk_stage_plan")
        new = await deals.history(deal_id)

    row = _row(store, deal_id)
    visit = state.visits[-1]
    assert row["stage"] == "negotiation" and row["stage_entered_at"] == visit.entered_at
    assert row["sales_team"] == state.deal.sales_team
    plan = _plan(store, deal_id)
    waiting = {w.robot_id: w for w in state.waiting}
    assert [(e.kind, e.robot_id) for e in plan] == [
        ("robot", "call_again"),
        ("deadline", "deadline"),
    ]
    assert [e.due_at for e in plan] == [waiting["call_again"].due_at, visit.deadline_at]
    assert plan[0].title == "Remind the responsible to call the client again"
    assert plan[0].rule == waiting["call_again"].rule

    # One due-time computation per stage entry: new, in_progress (deadlines), negotiation
    # (its deadline and the reminder together; before the patch, the reminder had its own).
    assert PATCH_STAGE_PLAN in patch_ids(new)
    assert _due_time_calls(new) == 3
    old = WorkflowHistory.from_json("old", (HISTORIES / "pusk_all_stages_won.json").read_text())
    assert PATCH_STAGE_PLAN not in patch_ids(old)
    replayer = Replayer(workflows=[DealWorkflow], data_converter=DATA_CONVERTER)
    for history in (old, new):
        result = await replayer.replay_workflow(history, raise_on_replay_failure=True)
        assert result.replay_failure is None


async def test_a_robot_armed_on_entering_still_runs_once_at_its_time(
    ts_env: WorkflowEnvironment, store: Store
) -> None:
    """A reminder chained after a robot that runs at once counts from the stage entry and
    runs after it, once; the store's plan has its due time."""
    pipeline = mini_pipeline(
        [
            {
                "id": "work",
                "name": "Work",
                "robots": [notify("hello"), notify("later", delay="2 hours")],
            }
        ]
    )
    deal_id = new_deal_id()
    async with deal_system(ts_env, store) as deals:
        await deals.start(sample_deal(deal_id), pipeline)
        state = await eventually(deals, deal_id, lambda s: bool(s.waiting))
        [waiting] = state.waiting
        entered = state.visits[-1].entered_at
        assert waiting.due_at == entered + timedelta(hours=2)
        [entry] = _plan(store, deal_id)
        assert (entry.robot_id, entry.due_at) == ("later", entered + timedelta(hours=2))
        await ts_env.sleep(timedelta(hours=2, minutes=1))
        state = await eventually(deals, deal_id, lambda s: not s.waiting and s.ran(1, "later"))
    assert messages_to(store, "ivanov", deal_id) == ["hello ran", "later ran"]
    assert [r.robot_id for r in state.robot_runs] == ["hello", "later"]


def test_open_deals_of_an_older_database_get_their_stage_entry_time(db_url: str) -> None:
    upgrade(db_url, "0009")
    engine = sa.create_engine(db_url)
    at = datetime(2026, 11, 30, 10, tzinfo=UTC)
    deal = {
        "deal_id": "D-1", "title": "t", "pipeline_id": "pusk", "pipeline_version": "v",
        "stage": "proposal", "status": "open", "responsible": "ivanov",
        "department_head": "smirnova", "service": "s", "amount": 10, "currency": "RUB",
        "contact_name": "Anna", "started_at": at, "breached": False,
    }  # fmt: skip
    events = [
        {"key": f"D-1:{n}:enter", "deal_id": "D-1", "pipeline_id": "pusk",
         "pipeline_version": "v", "stage": stage, "kind": "stage_entered",
         "at": at + timedelta(hours=n), "details": json.dumps({})}
        for n, stage in ((1, "new"), (2, "proposal"))
    ]  # fmt: skip
    try:
        with engine.begin() as conn:
            conn.execute(sa.table("deals", *(sa.column(k) for k in deal)).insert(), [deal])
            table = sa.table("report_events", *(sa.column(k) for k in events[0]))
            conn.execute(table.insert(), events)
        upgrade(db_url)
        store = Store(db_url)
        row = _row(store, "D-1")
        store.dispose()
        assert row["stage_entered_at"] == at + timedelta(hours=2)
        assert row["updated_at"] == at + timedelta(hours=2)
        assert row["plan"] is None and row["sales_team"] is None  # told by its next entry
        downgrade(db_url, "0009")
        with engine.connect() as conn:
            columns = conn.execute(sa.select(sa.text("*")).select_from(sa.text("deals"))).keys()
            assert "stage_entered_at" not in columns
            assert conn.execute(sa.text("SELECT title FROM deals")).scalar() == "t"
    finally:
        engine.dispose()


def test_time_in_a_stage_is_counted_in_working_time() -> None:
    calendar = WorkingCalendar(CalendarSpec(timezone="Europe/Moscow", country="RU"))

    def at(text: str) -> datetime:
        return datetime.fromisoformat(text + MOSCOW)

    assert calendar.working_time(at("2026-12-01T10:00"), at("2026-12-01T12:30")) == timedelta(
        hours=2, minutes=30
    )
    # Friday evening to Monday morning: the weekend does not count.
    assert calendar.working_time(at("2026-12-04T17:00"), at("2026-12-07T10:00")) == timedelta(
        hours=2
    )
    # A whole working week is five working days of nine hours.
    assert calendar.working_time(at("2026-12-01T09:00"), at("2026-12-08T09:00")) == 5 * (
        calendar.working_day
    )
    # The New Year holidays (public days off in Russia) do not count either.
    assert calendar.working_time(at("2026-12-30T18:00"), at("2027-01-11T09:00")) == timedelta(0)
    assert calendar.working_time(at("2026-12-02T10:00"), at("2026-12-01T10:00")) == timedelta(0)


def test_working_days_are_counted_as_the_calendar_says_day_by_day() -> None:
    """The board counts whole weeks by arithmetic: it agrees with asking each day, across
    the New Year holidays, moved working days and a company's own days."""
    for spec in (
        CalendarSpec(timezone="Europe/Moscow", country="RU"),
        CalendarSpec(
            country=None,
            weekend=[6],
            extra_holidays=[date(2026, 12, 15)],
            extra_working_days=[date(2026, 12, 20)],
        ),
    ):
        calendar = WorkingCalendar(spec)
        for first in range(0, 120, 7):
            start = date(2026, 11, 20) + timedelta(days=first)
            for length in range(0, 400, 13):
                end = start + timedelta(days=length)
                one_by_one = sum(
                    calendar.is_working_day(start + timedelta(days=n)) for n in range(length)
                )
                assert calendar.working_days(start, end) == one_by_one, (start, end)
