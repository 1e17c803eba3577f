"""The person's own work: my tasks (web/work_tasks.py), the inbox (work_inbox.py), a head's
breaches of today (work_breaches.py), the new deal form (work_new_deal.py)."""

from __future__ import annotations

from fastapi import APIRouter

from web import work_breaches, work_inbox, work_new_deal, work_tasks

router = APIRouter(include_in_schema=False)
for _page in (work_tasks, work_inbox, work_breaches, work_new_deal):
    router.include_router(_page.router)
