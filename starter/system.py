"""``funnel up``: the whole system in one process tree on the embedded default."""

from __future__ import annotations

import asyncio
import contextlib
import signal

import click

from funnel.pipeline_loader import load_pipeline
from funnel.settings import Settings
from funnel.temporal_client import connect
from starter.devserver import dev_server


async def run_system(settings: Settings, *, ui: bool, demo: bool) -> None:
    import worker as worker_module

    load_pipeline(settings.pipeline)  # refuse a broken pipeline file before starting anything
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    async with contextlib.AsyncExitStack() as stack:
        if settings.temporal_address is None:
            address = await stack.enter_async_context(
                dev_server(
                    settings.home, port=settings.temporal_port, ui_port=settings.ui_port, ui=ui
                )
            )
            click.echo(f"Temporal dev server on {address}, data in {settings.home / 'temporal.db'}")
            if ui:
                click.echo(f"Web UI: http://127.0.0.1:{settings.ui_port}")
        client = await connect(settings)
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
