"""The channels a notice can reach a person on; the directory says which each person uses and
a notify robot may name its own (docs/integrations.md describes each)."""

from __future__ import annotations

from typing import Literal

Channel = Literal["inapp", "webhook", "email", "bitrix24", "telegram"]
CHANNELS: tuple[Channel, ...] = ("inapp", "webhook", "email", "bitrix24", "telegram")
