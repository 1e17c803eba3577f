"""Replay the committed histories of real deals (tests/histories, recorded from this suite
with FUNNEL_RECORD_HISTORIES=1) on the current DealWorkflow code. A change that running
deals could not replay fails here; such a change needs `workflow.patched`."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from funnel.temporal_client import DATA_CONVERTER
from tests.helpers import HISTORIES
from workflows.deal import DealWorkflow

HISTORY_FILES = sorted(HISTORIES.glob("*.json"))


def test_histories_are_committed() -> None:
    names = {p.stem for p in HISTORY_FILES}
    assert "pusk_all_stages_won" in names
    assert any(n.startswith("pusk_breach_in_") for n in names)


@pytest.mark.parametrize("path", HISTORY_FILES, ids=[p.stem for p in HISTORY_FILES])
async def test_history_replays_on_current_code(path: Path) -> None:
    history = WorkflowHistory.from_json(f"deal-{path.stem}", path.read_text())
    replayer = Replayer(workflows=[DealWorkflow], data_converter=DATA_CONVERTER)
    result = await replayer.replay_workflow(history, raise_on_replay_failure=True)
    assert result.replay_failure is None
