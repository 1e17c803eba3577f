"""The pipeline schema: stages, their robots, deadlines and triggers, as pydantic models.

A pipeline is data (``pipelines/pusk.yaml``), loaded by :mod:`funnel.runtime.pipeline_loader` and
pinned inside each deal workflow when the deal starts. This module stays free of heavy
imports because the workflow sandbox imports it.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, model_validator

from funnel.domain.calendar_spec import CalendarSpec
from funnel.domain.durations import Duration
from funnel.domain.repeats import repeat_problems
from funnel.domain.robot_rules import Condition, Direction, Timing

# The robot types, importable from here as before.
from funnel.domain.robot_types import ID_PATTERN as ID_PATTERN
from funnel.domain.robot_types import INVOICE_MESSAGE as INVOICE_MESSAGE
from funnel.domain.robot_types import INVOICE_SUBJECT as INVOICE_SUBJECT
from funnel.domain.robot_types import ROLE_HEAD as ROLE_HEAD
from funnel.domain.robot_types import ROLE_RESPONSIBLE as ROLE_RESPONSIBLE
from funnel.domain.robot_types import ROLE_SALES_TEAM as ROLE_SALES_TEAM
from funnel.domain.robot_types import ROLES as ROLES
from funnel.domain.robot_types import TRANSLATIONS
from funnel.domain.robot_types import CompleteDealRobot as CompleteDealRobot
from funnel.domain.robot_types import CreateInvoiceRobot as CreateInvoiceRobot
from funnel.domain.robot_types import CreateTaskRobot as CreateTaskRobot
from funnel.domain.robot_types import MoveToFunnelRobot as MoveToFunnelRobot
from funnel.domain.robot_types import NotifyRobot as NotifyRobot
from funnel.domain.robot_types import RenderDocumentRobot as RenderDocumentRobot
from funnel.domain.robot_types import ReportEventRobot as ReportEventRobot
from funnel.domain.robot_types import Robot as Robot
from funnel.domain.robot_types import RobotBase as RobotBase
from funnel.domain.robot_types import SendInvoiceRobot as SendInvoiceRobot
from funnel.domain.robot_types import SetTitleRobot as SetTitleRobot
from funnel.domain.robot_types import Translations as Translations


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


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
    names: Translations = Field(default_factory=dict, description=TRANSLATIONS)
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

    def funnel_moves(self) -> list[MoveToFunnelRobot]:
        """The stage's robots (escalations too) that move the deal to another pipeline."""
        robots = [*self.robots, *(self.deadline.escalate if self.deadline else [])]
        return [r for r in robots if isinstance(r, MoveToFunnelRobot)]

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
        if self.terminal and self.funnel_moves():
            raise ValueError(
                "a won/lost stage cannot move the deal to another funnel (move_to_funnel):"
                " the deal is closed there; put the robot in a process stage"
            )
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
        problems += [
            f"stage {stage.id!r}, robot {robot.id!r}, field 'pipeline': moves the deal to its"
            f" own pipeline {self.id!r}; move_to_funnel names another one (a move within"
            " the pipeline is a trigger or a person's move)"
            for stage in self.stages
            for robot in stage.funnel_moves()
            if robot.pipeline == self.id
        ]
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
