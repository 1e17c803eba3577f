"""Robot runs read from the deal's Temporal event history: see funnel/client/run_log.py (the closed
deal's record keeps them too, so the code lives next to the store)."""

from __future__ import annotations

from funnel.client.run_log import robot_runs, run_histories
from funnel.domain.robot_runs import ActivityRun, RunResult

__all__ = ["ActivityRun", "RunResult", "robot_runs", "run_histories"]
