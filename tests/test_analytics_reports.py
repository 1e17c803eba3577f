"""Every report figure on the hand-computed data set of tests/analytics_data.py, on SQLite
and on PostgreSQL. Working time: PUSK works 06:00-15:00 UTC on weekdays."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime

import pytest

from analytics.cli import filters_for
from analytics.models import (
    DisciplineReport,
    Filters,
    FunnelReport,
    ManagersReport,
    SpeedReport,
    TrendReport,
)
from analytics.service import Analytics
from funnel.runtime.pipeline_loader import load_pipeline
from funnel.runtime.settings import DEFAULT_PIPELINE
from funnel.storage.store import Store
from tests import analytics_data
from tests.analytics_data import t

H = 3600
DAY = 24 * H
NOW = datetime(2025, 6, 1, tzinfo=UTC)


@pytest.fixture
def analytics(db_url: str) -> Iterator[Analytics]:
    store = Store(db_url)
    analytics_data.load(store)
    store.dispose()
    a = Analytics(db_url, load_pipeline(DEFAULT_PIPELINE))
    yield a
    a.dispose()


def _funnel(a: Analytics, f: Filters | None = None) -> FunnelReport:
    r = a.report("funnel", f)
    assert isinstance(r, FunnelReport)
    return r


def _speed(a: Analytics, f: Filters | None = None) -> SpeedReport:
    r = a.report("speed", f)
    assert isinstance(r, SpeedReport)
    return r


def test_funnel_counts_deals_once_per_stage(analytics: Analytics) -> None:
    r = _funnel(analytics)
    # D6 is on another pipeline: five deals.
    assert (r.deals, r.won, r.lost, r.open) == (5, 1, 2, 2)
    s = {x.stage: x for x in r.stages}
    # D1 re-entered in_progress and proposal: still one deal each.
    assert [
        s[k].entered
        for k in (
            "new",
            "in_progress",
            "proposal",
            "negotiation",
            "contract",
            "payment",
            "final",
            "won",
            "lost",
        )
    ] == [5, 3, 2, 1, 1, 1, 1, 1, 2]
    # Moved on = reached a further stage: new: D1-D4 (D5 still there); in_progress: only D1
    # (D2 lost there, D4 sits there); proposal: D1 (D3 lost there).
    assert (s["new"].moved_on, s["new"].conversion_next) == (4, 0.8)
    assert (s["in_progress"].moved_on, s["in_progress"].conversion_next) == (1, 0.3333)
    assert (s["proposal"].moved_on, s["proposal"].conversion_next) == (1, 0.5)
    assert s["won"].moved_on is None
    assert (s["new"].won, s["new"].conversion_won) == (1, 0.2)
    assert (s["in_progress"].lost, s["in_progress"].drop_off) == (1, 0.3333)
    assert [(x.reason, x.deals) for x in s["in_progress"].lost_reasons] == [("too expensive", 1)]
    assert [(x.reason, x.deals) for x in s["proposal"].lost_reasons] == [("chose a competitor", 1)]
    assert (s["new"].open_now, s["in_progress"].open_now, s["proposal"].open_now) == (1, 1, 0)
    # D3 ran on version v1, whose "qualification" stage the current file no longer has.
    assert (s["qualification"].semantics, s["qualification"].entered) == ("retired", 1)
    assert r.stages[-1].stage == "qualification"


def test_funnel_filters(analytics: Analytics) -> None:
    mine = _funnel(analytics, Filters(responsible="ivanov"))
    assert (mine.deals, mine.won, mine.lost) == (2, 1, 1)
    assert {x.stage: x.entered for x in mine.stages}["in_progress"] == 2
    dept = _funnel(analytics, Filters(department="kuznetsov"))
    assert (dept.deals, dept.open) == (2, 2)
    # 11 March, Moscow time: only D2 started that day.
    day = filters_for(analytics, date_from=date(2025, 3, 11), date_to=date(2025, 3, 11))
    assert day.date_from == t(10, 21) and day.date_to == t(11, 21)
    one = _funnel(analytics, day)
    assert (one.deals, one.lost) == (1, 1)


def test_speed_calendar_and_working_time(analytics: Analytics) -> None:
    r = _speed(analytics)
    s = {x.stage: x for x in r.stages}
    # new: 1h, 2h, 4h, 30min, all inside working hours; D5 is still there.
    assert (s["new"].visits, s["new"].in_stage_now) == (4, 1)
    assert s["new"].calendar.model_dump() == {"median": 5400, "p90": 12240, "mean": 6750}
    assert s["new"].working == s["new"].calendar
    # in_progress: D1 24h (9 working h), D1 again 2h (2h), D2 48h (Tue 11:00 MSK to Thu
    # 11:00: 7 + 9 + 2 = 18 working h); D4 is still there. p90 = v2 + 0.8 (v3 - v2).
    assert (s["in_progress"].visits, s["in_progress"].in_stage_now) == (3, 1)
    assert s["in_progress"].calendar.model_dump() == {
        "median": DAY,
        "p90": DAY + 0.8 * DAY,
        "mean": (2 * H + DAY + 2 * DAY) / 3,
    }
    assert s["in_progress"].working.model_dump() == {
        "median": 9 * H,
        "p90": 9 * H + 0.8 * 9 * H,
        "mean": (2 + 9 + 18) * H / 3,
    }
    # proposal: two visits of D1 and one of D3, each a day and 9 working hours.
    assert (s["proposal"].visits, s["proposal"].working.median) == (3, 9 * H)
    # contract over a weekend: Fri 12:00 to Mon 15:00 MSK = 75h, 6 + 6 working hours.
    assert (s["contract"].calendar.median, s["contract"].working.median) == (75 * H, 12 * H)
    assert r.bottleneck == "contract"
    assert [x.stage for x in r.stages][-1] == "qualification"


def test_speed_period_counts_visits_that_ended_in_it(analytics: Analytics) -> None:
    r = _speed(
        analytics, filters_for(analytics, date_from=date(2025, 3, 11), date_to=date(2025, 3, 11))
    )
    s = {x.stage: x for x in r.stages}
    # Ended on 11 March (MSK): D2's new (2h), D1's first in_progress, D3's proposal.
    assert (s["new"].visits, s["new"].calendar.median) == (1, 2 * H)
    assert (s["in_progress"].visits, s["in_progress"].working.median) == (1, 9 * H)
    assert (s["proposal"].visits, s["proposal"].calendar.median) == (1, DAY)
    assert s["contract"].visits == 0 and s["contract"].working.median is None


def test_discipline(analytics: Analytics) -> None:
    r = analytics.report("discipline", now=NOW)
    assert isinstance(r, DisciplineReport)
    assert r.totals.model_dump() == {
        "key": "all",
        "breaches": 3,
        "escalations": 6,
        "tasks_overdue": 2,
        "tasks_late": 1,
    }
    stages = {x.key: (x.breaches, x.escalations, x.tasks_overdue, x.tasks_late) for x in r.stages}
    assert stages == {
        "new": (0, 0, 1, 0),
        "in_progress": (2, 4, 1, 0),
        "proposal": (0, 0, 0, 0),
        "contract": (1, 2, 0, 1),
    }
    managers = [
        (x.key, x.breaches, x.escalations, x.tasks_overdue, x.tasks_late) for x in r.managers
    ]
    assert managers == [("ivanov", 2, 4, 0, 1), ("petrov", 1, 2, 1, 0), ("sidorov", 0, 0, 1, 0)]
    assert [(b.deal_id, b.stage) for b in r.recent_breaches] == [
        ("D1", "contract"),
        ("D4", "in_progress"),
        ("D2", "in_progress"),
    ]
    assert r.recent_breaches[0].web_ui == (
        "http://127.0.0.1:8233/namespaces/default/workflows/deal-D1"
    )
    # Before D5's task deadline (2 April) only D4's task is overdue.
    early = analytics.report("discipline", now=datetime(2025, 3, 25, tzinfo=UTC))
    assert isinstance(early, DisciplineReport)
    assert early.totals.tasks_overdue == 1


def test_managers(analytics: Analytics) -> None:
    r = analytics.report("managers")
    assert isinstance(r, ManagersReport)
    rows = [m.model_dump() for m in r.managers]
    assert rows == [
        {"responsible": "ivanov", "deals_started": 2, "open_now": 0, "won": 1, "lost": 1,
         "win_rate": 0.5, "amount_won": 100000.0, "median_cycle_seconds": 199 * H,
         "breaches": 2},
        {"responsible": "petrov", "deals_started": 2, "open_now": 1, "won": 0, "lost": 1,
         "win_rate": 0.0, "amount_won": 0.0, "median_cycle_seconds": None, "breaches": 1},
        {"responsible": "sidorov", "deals_started": 1, "open_now": 1, "won": 0, "lost": 0,
         "win_rate": None, "amount_won": 0.0, "median_cycle_seconds": None, "breaches": 0},
    ]  # fmt: skip
    # April only: D5 started, nothing closed.
    april = analytics.report("managers", Filters(date_from=t(1, 0, month=4)))
    assert isinstance(april, ManagersReport)
    assert [(m.responsible, m.deals_started, m.won) for m in april.managers] == [("sidorov", 1, 0)]


@pytest.mark.parametrize("by, periods", [
    ("month", ["2025-03", "2025-04"]),
    ("week", ["2025-03-10", "2025-03-31"]),  # Mondays; D5 started Tuesday 1 April
])  # fmt: skip
def test_trend(analytics: Analytics, by: str, periods: list[str]) -> None:
    r = analytics.report("trend", Filters.model_validate({"by": by}))
    assert isinstance(r, TrendReport)
    assert [p.period for p in r.periods] == periods
    march, april = r.periods
    assert (march.deals_started, march.won, march.lost, march.open_now) == (4, 1, 2, 1)
    assert (march.win_rate, march.amount_won, march.breaches) == (0.3333, 100000.0, 3)
    assert march.median_cycle_seconds == 199 * H
    assert (april.deals_started, april.open_now, april.breaches) == (1, 1, 0)


def test_new_events_are_folded_in_incrementally(analytics: Analytics, db_url: str) -> None:
    assert _funnel(analytics).deals == 5
    store = Store(db_url)
    from funnel.storage.records import ReportEventIn

    # D5 moves on: the next report sees the finished visit without any rebuild.
    for key, kind, stage, details in (
        ("D5:2:exit", "stage_exited", "new", {"seq": 1, "to": "in_progress"}),
        ("D5:2:enter", "stage_entered", "in_progress", {"seq": 2, "from": "new"}),
    ):
        store.add_report_event(ReportEventIn(
            key=key, deal_id="D5", pipeline_id="pusk", pipeline_version="v2", stage=stage,
            kind=kind, at=t(1, 9, month=4), details=details))  # fmt: skip
    store.dispose()
    s = {x.stage: x for x in _speed(analytics).stages}
    assert (s["new"].visits, s["new"].in_stage_now) == (5, 0)
    assert s["in_progress"].in_stage_now == 2
