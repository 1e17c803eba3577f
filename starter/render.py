"""Human-readable output of the CLI (``--json`` skips all of this)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

import click

from funnel.models import DealState, TaskView


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


def _t(moment: datetime | None) -> str:
    return f"{moment:%Y-%m-%d %H:%M}Z" if moment else "-"


def print_deal(state: DealState, ui_link: str | None, *, full: bool = False) -> None:
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
    if not full:
        return
    click.echo("  stages:")
    for v in state.visits:
        mark = " BREACHED" if v.breached else ""
        click.echo(
            f"    #{v.seq} {v.stage:<12} in {_t(v.entered_at)} out {_t(v.exited_at)}"
            f" deadline {_t(v.deadline_at)} ({v.cause}){mark}"
        )
    if state.waiting:
        click.echo("  waiting robots:")
        for w in state.waiting:
            click.echo(f"    {w.robot_id} at {_t(w.due_at)}: {w.title}")
    if state.tasks:
        print_tasks(state.tasks, indent="  ")
    if state.invoices:
        click.echo("  invoices:")
        for i in state.invoices:
            click.echo(f"    {i.invoice_id} {i.amount} paid {_t(i.paid_at)}")
    if state.failures:
        click.echo("  robot failures:")
        for f in state.failures:
            click.echo(f"    #{f.seq} {f.robot_id}: {f.error}")
    click.echo(f"  report events: {len(state.report_events)}")


def print_tasks(tasks: Sequence[TaskView], indent: str = "") -> None:
    click.echo(f"{indent}tasks:")
    for t in tasks:
        click.echo(
            f"{indent}  {t.task_id:<28} {t.status.value:<22} {t.responsible:<10}"
            f" due {_t(t.deadline_at)}  {t.title}"
        )


def print_deal_list(deals: Sequence[_Listed]) -> None:
    if not deals:
        click.echo("no deals")
        return
    for d in deals:
        flag = "BREACHED" if d.breached else ""
        click.echo(
            f"{d.deal_id:<20} {d.status:<10} {d.stage or '-':<12} {d.responsible or '-':<12}"
            f" {d.amount or 0:>12.2f} {flag}"
        )
