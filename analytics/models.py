"""What the reports take and give: pydantic models shared by the CLI, the API and the page."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

ReportKind = Literal["funnel", "speed", "discipline", "managers", "trend"]
KINDS: tuple[ReportKind, ...] = ("funnel", "speed", "discipline", "managers", "trend")

_M = ConfigDict(extra="forbid")


class Filters(BaseModel):
    """The slice a report looks at. ``date_from`` is inclusive, ``date_to`` exclusive; what
    the period selects differs per report (docs/analytics.md, "Periods")."""

    model_config = _M

    date_from: AwareDatetime | None = None
    date_to: AwareDatetime | None = None
    pipeline: str | None = Field(
        default=None, description="the pipeline's id; default: the default one"
    )
    responsible: str | None = None
    department: str | None = Field(default=None, description="the department head's id")
    by: Literal["week", "month"] = "month"


class Timing(BaseModel):
    """Seconds; None when there is no finished visit."""

    median: float | None
    p90: float | None
    mean: float | None


class LostReason(BaseModel):
    reason: str
    deals: int


class FunnelStage(BaseModel):
    stage: str
    name: str
    semantics: str  # process, success, failure, or "retired" for a stage of an older version
    entered: int  # distinct deals that entered it at least once
    moved_on: int | None  # ... and later reached a further stage (None: terminal stages)
    conversion_next: float | None
    won: int  # ... and are won
    conversion_won: float | None
    lost: int  # deals that went to a lost stage straight from this one
    drop_off: float | None
    open_now: int  # deals of the cohort sitting in this stage now
    lost_reasons: list[LostReason]


class FunnelReport(BaseModel):
    kind: Literal["funnel"] = "funnel"
    filters: Filters
    pipeline: str
    deals: int
    won: int
    lost: int
    open: int
    stages: list[FunnelStage]


class SpeedStage(BaseModel):
    stage: str
    name: str
    visits: int  # finished visits in the period (a re-entry is another visit)
    in_stage_now: int
    calendar: Timing
    working: Timing


class SpeedReport(BaseModel):
    kind: Literal["speed"] = "speed"
    filters: Filters
    pipeline: str
    bottleneck: str | None  # the stage with the longest median working time
    stages: list[SpeedStage]


class DisciplineRow(BaseModel):
    key: str  # a stage id or a manager id
    breaches: int
    escalations: int
    tasks_overdue: int  # not completed and past the deadline at the end of the period
    tasks_late: int  # completed after the deadline


class Breach(BaseModel):
    deal_id: str
    title: str
    stage: str
    at: datetime
    responsible: str
    web_ui: str


class DisciplineReport(BaseModel):
    kind: Literal["discipline"] = "discipline"
    filters: Filters
    pipeline: str
    totals: DisciplineRow
    stages: list[DisciplineRow]
    managers: list[DisciplineRow]
    recent_breaches: list[Breach]


class ManagerRow(BaseModel):
    responsible: str
    deals_started: int
    open_now: int  # of the deals started in the period
    won: int  # closed in the period
    lost: int
    win_rate: float | None  # won / (won + lost)
    amount_won: float
    median_cycle_seconds: float | None  # start to won, calendar time
    breaches: int


class ManagersReport(BaseModel):
    kind: Literal["managers"] = "managers"
    filters: Filters
    pipeline: str
    managers: list[ManagerRow]


class TrendRow(BaseModel):
    period: str  # "2025-03" or the Monday "2025-03-10"
    deals_started: int
    won: int
    lost: int
    open_now: int
    win_rate: float | None
    amount_won: float
    median_cycle_seconds: float | None
    breaches: int


class TrendReport(BaseModel):
    kind: Literal["trend"] = "trend"
    filters: Filters
    pipeline: str
    by: Literal["week", "month"]
    periods: list[TrendRow]


Report = FunnelReport | SpeedReport | DisciplineReport | ManagersReport | TrendReport
