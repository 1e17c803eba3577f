"""A `funnel` command typed while the Temporal server is still starting waits for it (once
saying so on stderr), and gives up with a clear error when nothing comes up in time."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from starter.binaries import temporal_cli

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _funnel(port: int, wait: str, tmp_path: Path) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "TEMPORAL_ADDRESS": f"127.0.0.1:{port}",
        "FUNNEL_CONNECT_WAIT": wait,
        "FUNNEL_HOME": str(tmp_path / "home"),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "starter.cli", "deal", "list", "--json"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_a_command_waits_for_a_server_that_starts_late(tmp_path: Path) -> None:
    port = _free_port()
    command = _funnel(port, "60", tmp_path)
    time.sleep(3)  # the command has found nothing listening by now
    server = subprocess.Popen(
        [temporal_cli(), "server", "start-dev", "--headless", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        out, err = command.communicate(timeout=90)
    finally:
        server.terminate()
        server.wait(15)
    assert command.returncode == 0, err
    assert out.strip() == "[]"
    waiting = f"waiting for the Temporal server at 127.0.0.1:{port} to start..."
    assert err.count(waiting) == 1, err


def test_a_command_gives_up_within_its_wait(tmp_path: Path) -> None:
    port = _free_port()
    began = time.monotonic()
    command = _funnel(port, "2", tmp_path)
    _, err = command.communicate(timeout=60)
    took = time.monotonic() - began
    assert command.returncode == 1
    assert f"cannot reach the Temporal server at 127.0.0.1:{port}" in err
    assert "no answer within 2 s (FUNNEL_CONNECT_WAIT)" in err and "Connection refused" in err
    assert 2 <= took < 30, took
