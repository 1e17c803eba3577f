"""``funnel report [KIND]``: the reports as terminal tables, or JSON with ``--json``."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import click

from analytics.models import KINDS, Filters, ReportKind
from analytics.render import print_report
from analytics.service import Analytics
from funnel.runtime.pipeline_loader import PipelineError
from funnel.runtime.pipelines import Pipelines
from funnel.runtime.settings import Settings
from funnel.storage.tables import MissingSchema


def filters_for(
    analytics: Analytics, *, date_from: date | None, date_to: date | None, **rest: Any
) -> Filters:
    """Dates are calendar days in the pipeline calendar's zone; ``to`` is inclusive."""
    from datetime import timedelta

    return Filters(
        date_from=analytics.local_midnight(date_from) if date_from else None,
        date_to=analytics.local_midnight(date_to + timedelta(days=1)) if date_to else None,
        **rest,
    )


def _day(_ctx: Any, _param: Any, value: datetime | None) -> date | None:
    return None if value is None else value.date()


@click.command("report")
@click.argument("kind", type=click.Choice(KINDS), default="funnel")
@click.option(
    "--from",
    "date_from",
    type=click.DateTime(["%Y-%m-%d"]),
    callback=_day,
    help="first day (YYYY-MM-DD, company calendar)",
)
@click.option(
    "--to", "date_to", type=click.DateTime(["%Y-%m-%d"]), callback=_day, help="last day, included"
)
@click.option("--by", type=click.Choice(["week", "month"]), default="month", help="trend periods")
@click.option("--pipeline", help="pipeline id (default: the default pipeline)")
@click.option("--responsible", help="only this manager's deals")
@click.option("--department", help="only deals of this department head")
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
def report(
    kind: ReportKind,
    date_from: date | None,
    date_to: date | None,
    by: str,
    pipeline: str | None,
    responsible: str | None,
    department: str | None,
    as_json: bool,
) -> None:
    """Funnel analytics: funnel, speed, discipline, managers or trend."""
    settings = Settings()
    try:
        pipelines = Pipelines.from_settings(settings)
        pipelines.get(pipeline)
    except PipelineError as exc:
        raise click.ClickException(str(exc)) from exc
    analytics = Analytics(
        settings.effective_database_url,
        pipelines,
        ui_base=f"http://127.0.0.1:{settings.ui_port}",
    )
    try:
        filters = filters_for(
            analytics,
            date_from=date_from,
            date_to=date_to,
            by=by,
            pipeline=pipeline,
            responsible=responsible,
            department=department,
        )
        result = analytics.report(kind, filters)
    except MissingSchema as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        analytics.dispose()
    if as_json:
        click.echo(result.model_dump_json(indent=2))
    else:
        print_report(result)
