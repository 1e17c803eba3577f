"""The pipeline schema: stages, their robots, deadlines and triggers, as pydantic models.

A pipeline is data (``pipelines/pusk.yaml``), loaded by :mod:`funnel.runtime.pipeline_loader` and
pinned inside each deal workflow when the deal starts. This module stays free of heavy
imports because the workflow sandbox imports it.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from funnel.domain.calendar_spec import CalendarSpec
from funnel.domain.channels import Channel
from funnel.domain.durations import Duration
from funnel.domain.repeats import Repeat, repeat_problems
from funnel.domain.robot_rules import (
    Condition,
    Direction,
    OnLeave,
    OnReentry,
    OnSkip,
    Start,
    Timing,
)

ID_PATTERN = r"^[a-z][a-z0-9_]*$"

# People are addressed by role or by employee id. Roles resolve against the deal.
ROLE_RESPONSIBLE = "responsible"
ROLE_HEAD = "head"
ROLE_SALES_TEAM = "sales_team"
ROLES = (ROLE_RESPONSIBLE, ROLE_HEAD, ROLE_SALES_TEAM)

# A name in the languages of the people who read it (the workspace shows a Russian board to
# Russian-speaking employees): language code -> text; the plain name is the fallback.
Translations = dict[str, str]
_TRANSLATIONS = "the same in other languages, e.g. {ru: ...}; the workspace shows each person's"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RobotBase(Timing):
    """What every robot has: identity, timing (from :class:`Timing`), a condition checked
    when it is due, and its policies (defaults as in Bitrix24)."""

    id: str = Field(pattern=ID_PATTERN, description="unique within the stage")
    title: str = Field(min_length=1, description="plain-language summary shown in the Web UI")
    titles: Translations = Field(default_factory=dict, description=_TRANSLATIONS)
    start: Start = Start.AFTER_PREVIOUS
    condition: Condition | None = None
    on_reentry: OnReentry = OnReentry.EVERY_ENTRY
    on_leave: OnLeave = OnLeave.CANCEL
    on_skip: OnSkip = OnSkip.IGNORE
    repeat: Repeat | None = Field(
        default=None, description="run again every so much working time until something happens"
    )

    def title_in(self, language: str) -> str:
        return self.titles.get(language) or self.title


class SetTitleRobot(RobotBase):
    """Give the deal a title rendered from a jinja2 template (also used to rename it)."""

    type: Literal["set_title"]
    template: str = Field(min_length=1)


class NotifyRobot(RobotBase):
    type: Literal["notify"]
    to: list[str] = Field(min_length=1, description="roles or employee ids")
    message: str = Field(min_length=1, description="jinja2 template")
    channels: list[Channel] | None = Field(
        default=None, description="override each person's channels from the directory"
    )


class CreateTaskRobot(RobotBase):
    type: Literal["create_task"]
    task_title: str = Field(min_length=1, description="jinja2 template")
    description: str = Field(default="", description="jinja2 template")
    deadline: Duration | None = None
    responsible: str = ROLE_RESPONSIBLE
    co_executors: list[str] = Field(default_factory=list)
    created_by: str = ROLE_RESPONSIBLE
    needs_confirmation: bool = Field(
        default=False, description="closing needs the creator's confirmation"
    )


class ReportEventRobot(RobotBase):
    type: Literal["report_event"]
    kind: str = Field(pattern=ID_PATTERN)
    details: str = Field(default="", description="jinja2 template")


class CreateInvoiceRobot(RobotBase):
    """Issue an invoice for the deal amount; its id is ``<deal id>-<stage entry number>``."""

    type: Literal["create_invoice"]


class RenderDocumentRobot(RobotBase):
    """Render a document (commercial proposal, contract) from templates/documents/ and keep
    it with the deal."""

    type: Literal["render_document"]
    template: str = Field(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$", description="file name")
    document_name: str = Field(min_length=1)


INVOICE_SUBJECT = "Счёт № {{ invoice.number }} от {{ invoice.short_date }}"
INVOICE_MESSAGE = """Здравствуйте, {{ contact.name }}!

Направляем счёт № {{ invoice.number }} от {{ invoice.date }} на сумму \
{{ invoice.amount_figures }} {{ invoice.currency }} ({{ invoice.amount_words }}).
{% if invoice.replaces %}Он заменяет счёт № {{ invoice.replaces }}, который аннулирован.
{% endif %}{% if invoice.payment_url %}
Оплатить онлайн: {{ invoice.payment_url }}
{% endif %}
Счёт во вложении (PDF и HTML).

