"""``funnel api``: the HTTP API alone, against a running Temporal server and worker."""

from __future__ import annotations

import asyncio
import signal

import click

from funnel.runtime.settings import Settings
from starter.cli_support import Failure, deal_client


async def _run(settings: Settings) -> None:
    from api.server import serve_api
    from funnel.storage.migrate import upgrade

    # The one process on this database may be this one: bring it to the code's schema (a
    # no-op when a worker or `funnel db upgrade` did).
    await asyncio.to_thread(upgrade, settings.effective_database_url)
    client = await deal_client(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    click.echo(
        f"HTTP API on http://{settings.api_host}:{settings.api_port}"
        f" (docs: /docs); Temporal at {settings.effective_temporal_address}"
    )
    if not settings.api_tokens:
        click.echo(
            "warning: FUNNEL_API_TOKENS is empty, every authenticated call gets 401", err=True
        )
    await serve_api(settings, client, stop)


@click.command("api")
@click.option("--host", help="address to listen on (default FUNNEL_API_HOST or 127.0.0.1)")
@click.option("--port", type=int, help="port (default FUNNEL_API_PORT or 8000)")
def api_command(host: str | None, port: int | None) -> None:
    """Serve the HTTP API (OpenAPI at /openapi.json, docs at /docs)."""
    settings = Settings()
    overrides = {k: v for k, v in {"api_host": host, "api_port": port}.items() if v is not None}
    settings = settings.model_copy(update=overrides)
    try:
        asyncio.run(_run(settings))
    except KeyboardInterrupt:
        click.echo("stopped", err=True)
    except RuntimeError as exc:
        raise Failure(str(exc)) from exc
