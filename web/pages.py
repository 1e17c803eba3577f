"""The workspace's routes: the sign-in page, the static files, and each area's pages
(web/board.py, web/deal_card.py, web/my_work.py) gathered into one router."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from web.i18n import best_language
from web.render import page
from web.viewer import SignInFirst

STATIC = Path(__file__).parent / "static"
SWAGGER = "/static/vendor/swagger-ui-dist-5.35.0"

router = APIRouter(include_in_schema=False)


@router.get("/sign-in", response_class=HTMLResponse)
async def sign_in_page(request: Request, next: str = "/") -> HTMLResponse:
    # Only a path of this site: an open redirect would let a link send people elsewhere.
    next_url = next if next.startswith("/") and not next.startswith("//") else "/"
    language = best_language(request.headers.get("accept-language"))
    return page(request, None, "sign_in.html.jinja", language=language, next_url=next_url)


@router.get("/auth/invitations/{token}", response_class=HTMLResponse)
async def invitation_page(request: Request, token: str) -> HTMLResponse:
    """The link of `funnel user invite` opened in a browser: the person chooses a password
    (the form posts it to the same address, the API's invitation endpoint) and is signed in."""
    language = best_language(request.headers.get("accept-language"))
    return page(request, None, "invitation.html.jinja", language=language, token=token)


@router.get("/docs", response_class=HTMLResponse)
async def api_docs(request: Request) -> HTMLResponse:
    """Swagger UI from the vendored package: FastAPI's default loads it from a CDN."""
    return get_swagger_ui_html(
        openapi_url=request.app.openapi_url or "/openapi.json",
        title=f"{request.app.title} - docs",
        swagger_js_url=f"{SWAGGER}/swagger-ui-bundle.js",
        swagger_css_url=f"{SWAGGER}/swagger-ui.css",
        swagger_favicon_url=f"{SWAGGER}/favicon-32x32.png",
    )


async def _sign_in_first(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, SignInFirst)
    return RedirectResponse(exc.next_url, status_code=303)


def mount_workspace(app: FastAPI) -> None:
    """Add the workspace to the API's app: its pages, its static files, the local /docs.
    The app must be made with ``docs_url=None`` (this module serves /docs).

    The workspace's routes are asked before the API's: a page sharing its path with the API
    (the deal card at /deals/{id}) answers browsers only (web/page_routes.py)."""
    api_routes = list(app.router.routes)
    api_ids = {id(route) for route in api_routes}
    app.include_router(router)
    for area in _areas():
        app.include_router(area)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    workspace = [route for route in app.router.routes if id(route) not in api_ids]
    app.router.routes[:] = workspace + api_routes
    app.add_exception_handler(SignInFirst, _sign_in_first)


def _areas() -> list[APIRouter]:
    """Each area's router, asked in this order; an area's module is imported here only, so
    that this file is the one list of what the workspace serves. My work (/deals/new)
    comes before the deal card (/deals/{id})."""
    from web import board, deal_card, my_work

    return [board.router, my_work.router, deal_card.router]
