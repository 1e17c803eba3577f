"""CLI commands that change a running deal by hand: ``funnel deal edit`` (people, contact,
service, amount, fields) and ``funnel deal comment``."""

from __future__ import annotations

from decimal import Decimal

import click
from pydantic import ValidationError

from funnel.domain.edits import CommentInput, EditDealInput
from funnel.runtime.settings import Settings
from funnel.storage.directory import Directory, DirectoryError
from starter.cli_support import (
    Failure,
    as_option,
    deal_client,
    emit,
    field_assignments,
    json_option,
    operator_actor,
    run_async,
)
from starter.render import print_deal


@click.command("edit")
@click.argument("deal_id")
@click.option("--responsible", help="employee id of the new responsible")
@click.option("--head", "department_head", help="employee id of the new department head")
@click.option("--team", help="the new sales team: employee ids, comma-separated")
@click.option("--service", help="the service sold")
@click.option("--amount", type=Decimal, help="the new amount (an open unpaid invoice follows)")
@click.option("--currency", help="the new currency (3 letters)")
@click.option("--field", "assignments", multiple=True, metavar="NAME=VALUE", help="custom field")
@click.option("--reason", help="why (kept in the deal's history)")
@as_option
@json_option
@run_async
async def deal_edit(
    deal_id: str,
    responsible: str | None,
    department_head: str | None,
    team: str | None,
    service: str | None,
    amount: Decimal | None,
    currency: str | None,
    assignments: tuple[str, ...],
    reason: str | None,
    as_employee: str | None,
    as_json: bool,
) -> None:
    """Edit a deal: reassign it, change its amount, service or fields (e.g.
    ``funnel deal edit D-1 --responsible petrov --amount 300000 --as smirnova``)."""
    settings = Settings()
    try:
        edit = EditDealInput(
            responsible=responsible,
            department_head=department_head,
            sales_team=[t.strip() for t in team.split(",") if t.strip()] if team else None,
            service=service,
            amount=amount,
            currency=currency,
            fields=field_assignments(assignments, option="--field") or None,
            reason=reason,
        )
        directory = Directory.load(settings.directory)
    except ValidationError as exc:
        raise Failure(f"not a valid edit: {exc.errors()[0]['msg']}") from exc
    except DirectoryError as exc:
        raise Failure(f"the directory cannot be read: {exc}") from exc
    actor = operator_actor(settings, as_employee)
    client = await deal_client(settings)
    state = await client.edit(deal_id, edit, actor=actor, directory=directory)
    emit(as_json, state, lambda: print_deal(state, client.ui_link(deal_id)))


@click.command("comment")
@click.argument("deal_id")
@click.argument("text")
@click.option("--task", "task_id", help="the task the comment is on (e.g. 3-signed_contract_task)")
@as_option
@json_option
@run_async
async def deal_comment(
    deal_id: str, text: str, task_id: str | None, as_employee: str | None, as_json: bool
) -> None:
    """Comment on a deal or one of its tasks, as a person who may read the deal (--as)."""
    settings = Settings()
    if as_employee is None:
        raise Failure("say who writes it: --as EMPLOYEE")
    actor = operator_actor(settings, as_employee)
    client = await deal_client(settings)
    state = await client.comment(deal_id, CommentInput(text=text, task_id=task_id), actor=actor)

    def human() -> None:
        for c in state.comments:
            on = f" on task {c.task_id}" if c.task_id else ""
            click.echo(f"{c.at:%Y-%m-%d %H:%M}Z {c.by}{on}: {c.text}")

    emit(as_json, state, human)
