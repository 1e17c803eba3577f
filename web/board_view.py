"""What the board shows one viewer, in their words: the filters of the query string, the
columns (the pipeline's stages, their totals and first cards, what entering each does) and
each card (amount, responsible, time in the stage and what comes next, in working time).

Everything comes from the store (funnel.storage.board), never from the deals' workflows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from urllib.parse import urlencode

from funnel.domain.calendar import WorkingCalendar
from funnel.domain.pipeline import Pipeline, Stage, TriggerEvent
from funnel.domain.stage_plan import PlanEntry, next_entry
from funnel.storage.board import BoardCard, BoardQuery
from funnel.storage.directory import Directory
from web import board_words, formatting
from web.i18n import Language, text
from web.viewer import Viewer

PAGE = 50  # cards a column shows before "show more"
SEARCH_MAX = 200

# --- filters ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Filters:
    """The board's filters as the query string gives them (so a board can be bookmarked).
    ``responsible`` and ``department`` are None when not given: the viewer's default then
    applies (a manager: their own deals; a head: their department); "" means anyone."""

    responsible: str | None = None
    department: str | None = None
    breached: bool = False
    q: str = ""
    pipeline: str | None = None  # None: the default pipeline

    @classmethod
    def parse(
        cls,
        responsible: str | None,
        department: str | None,
        breached: str | None,
        q: str | None,
        pipeline: str | None = None,
    ) -> Filters:
        return cls(
            responsible=None if responsible is None else responsible.strip(),
            department=None if department is None else department.strip(),
            breached=(breached or "").lower() in ("1", "true", "on", "yes"),
            q=(q or "").strip()[:SEARCH_MAX],
            pipeline=pipeline.strip() or None if pipeline is not None else None,
        )

    def with_defaults(self, viewer: Viewer) -> Filters:
        responsible, department = self.responsible, self.department
        if responsible is None:
            responsible = viewer.id if viewer.role.value == "manager" else ""
        if department is None:
            is_head = viewer.role.value == "head"
            department = viewer.employee.department if is_head else ""
        return Filters(responsible, department, self.breached, self.q, self.pipeline)

    def query_string(self) -> str:
        """The filters in force, explicit (a default made explicit stays the same board)."""
        values = {"responsible": self.responsible or "", "department": self.department or ""}
        if self.breached:
            values["breached"] = "1"
        if self.q:
            values["q"] = self.q
        if self.pipeline:
            values["pipeline"] = self.pipeline
        return urlencode(values)


def board_query(
    filters: Filters, viewer: Viewer, people: Directory, pipeline: Pipeline
) -> BoardQuery:
    """The store's query for the filters (defaults applied) within the viewer's scope."""
    responsibles: set[str] | None = None
    if filters.responsible:
        responsibles = {filters.responsible}
    if filters.department:
        staff = {e.id for e in people if e.department == filters.department}
        responsibles = staff if responsibles is None else responsibles & staff
    scope = viewer.scope
    return BoardQuery(
        pipeline_id=pipeline.id,
        stages=tuple(s.id for s in pipeline.stages if not s.terminal),
        responsibles=None if responsibles is None else frozenset(responsibles),
        breached=filters.breached,
        text=filters.q or None,
        readable_by=None if scope is None else scope.responsibles,
        head=None if scope is None else scope.head,
        member=None if scope is None else scope.member,
    )


# --- cards and columns --------------------------------------------------------------------


@dataclass(frozen=True)
class CardView:
    deal_id: str
    title: str
    company: str
    contact: str
    amount: str
    responsible: str
    in_stage: str
    entered: str  # the moment, for the tooltip
    next: str | None
    next_detail: str  # the due moment and the rule
    breached: bool
    version: str  # the row's last change: the live updates replace a card when it differs


@dataclass
class ColumnView:
    stage: Stage
    name: str
    count: int = 0
    count_text: str = ""
    sums: str = ""
    cards: list[CardView] = field(default_factory=list)
    preview: list[str] = field(default_factory=list)
    accept_to: str | None = None  # a move to this stage is the deal's acceptance

    @property
    def more(self) -> bool:
        return self.count > len(self.cards)


class BoardWords:
    """Cards and column headers in the viewer's language, time zone and working time."""

    def __init__(self, viewer: Viewer, people: Directory, pipeline: Pipeline, now: datetime):
        self._viewer = viewer
        self._people = people
        self._pipeline = pipeline
        self._now = now
        self._calendar = WorkingCalendar(pipeline.calendar)
        self._day = self._calendar.working_day
        self._lang = viewer.language

    def card(self, card: BoardCard) -> CardView:
        lang, tz = self._lang, self._viewer.timezone
        employee = self._people.get(card.responsible)
        entered = card.stage_entered_at
        if entered is None:
            in_stage, entered_text = "", ""
        else:
            span = self._calendar.working_time(entered, self._now)
            in_stage = text("board_in_stage", lang, span=self._span(span))
            entered_text = formatting.moment(entered, tz, lang)
        coming = next_entry(card.plan or [], self._now)
        return CardView(
            deal_id=card.deal_id,
            title=card.title,
            company=card.contact_company or card.contact_name,
            contact=card.contact_name,
            amount=formatting.money(card.amount, card.currency, lang),
            responsible=employee.name if employee else card.responsible,
            in_stage=in_stage,
            entered=entered_text,
            next=None if coming is None else self._next(card.stage, coming),
            next_detail=""
            if coming is None
            else f"{formatting.moment(coming.due_at, tz, lang)} · {coming.rule}",
            breached=card.breached,
            version=card.updated_at.isoformat() if card.updated_at else "",
        )

    @property
    def language(self) -> Language:
        return self._lang

    def _span(self, span: timedelta) -> str:
        return board_words.working_span(span, self._day, self._lang)

    def _next(self, stage_id: str, entry: PlanEntry) -> str:
        lang = self._lang
        span = self._calendar.working_time(self._now, entry.due_at)
        deadline = entry.kind == "deadline"
        if span.total_seconds() < 60:  # due outside working hours: say when
            at = formatting.moment(entry.due_at, self._viewer.timezone, lang)
            key = "board_next_deadline_at" if deadline else "board_next_robot_at"
            return text(key, lang, title=self._title(stage_id, entry), at=at)
        key = "board_next_deadline" if deadline else "board_next_robot"
        return text(key, lang, title=self._title(stage_id, entry), span=self._span(span))

    def _title(self, stage_id: str, entry: PlanEntry) -> str:
        """The robot's title in the viewer's language, from the pipeline file."""
        if self._pipeline.has_stage(stage_id):
            for robot in self._pipeline.stage(stage_id).robots:
                if robot.id == entry.robot_id:
                    return robot.title_in(self._lang)
        return entry.title

    def sums(self, sums: list[tuple[str, Decimal]]) -> str:
        return " + ".join(formatting.money(a, c, self._lang) for c, a in sorted(sums))

    def count(self, n: int) -> str:
        return board_words.plural("board_deals_count", n, self._lang)


def columns(
    pipeline: Pipeline,
    words: BoardWords,
    totals: dict[str, tuple[int, list[tuple[str, Decimal]]]],
    cards: list[BoardCard],
) -> tuple[list[ColumnView], list[ColumnView]]:
    """(the process stages' columns, the won and lost drop zones)."""
    process: list[ColumnView] = []
    closing: list[ColumnView] = []
    for stage in pipeline.stages:
        column = ColumnView(stage, stage.name_in(words.language))
        column.preview = board_words.stage_preview(stage, words.language)
        trigger = stage.trigger(TriggerEvent.ACCEPTED)
        column.accept_to = trigger.to if trigger else None
        if stage.terminal:
            closing.append(column)
            continue
        count, sums = totals.get(stage.id, (0, []))
        column.count, column.count_text, column.sums = count, words.count(count), words.sums(sums)
        column.cards = [words.card(c) for c in cards if c.stage == stage.id]
        process.append(column)
    return process, closing
