"""Robot runs: the deal's own audit of every robot (``RobotRun``, in its state) and a robot
activity's run as Temporal's event history recorded it (``ActivityRun``, what the deal's
history and the closed deal's record list)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, Field

from funnel.domain.repeats import Repetition

RunResult = Literal["running", "completed", "failed", "timed_out", "canceled"]


class ActivityRun(BaseModel):
    """One robot activity of the deal as Temporal's event history recorded it."""

    activity: str
    summary: str | None
    key: str | None = Field(description="the robot's business key deal:seq:robot, if any")
    scheduled_at: datetime
    finished_at: datetime | None
    result: RunResult
    attempts: int = 1
    error: str | None = None


class RunOutcome(StrEnum):
    DONE = "done"
    FAILED = "failed"
    SKIPPED_CONDITION = "skipped_condition"  # its condition did not hold when it was due
    SKIPPED_REENTRY = "skipped_reentry"  # on_reentry: first_entry, and this is a re-entry
    SKIPPED_NO_DATE = "skipped_no_date"  # anchored on a date field that is empty
    CANCELLED = "cancelled"  # the deal left the stage before it was due
    COMPENSATED = "compensated"  # cancelled, and what it had done was undone
    CAUGHT_UP = "caught_up"  # ran because the deal jumped over its stage
    REUSED = "reused"  # an open invoice of an earlier visit stands: no second one issued
    STOPPED = "stopped"  # a repeating robot: what it waited for happened, no more repetitions
    SKIPPED_NO_INVOICE = "skipped_no_invoice"  # send_invoice: the deal has no open invoice


class RobotRun(BaseModel):
    """One line of the audit of every robot: what happened to it in a stage visit."""

    seq: int
    stage: str
    robot_id: str
    outcome: RunOutcome
    at: datetime
    error: str | None = None
    repetition: Repetition | None = Field(default=None, description="of a repeating robot")
