"""The ``repeat`` setting in a pipeline file: the example funnel loads, and a wrong setting is
refused naming the stage, the robot and the field, also by `funnel pipeline check`."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from funnel.domain.pipeline import NotifyRobot
from funnel.domain.repeats import RepeatUntil
from funnel.runtime.pipeline_loader import PipelineError, load_pipeline

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "reminders.yaml"

Data = dict[str, Any]


def _robot(data: Data, stage_id: str, robot_id: str) -> Data:
    stage = next(s for s in data["stages"] if s["id"] == stage_id)
    robots: list[Data] = [*stage.get("robots", []), *stage.get("deadline", {}).get("escalate", [])]
    return next(r for r in robots if r["id"] == robot_id)


def _reminder(data: Data) -> Data:
    return _robot(data, "new", "remind_to_accept")


def _write(tmp_path: Path, mutate: Callable[[Data], object]) -> Path:
    data = yaml.safe_load(EXAMPLE.read_text())
    mutate(data)
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    return path


def test_the_example_funnel_repeats_until_accepted_and_until_the_task_is_done() -> None:
    pipeline = load_pipeline(EXAMPLE)
    remind = pipeline.stage("new").robots[2]
    assert isinstance(remind, NotifyRobot) and remind.repeat is not None
    assert (str(remind.repeat.every), remind.repeat.until, remind.repeat.max) == (
        "1 working hours",
        RepeatUntil.ACCEPTED,
        3,
    )
    proposal = pipeline.stage("proposal").robots[1]
    assert proposal.repeat is not None and proposal.repeat.until is RepeatUntil.TASK_DONE


REMIND = "stage 'new', robot 'remind_to_accept', field"


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (
            lambda d: _reminder(d)["repeat"].update(max=0),
            rf"{REMIND} 'repeat.max': between 1 and 50 \(the first run included\), got 0",
        ),
        (
            lambda d: _reminder(d)["repeat"].update(max=51),
            rf"{REMIND} 'repeat.max': between 1 and 50",
        ),
        (lambda d: _reminder(d)["repeat"].pop("max"), rf"{REMIND} 'repeat.max': Field required"),
        (
            lambda d: _reminder(d)["repeat"].update(every="1 hours"),
            rf"{REMIND} 'repeat.every': write it in working time, e.g. '1 working hours'",
        ),
        (
            lambda d: _reminder(d)["repeat"].update(every="5 working minutes"),
            rf"{REMIND} 'repeat.every': at least 15 working minutes",
        ),
        (
            lambda d: _reminder(d)["repeat"].update(until="paid"),
            rf"{REMIND} 'repeat.until': Input should be 'accepted', 'stage_left' or 'task_done'",
        ),
        (
            lambda d: _reminder(d)["repeat"].update(until="task_done"),
            rf"{REMIND} 'repeat.until': task_done needs the create_task robot whose task it"
            r" waits for: name it in repeat.task \(this stage's: none\)",
        ),
        (
            lambda d: _reminder(d)["repeat"].update(task="prepare_proposal_task"),
            rf"{REMIND} 'repeat.task': names the task of until: task_done, not of until: accepted",
        ),
        (
            lambda d: _robot(d, "proposal", "proposal_reminder")["repeat"].update(task="nope"),
            r"stage 'proposal', robot 'proposal_reminder', field 'repeat.task': 'nope' is not a"
            r" create_task robot of this stage \(its create_task robots: prepare_proposal_task\)",
        ),
        (
            lambda d: next(s for s in d["stages"] if s["id"] == "new").pop("triggers"),
            rf"{REMIND} 'repeat.until': accepted needs a trigger on `accepted` in this stage",
        ),
        (
            lambda d: _reminder(d).update(on_leave="keep"),
            rf"{REMIND} 'on_leave': a repeating robot stops when its stage is left",
        ),
        (
            lambda d: _robot(d, "new", "standard_title").update(
                repeat={"every": "1 working hours", "max": 2}
            ),
            r"stage 'new', robot 'standard_title', field 'repeat': only notify and report_event"
            r" robots repeat, not set_title",
        ),
        (
            lambda d: next(s for s in d["stages"] if s["id"] == "new").update(
                deadline={"after": "1 working hours", "escalate": [_reminder(d) | {"id": "late"}]}
            ),
            r"stage 'new', escalation robot 'late', field 'repeat': a deadline's"
            r" escalation runs once",
        ),
    ],
)
def test_a_wrong_repeat_is_refused_naming_stage_robot_and_field(
    tmp_path: Path, mutate: Callable[[Data], object], expected: str
) -> None:
    with pytest.raises(PipelineError, match=expected):
        load_pipeline(_write(tmp_path, mutate))


def test_pipeline_check_refuses_a_wrong_repeat(tmp_path: Path) -> None:
    path = _write(tmp_path, lambda d: _reminder(d)["repeat"].update(max=500))
    check = [sys.executable, "-m", "starter.cli", "pipeline", "check"]
    bad = subprocess.run([*check, str(path)], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert bad.returncode == 1
    assert f"{REMIND} 'repeat.max': between 1 and 50" in bad.stderr
    good = subprocess.run(
        [*check, str(EXAMPLE)], capture_output=True, text=True, cwd=ROOT, timeout=60
    )
    assert good.returncode == 0 and "new -> proposal -> won -> lost" in good.stdout
