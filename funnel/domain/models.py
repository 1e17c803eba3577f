"""The deal, the messages a deal workflow takes, and the state it reports.

Every workflow input, signal, update and query has one pydantic model here, so that API
clients, the CLI and the workflow agree on one shape (the pydantic data converter carries
them through Temporal as JSON).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

# Kept importable from here: the invoices were part of this module.
from funnel.domain.invoices import InvoicePaid as InvoicePaid
from funnel.domain.invoices import InvoiceView as InvoiceView
from funnel.domain.invoices import PaymentView as PaymentView
from funnel.domain.people import Actor, ActorKind, Via
from funnel.domain.pipeline import Pipeline
from funnel.domain.repeats import Repetition
from funnel.domain.robot_rules import OnLeave, Timing
from funnel.domain.robot_runs import RobotRun, RunOutcome
from funnel.domain.text import FreeText, OneLine

DEAL_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
FieldValue = FreeText | int | float | bool | None


class Contact(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: OneLine = Field(min_length=1)
    company: OneLine | None = None
    phone: OneLine | None = None
    email: OneLine | None = None


class DealInput(BaseModel):
    """What a client gives to start a deal."""

    model_config = ConfigDict(extra="forbid")

    deal_id: str = Field(pattern=DEAL_ID_PATTERN)
    contact: Contact
    responsible: OneLine = Field(min_length=1, description="employee id of the sales manager")
    department_head: OneLine = Field(min_length=1, description="employee id of the manager's head")
    sales_team: list[OneLine] = Field(default_factory=list, description="co-executors")
    service: OneLine = Field(min_length=1, description="the service sold")
    amount: Decimal = Field(ge=0)
    currency: str = Field(default="RUB", pattern=r"^[A-Z]{3}$")
    fields: dict[str, FieldValue] = Field(default_factory=dict, description="custom fields")


def workflow_id_for(deal_id: str) -> str:
    return f"deal-{deal_id}"


class DealWorkflowInput(BaseModel):
    """The deal plus the pipeline pinned for its whole life (a running deal keeps its
    funnel version; a new deal gets the pipeline file as it is when it starts)."""

    deal: DealInput
    pipeline: Pipeline
    state: DealState | None = Field(
        default=None, description="carried over by continue-as-new; None for a new deal"
    )
    history_limit: int | None = Field(
        default=None, description="continue-as-new past this many history events (tests)"
    )
    started_by: Actor | None = Field(
        default=None, description="who started the deal, as authenticated (None: the CLI)"
    )


# --- messages -------------------------------------------------------------------------

# Every change message: who sends it as authenticated by the caller (API session or token,
# CLI --as). With an actor the deal checks what they may do and ignores a ``by`` equal to
# the actor's id (refusing one that differs); without one (older callers) ``by`` is kept.
_ACTOR = "the authenticated caller; set by the API or the CLI, never by a request body"


class AcceptInput(BaseModel):
    model_config = ConfigDict(extra="forbid")
    by: OneLine | None = None
    actor: Actor | None = Field(default=None, description=_ACTOR)


class MoveInput(BaseModel):
    model_config = ConfigDict(extra="forbid")
    stage: OneLine
    reason: FreeText | None = None
    by: OneLine | None = None
    actor: Actor | None = Field(default=None, description=_ACTOR)


class TaskCompleted(BaseModel):
    model_config = ConfigDict(extra="forbid")
    task_id: OneLine = Field(min_length=1)
    by: OneLine | None = None
    actor: Actor | None = Field(default=None, description=_ACTOR)


class TaskAction(StrEnum):
    COMPLETE = "complete"  # the executor reports the work done
    CONFIRM = "confirm"  # the creator accepts a task that needs confirmation
    RETURN = "return"  # the creator sends it back to the executor


class TaskEvent(BaseModel):
    model_config = ConfigDict(extra="forbid")
    task_id: OneLine = Field(min_length=1)
    action: TaskAction
    by: OneLine | None = None
    comment: FreeText | None = None
    actor: Actor | None = Field(default=None, description=_ACTOR)


class RunTemplateInput(BaseModel):
    model_config = ConfigDict(extra="forbid")
    by: OneLine | None = None
    actor: Actor | None = Field(default=None, description=_ACTOR)


class Outcome(StrEnum):
    WON = "won"
    LOST = "lost"


class CloseInput(BaseModel):
    model_config = ConfigDict(extra="forbid")
    outcome: Outcome
    reason: FreeText | None = None
    by: OneLine | None = None
    actor: Actor | None = Field(default=None, description=_ACTOR)


# --- state ----------------------------------------------------------------------------


class DealStatus(StrEnum):
    OPEN = "open"
    WON = "won"
    LOST = "lost"


class StageVisit(BaseModel):
    """One stay of the deal in one stage; ``seq`` numbers the entries of this deal."""

    seq: int
    stage: str
    entered_at: datetime
    exited_at: datetime | None = None
    cause: str
    exit_cause: str | None = None
    deadline_at: datetime | None = None
    breached: bool = False
    entered_by: str | None = None  # who moved the deal here (None: the deal itself, start)
    via: Via | None = None  # how (None: a request without an actor, or recorded before)
    entered_by_kind: ActorKind | None = None  # a person or a service (None: as for via)
    pipeline_id: str | None = None  # the pipeline of the stage (None: recorded before)


class WaitingRobot(BaseModel):
    """A robot, deadline or task deadline waiting on a durable timer (query ``plan``)."""

    key: str
    kind: Literal["robot", "deadline", "task_deadline"] = "robot"
    seq: int
    stage: str
    robot_id: str
    title: str
    due_at: datetime
    rule: str = Field(description="the rule that set the due time, in words")
    base: datetime
    timing: Timing
    on_leave: OnLeave = OnLeave.CANCEL
    repetition: Repetition | None = Field(
        default=None, description="a repeating robot's next run: 2 of 5"
    )


class TaskStatus(StrEnum):
    OPEN = "open"
    AWAITING_CONFIRMATION = "awaiting_confirmation"
    DONE = "done"
    CANCELLED = "cancelled"  # closed by a robot's compensation when the deal left the stage

    @property
    def closed(self) -> bool:
        """Done or cancelled: nothing more is expected of the task."""
        return self in (TaskStatus.DONE, TaskStatus.CANCELLED)


class UpdateFieldsInput(BaseModel):
    """New values of custom fields (and ``amount``); timers anchored on them follow."""

    model_config = ConfigDict(extra="forbid")
    fields: dict[str, FieldValue] = Field(min_length=1)
    by: OneLine | None = None
    actor: Actor | None = Field(default=None, description=_ACTOR)


class MigrateInput(BaseModel):
    model_config = ConfigDict(extra="forbid")
    pipeline: Pipeline
    by: str | None = None


class TaskComment(BaseModel):
    """A task event: who did it, how and when, and what they said (why it was returned);
    a plain comment on the task (the ``comment`` update) has no action."""

    action: TaskAction | None = None
    by: str | None = None
    at: datetime
    text: str = ""
    via: Via | None = None  # how the event came (None: without an actor, or before)
    by_kind: ActorKind | None = None  # a person or a service (None: as for via)


class DealComment(BaseModel):
    """A comment a person wrote on the deal, or on one of its tasks (``task_id``)."""

    text: str
    by: str
    at: datetime
    via: Via | None = None
    task_id: str | None = None


class TaskView(BaseModel):
    task_id: str
    key: str
    seq: int
    stage: str
    title: str
    responsible: str
    co_executors: list[str] = Field(default_factory=list)
    created_by: str
    needs_confirmation: bool = False
    deadline_at: datetime | None = None
    status: TaskStatus = TaskStatus.OPEN
    overdue: bool = False
    returned: int = Field(default=0, description="times the creator sent it back")
    comments: list[TaskComment] = Field(default_factory=list)
    events: list[TaskComment] = Field(
        default_factory=list, description="who completed, confirmed or returned it, how, when"
    )


class ReportEventView(BaseModel):
    key: str
    kind: str
    stage: str
    at: datetime


class PipelineMigration(BaseModel):
    from_version: str
    to_version: str
    at: datetime
    by: str | None = None


class DocumentView(BaseModel):
    """A document rendered for the deal (commercial proposal, contract)."""

    name: str
    path: str  # the HTML file under FUNNEL_HOME/documents
    sha256: str
    created: datetime
    # A PDF file the robot made, for documents made before PDFs were made on the first
    # download (GET /deals/{id}/documents/{key}/pdf); None since.
    pdf_path: str | None = None
    key: str | None = None  # the document's key in the API (None: rendered before it was)


class DealState(BaseModel):
    """Everything the workflow knows, in one serialisable structure (query ``state``)."""

    deal_id: str
    deal: DealInput
    pipeline_id: str
    pipeline_version: str
    title: str
    stage: str
    status: DealStatus = DealStatus.OPEN
    lost_reason: str | None = None
    accepted_at: datetime | None = None
    breached: bool = False
    breach_count: int = 0
    visits: list[StageVisit] = Field(default_factory=list)
    waiting: list[WaitingRobot] = Field(default_factory=list)
    tasks: list[TaskView] = Field(default_factory=list)
    invoices: list[InvoiceView] = Field(default_factory=list)
    report_events: list[ReportEventView] = Field(default_factory=list)
    robot_runs: list[RobotRun] = Field(default_factory=list)
    documents: list[DocumentView] = Field(default_factory=list)
    migrations: list[PipelineMigration] = Field(default_factory=list)
    template_run_in_seq: int | None = None
    waiting_tasks: list[str] = Field(
        default_factory=list, description="template tasks waiting for the tasks they depend on"
    )
    runs: int = Field(default=1, description="workflow runs so far (continue-as-new)")
    comments: list[DealComment] = Field(default_factory=list)
    edits: int = Field(default=0, description="edits applied (numbers their effects' keys)")

    @classmethod
    def opening(cls, deal: DealInput, pipeline: Pipeline) -> DealState:
        """The state a new deal starts its workflow with: its first stage, a provisional
        title, nothing done yet. The workflow begins from it, and a caller that has just
        started the deal answers with it without asking the workflow."""
        return cls(
            deal_id=deal.deal_id,
            deal=deal,
            pipeline_id=pipeline.id,
            pipeline_version=pipeline.version,
            title=f"Deal {deal.deal_id}",
            stage=pipeline.first_stage.id,
        )

    @property
    def seq(self) -> int:
        return self.visits[-1].seq if self.visits else 0

    def task(self, task_id: str) -> TaskView | None:
        return next((t for t in self.tasks if t.task_id == task_id), None)

    def invoice(self, invoice_id: str) -> InvoiceView | None:
        return next((i for i in self.invoices if i.invoice_id == invoice_id), None)

    def keep_document(self, document: DocumentView) -> None:
        """Add a rendered document, unless a retried or repeated robot brought it again."""
        if all(d.path != document.path for d in self.documents):
            self.documents.append(document)

    def waiting_entry(self, key: str) -> WaitingRobot | None:
        return next((w for w in self.waiting if w.key == key), None)

    def next_repetition(self, seq: int, robot_id: str) -> Repetition | None:
        """The repetition a repeating robot that already ran waits for (2 of 5 and on)."""
        for w in self.waiting:
            if w.seq == seq and w.robot_id == robot_id and w.repetition and w.repetition.number > 1:
                return w.repetition
        return None

    def ran(self, seq: int, robot_id: str) -> bool:
        return any(r.seq == seq and r.robot_id == robot_id for r in self.robot_runs)

    @property
    def failures(self) -> list[RobotRun]:
        return [r for r in self.robot_runs if r.outcome is RunOutcome.FAILED]


class DealSnapshot(BaseModel):
    """What a move, close or field change answers: where the deal is now and the tasks of
    the stage it is in. An update's result is written into the deal's history, where the
    whole DealState would grow with every visit, task and report event; the whole state is
    the ``state`` query."""

    deal_id: str
    stage: str
    seq: int
    status: DealStatus
    title: str
    breached: bool
    tasks: list[TaskView] = Field(description="the tasks of the current stage visit")

    @classmethod
    def of(cls, state: DealState) -> DealSnapshot:
        return cls(
            deal_id=state.deal_id,
            stage=state.stage,
            seq=state.seq,
            status=state.status,
            title=state.title,
            breached=state.breached,
            tasks=[t for t in state.tasks if t.seq == state.seq],
        )


class DealResult(BaseModel):
    deal_id: str
    status: DealStatus
    stage: str
    lost_reason: str | None = None


MoveCause = Literal[
    "start", "accepted", "moved", "invoice_paid", "tasks_done", "closed", "moved_to_funnel"
]


DealWorkflowInput.model_rebuild()
