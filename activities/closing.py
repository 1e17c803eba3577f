"""The last activity of a deal: keep its record in the store for good.

The workflow hands over its final state; the robot runs come from the deal's own Temporal
event history (every run of a continue-as-new chain), read here while it certainly exists.
Async, unlike the robots: it waits on the Temporal client, and its one store write runs in a
thread so that it never blocks the worker's event loop.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from temporalio import activity

from funnel.client.run_log import robot_runs, run_histories
from funnel.domain.activity_io import ActivityName
from funnel.domain.models import DealState
from funnel.storage.closed_deals import ClosedDeal, ClosedDeals


def closed_at(state: DealState, fallback: datetime) -> datetime:
    """When the deal closed: its entry into the won/lost stage (a deal whose workflow ended
    in another stage: ``fallback``, the moment its end was seen)."""
    last = state.visits[-1] if state.visits else None
    if last is not None and state.status.value != "open":
        return last.entered_at
    return fallback


class ClosingActivities:
    def __init__(self, records: ClosedDeals) -> None:
        self._records = records

    @activity.defn(name=ActivityName.RECORD_CLOSED_DEAL)
    async def record_closed_deal(self, state: DealState) -> bool:
        """Write the closed deal's record unless it is there; True if this call wrote it."""
        if await asyncio.to_thread(self._records.get, state.deal_id) is not None:
            return False  # a retry after the write: the history need not be read again
        histories = await run_histories(activity.client(), state.deal_id)
        record = ClosedDeal(
            state=state,
            robot_runs=[run for history in histories for run in robot_runs(history)],
            closed_at=closed_at(state, activity.info().started_time),
            recorded_at=datetime.now(UTC),
        )
        return await asyncio.to_thread(self._records.add, record)
