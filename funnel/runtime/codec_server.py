"""The codec server: lets the Temporal Web UI (``--ui-codec-endpoint`` / TEMPORAL_CODEC_ENDPOINT)
and the ``temporal`` CLI (``--codec-endpoint``, ``--codec-auth``) show deal payloads decrypted.

Protocol (the one the UI speaks): ``POST /decode`` and ``POST /encode`` with a JSON body
``{"payloads": [{"metadata": {"k": "<base64>"}, "data": "<base64>"}]}`` (protobuf JSON of
``temporal.api.common.v1.Payload``), answered in the same shape. The browser calls it from the
UI's origin, so CORS allows exactly the configured UI origins.

Authorisation: with FUNNEL_CODEC_SERVER_TOKEN set every call needs ``Authorization: Bearer
<token>`` (the ``temporal`` CLI: ``--codec-auth "Bearer <token>"``). Without a token the
server refuses to listen on anything but a loopback address, since anyone who reaches it can
decrypt every deal, unless FUNNEL_CODEC_SERVER_ALLOW_NO_TOKEN says that the network in front
of it authenticates: the Web UI sends no token of its own (only, with
TEMPORAL_CODEC_PASS_ACCESS_TOKEN, its users' OIDC token, which a proxy can check).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import ipaddress
from collections.abc import AsyncIterator, Iterator
from typing import Any

import uvicorn
from fastapi import FastAPI, HTTPException, Request
from fastapi.middleware.cors import CORSMiddleware
from google.protobuf import json_format
from pydantic import BaseModel, Field
from temporalio.api.common.v1 import Payload

from funnel.runtime.codec import AesGcmCodec, CodecConfigError, CodecError, codec_from_settings
from funnel.runtime.settings import Settings


class PayloadsBody(BaseModel):
    payloads: list[dict[str, Any]] = Field(
        max_length=10_000, description="protobuf JSON of temporal.api.common.v1.Payload"
    )


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _parse(raw: list[dict[str, Any]]) -> list[Payload]:
    payloads = []
    for index, item in enumerate(raw):
        try:
            payloads.append(json_format.ParseDict(item, Payload()))
        except json_format.ParseError as exc:
            raise HTTPException(400, f"payloads[{index}] is not a Payload: {exc}") from exc
    return payloads


def _dump(payloads: list[Payload]) -> dict[str, Any]:
    return {"payloads": [json_format.MessageToDict(p) for p in payloads]}


def create_app(codec: AesGcmCodec, *, token: str | None, cors_origins: list[str]) -> FastAPI:
    app = FastAPI(title="sales-funnel codec server", docs_url=None, redoc_url=None)
    # The UI sends X-Namespace, and Authorization when it passes an access token.
    app.add_middleware(
        CORSMiddleware,
        allow_origins=cors_origins,
        allow_methods=["POST", "OPTIONS"],
        allow_headers=["Content-Type", "Authorization", "X-Namespace"],
        allow_credentials=True,
    )
    expected = f"Bearer {token}".encode() if token else None

    def authorise(request: Request) -> None:
        if expected is None:
            return
        given = request.headers.get("authorization", "").encode()
        # Constant-time comparison: the token must not leak through response timing.
        if not hmac.compare_digest(given, expected):
            raise HTTPException(
                401, "missing or wrong bearer token", headers={"WWW-Authenticate": "Bearer"}
            )

    @app.post("/encode")
    async def encode(body: PayloadsBody, request: Request) -> dict[str, Any]:
        authorise(request)
        return _dump(await codec.encode(_parse(body.payloads)))

    @app.post("/decode")
    async def decode(body: PayloadsBody, request: Request) -> dict[str, Any]:
        authorise(request)
        try:
            return _dump(await codec.decode(_parse(body.payloads)))
        except CodecError as exc:
            raise HTTPException(422, str(exc)) from exc

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "active_key": codec.active_key_id, "keys": codec.key_ids}

    return app


def app_from_settings(settings: Settings) -> FastAPI:
    """The codec server the settings describe; CodecConfigError if it cannot run safely."""
    codec = codec_from_settings(settings.codec_keys_plain, settings.codec_active_key)
    if codec is None:
        raise CodecConfigError(
            "no codec keys: set FUNNEL_CODEC_KEYS (and FUNNEL_CODEC_ACTIVE_KEY) first;"
            " `funnel codec-key` prints a new key"
        )
    token = settings.codec_server_token.get_secret_value() if settings.codec_server_token else None
    open_ok = settings.codec_server_allow_no_token
    if token is None and not open_ok and not is_loopback(settings.codec_server_host):
        raise CodecConfigError(
            f"FUNNEL_CODEC_SERVER_HOST={settings.codec_server_host} is reachable from other"
            " machines: set FUNNEL_CODEC_SERVER_TOKEN, or listen on 127.0.0.1 (or, behind an"
            " authenticating proxy or VPN, FUNNEL_CODEC_SERVER_ALLOW_NO_TOKEN=true)"
        )
    return create_app(codec, token=token, cors_origins=settings.effective_codec_cors_origins)


def codec_endpoint(settings: Settings) -> str:
    """The URL the Web UI is given (from this machine's browser)."""
    host = settings.codec_server_host
    host = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    return f"http://{host}:{settings.codec_server_port}"


class _EmbeddedServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # The embedding program (funnel up, funnel codec-server) owns SIGINT/SIGTERM.
        yield


@contextlib.asynccontextmanager
async def running_codec_server(app: FastAPI, host: str, port: int) -> AsyncIterator[str]:
    """Serve the app until the block ends; yields its base URL."""
    server = _EmbeddedServer(uvicorn.Config(app, host=host, port=port, log_level="warning"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():  # a bind failure: uvicorn logs it and returns
            task.result()
            raise RuntimeError(f"the codec server could not listen on {host}:{port}")
        await asyncio.sleep(0.02)
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        await task


async def serve_codec(settings: Settings, stop: asyncio.Event) -> None:
    app = app_from_settings(settings)
    async with running_codec_server(app, settings.codec_server_host, settings.codec_server_port):
        await stop.wait()
