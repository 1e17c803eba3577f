"""Terminal tables for ``funnel report``: aligned columns, durations as 1d 4h."""

from __future__ import annotations

from collections.abc import Sequence

import click

from analytics.models import (
    DisciplineReport,
    FunnelReport,
    ManagersReport,
    Report,
    SpeedReport,
    TrendReport,
)


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    minutes = round(seconds / 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    parts = [f"{days}d" if days else "", f"{hours}h" if hours else "", f"{mins}m" if mins else ""]
    return " ".join(p for p in parts if p) or "0m"


def pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    cells = [[str(c) for c in row] for row in rows]
    widths = [
        max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)
    ]
    line = "  ".join(
        h.ljust(w) if i == 0 else h.rjust(w)
        for i, (h, w) in enumerate(zip(headers, widths, strict=True))
    )
    click.echo(line)
    click.echo("-" * len(line))
    for r in cells:
        click.echo(
            "  ".join(
                c.ljust(w) if i == 0 else c.rjust(w)
                for i, (c, w) in enumerate(zip(r, widths, strict=True))
            )
        )


def print_report(report: Report) -> None:
    match report:
        case FunnelReport():
            click.echo(
                f"Funnel of {report.pipeline}: {report.deals} deals "
                f"({report.won} won, {report.lost} lost, {report.open} open)\n"
            )
            table(
                [
                    "stage",
                    "entered",
                    "moved on",
                    "conv next",
                    "won",
                    "conv won",
                    "lost",
                    "drop-off",
                    "open now",
                ],
                [
                    [
                        s.stage,
                        s.entered,
                        "-" if s.moved_on is None else s.moved_on,
                        pct(s.conversion_next),
                        s.won,
                        pct(s.conversion_won),
                        s.lost,
                        pct(s.drop_off),
                        s.open_now,
                    ]
                    for s in report.stages
                ],
            )
            reasons = [[s.stage, r.reason, r.deals] for s in report.stages for r in s.lost_reasons]
            if reasons:
                click.echo("\nLost, by stage and reason")
                table(["stage", "reason", "deals"], reasons)
        case SpeedReport():
            click.echo(
                f"Time in stage, {report.pipeline}; bottleneck: "
                f"{report.bottleneck or '-'} (longest median working time)\n"
            )
            table(
                [
                    "stage",
                    "visits",
                    "now",
                    "median",
                    "p90",
                    "mean",
                    "work median",
                    "work p90",
                    "work mean",
                ],
                [
                    [
                        s.stage,
                        s.visits,
                        s.in_stage_now,
                        duration(s.calendar.median),
                        duration(s.calendar.p90),
                        duration(s.calendar.mean),
                        duration(s.working.median),
                        duration(s.working.p90),
                        duration(s.working.mean),
                    ]
                    for s in report.stages
                ],
            )
        case DisciplineReport():
            heads = ["breaches", "escalations", "tasks overdue", "tasks late"]
            for title, rows in (
                ("stage", [*report.stages, report.totals]),
                ("manager", report.managers),
            ):
                table(
                    [title, *heads],
                    [
                        [r.key, r.breaches, r.escalations, r.tasks_overdue, r.tasks_late]
                        for r in rows
                    ],
                )
                click.echo("")
            if report.recent_breaches:
                click.echo("Latest breaches")
                table(
                    ["deal", "stage", "at (UTC)", "responsible", "history"],
                    [
                        [b.deal_id, b.stage, f"{b.at:%Y-%m-%d %H:%M}", b.responsible, b.web_ui]
                        for b in report.recent_breaches
                    ],
                )
        case ManagersReport():
            table(
                [
                    "manager",
                    "started",
                    "open",
                    "won",
                    "lost",
                    "win rate",
                    "amount won",
                    "median cycle",
                    "breaches",
                ],
                [
                    [
                        m.responsible,
                        m.deals_started,
                        m.open_now,
                        m.won,
                        m.lost,
                        pct(m.win_rate),
                        f"{m.amount_won:,.2f}",
                        duration(m.median_cycle_seconds),
                        m.breaches,
                    ]
                    for m in report.managers
                ],
            )
        case TrendReport():
            table(
                [
                    report.by,
                    "started",
                    "open",
                    "won",
                    "lost",
                    "win rate",
                    "amount won",
                    "median cycle",
                    "breaches",
                ],
                [
                    [
                        p.period,
                        p.deals_started,
                        p.open_now,
                        p.won,
                        p.lost,
                        pct(p.win_rate),
                        f"{p.amount_won:,.2f}",
                        duration(p.median_cycle_seconds),
                        p.breaches,
                    ]
                    for p in report.periods
                ],
            )
