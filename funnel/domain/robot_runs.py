"""A robot activity's run as Temporal's event history recorded it: what the deal's history
and the closed deal's record list."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

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
