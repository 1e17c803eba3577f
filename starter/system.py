"""``funnel up``: the whole system in one process tree on the embedded default."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import signal

import click

from funnel.runtime.codec_server import app_from_settings, codec_endpoint, running_codec_server
from funnel.runtime.invoice_settings import load_invoice_setup
from funnel.runtime.logging_setup import configure_logging
from funnel.runtime.metrics import runtime_for
from funnel.runtime.pipeline_loader import PipelineError
from funnel.runtime.pipelines import Pipelines, lead_pipeline_problem
from funnel.runtime.retention import set_retention
from funnel.runtime.settings import Settings
from funnel.runtime.temporal_client import connect, data_converter, register_search_attributes
from funnel.storage.migrate import upgrade
from funnel.storage.store import Store
from starter.devserver import dev_server
from starter.first_sign_in import echo_workspace


async def run_system(settings: Settings, *, ui: bool, demo: bool) -> None:
    import worker as worker_module

    configure_logging(settings)
    # A broken pipeline file, or a lead form naming an unknown pipeline, is refused before
    # anything starts.
    pipelines = Pipelines.from_settings(settings)
    problem = lead_pipeline_problem(settings, pipelines)
    if problem is not None:
        raise PipelineError(problem)
    funnels = ", ".join(p.id + (" (default)" if p is pipelines.default else "") for p in pipelines)
    click.echo(f"pipelines: {funnels}")
    load_invoice_setup()  # and the company's requisites or a bad payment link template
    # Bad codec keys are refused here too, and the database is brought to the schema the code
    # expects before the worker or the API touch it.
    with_codec = data_converter(settings).payload_codec is not None
    codec_app = app_from_settings(settings) if with_codec else None
    await asyncio.to_thread(upgrade, settings.effective_database_url)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    async with contextlib.AsyncExitStack() as stack:
        if codec_app is not None:
            # The Web UI shows deal payloads decrypted through it (see
            # funnel/runtime/codec_server.py).
            await stack.enter_async_context(
                running_codec_server(
                    codec_app, settings.codec_server_host, settings.codec_server_port
                )
            )
            click.echo(f"codec server: {codec_endpoint(settings)}")
        if settings.temporal_address is None:
            address = await stack.enter_async_context(
                dev_server(
                    settings.home,
                    port=settings.temporal_port,
                    ui_port=settings.ui_port,
                    ui=ui,
                    codec_endpoint=codec_endpoint(settings) if codec_app else None,
                )
            )
            click.echo(f"Temporal dev server on {address}, data in {settings.home / 'temporal.db'}")
            if ui:
                click.echo(f"Web UI: http://127.0.0.1:{settings.ui_port}")
        client = await connect(settings, runtime=runtime_for(settings))
        if settings.temporal_address is None:
            # A server persisted by an older version lacks the search attributes added since
            # (DealPipeline): the dev server registers those of its flags only when it makes
            # a new database.
            await register_search_attributes(client)
            # The dev server's namespace keeps closed workflows 24 hours unless told.
            await set_retention(client, settings.retention_days)
            click.echo(
                f"closed deals stay in Temporal (Web UI, full history) {settings.retention_days}"
                " days (FUNNEL_RETENTION_DAYS); their records in the database stay for good"
            )
        if settings.metrics_port is not None:
            click.echo(f"Prometheus metrics: http://127.0.0.1:{settings.metrics_port}/metrics")
        click.echo(
            f"worker on task queue {settings.task_queue!r};"
            f" database {settings.effective_database_url}"
        )
        worker_task = asyncio.create_task(worker_module.run_worker(client, settings, stop))
        from api.app import create_app
        from api.server import running_api
        from funnel.client.deals import DealClient

        ui_base = f"http://127.0.0.1:{settings.ui_port}" if ui else None
        deals = DealClient(client, task_queue=settings.task_queue, ui_base=ui_base)
        settings, local_token = with_local_token(settings)
        store = Store(settings.effective_database_url)
        stack.callback(store.dispose)
        # Listening before anything below is printed: the addresses work once shown.
        app = create_app(settings, deals, store)
        await stack.enter_async_context(running_api(app, settings.api_host, settings.api_port))
        base = f"http://{settings.api_host}:{settings.api_port}"
        click.echo(f"HTTP API: {base}/docs")
        if local_token is not None:
            click.echo(
                f"API token (all scopes, kept in {settings.home / 'api-token'}): {local_token}"
            )
            click.echo(f"Dashboard: {base}/dashboard?token={local_token}")
        if demo:
            from starter.demo import run_demo

            await run_demo(deals, pipelines, echo=True)
        echo_workspace(settings, store, demo=demo)
        click.echo("running; Ctrl-C stops")
        await stop.wait()
        await worker_task


def with_local_token(settings: Settings) -> tuple[Settings, str | None]:
    """With no FUNNEL_API_TOKENS, `funnel up` makes one local token with every scope (kept
    under FUNNEL_HOME, so it survives restarts) instead of an API that refuses everyone."""
    if settings.api_tokens:
        return settings, None
    path = settings.home / "api-token"
    if path.exists():
        token = path.read_text().strip()
    else:
        token = secrets.token_urlsafe(24)
        settings.home.mkdir(parents=True, exist_ok=True)
        path.write_text(token + "\n")
        path.chmod(0o600)
    from api.auth import SCOPES

    return settings.model_copy(update={"api_tokens": {token: list(SCOPES)}}), token
