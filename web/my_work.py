"""The person's own work: my tasks, the inbox, a head's breaches of today, the new deal
form."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
