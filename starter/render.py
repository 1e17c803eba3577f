"""Human-readable output of the CLI (``--json`` skips all of this)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Protocol

import click

from funnel.domain.models import DealState, TaskView


class _Listed(Protocol):
    @property
    def deal_id(self) -> str: ...
    @property
    def stage(self) -> str | None: ...
    @property
    def responsible(self) -> str | None: ...
    @property
    def amount(self) -> float | None: ...
    @property
    def breached(self) -> bool | None: ...
    @property
    def status(self) -> str: ...
    @property
    def pipeline(self) -> str | None: ...


def _t(moment: datetime | None) -> str:
    return f"{moment:%Y-%m-%d %H:%M}Z" if moment else "-"


def print_deal(state: DealState, ui_link: str | None) -> None:
    """The deal's head lines; ``funnel deal show`` goes on with the rest (starter/deal_view)."""
    breached = " (deadline breached)" if state.breached else ""
    click.echo(f"{state.deal_id}: {state.title}")
    click.echo(
        f"  stage {state.stage}, {state.status.value}{breached};"
        f" pipeline {state.pipeline_id} {state.pipeline_version}"
    )
    if state.lost_reason:
        click.echo(f"  lost: {state.lost_reason}")
    if ui_link:
        click.echo(f"  web ui: {ui_link}")


def print_tasks(
    tasks: Sequence[TaskView],
    indent: str = "",
    when: Callable[[datetime | None], str] = _t,
) -> None:
    click.echo(f"{indent}tasks:")
    for t in tasks:
        click.echo(
            f"{indent}  {t.task_id:<28} {t.status.value:<22} {t.responsible:<10}"
            f" due {when(t.deadline_at)}  {t.title}"
        )
        for e in t.events:  # who completed, returned, confirmed it, how and when
            via = f" via {e.via.value}" if e.via else ""
            what = e.action.value if e.action else "comment"
            click.echo(f"{indent}    {what} by {e.by or '-'}{via} {when(e.at)}")


def print_deal_list(deals: Sequence[_Listed]) -> None:
    if not deals:
        click.echo("no deals")
        return
    for d in deals:
        flag = "BREACHED" if d.breached else ""
        click.echo(
            f"{d.deal_id:<20} {d.status:<10} {d.pipeline or '-':<14} {d.stage or '-':<12}"
            f" {d.responsible or '-':<12} {d.amount or 0:>12.2f} {flag}"
        )
