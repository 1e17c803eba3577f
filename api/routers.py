"""Routers of other packages that the API serves next to its own.

To add yours, append one line to ``EXTRA_ROUTERS``: ``("package.module:attribute", scope)``
naming an ``APIRouter`` and the token scope every endpoint of it needs (the API adds the
bearer check when it includes the router). Handlers find the settings, the deal client and
the store on ``request.app.state``.

Names are imported lazily, so that a package still being written does not break the API:
a listed module that does not exist yet is skipped (an import error inside an existing
module is not: it is a bug to see at once).
"""

from __future__ import annotations

import importlib
import importlib.util

from fastapi import APIRouter

EXTRA_ROUTERS: list[tuple[str, str]] = [
    ("analytics.router:router", "reports:read"),
]


def extra_routers() -> list[tuple[APIRouter, str]]:
    routers = []
    for name, scope in EXTRA_ROUTERS:
        module_name, _, attribute = name.partition(":")
        try:
            present = importlib.util.find_spec(module_name) is not None
        except ModuleNotFoundError:  # the parent package itself is missing
            present = False
        if not present:
            continue
        router = getattr(importlib.import_module(module_name), attribute or "router")
        if not isinstance(router, APIRouter):
            raise TypeError(f"{name} in api.routers.EXTRA_ROUTERS is not an APIRouter")
        routers.append((router, scope))
    return routers
