"""Robot policies (re-entry, leaving, skipped stages), conditions checked when a robot is
due, trigger conditions, and pipeline versions moved on request, on the time-skipping
server."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from funnel.client.deals import DealRejected
from funnel.domain.models import InvoicePaid, MigrateInput, TaskStatus, UpdateFieldsInput
from funnel.domain.pipeline_diff import changes_from
from funnel.domain.robot_runs import RunOutcome
from funnel.storage.store import Store
from tests.helpers import eventually, messages_to, mini_pipeline, notify, sample_deal
from tests.temporal_fixtures import deal_system, new_deal_id


def _task_robot(robot_id: str, **settings: Any) -> dict[str, Any]:
    return {
        "id": robot_id,
        "type": "create_task",
        "title": f"Task {robot_id}",
        "task_title": f"Do {robot_id}",
        **settings,
    }


@pytest.mark.parametrize(("policy", "expected_runs"), [("every_entry", 2), ("first_entry", 1)])
async def test_reentry_policy(
    ts_env: WorkflowEnvironment, store: Store, policy: str, expected_runs: int
) -> None:
    pipeline = mini_pipeline(
        [
            {"id": "first", "name": "First"},
            {
                "id": "again",
                "name": "Again",
                "robots": [
                    _task_robot("call", on_reentry=policy),
                    notify("hello", on_reentry=policy),
                ],
            },
        ]
    )
    deal_id = new_deal_id()
    async with deal_system(ts_env, store) as deals:
        await deals.start(sample_deal(deal_id), pipeline)
        await deals.move(deal_id, "again")
        await deals.move(deal_id, "first")
        state = await deals.move(deal_id, "again")
    assert len(store.tasks(deal_id=deal_id)) == expected_runs
    assert messages_to(store, "ivanov", deal_id) == ["hello ran"] * expected_runs
    skipped = [r for r in state.robot_runs if r.outcome is RunOutcome.SKIPPED_REENTRY]
    assert len(skipped) == 2 * (2 - expected_runs)


@pytest.mark.parametrize(("policy", "caught_up"), [("ignore", []), ("catch_up", ["b", "c", "d"])])
async def test_skipped_stages_policy(
    ts_env: WorkflowEnvironment, store: Store, policy: str, caught_up: list[str]
) -> None:
    stages: list[dict[str, Any]] = [{"id": "a", "name": "A"}]
    for sid in ("b", "c", "d"):
        stages.append(
            {
                "id": sid,
                "name": sid.upper(),
                "robots": [notify(f"robot_{sid}", on_skip=policy, delay="3 days")],
            }
        )
    stages.append({"id": "e", "name": "E"})
    deal_id = new_deal_id()
    async with deal_system(ts_env, store) as deals:
        await deals.start(sample_deal(deal_id), mini_pipeline(stages))
        state = await deals.move(deal_id, "e")  # over b, c and d at once
        assert not state.waiting  # a caught-up robot runs at once, never on its delay
    assert messages_to(store, "ivanov", deal_id) == [f"robot_{s} ran" for s in caught_up]
    outcomes = [(r.stage, r.outcome) for r in state.robot_runs]
    assert outcomes == [(s, RunOutcome.CAUGHT_UP) for s in caught_up]


async def test_leaving_policies_cancel_keep_and_compensate(
    ts_env: WorkflowEnvironment, store: Store
) -> None:
    pipeline = mini_pipeline(
        [
            {
                "id": "work",
                "name": "Work",
                "robots": [
                    _task_robot("prepare", on_leave="compensate", start="with_stage"),
                    notify("cancelled_reminder", delay="2 days", start="with_stage"),
                    notify("kept_reminder", delay="2 days", on_leave="keep", start="with_stage"),
                ],
            },
            {"id": "next", "name": "Next"},
        ]
    )
    deal_id = new_deal_id()
    async with deal_system(ts_env, store) as deals:
        await deals.start(sample_deal(deal_id), pipeline)
        await eventually(deals, deal_id, lambda s: len(s.waiting) == 2)
        state = await deals.move(deal_id, "next")
        assert [w.robot_id for w in state.waiting] == ["kept_reminder"]
        await ts_env.sleep(timedelta(days=3))
        state = await eventually(deals, deal_id, lambda s: not s.waiting)
    assert messages_to(store, "ivanov", deal_id) == ["kept_reminder ran"]
    assert [t.status for t in state.tasks] == [TaskStatus.CANCELLED]
    assert [t.status for t in store.tasks(deal_id=deal_id)] == ["cancelled"]
    outcomes = {r.robot_id: r.outcome for r in state.robot_runs}
    assert outcomes["cancelled_reminder"] is RunOutcome.CANCELLED
    assert outcomes["kept_reminder"] is RunOutcome.DONE


async def test_condition_is_checked_when_the_robot_is_due(
    ts_env: WorkflowEnvironment, store: Store
) -> None:
    web_only = {
        "join": "or",
        "groups": [
            {"rules": [{"field": "fields.source", "op": "=", "value": "web"}]},
            {
                "join": "and",
                "rules": [
                    {"field": "amount", "op": ">=", "value": 1_000_000},
                    {"field": "contact.email", "op": "!empty"},
                ],
            },
        ],
    }
    pipeline = mini_pipeline(
        [
            {
                "id": "nurture",
                "name": "Nurture",
                "robots": [notify("follow_up", delay="1 days", condition=web_only)],
            }
        ],
        fields={"source": "string"},
    )
    deal_a, deal_b = new_deal_id(), new_deal_id()
    async with deal_system(ts_env, store) as deals:
        for deal_id in (deal_a, deal_b):
            deal = sample_deal(deal_id).model_copy(update={"fields": {"source": "phone"}})
            await deals.start(deal, pipeline)
            await eventually(deals, deal_id, lambda s: bool(s.waiting))
        # Before it is due, deal A's source changes: the condition sees the new value.
        await deals.update_fields(deal_a, UpdateFieldsInput(fields={"source": "web"}))
        await ts_env.sleep(timedelta(days=1, minutes=5))
        state_a = await eventually(deals, deal_a, lambda s: bool(s.robot_runs))
        state_b = await eventually(deals, deal_b, lambda s: bool(s.robot_runs))
    assert messages_to(store, "ivanov", deal_a) == ["follow_up ran"]
    assert messages_to(store, "ivanov", deal_b) == []
    assert state_a.robot_runs[0].outcome is RunOutcome.DONE
    assert state_b.robot_runs[0].outcome is RunOutcome.SKIPPED_CONDITION


async def test_trigger_condition_and_bad_field_updates(
    ts_env: WorkflowEnvironment, store: Store
) -> None:
    big_only = {"rules": [{"field": "amount", "op": ">", "value": 100000}]}
    pipeline = mini_pipeline(
        [
            {
                "id": "pay",
                "name": "Pay",
                "triggers": [{"event": "invoice_paid", "to": "won", "condition": big_only}],
            }
        ],
        fields={"due": "date"},
    )
    small, big = new_deal_id(), new_deal_id()
    async with deal_system(ts_env, store) as deals:
        await deals.start(sample_deal(small, amount="5000"), pipeline)
        await deals.start(sample_deal(big, amount="500000"), pipeline)
        for deal_id in (small, big):
            await deals.invoice_paid(
                deal_id, InvoicePaid(invoice_id=f"{deal_id}-1", prepayment=True)
            )
        await eventually(deals, big, lambda s: s.stage == "won")
        state = await eventually(deals, small, lambda s: bool(s.invoices))
        assert state.stage == "pay"
        with pytest.raises(DealRejected, match=r"nope: not a field of pipeline 'mini'"):
            await deals.update_fields(small, UpdateFieldsInput(fields={"nope": 1}))
        with pytest.raises(DealRejected, match=r"due: 'soon' is not a valid date"):
            await deals.update_fields(small, UpdateFieldsInput(fields={"due": "soon"}))


async def test_pipeline_migration_on_request_only(
    ts_env: WorkflowEnvironment, store: Store
) -> None:
    v1 = mini_pipeline([{"id": "a", "name": "A"}, {"id": "b", "name": "B"}], version="v1")
    v2 = mini_pipeline(
        [{"id": "a", "name": "A"}, {"id": "b", "name": "B", "robots": [notify("welcome_b")]}],
        version="v2",
    )
    assert changes_from(v1, v2, "a") == ["b: + robot welcome_b (Robot welcome_b)"]
    migrated, untouched = new_deal_id(), new_deal_id()
    async with deal_system(ts_env, store) as deals:
        await deals.start(sample_deal(migrated), v1)
        await deals.start(sample_deal(untouched), v1)
        with pytest.raises(DealRejected, match="already runs version v1"):
            await deals.migrate(migrated, MigrateInput(pipeline=v1))
        state = await deals.migrate(migrated, MigrateInput(pipeline=v2, by="admin"))
        assert state.pipeline_version == "v2" and state.migrations[0].from_version == "v1"
        await deals.move(migrated, "b")
        await deals.move(untouched, "b")
        assert (await deals.pipeline(untouched)).version == "v1"
    assert messages_to(store, "ivanov", migrated) == ["welcome_b ran"]
    assert messages_to(store, "ivanov", untouched) == []
