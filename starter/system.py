"""``funnel up``: the whole system in one process tree on the embedded default."""

from __future__ import annotations

import asyncio
import contextlib
import signal

import click

from funnel.codec_server import app_from_settings, codec_endpoint, running_codec_server
from funnel.logging_setup import configure_logging
from funnel.metrics import runtime_for
from funnel.migrate import upgrade
from funnel.pipeline_loader import load_pipeline
from funnel.settings import Settings
from funnel.temporal_client import connect, data_converter
from starter.devserver import dev_server


async def run_system(settings: Settings, *, ui: bool, demo: bool) -> None:
    import worker as worker_module

    configure_logging(settings)
    load_pipeline(settings.pipeline)  # refuse a broken pipeline file before starting anything
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
            # The Web UI shows deal payloads decrypted through it (see funnel/codec_server.py).
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
        if settings.metrics_port is not None:
            click.echo(f"Prometheus metrics: http://127.0.0.1:{settings.metrics_port}/metrics")
        click.echo(
            f"worker on task queue {settings.task_queue!r};"
            f" database {settings.effective_database_url}"
        )
        worker_task = asyncio.create_task(worker_module.run_worker(client, settings, stop))
        from api.server import serve_api
        from starter.deals import DealClient

        ui_base = f"http://127.0.0.1:{settings.ui_port}" if ui else None
        deals = DealClient(client, task_queue=settings.task_queue, ui_base=ui_base)
        api_task = asyncio.create_task(serve_api(settings, deals, stop))
        click.echo(f"HTTP API: http://{settings.api_host}:{settings.api_port}/docs")
        if demo:
            from starter.demo import run_demo

            await run_demo(deals, load_pipeline(settings.pipeline), echo=True)
        click.echo("running; Ctrl-C stops")
        await stop.wait()
        await worker_task
        await api_task
