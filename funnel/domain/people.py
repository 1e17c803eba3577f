"""Who acts on a deal, and how: the authenticated person or service behind every change.

A message to a deal carries an ``Actor`` set by whoever authenticated the caller (the HTTP
API from its session or token, the CLI from ``--as``, a trigger by the deal itself): the
deal checks what this actor may do and records who did it, how and when. A free-text ``by``
in a request body is not trusted."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

ActorKind = Literal["person", "service"]


class Role(StrEnum):
    MANAGER = "manager"  # works their own deals and those of their sales team
    HEAD = "head"  # heads a department: its deals, confirmations, escalations
    ADMIN = "admin"  # everything


class Via(StrEnum):
    WEB = "web"  # the workspace in the browser, signed in
    API = "api"  # the HTTP API with a personal or service token
    CLI = "cli"  # the operator's `funnel` command on the server (`--as`)
    WEBHOOK = "webhook"  # a signed webhook (payments, forms)
    TRIGGER = "trigger"  # the deal itself (an invoice paid, tasks done)


class Actor(BaseModel):
    """The caller as authenticated: a person (an employee of the directory) or a service
    (a system holding a service token, which can never act as a person)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: ActorKind
    id: str = Field(min_length=1, description="employee id, or the service's name")
    role: Role | None = Field(default=None, description="a person's role")
    department: str | None = None
    via: Via

    @property
    def person(self) -> str | None:
        return self.id if self.kind == "person" else None


@dataclass(frozen=True)
class Doer:
    """Who did something to a deal, as its history records it: the actor's id, how they
    came and whether a person or a service; for a request without an actor (an older
    caller, the CLI without ``--as``) its free-text ``by``, how and what unknown."""

    id: str | None = None
    via: Via | None = None
    kind: ActorKind | None = None

    @classmethod
    def of(cls, actor: Actor | None, by: str | None = None) -> Doer:
        """The actor when there is one (a ``by`` may only repeat it: the deal refuses one
        that differs), else the ``by``."""
        if actor is None:
            return cls(by)
        return cls(actor.id, actor.via, actor.kind)

    def report(self) -> dict[str, Any]:
        """What a report row's details say of who: ``by``, and ``via`` and ``actor_kind``
        when known (rows written without an actor keep their shape)."""
        known = {"via": self.via, "actor_kind": self.kind}
        return {"by": self.id} | {k: v for k, v in known.items() if v is not None}
