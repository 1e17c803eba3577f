"""One robot activity held mid-run, so that a test can rebuild a race step by step: the
robot stops (when ``hold`` says so for its input) until the test releases it."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from temporalio import activity

from activities.robots import RobotActivities
from worker import deal_activities


@dataclass
class HeldRobot:
    activities: list[Any]  # the robots' activities, this one held
    reached: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)


def hold_robot(
    robots: RobotActivities, name: str, activity_name: str, hold: Callable[[Any], bool]
) -> HeldRobot:
    """``name`` is the RobotActivities method registered as ``activity_name``. The held copy
    keeps the method's signature and type hints (``functools.wraps``): the SDK decodes the
    input into the type it reads there."""
    robot = getattr(robots, name)
    every = deal_activities(robots.store, robots)
    held = HeldRobot(activities=[a for a in every if a.__name__ != name])

    @activity.defn(name=activity_name)
    @functools.wraps(robot, updated=())  # not the method's own activity definition
    def run(call: Any) -> Any:
        if hold(call):
            held.reached.set()
            held.release.wait(30)
        return robot(call)

    held.activities.append(run)
    return held
