"""The AES-GCM payload codec: contacts never reach the Temporal server in clear text, the codec
server decrypts for the Web UI over HTTP, and a rotated key still reads old histories.

Runs a real deal on the dev server with a codec-enabled worker, then reads the raw history
through a client WITHOUT the codec, as the server (or anyone with access to it) sees it."""

from __future__ import annotations

import base64
import json
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

import httpx
import pytest
from google.protobuf import json_format
from temporalio.api.common.v1 import Payload
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from funnel.client.deals import DealClient
from funnel.domain.models import Contact, DealInput
from funnel.domain.pipeline import Pipeline
from funnel.runtime.codec import (
    ENCODING,
    KEY_ID_META,
    AesGcmCodec,
    CodecConfigError,
    CodecError,
    codec_from_settings,
    generate_key,
    parse_keys,
)
from funnel.runtime.codec_server import app_from_settings, running_codec_server
from funnel.runtime.settings import Settings
from funnel.runtime.temporal_client import data_converter
from funnel.storage.store import Store
from tests.helpers import in_stage, sample_deal
from tests.temporal_fixtures import new_deal_id, new_task_queue, running_worker

KEY_A, KEY_B = generate_key(), generate_key()
SECRETS = ("Zinaida Codecova", "zinaida.codecova@secret.example", "+7 999 424-24-24")
TOKEN = "codec-test-token"
UI_ORIGIN = "http://127.0.0.1:8233"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def secret_deal(deal_id: str) -> DealInput:
    deal = sample_deal(deal_id)
    contact = Contact(name=SECRETS[0], company="Tajna LLC", email=SECRETS[1], phone=SECRETS[2])
    return deal.model_copy(update={"contact": contact})


def codec_settings(keys: dict[str, str], active: str, **extra: object) -> Settings:
    return Settings.model_validate(
        {"codec_keys": keys, "codec_active_key": active, **extra}, by_name=True
    )


async def codec_client(env: WorkflowEnvironment, settings: Settings) -> Client:
    config = env.client.service_client.config
    return await Client.connect(
        config.target_host, namespace=env.client.namespace, data_converter=data_converter(settings)
    )


def raw_history_text(history_json: str) -> str:
    """The history as stored, with every base64 field also decoded, so that a secret in a
    plain payload's data is found however it is wrapped."""
    texts = [history_json]

    def walk(node: object) -> None:
        if isinstance(node, dict):
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)
        elif isinstance(node, str) and len(node) >= 8:
            with suppress(ValueError):  # not base64: already in the JSON text
                texts.append(base64.b64decode(node, validate=True).decode("utf-8", "replace"))

    walk(json.loads(history_json))
    return "\n".join(texts)


def payload_dicts(history_json: str) -> list[dict[str, object]]:
    """Every protobuf-JSON Payload in the history (a dict with metadata.encoding)."""
    found: list[dict[str, object]] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            meta = node.get("metadata")
            if isinstance(meta, dict) and "encoding" in meta:
                found.append(node)
                return
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(json.loads(history_json))
    return found


def unencrypted_paths(history_json: str) -> set[str]:
    paths: set[str] = set()

    def walk(node: object, path: str) -> None:
        if isinstance(node, dict):
            meta = node.get("metadata")
            if isinstance(meta, dict) and "encoding" in meta:
                if KEY_ID_META not in meta:
                    paths.add(path)
                return
            for key, value in node.items():
                walk(value, f"{path}/{key}")
        elif isinstance(node, list):
            for value in node:
                walk(value, path)

    walk(json.loads(history_json), "")
    return paths


def key_ids(payloads: list[dict[str, object]]) -> set[str]:
    ids = set()
    for p in payloads:
        meta = p["metadata"]
        assert isinstance(meta, dict)
        if KEY_ID_META in meta:
            ids.add(base64.b64decode(meta[KEY_ID_META]).decode())
    return ids


