"""``funnel deal show``: everything the workflow knows about a deal, as text a sales manager
reads, with every time in the company's time zone (``--json`` prints the state as it is)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import click

from funnel.client.deals import DealClient, DealError
from funnel.domain.models import DealState, InvoiceView, StageVisit
from funnel.domain.payments import money
from funnel.domain.robot_runs import RobotRun, RunOutcome
from funnel.runtime.pipelines import Pipelines
from funnel.runtime.settings import Settings
from starter.cli_support import Failure, deal_client, emit, json_option, run_async
from starter.render import print_deal, print_tasks


class LocalTimes:
    """Formats moments in one time zone, named on every time (``2026-12-01 12:00 MSK``)."""

    def __init__(self, zone: ZoneInfo) -> None:
        self.zone = zone

    def __call__(self, moment: datetime | None) -> str:
        if moment is None:
            return "-"
        local = moment.astimezone(self.zone)
        return f"{local:%Y-%m-%d %H:%M} {local.tzname()}"


@click.command("show")
@click.argument("deal_id")
@click.option(
    "--tz",
    "tz_name",
    metavar="ZONE",
    help="IANA time zone of the times shown, e.g. Europe/Berlin (default: the deal's"
    " pipeline calendar.timezone)",
)
@json_option
@run_async
async def deal_show(deal_id: str, tz_name: str | None, as_json: bool) -> None:
    """A deal's stage, its visits with times and move causes, waiting robots, tasks, invoices
    (paid or not), documents, the robot runs with their outcomes, report events."""
    zone = _zone(tz_name) if tz_name else None
    settings = Settings()
    client = await deal_client(settings)
    found = await client.read(deal_id)
    state = found.state
    if as_json:
        emit(as_json, {**state.model_dump(mode="json"), "source": found.source}, lambda: None)
        return
    zone = zone or await _company_zone(client, state, settings)
    print_deal_full(state, client.ui_link(deal_id), zone)
    if found.source == "record":
        click.echo("(read from the deal's record in the store: its workflow is past retention)")


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise Failure(f"--tz {name!r} is not a known IANA time zone, e.g. Europe/Berlin") from exc


async def _company_zone(client: DealClient, state: DealState, settings: Settings) -> ZoneInfo:
    """The calendar time zone of the pipeline the deal is pinned to; its pipeline file's (or
    the default one's) when the deal cannot be asked (a deal read from the closed-deal
    record)."""
    try:
        calendar = (await client.pipeline(state.deal_id)).calendar
    except DealError:
        pipelines = Pipelines.from_settings(settings)
        known = state.pipeline_id in pipelines
        calendar = pipelines.get(state.pipeline_id if known else None).calendar
    return ZoneInfo(calendar.timezone)


def print_deal_full(state: DealState, ui_link: str | None, zone: ZoneInfo) -> None:
    t = LocalTimes(zone)
    print_deal(state, ui_link)
    click.echo(f"  times in {zone.key}")
    # A deal that moved to another funnel: each visit names its pipeline.
    funnels = len({v.pipeline_id or state.pipeline_id for v in state.visits}) > 1
    _section("stages", (_visit(v, t, funnels) for v in state.visits))
    _section("waiting robots", (f"{w.robot_id} at {t(w.due_at)}: {w.title}" for w in state.waiting))
    if state.tasks:
        print_tasks(state.tasks, indent="  ", when=t)
    _section("invoices", (_invoice(i, t) for i in state.invoices))
    _section("documents", (f"{d.name} made {t(d.created)}: {d.path}" for d in state.documents))
    _section("robot runs", (_run(r, t) for r in state.robot_runs))
    click.echo(f"  report events: {len(state.report_events)}")


def _section(heading: str, lines: Iterable[str]) -> None:
    rows = list(lines)
    if rows:
        click.echo(f"  {heading}:")
        for row in rows:
            click.echo(f"    {row}")


def _visit(v: StageVisit, t: LocalTimes, funnels: bool) -> str:
    # Why the deal came in (start, accepted, moved, invoice_paid, tasks_done, moved_to_funnel)
    # and why it left.
    why = f"came by {v.cause}" + (f", left by {v.exit_cause}" if v.exit_cause else "")
    if v.entered_by:  # who moved it here, and how when their request said (an actor)
        why += f"; by {v.entered_by}" + (f" via {v.via.value}" if v.via else "")
    mark = "  BREACHED" if v.breached else ""
    left = t(v.exited_at) if v.exited_at else "not yet"
    stage = f"{v.pipeline_id}/{v.stage}" if funnels and v.pipeline_id else v.stage
    return (
        f"#{v.seq:<2} {stage:<12} in {t(v.entered_at)}  out {left}"
        f"  deadline {t(v.deadline_at)}  ({why}){mark}"
    )


def _invoice(i: InvoiceView, t: LocalTimes) -> str:
    # An unpaid invoice is what a manager chases: say so in words, not by a missing time.
    amount = "-" if i.amount is None else money(i.amount, i.currency)
    if i.cancelled_at:
        status = f"cancelled {t(i.cancelled_at)}" + (
            f", replaced by {i.replaced_by}" if i.replaced_by else ""
        )
    elif i.paid_at:
        status = f"paid {t(i.paid_at)}"
    elif i.payments:
        status = f"PART PAID: {money(i.paid_amount)}, {money(i.outstanding)} outstanding"
    else:
        status = f"UNPAID (issued {t(i.received_at)})"
    replaces = f" (replaces {i.replaces})" if i.replaces else ""
    return f"{i.invoice_id:<16} {amount:>16}  {status}{replaces}"


def _run(r: RobotRun, t: LocalTimes) -> str:
    # The same field holds a failure's error and a skip's reason.
    label = "error" if r.outcome is RunOutcome.FAILED else "why"
    error = f"  {label}: {r.error}" if r.error else ""
    repetition = f"  repetition {r.repetition}" if r.repetition else ""
    line = f"#{r.seq:<2} {r.stage:<12} {r.robot_id:<28} {r.outcome.value:<18} {t(r.at)}"
    return line + repetition + error
