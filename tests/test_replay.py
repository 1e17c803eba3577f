"""Replay the committed histories of real deals (tests/histories, recorded from this suite
with FUNNEL_RECORD_HISTORIES=1) on the current DealWorkflow code. A change that running
deals could not replay fails here; such a change needs `workflow.patched`."""

from __future__ import annotations

import asyncio
from datetime import time, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from funnel.client.deals import DealRejected
from funnel.domain.models import (
    CloseInput,
    InvoicePaid,
    Outcome,
    TaskAction,
    TaskCompleted,
    TaskEvent,
)
from funnel.domain.pipeline import Pipeline
from funnel.runtime.pipeline_loader import load_pipeline
from funnel.runtime.temporal_client import DATA_CONVERTER
from funnel.storage.store import Store
from tests.helpers import (
    HISTORIES,
    eventually,
    keep_history,
    patch_ids,
    sample_deal,
    working_day_at,
)
from tests.temporal_fixtures import deal_system, new_deal_id
from workflows.deal import DealWorkflow
from workflows.patches import (
    PATCH_ACCEPT_REPORTED,
    PATCH_CLOSED_RECORD,
    PATCH_CONFIRMATION_LOOP,
    PATCH_NOV_27,
    PATCH_ONE_MOVE_AT_A_TIME,
    PATCH_ONE_OPEN_INVOICE,
    PATCH_PAYMENTS_ADD_UP,
    PATCH_RECHECK,
    PATCH_REPEATING_ROBOTS,
    PATCH_TRANSITION_LOCAL,
)

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


async def test_a_patched_change_replays_old_and_new_deals(
    dev_env: WorkflowEnvironment, store: Store, pusk: Pipeline
) -> None:
    """`accept` started writing a `deal_accepted` report event behind workflow.patched:
    a deal recorded before the change replays without it, a new deal writes and replays it."""
    old = WorkflowHistory.from_json("old", (HISTORIES / "pusk_all_stages_won.json").read_text())
    old_activities = [
        e.activity_task_scheduled_event_attributes.activity_type.name
        for e in old.events
        if e.HasField("activity_task_scheduled_event_attributes")
    ]
    old_reports = [e for e in old.events if "deal_accepted" in str(e)]
    assert "write_report_event" not in old_activities[:6] and not old_reports

    deal_id = new_deal_id()
    async with deal_system(dev_env, store) as deals:
        await deals.start(sample_deal(deal_id), pusk)
        await deals.accept(deal_id, by="ivanov")
        await keep_history(deals, deal_id, "pusk_accept_reported")
        new = await deals.history(deal_id)
    accepted = [e for e in store.report_events(deal_id=deal_id) if e.kind == "deal_accepted"]
    assert len(accepted) == 1 and accepted[0].details["by"] == "ivanov"
    markers = [
        e
        for e in new.events
        if e.HasField("marker_recorded_event_attributes")
        and e.marker_recorded_event_attributes.marker_name == "core_patch"
    ]
    assert markers  # the new history carries the patch marker

    replayer = Replayer(workflows=[DealWorkflow], data_converter=DATA_CONVERTER)
    for history in (old, new):
        result = await replayer.replay_workflow(history, raise_on_replay_failure=True)
        assert result.replay_failure is None


async def test_moves_recorded_by_local_activity_replay_beside_old_deals(
    dev_env: WorkflowEnvironment, store: Store, pusk: Pipeline
) -> None:
    """The stage-transition record became a local activity behind workflow.patched: deals
    recorded before keep their `record_stage_transition` activities on replay, new deals
    record no such activity, write every transition row and replay too."""
    old = WorkflowHistory.from_json("old", (HISTORIES / "pusk_all_stages_won.json").read_text())
    assert "record_stage_transition" in _activity_types(old)

    deal_id, new = await _new_deal_moved_to_proposal(dev_env, store, pusk)
    assert "record_stage_transition" not in _activity_types(new)
    entered = [e.stage for e in store.report_events(deal_id=deal_id) if e.kind == "stage_entered"]
    assert entered == ["new", "in_progress", "proposal"]

    replayer = Replayer(workflows=[DealWorkflow], data_converter=DATA_CONVERTER)
    for history in (old, new):
        result = await replayer.replay_workflow(history, raise_on_replay_failure=True)
        assert result.replay_failure is None


