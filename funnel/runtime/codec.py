"""AES-GCM payload codec: what the Temporal server stores about a deal (inputs, results,
signals, updates, activity arguments, summaries, failure messages) is ciphertext.

Contacts are personal data, and the Temporal server (or Temporal Cloud) is a place we do
not want them readable: the codec runs in our processes only, so the server sees bytes.

Format of an encrypted payload::

    metadata: encoding=binary/encrypted, encryption-cipher=AES-256-GCM (etc.),
              encryption-key-id=<key id>
    data:     12-byte random nonce || AES-GCM(ciphertext || tag) of the whole inner Payload

The key id is also the AES-GCM associated data, so a payload cannot be passed off as
encrypted under another key. Key rotation: keys are a map id -> key; new payloads use the
active key, and any key still in the map decrypts what it wrote. Retire a key only after
every history that used it is gone (namespace retention after the last deal using it closed).
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from collections.abc import Mapping, Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadCodec

ENCODING = b"binary/encrypted"
KEY_ID_META = "encryption-key-id"
CIPHER_META = "encryption-cipher"
_NONCE_BYTES = 12  # the AES-GCM standard nonce; random per payload
_KEY_BYTES = (16, 24, 32)


class CodecConfigError(ValueError):
    """The codec keys in the settings are unusable; the message says how to fix them."""


class CodecError(ValueError):
    """A payload could not be decrypted (unknown key id, tampered or corrupt data)."""


def generate_key() -> str:
    """A fresh 256-bit key, base64, for FUNNEL_CODEC_KEYS."""
    return base64.b64encode(AESGCM.generate_key(bit_length=256)).decode()


def parse_keys(raw: Mapping[str, str]) -> dict[str, bytes]:
    """``{"key id": "base64 key"}`` -> ``{"key id": key bytes}``, with clear errors."""
    keys: dict[str, bytes] = {}
    for key_id, encoded in raw.items():
        if not key_id or not key_id.isascii() or any(c.isspace() for c in key_id):
            raise CodecConfigError(
                f"FUNNEL_CODEC_KEYS: key id {key_id!r} must be non-empty ASCII without spaces"
            )
        try:
            key = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise CodecConfigError(
                f"FUNNEL_CODEC_KEYS: key {key_id!r} is not valid base64 ({exc});"
                " make one with `funnel codec-key`"
            ) from exc
        if len(key) not in _KEY_BYTES:
            raise CodecConfigError(
                f"FUNNEL_CODEC_KEYS: key {key_id!r} is {len(key)} bytes; AES needs 16, 24 or 32"
                " (32 recommended: `funnel codec-key`)"
            )
        keys[key_id] = key
    return keys


class AesGcmCodec(PayloadCodec):
    """Encrypts with the active key; decrypts with whichever key the payload names."""

    def __init__(self, keys: Mapping[str, bytes], active_key_id: str) -> None:
        if not keys:
            raise CodecConfigError("FUNNEL_CODEC_KEYS is empty: give at least one key")
        if active_key_id not in keys:
            raise CodecConfigError(
                f"FUNNEL_CODEC_ACTIVE_KEY={active_key_id!r} is not a key id of"
                f" FUNNEL_CODEC_KEYS (ids: {', '.join(sorted(keys))})"
            )
        self._ciphers = {key_id: AESGCM(key) for key_id, key in keys.items()}
        self._cipher_names = {key_id: f"AES-{len(key) * 8}-GCM" for key_id, key in keys.items()}
        self.active_key_id = active_key_id

    @property
    def key_ids(self) -> list[str]:
        return sorted(self._ciphers)

    def encrypt(self, payload: Payload) -> Payload:
        key_id = self.active_key_id
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._ciphers[key_id].encrypt(nonce, payload.SerializeToString(), key_id.encode())
        return Payload(
            metadata={
                "encoding": ENCODING,
                CIPHER_META: self._cipher_names[key_id].encode(),
                KEY_ID_META: key_id.encode(),
            },
            data=nonce + sealed,
        )

    def decrypt(self, payload: Payload) -> Payload:
        """The inner payload; one that is not ours (not encrypted) is returned as it is, so
        histories written before the codec was switched on still read."""
        if payload.metadata.get("encoding") != ENCODING:
            return payload
        key_id = payload.metadata.get(KEY_ID_META, b"").decode(errors="replace")
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            raise CodecError(
                f"payload encrypted with key {key_id!r}, which is not in FUNNEL_CODEC_KEYS"
                f" (known: {', '.join(self.key_ids)}); add the retired key back"
            )
        data = payload.data
        try:
            plain = cipher.decrypt(data[:_NONCE_BYTES], data[_NONCE_BYTES:], key_id.encode())
        except InvalidTag as exc:
            raise CodecError(
                f"payload under key {key_id!r} fails authentication: corrupt or tampered"
            ) from exc
        inner = Payload()
        inner.ParseFromString(plain)
        return inner

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.encrypt(p) for p in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.decrypt(p) for p in payloads]


def codec_from_settings(keys_raw: Mapping[str, str], active: str | None) -> AesGcmCodec | None:
    """The codec the settings describe; None when no keys are configured (codec off)."""
    if not keys_raw:
        if active:
            raise CodecConfigError("FUNNEL_CODEC_ACTIVE_KEY is set but FUNNEL_CODEC_KEYS is empty")
        return None
    keys = parse_keys(keys_raw)
    if active is None:
        if len(keys) != 1:
            raise CodecConfigError(
                "FUNNEL_CODEC_KEYS has several keys: name the one for new payloads in"
                " FUNNEL_CODEC_ACTIVE_KEY"
            )
        active = next(iter(keys))
    return AesGcmCodec(keys, active)


def keys_json(keys: Mapping[str, str]) -> str:
    """The value of FUNNEL_CODEC_KEYS for these keys (a helper for tests and docs)."""
    return json.dumps(dict(keys))
