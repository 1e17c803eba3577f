"""What the deal card shows, built from what was read (web/deal_card.py): the stage path
with the time of each visit, the plan, the tasks, invoices and documents, the timeline,
the people's names and the choices of the edit form."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from funnel.client.listing import Source
from funnel.domain.invoices import InvoiceView
from funnel.domain.models import DealState, DealStatus, FieldValue, TaskView, WaitingRobot
from funnel.domain.people import Role
from funnel.domain.pipeline import Pipeline, Semantics
from funnel.domain.robot_runs import ActivityRun
from funnel.storage.deliveries import Document
from funnel.storage.directory import Directory
from funnel.storage.records import ReportEvent
from web.deal_permissions import DealPermissions, permissions
from web.deal_rules import rule_words
from web.deal_timeline import Entry, document_urls, robot_title, stage_name, timeline
from web.i18n import Language
from web.viewer import Viewer


@dataclass(frozen=True)
class Visit:
    """One step of the stage path: a stay in a stage and how long it lasted (so far)."""

    seq: int
    stage: str
    name: str
    entered_at: datetime
    spent: timedelta | None  # None: the won/lost stage, where time no longer counts
    current: bool
    breached: bool


@dataclass(frozen=True)
class Planned:
    """A waiting robot, deadline or task deadline, and the rule that set its due time."""

    key: str
    kind: str
    title: str
    stage: str
    due_at: datetime
    rule: str
    late: bool  # due already (the deal is catching up, or the worker is down)


@dataclass(frozen=True)
class Choice:
    id: str
    name: str
    first: bool = False  # chosen to begin with (the stage after the deal's)


@dataclass(frozen=True)
class CustomField:
    name: str
    kind: str  # the pipeline's field type: string, number, bool, date, datetime
    value: str


@dataclass(frozen=True)
class DocumentLink:
    name: str
    created_at: datetime
    html: str
    pdf: str


@dataclass(frozen=True)
class Read:
    """Everything the card reads about one deal."""

    state: DealState
    source: Source
    pipeline: Pipeline | None
    runs: list[ActivityRun]
    plan: list[WaitingRobot]  # waiting robots, deadlines and open tasks' deadlines
    reported: list[ReportEvent]
    documents: list[Document]
    ui_link: str | None


@dataclass(frozen=True)
class DealCard:
    state: DealState
    source: Source
    ui_link: str | None
    stage_name: str
    path: list[Visit]
    plan: list[Planned]
    tasks: list[TaskView]
    invoices: list[InvoiceView]
    documents: list[DocumentLink]
    timeline: list[Entry]
    may: DealPermissions
    names: dict[str, str]
    move_to: list[Choice]
    employees: list[Choice]
    heads: list[Choice]
    fields: list[CustomField]
    moves_on: list[str]  # the events that move the deal out of its stage by itself

    def name(self, employee: str | None) -> str:
        return self.names.get(employee or "", employee or "")

    def names_of(self, employees: list[str]) -> str:
        return ", ".join(self.name(e) for e in employees)

    @property
    def closed(self) -> bool:
        return self.state.status is not DealStatus.OPEN


def _path(
    state: DealState, pipeline: Pipeline | None, now: datetime, language: Language
) -> list[Visit]:
    last = state.visits[-1].seq if state.visits else None
    steps: list[Visit] = []
    for visit in state.visits:
        ended = visit.exited_at or now
        terminal = visit.exited_at is None and state.status is not DealStatus.OPEN
        # A stage of a funnel the deal moved from: named by its id and that funnel's.
        elsewhere = visit.pipeline_id not in (None, state.pipeline_id)
        name = f"{visit.stage} ({visit.pipeline_id})" if elsewhere else None
        steps.append(
            Visit(
                seq=visit.seq,
                stage=visit.stage,
                name=name or stage_name(pipeline, visit.stage, language),
                entered_at=visit.entered_at,
                spent=None if terminal else ended - visit.entered_at,
                current=visit.seq == last,
                breached=visit.breached,
            )
        )
    return steps


def _planned_title(
    entry: WaitingRobot, state: DealState, pipeline: Pipeline | None, language: Language
) -> str:
    """A robot's title; a deadline's stage; a task deadline's task."""
    if entry.kind == "deadline":
        return stage_name(pipeline, entry.stage, language)
    task = state.task(entry.robot_id) if entry.kind == "task_deadline" else None
    if task is not None:
        return task.title
    return robot_title(pipeline, entry.stage, entry.robot_id, language) or entry.title


