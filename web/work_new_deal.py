"""``/deals/new``: the form that starts a deal. The browser posts it to the API's
``POST /deals`` as it is (no validator of its own beyond HTML's required and input types)
and shows the API's errors next to their fields, then opens the new deal's card.

The workspace's routes are asked before the API's, this one before the deal card's
(web/pages.py): the API's ``GET /deals/{deal_id}`` and the card would take ``new`` for a
deal id."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from api.auth import directory
from funnel.domain.people import Role
from funnel.storage.directory import Employee
from web.i18n import Language, catalog
from web.page_routes import BrowserPage
from web.render import page
from web.viewer import CurrentViewer, Viewer
from web.work_common import pipelines

# A page that shares /deals/{id}'s path shape: API clients asking for deal "new" reach the API.
router = APIRouter(include_in_schema=False, route_class=BrowserPage)

CURRENCIES = ("RUB", "USD", "EUR", "KZT", "BYN", "CNY")  # suggestions; the API takes any ISO code
# pydantic's error types the form may meet, said in the viewer's language where work.yaml
# has it (``work_error_<type>``); any other error shows the API's own message.
ERROR_TYPES = (
    "missing",
    "string_too_short",
    "string_pattern_mismatch",
    "decimal_parsing",
    "greater_than_equal",
)


@dataclass(frozen=True)
class Defaults:
    deal_id: str
    responsible: str
    department_head: str


def suggested_deal_id() -> str:
    """A fresh id the person may keep or replace: the day and a random part, so that two
    people opening the form at once do not get the same one."""
    return f"D-{datetime.now(UTC):%y%m%d}-{secrets.token_hex(3).upper()}"


def _defaults(viewer: Viewer, people: list[Employee]) -> Defaults:
    """A manager sells their own deals under their head; a head and an admin choose."""
    responsible = viewer.id if viewer.role is Role.MANAGER else ""
    head = viewer.id if viewer.role is Role.HEAD else viewer.employee.head or ""
    if head and all(p.id != head for p in people):
        head = ""
    return Defaults(suggested_deal_id(), responsible, head)


def error_texts(language: Language) -> dict[str, str]:
    """pydantic error type -> the text in ``language``, for the types work.yaml says in it."""
    found = {kind: catalog().get(f"work_error_{kind}", {}).get(language) for kind in ERROR_TYPES}
    return {kind: said for kind, said in found.items() if said}


@router.get("/deals/new", response_class=HTMLResponse)
async def new_deal(request: Request, viewer: CurrentViewer) -> HTMLResponse:
    people = sorted(directory(request), key=lambda e: e.name)
    heads = [e for e in people if e.role is not Role.MANAGER]
    flows = pipelines(request)
    stages = [stage for flow in flows for stage in flow.stages]
    services = sorted({s for stage in stages for s in stage.task_sets} - {"default"})
    # The fields of every pipeline: the deal may be started in any of them.
    fields = {name: kind.value for flow in flows for name, kind in flow.fields.items()}
    return page(
        request,
        viewer,
        "work_new_deal.html.jinja",
        people=people,
        heads=heads,
        defaults=_defaults(viewer, heads),
        services=services,
        currencies=CURRENCIES,
        custom_fields=fields,
        pipelines=list(flows),
        default_pipeline=flows.default.id,
        error_texts=error_texts(viewer.language),
    )
