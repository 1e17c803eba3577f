"""`funnel simulate`: the timeline of what a pipeline would do to a deal, computed on the
time-skipping server with nothing sent outside the simulation."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

from funnel.pipeline import Pipeline
from funnel.settings import DEFAULT_PIPELINE
from starter.simulate import EVENTS, simulate
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
