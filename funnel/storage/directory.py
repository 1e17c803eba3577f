"""The employee directory: who people are and how each wants to be told.

Robots address people by role or employee id; the workflow resolves roles to ids and the
activities look the ids up here for a name, an e-mail address, a time zone and the channels
to notify them on. The directory is a YAML file (``FUNNEL_DIRECTORY``, default
``directory.yaml`` at the repository root) so that a company can keep it in version control
next to its pipeline; a wrong file is refused at load time with the employee and the field.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from funnel.domain.channels import CHANNELS, Channel
from funnel.domain.people import Role
from funnel.storage.yaml_files import YamlFileError, read_yaml

log = logging.getLogger(__name__)

# A private chat's or a group's id (groups are negative), or a public channel's @username.
_CHAT_NUMBER = re.compile(r"-?[1-9][0-9]{0,15}")
_CHANNEL_NAME = re.compile(r"@[A-Za-z][A-Za-z0-9_]{4,31}")


def _inapp_only() -> list[Channel]:
    return ["inapp"]


class DirectoryError(ValueError):
    """The directory file cannot be read or is not valid; the message names the place."""


class Employee(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1)
    name: str = Field(min_length=1)
    department: str = ""
    role: Role = Role.MANAGER
    language: Literal["ru", "en"] = "ru"
    head: str | None = Field(default=None, description="employee id of this person's head")
    email: str | None = Field(default=None, pattern=r"^[^@\s]+@[^@\s]+$")
    timezone: str = "Europe/Moscow"
    channels: list[Channel] = Field(default_factory=_inapp_only, min_length=1)
    webhook_url: str | None = Field(
        default=None, description="overrides FUNNEL_WEBHOOK_URL for this person"
    )
    bitrix24_user_id: int | None = Field(
        default=None, ge=1, description="USER_ID in the company's Bitrix24 portal"
    )
    telegram_chat_id: int | str | None = Field(
        default=None,
        description="the chat the company's bot writes to: the person's user id (they must"
        " have pressed Start in the bot), a group's negative id or a channel's @username",
    )

    @model_validator(mode="after")
    def _addresses(self) -> Employee:
        # A channel without an address would fail on every notice: refuse it at load time.
        if "email" in self.channels and self.email is None:
            raise ValueError("channel email needs an email address")
        if "bitrix24" in self.channels and self.bitrix24_user_id is None:
            raise ValueError("channel bitrix24 needs bitrix24_user_id")
        if "telegram" in self.channels and self.telegram_chat_id is None:
            raise ValueError("channel telegram needs telegram_chat_id")
        return self

    @field_validator("telegram_chat_id", mode="before")
    @classmethod
    def _chat_id(cls, value: object) -> int | str | None:
        if value is None:
            return None
        text = str(value).strip() if isinstance(value, int | str) else ""
        if isinstance(value, bool) or not text:
            raise ValueError("telegram_chat_id must be a number or a channel's @username")
        if _CHAT_NUMBER.fullmatch(text):
            return int(text)
        if _CHANNEL_NAME.fullmatch(text):
            return text
        raise ValueError(
            f"telegram_chat_id {text!r} is neither a chat id (a number such as 123456789,"
            " or -1001234567890 for a group) nor a channel's @username"
        )

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r} (use an IANA name)") from exc
        return value


class _File(BaseModel):
    model_config = ConfigDict(extra="forbid")
    employees: list[Employee]


class Directory:
    def __init__(self, employees: list[Employee]) -> None:
        self._by_id: dict[str, Employee] = {}
        for e in employees:
            if e.id in self._by_id:
                raise DirectoryError(f"employee id {e.id!r} appears twice")
            self._by_id[e.id] = e
        for e in employees:
            if e.head is not None and e.head not in self._by_id:
                raise DirectoryError(f"employee {e.id!r}: head {e.head!r} is not in the directory")

    @classmethod
    def load(cls, path: Path) -> Directory:
        try:
            raw = read_yaml(path)
        except YamlFileError as exc:
            raise DirectoryError(str(exc)) from exc
        try:
            parsed = _File.model_validate(raw)
        except ValidationError as exc:
            problems = "; ".join(_where(raw, e["loc"]) + f": {e['msg']}" for e in exc.errors())
            raise DirectoryError(f"{path}: {problems}") from exc
        try:
            return cls(parsed.employees)
        except DirectoryError as exc:
            raise DirectoryError(f"{path}: {exc}") from exc

    def get(self, employee_id: str) -> Employee | None:
        return self._by_id.get(employee_id)

    def channels_for(self, employee_id: str, robot_channels: list[str] | None) -> list[Channel]:
        """The robot's channels if it names any, else the employee's; an id the directory
        does not know gets the in-app inbox only (logged), so a notice is never lost, and
        so does a robot's Telegram notice to a person without a ``telegram_chat_id``."""
        employee = self.get(employee_id)
        if employee is None:
            log.warning(
                "employee %r is not in the directory: in-app notification only", employee_id
            )
            return ["inapp"]
        if not robot_channels:
            return list(employee.channels)
        chosen = [c for c in CHANNELS if c in robot_channels]
        if "telegram" in chosen and employee.telegram_chat_id is None:
            # The robot asks for Telegram, the person has no chat with the bot: the notice
            # goes to their in-app inbox instead of nowhere.
            log.warning("employee %r has no telegram_chat_id: in-app instead", employee_id)
            chosen = [c for c in CHANNELS if (c in chosen and c != "telegram") or c == "inapp"]
        return chosen

    def __iter__(self) -> Iterator[Employee]:
        return iter(self._by_id.values())


def _where(raw: object, loc: tuple[int | str, ...]) -> str:
    """'employee ivanov, field timezone' rather than 'employees.0.timezone'."""
    if len(loc) >= 2 and loc[0] == "employees" and isinstance(loc[1], int):
        try:
            who = raw["employees"][loc[1]].get("id", f"#{loc[1] + 1}")  # type: ignore[index]
        except (TypeError, KeyError, IndexError, AttributeError):
            who = f"#{loc[1] + 1}"
        rest = ".".join(str(p) for p in loc[2:])
        return f"employee {who}" + (f", field {rest}" if rest else "")
    return ".".join(str(p) for p in loc) or "(document)"
