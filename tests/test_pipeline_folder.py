"""Which pipelines load (FUNNEL_PIPELINES, FUNNEL_PIPELINE and both), what a folder is refused
for (a broken file, two files of one id, a ``move_to_funnel`` robot naming what no file has),
and the `funnel` commands that name a pipeline, against the real dev server and a worker."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from temporalio.testing import WorkflowEnvironment

from funnel.domain.pipeline import Pipeline
from funnel.runtime.pipeline_loader import PipelineError
from funnel.runtime.pipelines import Pipelines, lead_pipeline_problem
from funnel.runtime.settings import DEFAULT_PIPELINES, PROJECT, Settings
from funnel.storage.store import Store
from starter.cli import main
from tests.helpers import eventually
from tests.temporal_fixtures import deal_system, new_deal_id

REPEAT_FILE = DEFAULT_PIPELINES / "repeat-sales.yaml"
REMINDERS = PROJECT / "examples" / "reminders.yaml"


def _folder(tmp: Path, **files: str) -> Path:
    folder = tmp / "pipelines"
    folder.mkdir(parents=True)
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def _repeat_with(tmp: Path, old: str, new: str) -> Path:
    """The shipped folder with repeat-sales.yaml changed."""
    text = REPEAT_FILE.read_text(encoding="utf-8")
    assert old in text
    return _folder(
        tmp,
        **{
            "pusk.yaml": (DEFAULT_PIPELINES / "pusk.yaml").read_text(encoding="utf-8"),
            "repeat-sales.yaml": text.replace(old, new),
        },
    )


def test_the_shipped_folder_and_how_funnel_pipeline_and_pipelines_combine(tmp_path: Path) -> None:
    shipped = Pipelines.from_settings(Settings())
    assert shipped.ids == ["pusk", "repeat_sales"] and shipped.default.id == "pusk"
    assert shipped.path_of("repeat_sales") == REPEAT_FILE
    # FUNNEL_PIPELINE alone: that one file, as before there were several.
    alone = Pipelines.from_settings(Settings(pipeline=REMINDERS))
    assert alone.ids == ["reminders"] and alone.default.id == "reminders"
    # Both: the folder's files and that one, which is the default.
    both = Pipelines.from_settings(Settings(pipelines=DEFAULT_PIPELINES, pipeline=REMINDERS))
    assert both.ids == ["pusk", "repeat_sales", "reminders"] and both.default.id == "reminders"
    inside = Pipelines.from_settings(Settings(pipelines=DEFAULT_PIPELINES, pipeline=REPEAT_FILE))
    assert inside.ids == ["pusk", "repeat_sales"] and inside.default.id == "repeat_sales"
    # The same file named by another path: still the folder's, and the default.
    roundabout = DEFAULT_PIPELINES / ".." / "pipelines" / REPEAT_FILE.name
    again = Pipelines.from_settings(Settings(pipelines=DEFAULT_PIPELINES, pipeline=roundabout))
    assert again.ids == ["pusk", "repeat_sales"] and again.default.id == "repeat_sales"


def test_a_folder_with_two_files_of_one_pipeline_is_refused_naming_both(tmp_path: Path) -> None:
    pusk = (DEFAULT_PIPELINES / "pusk.yaml").read_text(encoding="utf-8")
    folder = _folder(tmp_path, **{"a.yaml": pusk, "b.yml": pusk})
    with pytest.raises(PipelineError) as refused:
        Pipelines.from_settings(Settings(pipelines=folder))
    assert str(refused.value) == (
        f"{folder / 'b.yml'}: pipeline id 'pusk' is already the id of {folder / 'a.yaml'}:"
        " each pipeline file needs its own id"
    )


def test_a_folder_with_a_broken_file_is_refused_naming_it(tmp_path: Path) -> None:
    folder = _repeat_with(tmp_path, "after: 2 working days", "after: 2 fortnights")
    with pytest.raises(PipelineError) as refused:
        Pipelines.from_settings(Settings(pipelines=folder))
    assert str(refused.value).startswith(f"{folder / 'repeat-sales.yaml'}: stage 'order'")
    with pytest.raises(PipelineError, match="holds no pipeline file"):
        Pipelines.from_settings(Settings(pipelines=_folder(tmp_path / "empty")))


@pytest.mark.parametrize(
    ("pipeline", "stage", "problem"),
    [
        ("partners", "proposal", "field 'pipeline': unknown pipeline 'partners' (the pipelines"),
        ("pusk", "offer", "field 'stage': 'offer' is not a stage of pipeline 'pusk'"),
        ("pusk", "won", "field 'stage': 'won' is a won/lost stage of pipeline 'pusk'"),
    ],
)
def test_a_move_to_funnel_robot_naming_what_no_file_has_is_refused(
    tmp_path: Path, pipeline: str, stage: str, problem: str
) -> None:
    folder = _repeat_with(
        tmp_path,
        "pipeline: pusk\n        stage: proposal",
        f"pipeline: {pipeline}\n        stage: {stage}",
    )
    with pytest.raises(PipelineError) as refused:
        Pipelines.from_settings(Settings(pipelines=folder))
    where = f"{folder / 'repeat-sales.yaml'}: stage 'new', robot 'route_new_project', "
    assert str(refused.value).startswith(where + problem)


def test_the_schema_keeps_move_to_funnel_robots_in_process_stages_of_another_pipeline(
    pusk: Pipeline,
) -> None:
    data = pusk.model_dump(mode="json")
    robot = {"id": "on", "type": "move_to_funnel", "title": "On", "pipeline": "x", "stage": "new"}
    won = next(s for s in data["stages"] if s["id"] == "won")
    won["robots"].append(robot)
    with pytest.raises(ValueError, match="a won/lost stage cannot move the deal to another"):
        Pipeline.model_validate(data)
    won["robots"].pop()
    data["stages"][0]["robots"].append({**robot, "pipeline": "pusk"})
    with pytest.raises(ValueError, match="moves the deal to its own pipeline 'pusk'"):
        Pipeline.model_validate(data)


def test_a_lead_form_naming_an_unknown_pipeline_is_a_settings_problem() -> None:
    shipped = Pipelines.from_settings(Settings())
    assert lead_pipeline_problem(Settings(lead_pipelines={"form": "repeat_sales"}), shipped) is None
    problem = lead_pipeline_problem(Settings(lead_pipelines={"form": "partners"}), shipped)
    assert problem == (
        "FUNNEL_LEAD_PIPELINES names unknown pipelines ('form' -> 'partners'); the pipelines"
        " are: pusk, repeat_sales"
    )


async def _funnel(env: WorkflowEnvironment, tmp: Path, *args: str, **extra: str) -> Result:
    settings = {
        "TEMPORAL_ADDRESS": env.client.service_client.config.target_host,
        "FUNNEL_DATABASE_URL": f"sqlite:///{tmp / 'funnel.db'}",
        **extra,
    }
    return await asyncio.to_thread(CliRunner().invoke, main, list(args), env=settings)


async def test_pipeline_list_and_check(dev_env: WorkflowEnvironment, tmp_path: Path) -> None:
    listed = await _funnel(dev_env, tmp_path, "pipeline", "list", "--json")
    assert listed.exit_code == 0, listed.output
    rows = json.loads(listed.output)
    assert [(r["id"], r["default"]) for r in rows] == [("pusk", True), ("repeat_sales", False)]
    checked = await _funnel(dev_env, tmp_path, "pipeline", "check")
    assert checked.exit_code == 0, checked.output
    assert f"{REPEAT_FILE}: pipeline 'repeat_sales' version" in checked.output
    one = await _funnel(dev_env, tmp_path, "pipeline", "check", str(REPEAT_FILE))
    assert one.exit_code == 0 and "new -> order -> invoice -> final -> won -> lost" in one.output

    # A PUSK file without the stage repeat sales moves deals to: its check says so.
    pusk = (DEFAULT_PIPELINES / "pusk.yaml").read_text(encoding="utf-8")
    edited = tmp_path / "pusk.yaml"
    edited.write_text(pusk.replace("- id: proposal", "- id: offer"), encoding="utf-8")
    broken = await _funnel(dev_env, tmp_path, "pipeline", "check", str(edited))
    assert broken.exit_code == 1
    assert "repeat-sales.yaml: stage 'new', robot 'route_new_project', field 'stage':" in (
        broken.output
    )

    shutil.copy(DEFAULT_PIPELINES / "pusk.yaml", tmp_path / "copy.yaml")
    shutil.copy(DEFAULT_PIPELINES / "pusk.yaml", tmp_path / "pusk-again.yaml")
    twice = await _funnel(dev_env, tmp_path, "pipeline", "check", FUNNEL_PIPELINES=str(tmp_path))
    assert twice.exit_code == 1
    assert "pusk-again.yaml: pipeline id 'pusk' is already the id of" in twice.output


async def test_deals_name_their_pipeline_on_the_command_line(
    dev_env: WorkflowEnvironment, store: Store, tmp_path: Path
) -> None:
    deal_file = tmp_path / "deal.json"
    deal_id = new_deal_id("CLF")
    example = json.loads((PROJECT / "examples" / "deal.json").read_text())
    deal_file.write_text(json.dumps({**example, "deal_id": deal_id}))
    async with deal_system(dev_env, store) as deals:
        queue = {"FUNNEL_TASK_QUEUE": deals._task_queue}
        unknown = await _funnel(
            dev_env, tmp_path, "deal", "start", str(deal_file), "--pipeline", "partners", **queue
        )
        assert unknown.exit_code == 1
        assert "unknown pipeline 'partners'; the pipelines are: pusk, repeat_sales" in (
            unknown.output
        )
        started = await _funnel(dev_env, tmp_path, "deal", "start", str(deal_file), **queue)
        assert started.exit_code == 0, started.output
        assert "pipeline pusk" in started.output
        await eventually(deals, deal_id, lambda s: len(s.visits) == 1)

        moved = await _funnel(
            dev_env,
            tmp_path,
            *("deal", "move-funnel", deal_id, "repeat_sales", "order", "--json"),
            *("--reason", "a repeat order", "--as", "ivanov"),
            **queue,
        )
        assert moved.exit_code == 0, moved.output
        state = json.loads(moved.output)
        assert (state["pipeline_id"], state["stage"]) == ("repeat_sales", "order")
        shown = await _funnel(dev_env, tmp_path, "deal", "show", deal_id, **queue)
        assert "repeat_sales/order" in shown.output and "pusk/new" in shown.output

        listed: list[str] = []
        for _ in range(100):
            out = await _funnel(
                dev_env, tmp_path, "deal", "list", "--pipeline", "repeat_sales", "--json"
            )
            listed = [d["deal_id"] for d in json.loads(out.output)]
            if deal_id in listed:
                break
            await asyncio.sleep(0.1)
        assert deal_id in listed

        # Each pipeline has its own versions: a migration names the one whose deals move.
        migrate = await _funnel(dev_env, tmp_path, "pipeline", "migrate", **queue)
        assert migrate.exit_code == 1
        assert "name the one whose deals move with --pipeline (pusk or repeat_sales)" in (
            migrate.output
        )
        unknown = await _funnel(
            dev_env, tmp_path, "pipeline", "migrate", "--pipeline", "partners", **queue
        )
        assert unknown.exit_code == 1 and "the pipelines are: pusk, repeat_sales" in (
            unknown.output
        )
