"""What every `funnel` command shares: --json output, clean error messages, the client."""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, ParamSpec, TypeVar

import click
from pydantic import BaseModel

from funnel.client.deals import DealClient, DealError
from funnel.domain.people import Actor, Via
from funnel.runtime.pipeline_loader import PipelineError
from funnel.runtime.settings import Settings
from funnel.storage.closed_deals import ClosedDeals
from funnel.storage.directory import Directory, DirectoryError
from funnel.storage.store import Store

P = ParamSpec("P")
R = TypeVar("R")


class Failure(click.ClickException):
    """Printed to stderr as 'error: ...' with exit status 1."""

    def show(self, file: Any = None) -> None:
        click.echo(f"error: {self.message}", err=True)


def emit(as_json: bool, payload: Any, human: Callable[[], None]) -> None:
    if as_json:
        if isinstance(payload, BaseModel):
            click.echo(payload.model_dump_json(indent=2))
        else:
            click.echo(json.dumps(payload, indent=2, default=str))
    else:
        human()


def field_assignments(items: tuple[str, ...], *, option: str = "") -> dict[str, object]:
    """``NAME=VALUE`` pairs as field values: a value that reads as JSON (a number, true,
    null) is that value, anything else the text itself."""
    fields: dict[str, object] = {}
    where = f"{option} " if option else ""
    for item in items:
        name, sep, raw = item.partition("=")
        if not sep or not name:
            raise Failure(f"{where}{item!r}: write NAME=VALUE")
        try:
            fields[name] = json.loads(raw)
        except json.JSONDecodeError:
            fields[name] = raw
    return fields


def json_option(fn: Callable[P, R]) -> Callable[P, R]:
    return click.option("--json", "as_json", is_flag=True, help="machine-readable output")(fn)


def as_option(fn: Callable[P, R]) -> Callable[P, R]:
    return click.option(
        "--as",
        "as_employee",
        metavar="EMPLOYEE",
        help="act as this employee of the directory: the deal checks what they may do and"
        " records them (via cli)",
    )(fn)


def operator_actor(settings: Settings, employee_id: str | None) -> Actor | None:
    """The operator on the server acting as an employee (``--as``): their role and
    department come from the directory, so the deal checks them as that person. Without
    ``--as`` the request carries no actor (as before: unchecked, ``--by`` recorded)."""
    if employee_id is None:
        return None
    try:
        employee = Directory.load(settings.directory).get(employee_id)
    except DirectoryError as exc:
        raise Failure(f"--as {employee_id}: the directory cannot be read: {exc}") from exc
    if employee is None:
        raise Failure(f"--as {employee_id}: no such employee in {settings.directory}")
    return Actor(
        kind="person",
        id=employee.id,
        role=employee.role,
        department=employee.department or None,
        via=Via.CLI,
    )


def run_async(fn: Callable[P, Awaitable[R]]) -> Callable[P, R]:
    """Run an async command, turning the errors a user can act on into clean messages."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return asyncio.run(fn(*args, **kwargs))  # type: ignore[arg-type]
        except (DealError, PipelineError) as exc:
            raise Failure(str(exc)) from exc
        except RuntimeError as exc:
            if "connect" in str(exc).lower():
                raise Failure(f"cannot reach the Temporal server: {exc}") from exc
            raise

    return wrapper


async def deal_client(settings: Settings) -> DealClient:
    from funnel.runtime.temporal_client import connect

    try:
        client = await connect(settings)
    except RuntimeError as exc:
        raise Failure(
            f"cannot reach the Temporal server at {settings.effective_temporal_address}"
            f" ({exc}); start it with `funnel up` or set TEMPORAL_ADDRESS"
        ) from exc
    ui_base = None if settings.temporal_address else f"http://127.0.0.1:{settings.ui_port}"
    # A closed deal past the namespace's retention is read from its record in the store.
    records = ClosedDeals(Store(settings.effective_database_url))
    return DealClient(client, task_queue=settings.task_queue, ui_base=ui_base, records=records)


def utc_time(_ctx: click.Context, param: click.Parameter, value: str | None) -> datetime | None:
    """An ISO date or time option; without an offset it is taken as UTC."""
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise click.BadParameter(
            f"{value!r} is not an ISO date or time (2026-11-01, 2026-11-01T09:00+03:00)"
        ) from exc
    return parsed if parsed.utcoffset() is not None else parsed.replace(tzinfo=UTC)
