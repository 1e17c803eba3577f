"""``funnel up`` with codec keys and a metrics port, as a user runs it: the database is migrated,
the codec server runs and the dev server's Web UI is told about it (--ui-codec-endpoint),
metrics are served, and SIGTERM stops everything cleanly."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
from google.protobuf import json_format
from temporalio.api.common.v1 import Payload
from temporalio.client import Client

from funnel.runtime.codec import AesGcmCodec, generate_key, parse_keys
from funnel.runtime.retention import retention
from funnel.storage.migrate import schema_status
from starter.devserver import dev_server_command

FUNNEL = str(Path(sys.executable).parent / "funnel")


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def test_dev_server_gets_the_codec_endpoint_only_with_a_ui(tmp_path: Path) -> None:
    with_ui = dev_server_command(
        tmp_path / "t.db", port=1, ui_port=2, codec_endpoint="http://127.0.0.1:8234"
    )
    assert with_ui[with_ui.index("--ui-codec-endpoint") + 1] == "http://127.0.0.1:8234"
    headless = dev_server_command(
        tmp_path / "t.db", port=1, ui_port=2, ui=False, codec_endpoint="http://x"
    )
    assert "--ui-codec-endpoint" not in headless


async def wait_for_line(process: subprocess.Popen[str], text: str, timeout: float) -> str:
    assert process.stdout is not None
    seen: list[str] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        line = await asyncio.wait_for(
            asyncio.to_thread(process.stdout.readline), deadline - loop.time()
        )
        if not line and process.poll() is not None:
            break
        seen.append(line)
        if text in line:
            return "".join(seen)
    raise AssertionError(f"funnel up never printed {text!r}; output: {''.join(seen)}")


async def test_funnel_up_with_codec_and_metrics(tmp_path: Path) -> None:
    temporal, ui, api, codec, metrics = free_ports(5)
    key = generate_key()
    db_url = f"sqlite:///{tmp_path / 'funnel.db'}"
    env = {
        **os.environ,
        "FUNNEL_HOME": str(tmp_path),
        "FUNNEL_DATABASE_URL": db_url,
        "FUNNEL_TEMPORAL_PORT": str(temporal),
        "FUNNEL_UI_PORT": str(ui),
        "FUNNEL_API_PORT": str(api),
        "FUNNEL_CODEC_SERVER_PORT": str(codec),
        "FUNNEL_METRICS_PORT": str(metrics),
        "FUNNEL_METRICS_HOST": "127.0.0.1",
        "FUNNEL_CODEC_KEYS": f'{{"k1": "{key}"}}',
        "FUNNEL_RETENTION_DAYS": "45",
    }
    env.pop("TEMPORAL_ADDRESS", None)
    process = subprocess.Popen(
        [FUNNEL, "up"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        output = await wait_for_line(process, "running; Ctrl-C stops", timeout=60)
        # The workspace's address, printed once it answers; the first sign-in without --demo
        # is the operator's command (no invitation links handed out).
        assert f"Workspace: http://127.0.0.1:{api}/" in output
        assert "funnel user set-password ID" in output and "/auth/invitations/" not in output
        async with httpx.AsyncClient() as browser_like:
            door = await browser_like.get(f"http://127.0.0.1:{api}/")
        assert door.status_code == 303 and door.headers["location"].startswith("/sign-in")
        codec_url = f"http://127.0.0.1:{codec}"
        assert f"codec server: {codec_url}" in output
        assert schema_status(db_url).at_head
        # The embedded namespace keeps closed deals' workflows as long as the setting says.
        assert "closed deals stay in Temporal (Web UI, full history) 45 days" in output
        client = await Client.connect(f"127.0.0.1:{temporal}")
        assert (await retention(client)).days == 45

        async with httpx.AsyncClient(timeout=10) as http:
            # The Web UI serves its settings to the browser, codec endpoint included.
            ui_settings = (await http.get(f"http://127.0.0.1:{ui}/api/v1/settings")).json()
            assert ui_settings["Codec"]["Endpoint"] == codec_url

            sealed = await AesGcmCodec(parse_keys({"k1": key}), "k1").encode(
                [Payload(metadata={"encoding": b"json/plain"}, data=b'"Zinaida"')]
            )
            body = {"payloads": [json_format.MessageToDict(p) for p in sealed]}
            decoded = await http.post(f"{codec_url}/decode", json=body)
            assert decoded.status_code == 200, decoded.text
            assert decoded.json()["payloads"][0]["data"] == "IlppbmFpZGEi"  # '"Zinaida"'

            page = (await http.get(f"http://127.0.0.1:{metrics}/metrics")).text
            assert "temporal_" in page
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            rest, _ = await asyncio.to_thread(process.communicate, timeout=40)
        except subprocess.TimeoutExpired:
            process.kill()
            raise
    assert process.returncode == 0, rest