{{ company.name }}"""


class SendInvoiceRobot(RobotBase):
    """Render the deal's open invoice from templates/documents/ with the company's
    requisites and e-mail it to the deal's contact with a payment link. Once per invoice:
    coming back to the stage with the same invoice sends nothing again."""

    type: Literal["send_invoice"]
    template: str = Field(
        default="invoice.html.j2", pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$", description="file"
    )
    document_name: str = Field(default="Счёт на оплату", min_length=1)
    subject: str = Field(default=INVOICE_SUBJECT, min_length=1, description="jinja2 template")
    message: str = Field(default=INVOICE_MESSAGE, min_length=1, description="jinja2 template")


class CompleteDealRobot(RobotBase):
    """Close the deal record as won or lost (the outcome follows the stage's semantics)."""

    type: Literal["complete_deal"]


Robot = Annotated[
    SetTitleRobot
    | NotifyRobot
    | CreateTaskRobot
    | ReportEventRobot
    | CreateInvoiceRobot
    | CompleteDealRobot
    | RenderDocumentRobot
    | SendInvoiceRobot,
    Field(discriminator="type"),
]


class Deadline(_Strict):
    after: Duration
    relative_to: str | None = Field(
        default=None, description="count `after` before/after this date field, not the entry"
    )
    direction: Direction = Direction.AFTER
    escalate: list[Robot] = Field(
        default_factory=list, description="robots run when the deadline passes in the stage"
    )

    @property
    def timing(self) -> Timing:
        return Timing(delay=self.after, relative_to=self.relative_to, direction=self.direction)


class TriggerEvent(StrEnum):
    ACCEPTED = "accepted"  # update `accept`: the responsible took the deal into work
    INVOICE_PAID = "invoice_paid"  # signal `invoice_paid`, also when it came earlier
    TASKS_DONE = "tasks_done"  # every task created in this stage visit is done


class Trigger(_Strict):
    event: TriggerEvent
    to: str = Field(pattern=ID_PATTERN)
    condition: Condition | None = None
    allow_back: bool = Field(
        default=False, description="may move the deal to an earlier stage (Bitrix24: no)"
    )


class TaskTemplate(_Strict):
    id: str = Field(pattern=ID_PATTERN)
    title: str = Field(min_length=1, description="jinja2 template")
    description: str = ""
    deadline: Duration | None = None
    responsible: str = ROLE_RESPONSIBLE
    co_executors: list[str] = Field(default_factory=list)
    depends_on: list[str] = Field(
        default_factory=list,
        description="tasks of the same set that must be done first; this one is created then,"
        " its deadline counted from that moment",
    )


class Semantics(StrEnum):
    PROCESS = "process"
    SUCCESS = "success"
    FAILURE = "failure"


class Stage(_Strict):
    id: str = Field(pattern=ID_PATTERN)
    name: str = Field(min_length=1)
    names: Translations = Field(default_factory=dict, description=_TRANSLATIONS)
    semantics: Semantics = Semantics.PROCESS
    robots: list[Robot] = Field(default_factory=list)
    deadline: Deadline | None = None
    triggers: list[Trigger] = Field(default_factory=list)
    task_sets: dict[str, list[TaskTemplate]] = Field(
        default_factory=dict,
        description="service sold -> tasks that `run_template` creates by hand in this stage",
    )

    @property
    def terminal(self) -> bool:
        return self.semantics is not Semantics.PROCESS

    def name_in(self, language: str) -> str:
        return self.names.get(language) or self.name

    def trigger(self, event: TriggerEvent) -> Trigger | None:
        return next((t for t in self.triggers if t.event is event), None)

    @model_validator(mode="after")
    def _check(self) -> Stage:
        ids = [r.id for r in self.robots]
        if self.deadline is not None:
            ids += [r.id for r in self.deadline.escalate]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"robot ids must be unique within a stage: {', '.join(dupes)}")
        for service, templates in self.task_sets.items():
            ids = [t.id for t in templates]
            for template in templates:
                unknown = [d for d in template.depends_on if d not in ids or d == template.id]
                if unknown:
                    raise ValueError(
                        f"task set {service!r}: task {template.id!r} depends on unknown"
                        f" task(s) {', '.join(unknown)} (the set has: {', '.join(ids)})"
                    )
        if self.terminal and (self.deadline or self.triggers or self.task_sets):
            raise ValueError("a won/lost stage cannot have a deadline, triggers or task sets")
        events = [t.event for t in self.triggers]
        if len(set(events)) != len(events):
            raise ValueError("at most one trigger per event in a stage")
        return self


class FieldType(StrEnum):
    STRING = "string"
    NUMBER = "number"
    BOOL = "bool"
    DATE = "date"
    DATETIME = "datetime"


# Fields every deal has; conditions may name these, `contact.*` and the declared `fields.*`.
BUILTIN_FIELDS: dict[str, FieldType] = {
    "deal_id": FieldType.STRING,
    "title": FieldType.STRING,
    "stage": FieldType.STRING,
    "service": FieldType.STRING,
    "amount": FieldType.NUMBER,
    "currency": FieldType.STRING,
    "responsible": FieldType.STRING,
    "department_head": FieldType.STRING,
    "sales_team": FieldType.STRING,
    "contact.name": FieldType.STRING,
    "contact.company": FieldType.STRING,
    "contact.phone": FieldType.STRING,
    "contact.email": FieldType.STRING,
}


