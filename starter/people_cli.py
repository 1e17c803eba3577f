"""``funnel user`` and ``funnel token``: the operator gives people their passwords (set
directly, or an invitation link they open themselves) and their personal API tokens.

Run on the server, against FUNNEL_DATABASE_URL and the directory FUNNEL_DIRECTORY: an
employee must be in the directory to get a password or a token.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta

import click

from funnel.runtime.settings import Settings
from funnel.storage.directory import Directory, DirectoryError
from funnel.storage.migrate import require_schema
from funnel.storage.people import PasswordRejected, People
from funnel.storage.personal_tokens import PersonalTokens
from funnel.storage.store import Store
from funnel.storage.tables import MissingSchema
from starter.cli_support import Failure, emit, json_option


def _store(settings: Settings) -> Store:
    try:
        require_schema(settings.effective_database_url)
    except MissingSchema as exc:
        raise Failure(str(exc)) from exc
    return Store(settings.effective_database_url)


def _employee(settings: Settings, employee_id: str) -> str:
    try:
        directory = Directory.load(settings.directory)
    except DirectoryError as exc:
        raise Failure(str(exc)) from exc
    if directory.get(employee_id) is None:
        known = ", ".join(e.id for e in directory) or "none"
        raise Failure(
            f"employee {employee_id!r} is not in the directory {settings.directory} (its"
            f" employees: {known})"
        )
    return employee_id


@click.group()
def user() -> None:
    """People's passwords for signing in to the API and the workspace."""


@user.command("set-password")
@click.argument("employee_id")
@click.option("--stdin", "from_stdin", is_flag=True, help="read the password from stdin")
def set_password(employee_id: str, from_stdin: bool) -> None:
    """Set EMPLOYEE_ID's password (asked twice; ends their open sessions)."""
    settings = Settings()
    _employee(settings, employee_id)
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("New password", hide_input=True, confirmation_prompt="Repeat it")
    store = _store(settings)
    try:
        People(store).set_password(employee_id, password)
    except PasswordRejected as exc:
        raise Failure(str(exc)) from exc
    finally:
        store.dispose()
    click.echo(f"password set for {employee_id}")


@user.command("invite")
@click.argument("employee_id")
@click.option(
    "--hours", type=float, help="how long the link works (default FUNNEL_INVITATION_HOURS, 72)"
)
@json_option
def invite(employee_id: str, hours: float | None, as_json: bool) -> None:
    """Print a one-time link with which EMPLOYEE_ID sets their own password."""
    settings = Settings()
    _employee(settings, employee_id)
    store = _store(settings)
    try:
        lifetime = timedelta(hours=hours if hours is not None else settings.invitation_hours)
        token, expires_at = People(store).invite(employee_id, lifetime)
    finally:
        store.dispose()
    link = f"{settings.effective_public_url}/auth/invitations/{token}"
    payload = {"employee_id": employee_id, "link": link, "expires_at": expires_at.isoformat()}
    emit(as_json, payload, lambda: click.echo(
        f"{link}\n(one use, until {expires_at:%Y-%m-%d %H:%M} UTC: POST {{\"password\": ...}}"
        " to it)"
    ))  # fmt: skip


@click.group()
def token() -> None:
    """Personal API tokens: a person's own bearer token, acting with their role."""


@token.command("issue")
@click.option("--employee", "employee_id", required=True, help="the employee id it acts as")
@click.option("--name", default="token", show_default=True, help="what it is for (laptop, ci)")
@click.option(
    "--expires-days", type=click.IntRange(min=0), default=90, show_default=True,
    help="days until it expires; 0: never",
)  # fmt: skip
@json_option
def issue(employee_id: str, name: str, expires_days: int, as_json: bool) -> None:
    """Issue a personal token and print it once (only its digest is kept)."""
    settings = Settings()
    _employee(settings, employee_id)
    expires_at = datetime.now(UTC) + timedelta(days=expires_days) if expires_days else None
    store = _store(settings)
    try:
        issued = PersonalTokens(store).issue(employee_id, name, expires_at)
    finally:
        store.dispose()
    until = expires_at.isoformat() if expires_at else None
    payload = {"token_id": issued.token_id, "token": issued.token, "employee_id": employee_id,
               "name": name, "expires_at": until}  # fmt: skip
    emit(as_json, payload, lambda: click.echo(
        f"{issued.token}\n(token {issued.token_id} for {employee_id}, expires {until or 'never'};"
        " shown once: keep it now)"
    ))  # fmt: skip


@token.command("revoke")
@click.argument("token_id")
def revoke(token_id: str) -> None:
    """Revoke a personal token by its id (see `funnel token list`)."""
    store = _store(Settings())
    try:
        done = PersonalTokens(store).revoke(token_id)
    finally:
        store.dispose()
    if not done:
        raise Failure(f"no active token {token_id!r}: see `funnel token list`")
    click.echo(f"token {token_id} revoked")


@token.command("list")
@click.option("--employee", "employee_id", help="only this employee's tokens")
@json_option
def list_tokens(employee_id: str | None, as_json: bool) -> None:
    """Personal tokens: id, employee, name, state, expiry and when last used."""
    store = _store(Settings())
    try:
        found = PersonalTokens(store).list(employee_id)
    finally:
        store.dispose()
    now = datetime.now(UTC)

    def when(value: datetime | None) -> str | None:
        return value.isoformat() if value else None

    rows = [
        {"token_id": t.token_id, "employee_id": t.employee_id, "name": t.name,
         "state": t.state(now), "created_at": when(t.created_at),
         "expires_at": when(t.expires_at), "last_used_at": when(t.last_used_at)}
        for t in found
    ]  # fmt: skip

    def human() -> None:
        if not rows:
            click.echo("no personal tokens")
        for r in rows:
            click.echo(
                f"{r['token_id']}  {r['employee_id']}  {r['name']}  {r['state']}"
                f"  expires {r['expires_at'] or 'never'}  last used {r['last_used_at'] or 'never'}"
            )

    emit(as_json, rows, human)
