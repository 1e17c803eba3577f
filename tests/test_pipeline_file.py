"""Pipeline files: the shipped PUSK funnel loads, and wrong files are refused with an error
naming the file, the stage and the field."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from funnel.domain.pipeline import CreateTaskRobot, NotifyRobot, Semantics, SetTitleRobot
from funnel.domain.robot_rules import OnLeave
from funnel.runtime.pipeline_loader import PipelineError, load_pipeline
from funnel.runtime.settings import DEFAULT_PIPELINE


def test_pusk_pipeline_has_the_seven_stages_and_their_robots() -> None:
    pipeline = load_pipeline(DEFAULT_PIPELINE)
    assert [s.id for s in pipeline.stages] == [
        "new",
        "in_progress",
        "proposal",
        "negotiation",
        "contract",
        "payment",
        "final",
        "won",
        "lost",
    ]
    assert pipeline.stage("won").semantics is Semantics.SUCCESS
    assert pipeline.stage("lost").semantics is Semantics.FAILURE
    # every process stage has a deadline with a notification to the head and a report event
    for stage in pipeline.stages[:7]:
        assert stage.deadline is not None, stage.id
        kinds = {r.type for r in stage.deadline.escalate}
        assert kinds == {"notify", "report_event"}, stage.id
        heads = [r for r in stage.deadline.escalate if isinstance(r, NotifyRobot)]
        assert "head" in heads[0].to
    new = pipeline.stage("new")
    assert [type(r) for r in new.robots] == [SetTitleRobot, NotifyRobot]
    contract = {r.id: r for r in pipeline.stage("contract").robots}
    contract_task = contract["signed_contract_task"]
    assert isinstance(contract_task, CreateTaskRobot)
    assert contract_task.created_by == "head" and contract_task.needs_confirmation
    assert contract_task.on_leave is OnLeave.COMPENSATE  # leaving contract leaves no live task
    # Every stage after proposal gives the deal its standard title back.
    for stage_id in ("negotiation", "contract", "payment", "final"):
        assert isinstance(pipeline.stage(stage_id).robots[0], SetTitleRobot), stage_id
    call_again = pipeline.stage("negotiation").robots[1]
    assert str(call_again.delay) == "10 working days"
    assert len(pipeline.version) == 12  # content hash: a change reaches new deals only


def _write(tmp_path: Path, mutate: object) -> Path:
    data = yaml.safe_load(DEFAULT_PIPELINE.read_text())
    mutate(data)  # type: ignore[operator]
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    return path


def _stage(data: dict, stage_id: str) -> dict:  # type: ignore[type-arg]
    return next(s for s in data["stages"] if s["id"] == stage_id)


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (
            lambda d: _stage(d, "proposal")["robots"][0].update(type="send_fax"),
            r"stage 'proposal', robot 'prepare_proposal_task'.*unknown robot type 'send_fax'",
        ),
        (
            lambda d: _stage(d, "payment")["triggers"][0].update(to="shipped"),
            r"stage 'payment': trigger on invoice_paid goes to unknown stage 'shipped'",
        ),
        (
            lambda d: _stage(d, "negotiation")["robots"][1].update(delay="ten days"),
            r"stage 'negotiation', robot 'call_again', field 'delay'.*bad duration 'ten days'",
        ),
        (
            lambda d: _stage(d, "new")["robots"][1].update(message="Hi {{ deal.title "),
            r"stage 'new', robot 'notify_new', field 'message': jinja2 syntax error",
        ),
        (
            lambda d: _stage(d, "contract")["robots"][1].pop("task_title"),
            r"stage 'contract', robot 'signed_contract_task', field 'task_title': Field required",
        ),
        (
            lambda d: _stage(d, "contract")["deadline"].update(after="5 weeks"),
            r"stage 'contract', field 'deadline.after'.*bad duration '5 weeks'",
        ),
        (
            lambda d: d["calendar"].update(country="XX"),
            r"calendar, field 'country': country 'XX' has no public-holiday calendar",
        ),
        (
            lambda d: _stage(d, "final").pop("name"),
            r"stage 'final', field 'name': Field required",
        ),
    ],
)
def test_wrong_pipeline_file_is_refused_naming_file_stage_and_field(
    tmp_path: Path, mutate: object, expected: str
) -> None:
    path = _write(tmp_path, mutate)
    with pytest.raises(PipelineError, match=expected) as info:
        load_pipeline(path)
    assert str(info.value).startswith(f"{path}: ")


def test_missing_file_and_bad_yaml(tmp_path: Path) -> None:
    with pytest.raises(PipelineError, match="cannot read the pipeline file"):
        load_pipeline(tmp_path / "absent.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("stages: [unclosed\n")
    with pytest.raises(PipelineError, match="not valid YAML"):
        load_pipeline(bad)


def test_duplicate_stage_ids_refused(tmp_path: Path) -> None:
    path = _write(tmp_path, lambda d: _stage(d, "proposal").update(id="negotiation"))
    with pytest.raises(PipelineError, match="stage ids must be unique: negotiation"):
        load_pipeline(path)


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (
            lambda d: _stage(d, "new")["robots"][1].update(
                condition={"rules": [{"field": "fields.colour", "op": "=", "value": "red"}]}
            ),
            r"stage 'new', robot 'notify_new', field 'condition': unknown field 'fields.colour'",
        ),
        (
            lambda d: _stage(d, "contract")["robots"][4].update(relative_to="fields.source"),
            r"field 'relative_to': field 'fields.source' is string, not a date",
        ),
        (
            lambda d: _stage(d, "payment")["triggers"][0].update(to="new"),
            r"trigger on invoice_paid moves the deal back to 'new'; set allow_back: true",
        ),
        (
            lambda d: _stage(d, "new")["robots"][1].update(
                condition={"rules": [{"field": "amount", "op": "in", "value": 5}]}
            ),
            r"operator 'in' needs a list value",
        ),
        (
            lambda d: _stage(d, "new")["robots"][1].update(direction="before"),
            r"direction 'before' needs relative_to",
        ),
        (
            lambda d: _stage(d, "final")["task_sets"]["website"][1].update(depends_on=["kick"]),
            r"task set 'website': task 'design' depends on unknown task\(s\) kick",
        ),
    ],
)
def test_wrong_conditions_and_timings_are_refused(
    tmp_path: Path, mutate: object, expected: str
) -> None:
    with pytest.raises(PipelineError, match=expected):
        load_pipeline(_write(tmp_path, mutate))
