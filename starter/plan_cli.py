"""CLI commands that look ahead: a live deal's plan, changing its fields, moving running
deals to a new pipeline version, and simulating a deal on the time-skipping server."""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import click
from pydantic import BaseModel, ValidationError

from funnel.client.deals import DealError
from funnel.domain.durations import Duration
from funnel.domain.models import DealInput, MigrateInput, UpdateFieldsInput
from funnel.domain.pipeline import Pipeline
from funnel.domain.pipeline_diff import changes_from
from funnel.runtime.pipeline_loader import PipelineError, load_pipeline
from funnel.runtime.settings import Settings
from starter.cli_support import (
    Failure,
    deal_client,
    emit,
    field_assignments,
    json_option,
    run_async,
)
from starter.funnel_cli import loaded_pipelines, named_pipeline


class MigrationPreview(BaseModel):
    deal_id: str
    stage: str
    from_version: str
    to_version: str
    changes: list[str]
    migrated: bool = False


@click.command("plan")
@click.argument("deal_id")
@json_option
@run_async
async def deal_plan(deal_id: str, as_json: bool) -> None:
    """Every waiting robot and deadline of a live deal with its due time and its rule."""
    client = await deal_client(Settings())
    plan = await client.plan(deal_id)

    def human() -> None:
        for w in plan:
            click.echo(
                f"{w.due_at:%Y-%m-%d %H:%M}Z  {w.kind:<13} {w.stage:<12} {w.robot_id:<24} {w.rule}"
            )
        if not plan:
            click.echo(f"nothing is waiting in deal {deal_id}")

    emit(as_json, [w.model_dump(mode="json") for w in plan], human)


@click.command("fields")
@click.argument("deal_id")
@click.argument("assignments", nargs=-1, required=True, metavar="NAME=VALUE...")
@click.option("--by", help="employee id of who changes them")
@json_option
@run_async
async def deal_fields(
    deal_id: str, assignments: tuple[str, ...], by: str | None, as_json: bool
) -> None:
    """Change custom fields (e.g. contract_due=2026-12-20); timers that follow them move."""
    fields = field_assignments(assignments)
    client = await deal_client(Settings())
    state = await client.update_fields(
        deal_id, UpdateFieldsInput.model_validate({"fields": fields, "by": by})
    )

    def human() -> None:
        for w in state.waiting:
            click.echo(f"{w.due_at:%Y-%m-%d %H:%M}Z {w.robot_id}: {w.rule}")

    emit(as_json, state, human)


@click.command("migrate")
@click.option("--pipeline", "pipeline_id", help="the pipeline (its id) whose deals move")
@click.option("--file", "path", type=click.Path(path_type=Path), help="or its file")
@click.option("--to", "version", help="the version to move to; must be the file's version")
@click.option("--stage", help="only deals now in this stage")
@click.option("--yes", is_flag=True, help="carry it out (without: only the preview)")
@json_option
@run_async
async def pipeline_migrate(
    pipeline_id: str | None,
    path: Path | None,
    version: str | None,
    stage: str | None,
    yes: bool,
    as_json: bool,
) -> None:
    """Move the running deals of one pipeline to its current version (the file as it is
    now), after a preview of what changes for each (running deals never change version
    silently). Each pipeline has its own versions: name it with --pipeline (or --file)
    when several are loaded."""
    settings = Settings()
    new = _migration_target(settings, pipeline_id, path)
    if version is not None and version != new.version:
        raise Failure(f"pipeline {new.id!r} is version {new.version}, not {version}")
    client = await deal_client(settings)
    report: list[MigrationPreview] = []
    for summary in await client.list(stage=stage, pipeline=new.id):
        if summary.status != "running":
            continue
        current = await client.pipeline(summary.deal_id)
        if current.version == new.version or current.id != new.id:
            continue
        state = await client.state(summary.deal_id)
        entry = MigrationPreview(
            deal_id=summary.deal_id,
            stage=state.stage,
            from_version=current.version,
            to_version=new.version,
            changes=changes_from(current, new, state.stage),
        )
        if yes:
            await client.migrate(summary.deal_id, MigrateInput(pipeline=new))
            entry.migrated = True
        report.append(entry)

    def human() -> None:
        for e in report:
            done = "migrated" if e.migrated else "would migrate"
            click.echo(f"{e.deal_id} ({e.stage}): {done} {e.from_version} -> {e.to_version}")
            for line in e.changes or ["no change in the stages ahead"]:
                click.echo(f"    {line}")
        if not report:
            click.echo(f"no running deal needs version {new.version}")
        elif not yes:
            click.echo("nothing changed yet: run again with --yes to migrate these deals")

    emit(as_json, [e.model_dump() for e in report], human)


@click.command("simulate")
@click.argument("pipeline_path", type=click.Path(path_type=Path))
@click.argument("deal_path", type=click.Path(path_type=Path))
@click.option("--events", "events_path", type=click.Path(path_type=Path))
@click.option("--horizon", default="30 days", help="how long to run on after the last event")
@click.option(
    "--start",
    "start_text",
    metavar="ISO_TIME",
    help="when the deal starts in simulated time, e.g. 2026-12-07T09:00 (in the pipeline's"
    " calendar.timezone unless it names an offset); default: now; not in the past",
)
@json_option
def simulate_command(
    pipeline_path: Path,
    deal_path: Path,
    events_path: Path | None,
    horizon: str,
    start_text: str | None,
    as_json: bool,
) -> None:
    """Run a deal through a pipeline on the time-skipping test server and print what would
    fire and when; nothing leaves the simulation."""
    from starter.simulate import EVENTS, SimulationError, simulate

    try:
        pipeline = load_pipeline(pipeline_path)
        deal = DealInput.model_validate_json(deal_path.read_bytes())
        events = EVENTS.validate_json(events_path.read_bytes()) if events_path else []
        span = Duration.model_validate(horizon).as_timedelta()
    except (PipelineError, OSError, ValidationError) as exc:
        raise Failure(str(exc)) from exc
    start_at = _start_time(start_text, ZoneInfo(pipeline.calendar.timezone))
    try:
        timeline = asyncio.run(simulate(pipeline, deal, events, horizon=span, start_at=start_at))
    except DealError as exc:
        raise Failure(f"the simulated deal refused an event: {exc}") from exc
    except (SimulationError, FileNotFoundError) as exc:  # FileNotFoundError: no test server
        raise Failure(str(exc)) from exc

    def human() -> None:
        for t in timeline:
            click.echo(f"{t.offset:>10}  {t.at:%Y-%m-%d %H:%M}Z  [{t.stage}] {t.what}")

    emit(as_json, [t.model_dump(mode="json") for t in timeline], human)


def _migration_target(settings: Settings, pipeline_id: str | None, path: Path | None) -> Pipeline:
    if path is not None:
        if pipeline_id is not None:
            raise Failure("name the pipeline with --pipeline or --file, not both")
        return load_pipeline(path)
    pipelines = loaded_pipelines(settings)
    if pipeline_id is None and len(pipelines) > 1:
        raise Failure(
            "several pipelines are loaded, each with its own versions: name the one whose"
            f" deals move with --pipeline ({' or '.join(pipelines.ids)})"
        )
    return named_pipeline(settings, pipeline_id)


def _start_time(text: str | None, zone: ZoneInfo) -> datetime | None:
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise Failure(f"--start {text!r} is not an ISO time such as 2026-12-07T09:00") from exc
    # A time without an offset is the company's wall-clock time, as the pipeline counts it.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=zone)
