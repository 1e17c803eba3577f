"""The deal's timeline: everything that happened to it, newest first, each with who did it
(a person, or the deal itself) and when.

It is read from the deal's state (stage visits, tasks' events, comments, invoices and their
payments), from Temporal's record of every activity run (DealClient.robot_runs: each robot
with its result, attempts and error), and from the store's report rows (edits with what
changed, escalations, overdue tasks), which outlive the workflow.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any
from urllib.parse import quote

from funnel.domain.activity_io import ActivityName
from funnel.domain.models import DealState, TaskAction
from funnel.domain.people import Via
from funnel.domain.pipeline import Pipeline
from funnel.domain.robot_runs import ActivityRun, RunOutcome
from funnel.storage.deliveries import Document
from funnel.storage.records import ReportEvent
from web.i18n import Language, text

# Report rows the timeline shows; the others repeat what the state already tells.
_REPORTED = {"deal_edited": "edit", "deadline_breached": "escalation", "task_overdue": "overdue"}


@dataclass(frozen=True)
class Entry:
    at: datetime
    kind: str  # stage, robot, escalation, overdue, edit, invoice, payment, document, comment, task
    subject: str = ""  # the stage, robot, task, invoice or document it is about
    who: str | None = None  # an employee id; None: the deal itself (a robot, a trigger)
    via: Via | None = None  # how: web, api, cli, webhook, trigger
    note: str | None = None  # what a person wrote, what an edit changed, an error
    detail: str | None = None  # stage: the cause; task: the action; robot: its result
    amount: Decimal | None = None
    currency: str | None = None
    attempts: int = 1
    links: tuple[tuple[str, str], ...] = ()  # (text key, URL)


def document_urls(deal_id: str, key: str) -> tuple[str, str]:
    """The API's own URLs of a document's HTML and PDF (api/documents.py), which check who
    may read it."""
    base = f"/deals/{quote(deal_id, safe='')}/documents/{quote(key, safe='')}"
    return f"{base}/html", f"{base}/pdf"


def stage_name(pipeline: Pipeline | None, stage_id: str, language: Language) -> str:
    """The stage's name in the viewer's language (the pipeline's ``names``)."""
    if pipeline is not None and pipeline.has_stage(stage_id):
        return pipeline.stage(stage_id).name_in(language)
    return stage_id


def robot_title(
    pipeline: Pipeline | None, stage_id: str, robot_id: str, language: Language
) -> str | None:
    if pipeline is None or not pipeline.has_stage(stage_id):
        return None
    stage = pipeline.stage(stage_id)
    robots = [*stage.robots, *(stage.deadline.escalate if stage.deadline else [])]
    return next((r.title_in(language) for r in robots if r.id == robot_id), None)


def _via(value: Any) -> Via | None:
    try:
        return Via(value)
    except ValueError:
        return None  # a report row written without one


def _plain(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k}: {_plain(v)}" for k, v in value.items() if v is not None)
    if isinstance(value, list):
        return ", ".join(_plain(v) for v in value)
    return "" if value is None else str(value)


def _changes(details: dict[str, Any]) -> str:
    changes = details.get("changes") or {}
    lines = [f"{name}: {_plain(old)} → {_plain(new)}" for name, (old, new) in changes.items()]
    if details.get("reason"):
        lines.append(str(details["reason"]))
    return "; ".join(lines)


# The deal's own writes to the store, not robots: they are in the Temporal Web UI's history.
_BOOKKEEPING = {
    ActivityName.REGISTER_DEAL,
    ActivityName.RECORD_TRANSITION,
    ActivityName.RECORD_INVOICE_PAID,
    ActivityName.RECORD_TASK_STATUS,
    ActivityName.DUE_TIMES,
    ActivityName.RECORD_BREACH,
    ActivityName.RECORD_DEAL_EDIT,
}


def _robot_of(run: ActivityRun, deal_id: str) -> tuple[int, str] | None:
    """The stage visit and robot id of a robot's run: a robot's activity with the key
    deal:seq:robot (a task's notices and an edit's effects have longer keys)."""
    if run.activity in _BOOKKEEPING or not (run.key or "").startswith(f"{deal_id}:"):
        return None
    seq, _, robot = (run.key or "").removeprefix(f"{deal_id}:").partition(":")
    if not seq.isdigit() or not robot or ":" in robot:
        return None
    return int(seq), robot


def _run_title(
    run: ActivityRun, state: DealState, pipeline: Pipeline | None, language: Language
) -> str:
    """The robot's title in the viewer's language; the deal's own steps (the acceptance's
    report row) by their text; Temporal's summary (in English) for anything else."""
    robot = _robot_of(run, state.deal_id)
    stages = {visit.seq: visit.stage for visit in state.visits}
    if robot is not None and robot[0] in stages:
        title = robot_title(pipeline, stages[robot[0]], robot[1], language)
        if title is not None:
            return title
        key = f"deal_run_{robot[1]}"
        if text(key, language) != key:
            return text(key, language)
    return run.summary or run.activity


def _robots(
    state: DealState, pipeline: Pipeline | None, runs: list[ActivityRun], language: Language
) -> list[Entry]:
    """Every robot's run as Temporal recorded it (and any other activity that failed or
    still runs), and the robots that ran no activity (skipped by their condition,
    cancelled by a move, compensated, ...)."""
    entries = [
        Entry(
            at=run.finished_at or run.scheduled_at,
            kind="robot",
            subject=_run_title(run, state, pipeline, language),
            detail=run.result,
            note=run.error,
            attempts=run.attempts,
        )
        for run in runs
        if _robot_of(run, state.deal_id) is not None or run.result != "completed"
    ]
    ran = {run.key for run in runs if run.key}
    for robot in state.robot_runs:
        if f"{state.deal_id}:{robot.seq}:{robot.robot_id}" in ran:
            continue
        entries.append(
            Entry(
                at=robot.at,
                kind="robot",
                subject=robot_title(pipeline, robot.stage, robot.robot_id, language)
                or robot.robot_id,
                detail="completed" if robot.outcome is RunOutcome.DONE else robot.outcome.value,
                note=robot.error,
            )
        )
    return entries


def _people(state: DealState, pipeline: Pipeline | None, language: Language) -> list[Entry]:
    """Stage entries, task events and comments: what people (and triggers) did."""
    entries: list[Entry] = []
    for visit in state.visits:
        entries.append(
            Entry(
                at=visit.entered_at,
                kind="stage",
                subject=stage_name(pipeline, visit.stage, language),
                who=visit.entered_by,
                via=visit.via,
                detail=visit.cause,
            )
        )
    for task in state.tasks:
        said: dict[tuple[TaskAction | None, datetime], str] = {
            (c.action, c.at): c.text for c in task.comments if c.action is not None
        }
        for event in task.events:
            entries.append(
                Entry(
                    at=event.at,
                    kind="task",
                    subject=task.title,
                    who=event.by,
                    via=event.via,
                    detail=event.action.value if event.action else None,
                    note=said.get((event.action, event.at)),
                )
            )
    titles = {t.task_id: t.title for t in state.tasks}
    for comment in state.comments:
        entries.append(
            Entry(
                at=comment.at,
                kind="comment",
                subject=titles.get(comment.task_id or "", ""),
                who=comment.by,
                via=comment.via,
                note=comment.text,
            )
        )
    return entries


def _money(state: DealState, documents: list[Document]) -> list[Entry]:
    """Invoices issued and cancelled, payments received, documents rendered."""
    entries: list[Entry] = []
    for invoice in state.invoices:
        currency = invoice.currency or state.deal.currency
        entries.append(
            Entry(
                at=invoice.received_at,
                kind="invoice",
                subject=invoice.invoice_id,
                amount=invoice.amount,
                currency=currency,
            )
        )
        if invoice.cancelled_at is not None:
            entries.append(
                Entry(at=invoice.cancelled_at, kind="invoice_cancelled", subject=invoice.invoice_id)
            )
        for payment in invoice.payments:
            entries.append(
                Entry(
                    at=payment.received_at,
                    kind="payment",
                    subject=invoice.invoice_id,
                    who=payment.by,
                    via=payment.via,
                    amount=payment.amount,
                    currency=payment.currency or currency,
                )
            )
    for document in documents:
        entries.append(
            Entry(
                at=document.created_at,
                kind="document",
                subject=document.name,
                links=tuple(
                    zip(
                        ("deal_document_html", "deal_document_pdf"),
                        document_urls(state.deal_id, document.key),
                        strict=True,
                    )
                ),
            )
        )
    return entries


def _reported(
    events: list[ReportEvent], pipeline: Pipeline | None, language: Language
) -> list[Entry]:
    entries: list[Entry] = []
    for event in events:
        kind = _REPORTED.get(event.kind)
        if kind is None:
            continue
        details = event.details
        who = details.get("by") or event.actor
        entries.append(
            Entry(
                at=event.at,
                kind=kind,
                subject=stage_name(pipeline, event.stage, language),
                who=who if isinstance(who, str) else None,
                via=_via(details.get("via")),
                note=_changes(details) if kind == "edit" else None,
            )
        )
    return entries


def timeline(
    state: DealState,
    pipeline: Pipeline | None,
    runs: list[ActivityRun],
    reported: list[ReportEvent],
    documents: list[Document],
    language: Language,
) -> list[Entry]:
    entries = [
        *_people(state, pipeline, language),
        *_robots(state, pipeline, runs, language),
        *_money(state, documents),
        *_reported(reported, pipeline, language),
    ]
    return sorted(entries, key=lambda e: e.at, reverse=True)
