"""One place that knows how to reach Temporal: address, namespace, API key or mTLS, and the
data converter every client and worker of this project must share (pydantic, plus the
AES-GCM payload codec when FUNNEL_CODEC_KEYS is set)."""

from __future__ import annotations

import asyncio
import dataclasses
import sys
from collections.abc import Callable
from typing import Any

from temporalio.api.common.v1 import Payload
from temporalio.client import Client
from temporalio.contrib.pydantic import PydanticJSONPlainPayloadConverter
from temporalio.converter import (
    CompositePayloadConverter,
    DataConverter,
    DefaultFailureConverterWithEncodedAttributes,
    DefaultPayloadConverter,
    JSONPlainPayloadConverter,
)
from temporalio.runtime import Runtime
from temporalio.service import RPCError, RPCStatusCode, TLSConfig

from funnel.runtime.codec import codec_from_settings
from funnel.runtime.settings import Settings


class _CompactJSONConverter(PydanticJSONPlainPayloadConverter):
    """Pydantic JSON without the fields that hold their default value: the pinned pipeline
    (every robot's default policies), every activity input and query result shrink to what
    differs from the defaults. Decoding fills the defaults back in, so a payload means the
    same either way, and histories written with the full form decode as before. (Not
    ``exclude_unset``: a list default the workflow appends to is never "set" and would be
    dropped.)"""

    def to_payload(self, value: Any) -> Payload | None:
        return Payload(
            metadata={"encoding": self.encoding.encode()},
            data=self._schema_serializer.to_json(value, exclude_defaults=True),
        )


# One instance for every payload converter: the SDK builds a converter for each workflow
# activation and completion (with its serialization context), and a pydantic serializer is
# not free to make. Stateless, so shared safely.
_COMPACT_JSON = _CompactJSONConverter()


class _CompactPayloadConverter(CompositePayloadConverter):
    def __init__(self) -> None:
        super().__init__(
            *(
                _COMPACT_JSON if isinstance(c, JSONPlainPayloadConverter) else c
                for c in DefaultPayloadConverter.default_encoding_payload_converters
            )
        )


# Without a codec: for replaying committed histories and for callers that have no settings.
DATA_CONVERTER = DataConverter(payload_converter_class=_CompactPayloadConverter)


def data_converter(settings: Settings) -> DataConverter:
    """Pydantic converter, plus the payload codec when keys are configured. With the codec,
    failure messages and stack traces are encrypted too: a robot's error text may quote a
    contact (e.g. a bad e-mail address)."""
    codec = codec_from_settings(settings.codec_keys_plain, settings.codec_active_key)
    if codec is None:
        return DATA_CONVERTER
    return dataclasses.replace(
        DATA_CONVERTER,
        payload_codec=codec,
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )


class TemporalUnreachable(RuntimeError):
    """The Temporal server did not answer within the wait (FUNNEL_CONNECT_WAIT)."""


# What a server that is still starting answers: nothing listens yet, or the frontend is up but
# not serving ("Frontend is not healthy yet", seen while `funnel up` started under load).
# The core's connect errors are RuntimeErrors with the transport's text in them.
_STARTING = ("connection refused", "tcp connect error", "not healthy", "unavailable")


def _still_starting(exc: RuntimeError | RPCError) -> bool:
    if isinstance(exc, RPCError) and exc.status == RPCStatusCode.UNAVAILABLE:
        return True
    text = str(exc).lower()
    return any(marker in text for marker in _STARTING)


def _tell_stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


async def connect(
    settings: Settings,
    *,
    runtime: Runtime | None = None,
    wait: float | None = None,
    on_wait: Callable[[str], None] = _tell_stderr,
) -> Client:
    """A client of the configured server. A server that is still starting (a command typed
    while `funnel up` comes up) is retried for ``wait`` seconds (default FUNNEL_CONNECT_WAIT),
    telling ``on_wait`` once; any other error (bad TLS, unknown namespace) is raised at once."""
    address = settings.effective_temporal_address
    bound = settings.connect_wait if wait is None else wait
    loop = asyncio.get_running_loop()
    deadline = loop.time() + bound
    told = False
    while True:
        try:
            return await _connect_once(settings, runtime)
        except (RuntimeError, RPCError) as exc:
            left = deadline - loop.time()
            if not _still_starting(exc):
                raise
            if left <= 0:
                raise TemporalUnreachable(
                    f"no answer within {bound:g} s (FUNNEL_CONNECT_WAIT); last error: {exc}"
                ) from exc
            if not told:
                on_wait(f"waiting for the Temporal server at {address} to start...")
                told = True
            await asyncio.sleep(min(0.5, left))


async def _connect_once(settings: Settings, runtime: Runtime | None) -> Client:
    tls: TLSConfig | bool = False
    if settings.temporal_tls_cert and settings.temporal_tls_key:
        tls = TLSConfig(
            client_cert=settings.temporal_tls_cert.read_bytes(),
            client_private_key=settings.temporal_tls_key.read_bytes(),
        )
    elif settings.temporal_api_key:
        tls = True
    return await Client.connect(
        settings.effective_temporal_address,
        namespace=settings.temporal_namespace,
        api_key=settings.temporal_api_key,
        tls=tls,
        data_converter=data_converter(settings),
        runtime=runtime,
    )


async def register_search_attributes(client: Client) -> None:
    """Register the deal search attributes on a server that lacks them (the time-skipping
    test server, or a fresh cluster); attributes already there are left as they are."""
    from temporalio.api.enums.v1 import IndexedValueType
    from temporalio.api.operatorservice.v1 import (
        AddSearchAttributesRequest,
        ListSearchAttributesRequest,
    )

    from funnel.domain.search_attributes import ALL_KEYS

    try:
        listed = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace=client.namespace)
        )
        existing = set(listed.custom_attributes)
    except RPCError as exc:
        if exc.status != RPCStatusCode.UNIMPLEMENTED:  # the test server cannot list them
            raise
        existing = set()
    missing = {
        key.name: IndexedValueType.ValueType(int(key.indexed_value_type))
        for key in ALL_KEYS
        if key.name not in existing
    }
    if missing:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(namespace=client.namespace, search_attributes=missing)
        )