async def _new_deal_moved_to_proposal(
    dev_env: WorkflowEnvironment, store: Store, pusk: Pipeline
) -> tuple[str, WorkflowHistory]:
    """A deal started on the current code, accepted and moved to `proposal`: its id and
    its history."""
    deal_id = new_deal_id()
    async with deal_system(dev_env, store) as deals:
        await deals.start(sample_deal(deal_id), pusk)
        await deals.accept(deal_id, by="ivanov")
        await deals.move(deal_id, "proposal")
        return deal_id, await deals.history(deal_id)


def _activity_types(history: WorkflowHistory) -> set[str]:
    return {
        e.activity_task_scheduled_event_attributes.activity_type.name
        for e in history.events
        if e.HasField("activity_task_scheduled_event_attributes")
    }


async def test_one_patch_marker_for_new_deals_and_the_three_replay(
    dev_env: WorkflowEnvironment, store: Store, pusk: Pipeline
) -> None:
    """A new deal takes one `workflow.patched` (one marker, one TemporalChangeVersion
    upsert) for the three changes made while deals ran, and upserts no search attribute
    its start already set; a deal recorded with the three
    markers (tests/histories/pusk_won_with_template_three_patches.json) and one recorded
    before any of them still replay, and the new deal behaves as with all three."""
    three = WorkflowHistory.from_json(
        "three", (HISTORIES / "pusk_won_with_template_three_patches.json").read_text()
    )
    assert patch_ids(three) == [
        PATCH_ONE_MOVE_AT_A_TIME,
        PATCH_TRANSITION_LOCAL,
        PATCH_ACCEPT_REPORTED,
    ]
    deal_id, new = await _new_deal_moved_to_proposal(dev_env, store, pusk)
    assert patch_ids(new) == [PATCH_NOV_27]
    change_versions = [
        e
        for e in new.events
        if e.HasField("upsert_workflow_search_attributes_event_attributes")
        and "TemporalChangeVersion"
        in e.upsert_workflow_search_attributes_event_attributes.search_attributes.indexed_fields
    ]
    assert len(change_versions) == 1
    # The start set the search attributes: entering `new` upserts none, each move its stage.
    stages = [
        e.upsert_workflow_search_attributes_event_attributes.search_attributes.indexed_fields[
            "DealStage"
        ].data
        for e in new.events
        if "DealStage"
        in e.upsert_workflow_search_attributes_event_attributes.search_attributes.indexed_fields
    ]
    assert stages == [b'"in_progress"', b'"proposal"']
    # All three changes are in force: the acceptance is reported, transitions are local.
    assert [e.kind for e in store.report_events(deal_id=deal_id)].count("deal_accepted") == 1
    assert "record_stage_transition" not in _activity_types(new)

    old = WorkflowHistory.from_json("old", (HISTORIES / "pusk_all_stages_won.json").read_text())
    replayer = Replayer(workflows=[DealWorkflow], data_converter=DATA_CONVERTER)
    for history in (three, old, new):
        result = await replayer.replay_workflow(history, raise_on_replay_failure=True)
        assert result.replay_failure is None


