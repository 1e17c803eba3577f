"""Robots that repeat until something happens: the ``repeat`` setting of a robot, the checks a
pipeline file gets for it, and the numbering of its repetitions.

``repeat: {every: "1 working hours", until: accepted, max: 5}`` runs the robot at its own time,
then again every working hour, at most five times in all, and stops as soon as the deal is
accepted (or the stage is left, or a task is done). Each repetition is an effect of its own
with its own idempotency key (:func:`repetition_key`).
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field, field_validator

from funnel.domain.durations import Duration, TimeUnit

MAX_REPETITIONS = 50  # every working hour for a working week is 45
SHORTEST_EVERY_MINUTES = 15
REPEATING_TYPES = ("notify", "report_event")  # a task, an invoice or a title once is enough


class RepeatUntil(StrEnum):
    ACCEPTED = "accepted"  # the deal was accepted in this stage visit (the `accept` update)
    STAGE_LEFT = "stage_left"  # only leaving the stage stops it
    TASK_DONE = "task_done"  # the task a create_task robot of the stage made is done


class Repeat(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    every: Duration = Field(description="working time between two repetitions")
    until: RepeatUntil = RepeatUntil.STAGE_LEFT
    max: int = Field(description="how many times it runs at most, the first time included")
    task: str | None = Field(
        default=None,
        description="until task_done: the create_task robot whose task (default: the stage's"
        " only one)",
    )

    @field_validator("every")
    @classmethod
    def _working_and_not_too_often(cls, every: Duration) -> Duration:
        if not every.working:
            raise ValueError(
                f"write it in working time, e.g. '{every.amount} working {every.unit.value}':"
                " repetitions wait for working hours, never run at night or on a day off"
            )
        if every.unit is TimeUnit.MINUTES and every.amount < SHORTEST_EVERY_MINUTES:
            raise ValueError(f"at least {SHORTEST_EVERY_MINUTES} working minutes, got {every}")
        return every

    @field_validator("max")
    @classmethod
    def _bounded(cls, value: int) -> int:
        if not 1 <= value <= MAX_REPETITIONS:
            raise ValueError(
                f"between 1 and {MAX_REPETITIONS} (the first run included), got {value}"
            )
        return value

    def rule(self, repetition: Repetition | None, due_rule: str) -> str:
        """The plan's rule of one repetition: ``repetition 2 of 5, every 1 working hours
        until accepted: 1 working hours after its start``."""
        return f"repetition {repetition}, every {self.every} until {self.until.value}: {due_rule}"


class Repetition(BaseModel):
    """Which run of a repeating robot: ``2 of 5``."""

    number: int
    of: int

    def __str__(self) -> str:
        return f"{self.number} of {self.of}"


def repetition_key(robot_key: str, number: int) -> str:
    """The idempotency key of one repetition: the robot's key for the first run (what a robot
    that does not repeat has), ``<robot key>:<number>`` from the second on."""
    return robot_key if number == 1 else f"{robot_key}:{number}"


class _RobotLike(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def type(self) -> Any: ...
    @property
    def repeat(self) -> Repeat | None: ...
    @property
    def on_leave(self) -> Any: ...


def repeat_task(robot: _RobotLike, robots: Sequence[_RobotLike]) -> str | None:
    """The create_task robot whose task ends the repetitions of an until: task_done robot."""
    assert robot.repeat is not None
    if robot.repeat.task is not None:
        return robot.repeat.task
    task_robots = [r.id for r in robots if r.type == "create_task"]
    return task_robots[0] if len(task_robots) == 1 else None


def repeat_problems(
    stage_id: str,
    robots: Sequence[_RobotLike],
    escalation: Sequence[_RobotLike],
    *,
    accepts: bool,
) -> list[str]:
    """What is wrong with the ``repeat`` settings of one stage's robots, each problem naming
    the stage, the robot and the field."""
    problems: list[str] = []
    task_robots = [r.id for r in robots if r.type == "create_task"]
    for robot in escalation:
        if robot.repeat is not None:
            problems.append(
                f"stage {stage_id!r}, escalation robot {robot.id!r}, field 'repeat': a deadline's"
                " escalation runs once; put a repeating robot in the stage's robots instead"
            )
    for robot in robots:
        repeat = robot.repeat
        if repeat is None:
            continue
        where = f"stage {stage_id!r}, robot {robot.id!r}, field"
        if robot.type not in REPEATING_TYPES:
            problems.append(
                f"{where} 'repeat': only {' and '.join(REPEATING_TYPES)} robots repeat, not"
                f" {robot.type}"
            )
        if str(robot.on_leave) == "keep":
            problems.append(
                f"{where} 'on_leave': a repeating robot stops when its stage is left, so"
                " on_leave: keep does not apply"
            )
        if repeat.until is RepeatUntil.ACCEPTED and not accepts:
            problems.append(
                f"{where} 'repeat.until': accepted needs a trigger on `accepted` in this stage"
                " (nothing can be accepted here)"
            )
        if repeat.task is not None and repeat.until is not RepeatUntil.TASK_DONE:
            problems.append(
                f"{where} 'repeat.task': names the task of until: task_done, not of"
                f" until: {repeat.until.value}"
            )
        elif repeat.until is RepeatUntil.TASK_DONE:
            task = repeat_task(robot, robots)
            known = ", ".join(task_robots) or "none"
            if repeat.task is not None and repeat.task not in task_robots:
                problems.append(
                    f"{where} 'repeat.task': {repeat.task!r} is not a create_task robot of this"
                    f" stage (its create_task robots: {known})"
                )
            elif task is None:
                problems.append(
                    f"{where} 'repeat.until': task_done needs the create_task robot whose task"
                    f" it waits for: name it in repeat.task (this stage's: {known})"
                )
    return problems
