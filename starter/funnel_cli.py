"""Commands about several funnels: the pipelines loaded (``funnel pipeline list``), checking
pipeline files (``funnel pipeline check``), and moving a deal to a stage of another pipeline
(``funnel deal move-funnel``)."""

from __future__ import annotations

from pathlib import Path

import click

from funnel.domain.pipeline import Pipeline
from funnel.runtime.pipeline_loader import PipelineError, load_pipeline
from funnel.runtime.pipelines import Loaded, Pipelines
from funnel.runtime.settings import Settings
from starter.cli_support import (
    Failure,
    as_option,
    deal_client,
    emit,
    json_option,
    operator_actor,
    run_async,
)
from starter.render import print_deal


def loaded_pipelines(settings: Settings) -> Pipelines:
    """The pipelines of FUNNEL_PIPELINES / FUNNEL_PIPELINE, or a clean error naming the file."""
    try:
        return Pipelines.from_settings(settings)
    except PipelineError as exc:
        raise Failure(str(exc)) from exc


def named_pipeline(settings: Settings, pipeline_id: str | None) -> Pipeline:
    """The pipeline ``--pipeline`` names (None: the default one); an unknown id is refused
    with the ids there are."""
    try:
        return loaded_pipelines(settings).get(pipeline_id)
    except PipelineError as exc:
        raise Failure(str(exc)) from exc


@click.group()
def pipeline() -> None:
    """Pipeline files: several funnels side by side (FUNNEL_PIPELINES)."""


@pipeline.command("list")
@json_option
def pipeline_list(as_json: bool) -> None:
    """The pipelines new deals may run in: id, version, file; the default one marked."""
    pipelines = loaded_pipelines(Settings())
    rows = [
        {
            "id": p.id,
            "name": p.name,
            "version": p.version,
            "default": p.id == pipelines.default.id,
            "file": str(pipelines.path_of(p.id)),
            "stages": [s.id for s in p.stages],
        }
        for p in pipelines
    ]

    def human() -> None:
        for row in rows:
            mark = "  (default)" if row["default"] else ""
            click.echo(f"{row['id']:<16} {row['version']:<14} {row['file']}  {row['name']}{mark}")

    emit(as_json, rows, human)


@pipeline.command("check")
@click.argument("path", type=click.Path(path_type=Path), required=False)
@json_option
def pipeline_check(path: Path | None, as_json: bool) -> None:
    """Load a pipeline file and report what is wrong with it, its move_to_funnel robots
    checked against the other pipelines; without PATH, every pipeline loaded (the folder
    FUNNEL_PIPELINES, or FUNNEL_PIPELINE)."""
    settings = Settings()
    if path is None:
        pipelines = loaded_pipelines(settings)
        checked = [(pipelines.path_of(p.id), p) for p in pipelines]
    else:
        try:
            checked = [(path, load_pipeline(path))]
        except PipelineError as exc:
            raise Failure(str(exc)) from exc
        _check_targets(settings, path, checked[0][1])
    infos = [
        {"id": p.id, "version": p.version, "stages": [s.id for s in p.stages], "file": str(f)}
        for f, p in checked
    ]

    def human() -> None:
        for f, p in checked:
            stages = " -> ".join(s.id for s in p.stages)
            click.echo(f"{f}: pipeline {p.id!r} version {p.version}: {stages}")

    emit(as_json, infos[0] if path is not None else infos, human)


def _check_targets(settings: Settings, path: Path, checked: Pipeline) -> None:
    """The file among the loaded pipelines (in place of the one with its id): its
    move_to_funnel targets exist, and the others' moves into it still find their stages."""
    try:
        others = Pipelines.from_settings(settings)
    except PipelineError as exc:
        if any(stage.funnel_moves() for stage in checked.stages):
            click.echo(f"warning: move_to_funnel targets not checked: {exc}", err=True)
        return
    entries = [Loaded(p, others.path_of(p.id)) for p in others if p.id != checked.id]
    try:
        Pipelines([*entries, Loaded(checked, path)])
    except PipelineError as exc:
        raise Failure(str(exc)) from exc


@click.command("move-funnel")
@click.argument("deal_id")
@click.argument("pipeline_id", metavar="PIPELINE")
@click.argument("stage")
@click.option("--reason", help="why it moves to the other funnel (kept with the move)")
@click.option("--by", help="employee id of who moves it")
@as_option
@json_option
@run_async
async def deal_move_funnel(
    deal_id: str,
    pipeline_id: str,
    stage: str,
    reason: str | None,
    by: str | None,
    as_employee: str | None,
    as_json: bool,
) -> None:
    """Move a deal to STAGE of another PIPELINE (its current version): the stage's robots
    run, and the deal runs in that pipeline from then on."""
    settings = Settings()
    target = named_pipeline(settings, pipeline_id)
    actor = operator_actor(settings, as_employee)
    client = await deal_client(settings)
    state = await client.move_to_funnel(deal_id, target, stage, reason, by, actor=actor)
    emit(as_json, state, lambda: print_deal(state, client.ui_link(deal_id)))
