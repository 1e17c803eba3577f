"""Operations commands: ``funnel db upgrade|current|backfill-closed|backfill-team``,
``funnel codec-server``, ``funnel codec-key`` (``funnel doctor`` is in starter/doctor.py)."""

from __future__ import annotations

import asyncio
import signal
from typing import Any

import click
import sqlalchemy as sa

from funnel.runtime.settings import Settings


def _fail(message: str) -> click.ClickException:
    from starter.cli_support import Failure

    return Failure(message)


@click.group("db")
def db_group() -> None:
    """The funnel database: schema migrations (Alembic)."""


@db_group.command("upgrade")
@click.option("--revision", default="head", show_default=True, help="target revision")
def db_upgrade(revision: str) -> None:
    """Bring FUNNEL_DATABASE_URL to the schema this code needs (safe to run again)."""
    from alembic.util.exc import CommandError

    from funnel.storage.migrate import schema_status, upgrade

    url = Settings().effective_database_url
    shown = sa.make_url(url).render_as_string(hide_password=True)
    try:
        upgrade(url, revision)
        status = schema_status(url)
    except sa.exc.OperationalError as exc:
        raise _fail(f"cannot reach the database {shown}: {str(exc).splitlines()[0]}") from exc
    except CommandError as exc:
        raise _fail(f"migration failed: {exc}") from exc
    click.echo(f"database {shown} at revision {status.current} (head {status.head})")


@db_group.command("current")
def db_current() -> None:
    """Print the database's revision and the code's; exit 1 when they differ."""
    from funnel.storage.migrate import schema_status

    url = Settings().effective_database_url
    try:
        status = schema_status(url)
    except sa.exc.OperationalError as exc:
        raise _fail(f"cannot reach the database: {str(exc).splitlines()[0]}") from exc
    click.echo(f"database at {status.current or 'none'}, code needs {status.head}")
    if not status.at_head:
        raise SystemExit(1)


@db_group.command("revision")
@click.option("-m", "--message", required=True, help="what the revision changes")
def db_revision(message: str) -> None:
    """Write a new revision from what the tables in code have that the head revision lacks
    (Alembic autogenerate against a scratch SQLite database). Review it before committing:
    autogenerate misses renames and renders our column types by their class names."""
    import tempfile

    from alembic import command

    from funnel.storage.migrate import alembic_config, head_revision, upgrade

    with tempfile.TemporaryDirectory() as scratch:
        url = f"sqlite:///{scratch}/scratch.db"
        upgrade(url)
        head = head_revision()
        # Numbered revisions (0001, 0002, ...) read in order in the folder.
        rev_id = f"{int(head) + 1:04d}" if head.isdigit() else None
        written = command.revision(
            alembic_config(url), message=message, autogenerate=True, rev_id=rev_id
        )
    if not written:
        click.echo("the tables in code match the head revision: no revision written")


def _backfilled(
    as_json: bool, report: dict[str, Any], summary: str, done: str, deal_ids: list[str]
) -> None:
    """A backfill's report: the summary and the deals it changed, or JSON; the deals it
    could not do on stderr and exit status 1."""
    from starter.cli_support import emit

    def human() -> None:
        click.echo(summary)
        for deal_id in deal_ids:
            click.echo(f"  {done} {deal_id}")
        for deal_id, why in report["failed"].items():
            click.echo(f"  FAILED {deal_id}: {why}", err=True)

    emit(as_json, report, human)
    if report["failed"]:
        raise SystemExit(1)


@db_group.command("backfill-closed")
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
def db_backfill_closed(as_json: bool) -> None:
    """Record every closed deal that has no record yet (closed before records existed, or
    terminated / failed), from its workflow while the namespace's retention still keeps it.
    Safe to run again; run it after terminating a deal's workflow."""
    from funnel.storage.closed_deals import ClosedDeals
    from funnel.storage.migrate import upgrade
    from funnel.storage.store import Store
    from starter.backfill import backfill_closed
    from starter.cli_support import deal_client

    settings = Settings()

    async def run() -> None:
        upgrade(settings.effective_database_url)
        client = (await deal_client(settings)).temporal_client
        store = Store(settings.effective_database_url)
        try:
            report = await backfill_closed(client, ClosedDeals(store))
        finally:
            store.dispose()

        summary = (
            f"recorded {len(report.recorded)} closed deal(s); {len(report.already)} had"
            f" a record already; {len(report.failed)} failed"
        )
        _backfilled(as_json, report.__dict__, summary, "recorded", report.recorded)

    asyncio.run(run())


@db_group.command("backfill-team")
@click.option(
    "--wait", default=30.0, show_default=True, help="seconds to wait for each deal's worker"
)
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
def db_backfill_team(wait: float, as_json: bool) -> None:
    """Give every open deal started before the DealTeam search attribute its sales team, so
    that the team finds it in their lists, and before DealPipeline its pipeline, so that lists
    by pipeline find it. Safe to run again; needs the worker running (the deals of
    FUNNEL_TASK_QUEUE)."""
    from datetime import timedelta

    from starter.backfill_team import backfill_team
    from starter.cli_support import deal_client

    settings = Settings()

    async def run() -> None:
        client = (await deal_client(settings)).temporal_client
        report = await backfill_team(client, settings.task_queue, timedelta(seconds=wait))

        summary = (
            f"DealTeam set on {len(report.set)} open deal(s), DealPipeline on"
            f" {len(report.pipeline_set)}; {report.already} had both;"
            f" {len(report.no_team)} have no sales team; {len(report.failed)} failed"
        )
        _backfilled(as_json, report.__dict__, summary, "set", report.set)

    asyncio.run(run())


@click.command("codec-server")
@click.option("--host", help="address to listen on (default FUNNEL_CODEC_SERVER_HOST)")
@click.option("--port", type=int, help="port (default FUNNEL_CODEC_SERVER_PORT, 8234)")
def codec_server_command(host: str | None, port: int | None) -> None:
    """Serve /encode and /decode for the Temporal Web UI and CLI (--codec-endpoint)."""
    from funnel.runtime.codec import CodecConfigError
    from funnel.runtime.codec_server import serve_codec

    overrides: dict[str, object] = {}
    if host:
        overrides["codec_server_host"] = host
    if port:
        overrides["codec_server_port"] = port
    settings = Settings().model_copy(update=overrides)

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        click.echo(
            f"codec server on http://{settings.codec_server_host}:{settings.codec_server_port}"
            f" for origins {', '.join(settings.effective_codec_cors_origins)}"
        )
        await serve_codec(settings, stop)

    try:
        asyncio.run(run())
    except (CodecConfigError, RuntimeError) as exc:
        raise _fail(str(exc)) from exc


@click.command("codec-key")
def codec_key_command() -> None:
    """Print a new random 256-bit key for FUNNEL_CODEC_KEYS."""
    from funnel.runtime.codec import generate_key

    click.echo(generate_key())
