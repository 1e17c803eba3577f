"""What waits in a deal's current stage, as the store keeps it for the board: each timed
robot and the stage deadline with its due time and the rule that set it.

The deal workflow hands it to the store with the stage transition (and again after an edit
moves a timer); the board shows the first entry still in the future as the deal's "next",
without asking the workflow. Robots that ran, or a deadline that passed, stay in the list:
their due time is past, so the board skips them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel

from funnel.domain.models import WaitingRobot


class PlanEntry(BaseModel):
    kind: Literal["robot", "deadline"]
    robot_id: str  # "deadline" for the deadline
    title: str  # the robot's title in the pipeline (the board shows its translation)
    due_at: AwareDatetime
    rule: str


def stage_plan(waiting: Iterable[WaitingRobot], seq: int) -> list[PlanEntry]:
    """The entries of stage visit ``seq`` (a robot kept from an earlier stage is not this
    stage's), soonest first."""
    entries = [
        PlanEntry(
            kind="deadline" if w.kind == "deadline" else "robot",
            robot_id=w.robot_id,
            title=w.title,
            due_at=w.due_at,
            rule=w.rule,
        )
        for w in waiting
        if w.seq == seq and w.kind in ("robot", "deadline")
    ]
    return sorted(entries, key=lambda e: e.due_at)


def next_entry(plan: Sequence[PlanEntry], now: datetime) -> PlanEntry | None:
    """The first entry still ahead of ``now``."""
    return next((e for e in sorted(plan, key=lambda e: e.due_at) if e.due_at > now), None)
