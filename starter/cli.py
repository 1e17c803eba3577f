"""The ``funnel`` command line: run the system, start and drive deals, look at them.

Every command takes ``--json`` for stable machine-readable output; errors go to stderr with a
non-zero exit status.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Literal

import click
from pydantic import ValidationError

from funnel.domain.funnels import NewDeal
from funnel.domain.models import CloseInput, InvoicePaid, Outcome
from funnel.runtime.pipeline_loader import PipelineError
from funnel.runtime.settings import Settings
from starter import people_cli
from starter.cli_support import (
    Failure,
    as_option,
    deal_client,
    emit,
    json_option,
    operator_actor,
    run_async,
    utc_time,
)
from starter.funnel_cli import deal_move_funnel, loaded_pipelines, named_pipeline, pipeline
from starter.payment_cli import payment_line, send_payment
from starter.render import print_deal, print_deal_list, print_tasks


@click.group()
@click.version_option(package_name="sales-funnel")
def main() -> None:
    """Sales-funnel automation on Temporal durable workflows."""


# --- running the system --------------------------------------------------------------------


@main.command()
@click.option("--headless", is_flag=True, help="no Web UI")
@click.option("--demo", is_flag=True, help="also run the demo deals once the worker is up")
def up(headless: bool, demo: bool) -> None:
    """Start the embedded Temporal dev server (unless TEMPORAL_ADDRESS is set) and the worker;
    Ctrl-C stops both. A second `funnel up` finds every running deal where it was."""
    from starter.system import run_system

    try:
        asyncio.run(run_system(Settings(), ui=not headless, demo=demo))
    except KeyboardInterrupt:
        click.echo("stopped", err=True)
    except (RuntimeError, PipelineError, ValueError) as exc:  # ValueError: bad codec keys
        raise Failure(str(exc)) from exc


@main.command()
def worker() -> None:
    """Run only the worker, against TEMPORAL_ADDRESS (default 127.0.0.1:7233)."""
    import worker as worker_module

    try:
        asyncio.run(worker_module.main())
    except KeyboardInterrupt:
        click.echo("stopped", err=True)
    except ValueError as exc:  # settings refused at start (invoice requisites, payment link)
        raise Failure(str(exc)) from exc


@main.command()
@json_option
@run_async
async def demo(as_json: bool) -> None:
    """Run sample deals through the funnel on a running system (start it with `funnel up`)."""
    from starter.demo import run_demo

    settings = Settings()
    pipelines = loaded_pipelines(settings)
    client = await deal_client(settings)
    results = await run_demo(client, pipelines, echo=not as_json)
    emit(as_json, [r.model_dump(mode="json") for r in results], lambda: None)


# --- deals ---------------------------------------------------------------------------------


@main.group()
def deal() -> None:
    """Start, drive and inspect deals."""


def _read_deal(path: Path) -> NewDeal:
    try:
        return NewDeal.model_validate_json(path.read_bytes())
    except OSError as exc:
        raise Failure(f"{path}: {exc.strerror}") from exc
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(document)'}: {e['msg']}"
            for e in exc.errors()
        )
        raise Failure(f"{path}: not a valid deal: {problems}") from exc


@deal.command("start")
@click.argument("file", type=click.Path(path_type=Path))
@click.option(
    "--pipeline", "pipeline_id", help="the pipeline's id (default: the file's, or the default)"
)
@json_option
@run_async
async def deal_start(file: Path, pipeline_id: str | None, as_json: bool) -> None:
    """Start a deal from a JSON file (see examples/deal.json) in the current version of its
    pipeline: --pipeline, else the file's "pipeline", else the default one."""
    settings = Settings()
    new = _read_deal(file)
    pipeline_def = named_pipeline(settings, pipeline_id or new.pipeline)
    client = await deal_client(settings)
    state = await client.start(new.deal(), pipeline_def)
    emit(as_json, state, lambda: print_deal(state, client.ui_link(state.deal_id)))


@deal.command("accept")
@click.argument("deal_id")
@click.option("--by", help="employee id of who accepts")
@as_option
@json_option
@run_async
async def deal_accept(deal_id: str, by: str | None, as_employee: str | None, as_json: bool) -> None:
    """The responsible takes the deal into work."""
    settings = Settings()
    actor = operator_actor(settings, as_employee)
    client = await deal_client(settings)
    state = await client.accept(deal_id, by=by, actor=actor)
    emit(as_json, state, lambda: print_deal(state, client.ui_link(deal_id)))


