"""Logs read by a person on a terminal are plain text; logs that go to a pipe or a file are
JSON lines; FUNNEL_LOG_FORMAT=json or text overrides either."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# What `funnel up` and `funnel worker` do first, then one line about a deal.
LOG_ONE_LINE = (
    "import logging\n"
    "from funnel.runtime.logging_setup import configure_logging\n"
    "from funnel.runtime.settings import Settings\n"
    "configure_logging(Settings())\n"
    "logging.getLogger('funnel.test').info('deal moved', extra={'deal_id': 'D-1'})\n"
)


def _env(tmp_path: Path, log_format: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "FUNNEL_LOG_FORMAT"}
    env["FUNNEL_HOME"] = str(tmp_path)
    if log_format is not None:
        env["FUNNEL_LOG_FORMAT"] = log_format
    return env


def _on_terminal(tmp_path: Path, log_format: str | None) -> str:
    """The log output of the script with its stderr on a pseudo-terminal."""
    master, slave = pty.openpty()
    try:
        process = subprocess.Popen(
            [sys.executable, "-c", LOG_ONE_LINE],
            cwd=ROOT,
            env=_env(tmp_path, log_format),
            stderr=slave,
        )
        os.close(slave)
        chunks: list[bytes] = []
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            chunks.append(chunk)
        assert process.wait(30) == 0
    finally:
        os.close(master)
    return b"".join(chunks).decode().strip()


def _in_a_pipe(tmp_path: Path, log_format: str | None) -> str:
    run = subprocess.run(
        [sys.executable, "-c", LOG_ONE_LINE],
        cwd=ROOT,
        env=_env(tmp_path, log_format),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert run.returncode == 0, run.stderr
    return run.stderr.strip()


def _is_text(line: str) -> bool:
    return not line.startswith("{") and line.endswith("INFO funnel.test deal moved [deal D-1]")


def _is_json(line: str) -> bool:
    entry = json.loads(line)
    return bool(entry["message"] == "deal moved" and entry["deal_id"] == "D-1")


@pytest.mark.parametrize(("log_format", "text"), [(None, True), ("json", False), ("text", True)])
def test_logs_on_a_terminal(tmp_path: Path, log_format: str | None, text: bool) -> None:
    line = _on_terminal(tmp_path, log_format)
    assert _is_text(line) if text else _is_json(line), line


@pytest.mark.parametrize(("log_format", "text"), [(None, False), ("text", True), ("json", False)])
def test_logs_into_a_pipe(tmp_path: Path, log_format: str | None, text: bool) -> None:
    line = _in_a_pipe(tmp_path, log_format)
    assert _is_text(line) if text else _is_json(line), line
