"""Serving the API with uvicorn inside an asyncio program (``funnel api``, ``funnel up``, the
tests): the caller owns the event loop and the signals, and stops the server with an event."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator

import uvicorn
from fastapi import FastAPI

from api.app import create_app
from funnel.client.deals import DealClient
from funnel.runtime.settings import Settings
from funnel.storage.store import Store


class _EmbeddedServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # uvicorn would take SIGINT/SIGTERM for itself; the program embedding it has its
        # own handlers (funnel up stops the worker and the API together).
        yield


@contextlib.asynccontextmanager
async def running_api(app: FastAPI, host: str, port: int) -> AsyncIterator[uvicorn.Server]:
    """Serve ``app`` until the block ends; fails if the port cannot be bound."""
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="on")
    server = _EmbeddedServer(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():  # bind failure: uvicorn logs it and returns
            task.result()
            raise RuntimeError(f"the HTTP API could not listen on {host}:{port}")
        await asyncio.sleep(0.02)
    try:
        yield server
    finally:
        server.should_exit = True
        await task


async def serve_api(
    settings: Settings, deal_client: DealClient, stop: asyncio.Event, store: Store | None = None
) -> None:
    """Serve the API on FUNNEL_API_HOST:FUNNEL_API_PORT until ``stop`` is set."""
    own_store = store is None
    store = store or Store(settings.effective_database_url)
    app = create_app(settings, deal_client, store)
    try:
        async with running_api(app, settings.api_host, settings.api_port):
            await stop.wait()
    finally:
        if own_store:
            store.dispose()