@asynccontextmanager
async def codec_deals(
    env: WorkflowEnvironment, store: Store, settings: Settings, task_queue: str
) -> AsyncIterator[DealClient]:
    client = await codec_client(env, settings)
    async with running_worker(client, store, task_queue):
        yield DealClient(client, task_queue=task_queue)


# --- the codec alone -------------------------------------------------------------------------


async def test_round_trip_and_rotation() -> None:
    plain = Payload(metadata={"encoding": b"json/plain"}, data=b'{"name": "Zinaida"}')
    old = AesGcmCodec(parse_keys({"a": KEY_A}), "a")
    (sealed,) = await old.encode([plain])
    assert sealed.metadata["encoding"] == ENCODING and sealed.metadata[KEY_ID_META] == b"a"
    assert b"Zinaida" not in sealed.data
    rotated = AesGcmCodec(parse_keys({"a": KEY_A, "b": KEY_B}), "b")
    assert await rotated.decode([sealed]) == [plain]  # the old key still reads
    (resealed,) = await rotated.encode([plain])
    assert resealed.metadata[KEY_ID_META] == b"b"
    assert await rotated.decode([plain]) == [plain]  # unencrypted payloads pass through
    with pytest.raises(CodecError, match=r"key 'b'.*not in FUNNEL_CODEC_KEYS"):
        await old.decode([resealed])
    tampered = Payload(metadata=dict(sealed.metadata), data=sealed.data[:-1] + b"\0")
    with pytest.raises(CodecError, match="fails authentication"):
        await old.decode([tampered])


@pytest.mark.parametrize(
    ("keys", "active", "message"),
    [
        ({"a": "not base64!"}, "a", "not valid base64"),
        ({"a": base64.b64encode(b"short").decode()}, "a", "AES needs 16, 24 or 32"),
        ({"a": KEY_A}, "b", "'b' is not a key id"),
        ({"a": KEY_A, "b": KEY_B}, None, "name the one for new payloads"),
        ({}, "a", "FUNNEL_CODEC_KEYS is empty"),
        ({"with space": KEY_A}, None, "without spaces"),
    ],
)
def test_bad_keys_are_refused_clearly(
    keys: dict[str, str], active: str | None, message: str
) -> None:
    with pytest.raises(CodecConfigError, match=message):
        codec_from_settings(keys, active)


def test_codec_server_refuses_to_serve_the_network_without_a_token() -> None:
    settings = codec_settings({"a": KEY_A}, "a", codec_server_host="0.0.0.0")
    with pytest.raises(CodecConfigError, match="FUNNEL_CODEC_SERVER_TOKEN"):
        app_from_settings(settings)


# --- on the server -----------------------------------------------------------------------------


