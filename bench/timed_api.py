"""``funnel api`` with each answer's server time in a ``Server-Timing`` header, for the
benchmarks that time pages (bench/workspace.py).

    python bench/timed_api.py --port 8001     # the settings from the environment, as funnel api

The time runs from the request reaching the app (after uvicorn parsed it) to the answer's
headers being sent; a page is rendered whole by then (HTMLResponse), so it is the page's
server time without the network and without the client.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.app import create_app
from api.server import running_api
from funnel.runtime.settings import Settings
from funnel.storage.store import Store
from starter.cli_support import deal_client

HEADER = b"server-timing"


class ServerTiming:
    """ASGI middleware: ``Server-Timing: app;dur=<ms>`` on every HTTP answer."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        began = time.perf_counter()

        async def timed(message: Message) -> None:
            if message["type"] == "http.response.start":
                took = f"app;dur={(time.perf_counter() - began) * 1000:.3f}".encode()
                message = {**message, "headers": [*message.get("headers", []), (HEADER, took)]}
            await send(message)

        await self.app(scope, receive, timed)


def server_ms(headers: dict[str, str]) -> float:
    """The server time of an answer of this API, from its header (names in lower case)."""
    value = headers[HEADER.decode()]
    return float(value.partition("dur=")[2])


async def serve(port: int) -> None:
    settings = Settings().model_copy(update={"api_host": "127.0.0.1", "api_port": port})
    client = await deal_client(settings)
    store = Store(settings.effective_database_url)
    app = create_app(settings, client, store)
    app.add_middleware(ServerTiming)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        async with running_api(app, settings.api_host, port):
            await stop.wait()
    finally:
        store.dispose()


def main(argv: Any = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    asyncio.run(serve(parser.parse_args(argv).port))


if __name__ == "__main__":
    main()
