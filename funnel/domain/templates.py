"""jinja2 rendering for titles, messages and task texts.

Templates render in a sandbox with StrictUndefined: a pipeline author who misspells a field
gets an error that names it instead of an empty title.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, Template, TemplateError, TemplateSyntaxError
from jinja2.sandbox import SandboxedEnvironment

_ENV = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False)


class TemplateProblem(ValueError):
    """A template that does not compile or does not render."""


def check_template(source: str) -> None:
    try:
        _ENV.parse(source)
    except TemplateSyntaxError as exc:
        raise TemplateProblem(f"jinja2 syntax error on line {exc.lineno}: {exc.message}") from exc


@lru_cache(maxsize=1024)
def _compiled(source: str) -> Template:
    # A pipeline has a few dozen templates, rendered for every deal: compile each once.
    return _ENV.from_string(source)


def render(source: str, context: dict[str, Any]) -> str:
    try:
        return _compiled(source).render(context).strip()
    except TemplateError as exc:
        raise TemplateProblem(f"template {source!r} failed: {exc}") from exc