@deal.command("move")
@click.argument("deal_id")
@click.argument("stage")
@click.option("--reason", help="why (needed for a move to the lost stage)")
@click.option("--by", help="employee id of who moves it")
@as_option
@json_option
@run_async
async def deal_move(
    deal_id: str,
    stage: str,
    reason: str | None,
    by: str | None,
    as_employee: str | None,
    as_json: bool,
) -> None:
    """Move a deal to any stage, forward or back."""
    settings = Settings()
    actor = operator_actor(settings, as_employee)
    client = await deal_client(settings)
    state = await client.move(deal_id, stage, reason=reason, by=by, actor=actor)
    emit(as_json, state, lambda: print_deal(state, client.ui_link(deal_id)))


@deal.command("invoice-paid")
@click.argument("deal_id")
@click.argument("invoice_id")
@click.option("--amount", type=Decimal, help="amount paid (default: what is outstanding)")
@click.option("--payment-id", help="the payment's own id: sent twice, it is applied once")
@click.option("--currency", help="the payment's currency (must be the invoice's)")
@click.option("--prepayment", is_flag=True, help="paid before the deal issued the invoice")
@json_option
@run_async
async def deal_invoice_paid(
    deal_id: str,
    invoice_id: str,
    amount: Decimal | None,
    payment_id: str | None,
    currency: str | None,
    prepayment: bool,
    as_json: bool,
) -> None:
    """Report a payment of an invoice. The invoice is paid when its payments add up to its
    amount; in the payment stage the deal then moves on by itself."""
    client = await deal_client(Settings())
    try:
        paid = InvoicePaid(
            invoice_id=invoice_id,
            amount=amount,
            payment_id=payment_id,
            currency=currency,
            prepayment=prepayment,
        )
    except ValidationError as exc:
        error = exc.errors()[0]
        raise Failure(f"bad payment: {'.'.join(map(str, error['loc']))}: {error['msg']}") from exc
    invoice = await send_payment(client, deal_id, paid)
    result = {"deal_id": deal_id, "invoice_id": invoice_id, "sent": True, "invoice": invoice}
    emit(as_json, result, lambda: click.echo(payment_line(deal_id, invoice_id, invoice)))


@deal.command("run-template")
@click.argument("deal_id")
@click.option("--by", help="employee id of who runs it")
@as_option
@json_option
@run_async
async def deal_run_template(
    deal_id: str, by: str | None, as_employee: str | None, as_json: bool
) -> None:
    """Create the task set for the service sold (final stage)."""
    settings = Settings()
    actor = operator_actor(settings, as_employee)
    client = await deal_client(settings)
    tasks = await client.run_template(deal_id, by=by, actor=actor)
    emit(as_json, [t.model_dump(mode="json") for t in tasks], lambda: print_tasks(tasks))


@deal.command("close")
@click.argument("deal_id")
@click.argument("outcome", type=click.Choice([o.value for o in Outcome]))
@click.option("--reason", help="why (needed when lost)")
@click.option("--by", help="employee id of who closes it")
@as_option
@json_option
@run_async
async def deal_close(
    deal_id: str,
    outcome: str,
    reason: str | None,
    by: str | None,
    as_employee: str | None,
    as_json: bool,
) -> None:
    """Close a deal as won or lost."""
    settings = Settings()
    actor = operator_actor(settings, as_employee)
    client = await deal_client(settings)
    request = CloseInput(outcome=Outcome(outcome), reason=reason, by=by)
    state = await client.close(deal_id, request, actor=actor)
    emit(as_json, state, lambda: print_deal(state, client.ui_link(deal_id)))