async def test_the_first_week_fixes_replay_beside_old_deals(
    dev_env: WorkflowEnvironment, store: Store, pusk: Pipeline
) -> None:
    """The refused duplicate request, the partial payment, the confirmation loop and the
    reused invoice each record their patch marker only where they act; a deal that does all
    of them replays, and so does one recorded before (which did none)."""
    deal_id = new_deal_id()
    async with deal_system(dev_env, store) as deals:
        await deals.start(sample_deal(deal_id, amount="100000"), pusk)
        results = await asyncio.gather(
            *(deals.accept(deal_id, by="ivanov") for _ in range(3)), return_exceptions=True
        )
        assert sum(isinstance(r, DealRejected) for r in results) == 2
        state = await deals.move(deal_id, "contract")
        task = next(t for t in state.tasks if t.stage == "contract")
        await deals.move(deal_id, "proposal")
        state = await deals.move(deal_id, "contract")
        task = next(t for t in state.tasks if t.stage == "contract" and not t.status.closed)
        for action, by in ((TaskAction.COMPLETE, "ivanov"), (TaskAction.RETURN, "smirnova")):
            await deals.task_event(
                deal_id, TaskEvent(task_id=task.task_id, action=action, by=by, comment="why")
            )
        [invoice] = state.invoices
        await deals.invoice_paid(
            deal_id, InvoicePaid(invoice_id=invoice.invoice_id, amount=Decimal(40000))
        )
        await eventually(deals, deal_id, lambda s: bool(s.invoices[0].payments))
        await deals.close(deal_id, CloseInput(outcome=Outcome.LOST, reason="test"))
        await deals.result(deal_id)
        await keep_history(deals, deal_id, "pusk_first_week_fixes")
        new = await deals.history(deal_id)
    assert set(patch_ids(new)) >= {
        PATCH_RECHECK,
        PATCH_ONE_OPEN_INVOICE,
        PATCH_CONFIRMATION_LOOP,
        PATCH_PAYMENTS_ADD_UP,
        PATCH_CLOSED_RECORD,
    }
    old = WorkflowHistory.from_json("old", (HISTORIES / "pusk_all_stages_won.json").read_text())
    replayer = Replayer(workflows=[DealWorkflow], data_converter=DATA_CONVERTER)
    for history in (old, new):
        result = await replayer.replay_workflow(history, raise_on_replay_failure=True)
        assert result.replay_failure is None


async def test_repeating_robots_replay_beside_old_deals(
    ts_env: WorkflowEnvironment, store: Store
) -> None:
    """Repetitions came behind workflow.patched: a deal whose reminders repeated, stopped on
    acceptance and on its task done records the marker once and replays; deals recorded
    before (none of them repeats anything) replay too (every committed history above)."""
    pipeline = load_pipeline(Path(__file__).parent.parent / "examples" / "reminders.yaml")
    deal_id = new_deal_id()
    await working_day_at(ts_env, pipeline, time(9, 0))
    async with deal_system(ts_env, store) as deals:
        await deals.start(sample_deal(deal_id), pipeline)
        await ts_env.sleep(timedelta(minutes=150))  # two reminders, the third still waiting
        await deals.accept(deal_id, by="ivanov")
        await ts_env.sleep(timedelta(days=2))  # a morning reminder of the proposal task
        task = TaskCompleted(task_id="2-prepare_proposal_task", by="ivanov")
        await deals.task_completed(deal_id, task)
        state = await eventually(deals, deal_id, lambda s: s.stage == "won")
        await deals.result(deal_id)
        await keep_history(deals, deal_id, "reminders_repeat_until_accepted")
        new = await deals.history(deal_id)
    stopped = [r.error for r in state.robot_runs if r.outcome.value == "stopped"]
    assert stopped == ["the deal was accepted", "task 2-prepare_proposal_task is done"]
    assert patch_ids(new).count(PATCH_REPEATING_ROBOTS) == 1
    old = WorkflowHistory.from_json("old", (HISTORIES / "pusk_all_stages_won.json").read_text())
    assert PATCH_REPEATING_ROBOTS not in patch_ids(old)
    replayer = Replayer(workflows=[DealWorkflow], data_converter=DATA_CONVERTER)
    for history in (old, new):
        result = await replayer.replay_workflow(history, raise_on_replay_failure=True)
        assert result.replay_failure is None