def _plan(read: Read, viewer: Viewer, now: datetime) -> list[Planned]:
    state, pipeline = read.state, read.pipeline
    return [
        Planned(
            key=w.key,
            kind=w.kind,
            title=_planned_title(w, state, pipeline, viewer.language),
            stage=stage_name(pipeline, w.stage, viewer.language),
            due_at=w.due_at,
            rule=rule_words(w, state.deal, viewer.language, viewer.timezone),
            late=w.due_at <= now,
        )
        for w in sorted(read.plan, key=lambda w: w.due_at)
    ]


def _tasks(state: DealState) -> list[TaskView]:
    """Open and awaiting tasks first, newest stage visit first."""
    return sorted(state.tasks, key=lambda t: (t.status.closed, -t.seq, t.task_id))


def _move_to(state: DealState, pipeline: Pipeline | None, language: Language) -> list[Choice]:
    """The stages a person may move the deal to, the next one chosen to begin with (a deal
    mostly moves forward)."""
    if pipeline is None:
        return []
    stages = [s for s in pipeline.stages if s.semantics is Semantics.PROCESS]
    ids = [s.id for s in stages]
    after = ids.index(state.stage) + 1 if state.stage in ids else len(ids)
    following = ids[after] if after < len(ids) else None
    return [
        Choice(s.id, s.name_in(language), first=s.id == following)
        for s in stages
        if s.id != state.stage
    ]


def _moves_on(state: DealState, pipeline: Pipeline | None) -> list[str]:
    """The current stage's triggers (its invoice paid, its tasks done): after such a change
    the card waits to show the deal in its next stage."""
    if state.status is not DealStatus.OPEN or pipeline is None:
        return []
    if not pipeline.has_stage(state.stage):
        return []
    return [trigger.event.value for trigger in pipeline.stage(state.stage).triggers]


def _field_text(value: FieldValue) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _fields(state: DealState, pipeline: Pipeline | None) -> list[CustomField]:
    declared = dict(pipeline.fields) if pipeline is not None else {}
    names = [*declared, *(n for n in state.deal.fields if n not in declared)]
    return [
        CustomField(
            n,
            declared[n].value if n in declared else "string",
            _field_text(state.deal.fields.get(n)),
        )
        for n in names
    ]


def build_card(read: Read, viewer: Viewer, directory: Directory) -> DealCard:
    state, pipeline = read.state, read.pipeline
    now = datetime.now(UTC)
    people = sorted(directory, key=lambda e: e.name)
    return DealCard(
        state=state,
        source=read.source,
        ui_link=read.ui_link,
        stage_name=stage_name(pipeline, state.stage, viewer.language),
        path=_path(state, pipeline, now, viewer.language),
        plan=_plan(read, viewer, now),
        tasks=_tasks(state),
        invoices=sorted(state.invoices, key=lambda i: i.received_at, reverse=True),
        documents=[
            DocumentLink(d.name, d.created_at, *document_urls(state.deal_id, d.key))
            for d in read.documents
        ],
        timeline=timeline(
            state, pipeline, read.runs, read.reported, read.documents, viewer.language
        ),
        may=permissions(viewer, state, pipeline),
        names={e.id: e.name for e in people},
        move_to=_move_to(state, pipeline, viewer.language),
        employees=[Choice(e.id, e.name) for e in people],
        heads=[Choice(e.id, e.name) for e in people if e.role in (Role.HEAD, Role.ADMIN)],
        fields=_fields(state, pipeline),
        moves_on=_moves_on(state, pipeline),
    )