class Schedule(_Strict):
    """An employee's own working time; what it leaves out comes from the company calendar."""

    timezone: str | None = None
    work_start: str | None = None
    work_end: str | None = None
    weekend: list[int] | None = None


class Pipeline(_Strict):
    id: str = Field(pattern=ID_PATTERN)
    name: str = Field(min_length=1)
    version: str = Field(
        default="", description="set by the loader from the file content when left empty"
    )
    calendar: CalendarSpec = Field(default_factory=CalendarSpec)
    schedules: dict[str, Schedule] = Field(
        default_factory=dict, description="employee id -> own time zone and working hours"
    )
    fields: dict[str, FieldType] = Field(
        default_factory=dict, description="the custom deal fields robots and conditions use"
    )
    stages: list[Stage] = Field(min_length=2)

    def stage(self, stage_id: str) -> Stage:
        for stage in self.stages:
            if stage.id == stage_id:
                return stage
        raise KeyError(stage_id)

    def has_stage(self, stage_id: str) -> bool:
        return any(s.id == stage_id for s in self.stages)

    @property
    def first_stage(self) -> Stage:
        return self.stages[0]

    def terminal_stage(self, semantics: Semantics) -> Stage:
        return next(s for s in self.stages if s.semantics is semantics)

    def index(self, stage_id: str) -> int:
        return next(i for i, s in enumerate(self.stages) if s.id == stage_id)

    def field_type(self, path: str) -> FieldType | None:
        if path.startswith("fields."):
            return self.fields.get(path.removeprefix("fields."))
        return BUILTIN_FIELDS.get(path)

    def calendar_for(self, employee: str) -> CalendarSpec:
        """The company calendar with the employee's own schedule laid over it."""
        own = self.schedules.get(employee)
        if own is None:
            return self.calendar
        changes = own.model_dump(exclude_none=True)
        return CalendarSpec.model_validate({**self.calendar.model_dump(), **changes})

    def _field_problems(self) -> list[str]:
        problems: list[str] = []
        known = ", ".join([*BUILTIN_FIELDS, *(f"fields.{f}" for f in self.fields)])
        for stage in self.stages:
            robots = [*stage.robots, *(stage.deadline.escalate if stage.deadline else [])]
            named: list[tuple[str, str]] = []
            for robot in robots:
                where = f"stage {stage.id!r}, robot {robot.id!r}"
                if robot.condition is not None:
                    named += [(where + ", field 'condition'", f) for f in robot.condition.fields()]
                if robot.relative_to is not None:
                    named.append((where + ", field 'relative_to'", robot.relative_to))
            for trigger in stage.triggers:
                if trigger.condition is not None:
                    where = f"stage {stage.id!r}, trigger on {trigger.event}, field 'condition'"
                    named += [(where, f) for f in trigger.condition.fields()]
            if stage.deadline is not None and stage.deadline.relative_to is not None:
                where = f"stage {stage.id!r}, field 'deadline.relative_to'"
                named.append((where, stage.deadline.relative_to))
            for where, path in named:
                kind = self.field_type(path)
                if kind is None:
                    problems.append(f"{where}: unknown field {path!r} (known: {known})")
                elif "relative_to" in where and kind not in (FieldType.DATE, FieldType.DATETIME):
                    problems.append(f"{where}: field {path!r} is {kind.value}, not a date")
        return problems

    @model_validator(mode="after")
    def _check(self) -> Pipeline:
        ids = [s.id for s in self.stages]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"stage ids must be unique: {', '.join(dupes)}")
        for semantics in (Semantics.SUCCESS, Semantics.FAILURE):
            if sum(s.semantics is semantics for s in self.stages) != 1:
                raise ValueError(f"a pipeline needs exactly one stage with semantics {semantics}")
        if self.first_stage.terminal:
            raise ValueError("the first stage must be a process stage")
        for stage in self.stages:
            for trigger in stage.triggers:
                if trigger.to not in ids:
                    raise ValueError(
                        f"stage {stage.id!r}: trigger on {trigger.event} goes to unknown stage"
                        f" {trigger.to!r} (known: {', '.join(ids)})"
                    )
                if self.index(trigger.to) <= self.index(stage.id) and not trigger.allow_back:
                    raise ValueError(
                        f"stage {stage.id!r}: trigger on {trigger.event} moves the deal back to"
                        f" {trigger.to!r}; set allow_back: true if that is meant"
                    )
        problems = self._field_problems()
        for stage in self.stages:
            escalation = stage.deadline.escalate if stage.deadline else []
            accepts = stage.trigger(TriggerEvent.ACCEPTED) is not None
            problems += repeat_problems(stage.id, stage.robots, escalation, accepts=accepts)
        if problems:
            raise ValueError("; ".join(problems))
        for employee in self.schedules:
            try:
                self.calendar_for(employee)
            except ValueError as exc:
                raise ValueError(f"schedule of {employee!r}: {exc}") from exc
        return self