async def test_server_stores_no_contact_data_and_codec_server_decrypts(
    dev_env: WorkflowEnvironment, store: Store, pusk: Pipeline
) -> None:
    settings = codec_settings({"a": KEY_A}, "a", codec_server_token=TOKEN)
    deal_id = new_deal_id("C")
    async with codec_deals(dev_env, store, settings, new_task_queue()) as deals:
        await deals.start(secret_deal(deal_id), pusk)
        await deals.accept(deal_id, by="ivanov")
        await deals.move(deal_id, "proposal")
        state = await in_stage(deals, deal_id, "proposal")
        assert state.title.startswith("!!! PROPOSAL: Tajna LLC")  # the worker reads it fine

    # As the server has it: fetched by a client that has no codec.
    handle = dev_env.client.get_workflow_handle(f"deal-{deal_id}")
    history_json = (await handle.fetch_history()).to_json()
    stored = raw_history_text(history_json)
    for secret in (*SECRETS, "Tajna LLC"):
        assert secret not in stored, f"{secret!r} is in the server's history in clear text"
    payloads = payload_dicts(history_json)
    assert payloads and key_ids(payloads) == {"a"}
    # Left unencrypted, on purpose or by the SDK: search attributes (the server indexes them;
    # they hold stage, employee id, amount, breach and never contact data) and the SDK's
    # local-activity marker metadata (activity type, attempt; the result itself is sealed).
    for path in unencrypted_paths(history_json):
        search_attribute = "searchAttributes/indexedFields/"
        # Deal* are ours; TemporalChangeVersion is the SDK's record of workflow.patched ids.
        ours = any(f"{search_attribute}{n}" in path for n in ("Deal", "TemporalChangeVersion"))
        assert ours or path.endswith(
            (
                "markerRecordedEventAttributes/details/data/payloads",
                # workflow.patched markers: the patch id, never deal data
                "markerRecordedEventAttributes/details/patch-data/payloads",
            )
        ), path
    # The workflow list (summary) and search attributes carry no contact data either.
    description = await handle.describe()
    listed = repr(description.raw_description)
    assert not any(secret in listed for secret in SECRETS)

    # The Web UI's path: POST /decode to the codec server, with the bearer token, from the
    # UI's origin.
    app = app_from_settings(settings.model_copy(update={"codec_cors_origins": [UI_ORIGIN]}))
    async with (
        running_codec_server(app, "127.0.0.1", free_port()) as url,
        httpx.AsyncClient(base_url=url) as http,
    ):
        body = {"payloads": payloads}
        denied = await http.post("/decode", json=body)
        assert denied.status_code == 401
        headers = {"Authorization": f"Bearer {TOKEN}", "Origin": UI_ORIGIN}
        decoded = await http.post("/decode", json=body, headers=headers)
        assert decoded.status_code == 200, decoded.text
        assert decoded.headers["access-control-allow-origin"] == UI_ORIGIN
        clear = "\n".join(
            base64.b64decode(p.get("data", "")).decode("utf-8", "replace")
            for p in decoded.json()["payloads"]
        )
        assert all(secret in clear for secret in SECRETS)
        preflight = await http.options(
            "/decode",
            headers={
                "Origin": UI_ORIGIN,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization,content-type,x-namespace",
            },
        )
        assert preflight.status_code == 200
        assert (
            await http.options(
                "/decode",
                headers={"Origin": "http://evil.example", "Access-Control-Request-Method": "POST"},
            )
        ).status_code == 400
        # /encode answers in kind: what it seals, /decode opens.
        sealed = await http.post("/encode", json=decoded.json(), headers=headers)
        assert key_ids(sealed.json()["payloads"]) == {"a"}


async def test_history_written_with_key_a_reads_after_b_becomes_active(
    dev_env: WorkflowEnvironment, store: Store, pusk: Pipeline
) -> None:
    deal_id, task_queue = new_deal_id("R"), new_task_queue()
    only_a = codec_settings({"a": KEY_A}, "a")
    async with codec_deals(dev_env, store, only_a, task_queue) as deals:
        await deals.start(secret_deal(deal_id), pusk)
        await deals.accept(deal_id, by="ivanov")

    # A new worker (no cached deal: it replays the history written with A), B now active.
    rotated = codec_settings({"a": KEY_A, "b": KEY_B}, "b")
    async with codec_deals(dev_env, store, rotated, task_queue) as deals:
        state = await deals.move(deal_id, "proposal")
        assert state.stage == "proposal"
        state = await in_stage(deals, deal_id, "proposal")
        assert state.title.startswith("!!! PROPOSAL: Tajna LLC")

    history_json = (
        await dev_env.client.get_workflow_handle(f"deal-{deal_id}").fetch_history()
    ).to_json()
    assert key_ids(payload_dicts(history_json)) == {"a", "b"}
    # Dropping A too early is a clear error, not garbage.
    only_b = AesGcmCodec(parse_keys({"b": KEY_B}), "b")
    a_payloads = [
        p
        for p in payload_dicts(history_json)
        if p["metadata"].get(KEY_ID_META) == base64.b64encode(b"a").decode()  # type: ignore[attr-defined]
    ]
    with pytest.raises(CodecError, match="key 'a'"):
        await only_b.decode([json_format.ParseDict(a_payloads[0], Payload())])