@deal.command("list")
@click.option("--stage", help="only deals in this stage")
@click.option("--responsible", help="only deals of this employee")
@click.option("--breached/--not-breached", default=None, help="stage deadline breached or not")
@click.option("--status", type=click.Choice(["open", "closed"]), help="only open or closed deals")
@click.option("--pipeline", help="only deals in this pipeline (its id)")
@click.option("--since", callback=utc_time, help="closed deals closed at or after (ISO, UTC)")
@click.option("--until", callback=utc_time, help="closed deals closed before (ISO, UTC)")
@click.option("--limit", type=click.IntRange(1, 10_000), default=100, show_default=True)
@json_option
@run_async
async def deal_list(
    stage: str | None,
    responsible: str | None,
    breached: bool | None,
    status: Literal["open", "closed"] | None,
    pipeline: str | None,
    since: datetime | None,
    until: datetime | None,
    limit: int,
    as_json: bool,
) -> None:
    """Open deals through Temporal visibility, then closed deals (won, lost) from the store,
    newest closed first."""
    client = await deal_client(Settings())
    deals = await client.list(
        stage=stage,
        responsible=responsible,
        breached=breached,
        status=status,
        since=since,
        until=until,
        pipeline=pipeline,
        limit=limit,
    )
    emit(as_json, [d.__dict__ for d in deals], lambda: print_deal_list(deals))


# --- the inbox ---------------------------------------------------------------------------


@main.command()
@click.argument("user")
@click.option("--unread", is_flag=True, help="only unread notifications")
@click.option("--read", "read_ids", type=int, multiple=True, help="mark notification ID read")
@json_option
def inbox(user: str, unread: bool, read_ids: tuple[int, ...], as_json: bool) -> None:
    """The in-app notifications of an employee (unread ones marked *, with their ids)."""
    from funnel.storage.migrate import upgrade
    from funnel.storage.store import Store

    url = Settings().effective_database_url
    upgrade(url)  # a fresh database answers "no notifications"; a no-op once migrated
    store = Store(url)
    mine = {n.id for n in store.inbox(user)}
    for notification_id in read_ids:
        if notification_id not in mine:
            raise Failure(f"{user} has no notification {notification_id}")
        store.mark_read(notification_id)
    notes = store.inbox(user, unread_only=unread)

    def human() -> None:
        for n in notes:
            unread = "  " if n.read else "* "
            when = f"{n.created_at:%Y-%m-%d %H:%M}"
            click.echo(f"{n.id:>5} {when} {unread}[{n.deal_id}/{n.stage}] {n.message}")
        if not notes:
            click.echo(f"no notifications for {user}")

    emit(as_json, [n.model_dump(mode="json") for n in notes], human)


# The HTTP API's command lives with the API (api/cli.py).
from analytics.cli import report as report_command  # noqa: E402
from starter.api_cli import api_command  # noqa: E402

main.add_command(api_command)

# Operations: funnel doctor, funnel db upgrade, funnel codec-server, funnel codec-key.
from starter.doctor import doctor_command  # noqa: E402
from starter.ops_cli import codec_key_command, codec_server_command, db_group  # noqa: E402

for _command in (doctor_command, db_group, codec_server_command, codec_key_command):
    main.add_command(_command)
main.add_command(report_command)
from starter.task_cli import task_group  # noqa: E402

main.add_command(task_group)

# Looking ahead: a deal's plan, fields that move timers, pipeline versions, simulation.
from starter.deal_view import deal_show  # noqa: E402
from starter.edit_cli import deal_comment, deal_edit  # noqa: E402
from starter.plan_cli import (  # noqa: E402
    deal_fields,
    deal_plan,
    pipeline_migrate,
    simulate_command,
)

deal.add_command(deal_plan)
deal.add_command(deal_show)
deal.add_command(deal_fields)
deal.add_command(deal_edit)
deal.add_command(deal_comment)
deal.add_command(deal_move_funnel)
main.add_command(pipeline)
pipeline.add_command(pipeline_migrate)
main.add_command(simulate_command)
main.add_command(people_cli.user)
main.add_command(people_cli.token)


def run() -> None:
    """The ``funnel`` command: ``main``, then the process ends without the interpreter's
    teardown. temporalio's Rust threads can outlive a command's event loop and abort
    CPython's finalization ("PyGILState_Release: thread state ... must be current when
    releasing", temporalio/sdk-python#300): a short command that had done its work (seen
    with ``funnel simulate``) then exited with SIGABRT instead of its status. Every command
    has closed its own resources (servers, workers, executors) by the time it returns."""
    try:
        main()
        code = 0
    except SystemExit as exit_:
        if exit_.code is None or isinstance(exit_.code, int):
            code = exit_.code or 0
        else:
            print(exit_.code, file=sys.stderr)
            code = 1
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    run()
