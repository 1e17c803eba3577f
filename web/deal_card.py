"""The deal card (``/deals/{id}``): header, actions, the plan, the timeline, tasks,
invoices and documents of one deal."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
