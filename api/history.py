"""Robot runs read from the deal's Temporal event history: see funnel/run_log.py (the closed
deal's record keeps them too, so the code lives next to the store)."""

from __future__ import annotations

from funnel.run_log import ActivityRun, RunResult, robot_runs, run_histories

__all__ = ["ActivityRun", "RunResult", "robot_runs", "run_histories"]
