"""Editing a running deal and commenting on it: the ``edit_deal`` and ``comment`` updates'
inputs (the workflow applies them in workflows/edits.py)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from funnel.domain.models import Contact, FieldValue
from funnel.domain.people import Actor
from funnel.domain.text import FreeText, OneLine

_ACTOR = "the authenticated caller; set by the API or the CLI, never by a request body"

# The deal's own properties an edit may change (``fields`` are the custom fields).
EDITABLE = (
    "responsible",
    "department_head",
    "sales_team",
    "contact",
    "service",
    "amount",
    "currency",
)


class EditDealChanges(BaseModel):
    """What changes (a field left out stays as it is) and why: the body of
    ``PATCH /deals/{id}``."""

    model_config = ConfigDict(extra="forbid")
    responsible: OneLine | None = Field(default=None, min_length=1)
    department_head: OneLine | None = Field(default=None, min_length=1)
    sales_team: list[OneLine] | None = None
    contact: Contact | None = None
    service: OneLine | None = Field(default=None, min_length=1)
    amount: Decimal | None = Field(default=None, ge=0)
    currency: str | None = Field(default=None, pattern=r"^[A-Z]{3}$")
    fields: dict[str, FieldValue] | None = None
    reason: FreeText | None = None

    def given(self) -> dict[str, Any]:
        """The deal properties this edit sets, by name."""
        return {name: getattr(self, name) for name in EDITABLE if getattr(self, name) is not None}

    def employees(self) -> list[str]:
        """The employee ids the edit names: the caller checks them against the directory
        before sending (the deal does not know the directory)."""
        return [
            *([self.responsible] if self.responsible else []),
            *([self.department_head] if self.department_head else []),
            *(self.sales_team or []),
        ]


class EditDealInput(EditDealChanges):
    """The ``edit_deal`` update: the changes, and who asks."""

    actor: Actor | None = Field(default=None, description=_ACTOR)


class CommentText(BaseModel):
    """A comment on the deal, or on one of its tasks: the body of
    ``POST /deals/{id}/comments``."""

    model_config = ConfigDict(extra="forbid")
    text: FreeText = Field(min_length=1, max_length=4000)
    task_id: OneLine | None = None


class CommentInput(CommentText):
    """The ``comment`` update: the comment, and the person who writes it."""

    actor: Actor | None = Field(default=None, description=_ACTOR)
