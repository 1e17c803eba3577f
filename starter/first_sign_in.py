"""How the first people get into the workspace when `funnel up` starts.

`funnel up` prints where the workspace is. With ``--demo`` (what `./run up` runs) it also
prints a one-time invitation link for each person of the directory who has no password
yet: opening it in a browser sets their password and signs them in, so trying the system
needs no terminal step. Without ``--demo`` nothing is handed out: the operator runs
`funnel user set-password ID` or `funnel user invite ID`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import click

from funnel.runtime.settings import Settings
from funnel.storage.directory import Directory
from funnel.storage.people import People
from funnel.storage.store import Store


@dataclass(frozen=True)
class Invitation:
    employee_id: str
    name: str
    role: str
    link: str
    expires_at: datetime


def invite_people_without_password(settings: Settings, store: Store) -> list[Invitation]:
    """A link for every person of the directory who cannot sign in yet (none once each has
    chosen a password)."""
    people = People(store)
    lifetime = timedelta(hours=settings.invitation_hours)
    found: list[Invitation] = []
    for employee in Directory.load(settings.directory):
        if people.has_password(employee.id):
            continue
        token, expires_at = people.invite(employee.id, lifetime)
        link = f"{settings.effective_public_url}/auth/invitations/{token}"
        found.append(Invitation(employee.id, employee.name, employee.role.value, link, expires_at))
    return found


def echo_workspace(settings: Settings, store: Store, *, demo: bool) -> None:
    click.echo(f"Workspace: {settings.effective_public_url}/ (people of {settings.directory})")
    if not demo:
        click.echo(
            "  first sign-in: `funnel user set-password ID` or `funnel user invite ID` (a link)"
        )
        return
    invitations = invite_people_without_password(settings, store)
    if invitations:
        until = min(i.expires_at for i in invitations)
        click.echo(
            f"  first sign-in (--demo): open your one-time link, choose a password"
            f" (links work until {until:%Y-%m-%d %H:%M} UTC):"
        )
    for invitation in invitations:
        click.echo(f"    {invitation.employee_id} ({invitation.name}, {invitation.role}):"
                   f" {invitation.link}")  # fmt: skip
