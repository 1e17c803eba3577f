"""The operator's view of a deal through `funnel`: one task id in and out, and `deal show`
with local times, unpaid invoices, move causes and the robot runs."""

from __future__ import annotations

import asyncio
from pathlib import Path
from zoneinfo import ZoneInfo

from click.testing import CliRunner, Result
from temporalio.testing import WorkflowEnvironment

from funnel.client.deals import DealClient
from funnel.domain.models import InvoicePaid, TaskStatus
from funnel.domain.pipeline import Pipeline
from funnel.domain.task_ids import normalise_task_id
from funnel.storage.store import Store
from starter.cli import main
from tests.helpers import eventually, sample_deal
from tests.temporal_fixtures import deal_system, new_deal_id


async def funnel(env: WorkflowEnvironment, db: Path, *args: str) -> Result:
    """Run a `funnel` command against the test server and store. In a thread: every command
    runs its own event loop."""
    settings = {
        "TEMPORAL_ADDRESS": env.client.service_client.config.target_host,
        "FUNNEL_DATABASE_URL": f"sqlite:///{db}",
    }
    return await asyncio.to_thread(CliRunner().invoke, main, list(args), env=settings)


async def in_contract(deals: DealClient, pusk: Pipeline) -> str:
    deal_id = new_deal_id("CLI")
    await deals.start(sample_deal(deal_id), pusk)
    await deals.accept(deal_id, by="ivanov")
    await deals.move(deal_id, "contract")
    await eventually(deals, deal_id, lambda s: any(t.stage == "contract" for t in s.tasks))
    return deal_id


def test_a_task_id_from_old_output_is_read_as_the_workflows() -> None:
    assert normalise_task_id("3:signed_contract_task") == "3-signed_contract_task"
    assert normalise_task_id("3-signed_contract_task") == "3-signed_contract_task"
    assert normalise_task_id("5-design") == "5-design"


async def test_task_list_prints_the_id_task_done_takes(
    dev_env: WorkflowEnvironment, store: Store, tmp_path: Path, pusk: Pipeline
) -> None:
    db = tmp_path / "funnel.db"
    async with deal_system(dev_env, store) as deals:
        deal_id = await in_contract(deals, pusk)
        listed = await funnel(dev_env, db, "task", "list", "--deal", deal_id)
        assert listed.exit_code == 0, listed.output
        assert f"{deal_id} 3-signed_contract_task [open]" in listed.output
        assert "3:signed_contract_task" not in listed.output
        as_json = await funnel(dev_env, db, "task", "list", "--deal", deal_id, "--json")
        assert '"task_id": "3-signed_contract_task"' in as_json.output

        # The form the list printed before is still taken.
        done = await funnel(
            dev_env, db, "task", "done", deal_id, "3:signed_contract_task", "--by", "ivanov"
        )
        assert done.exit_code == 0, done.output
        assert "task 3-signed_contract_task: awaiting_confirmation" in done.output
        state = await deals.state(deal_id)
        assert state.tasks[0].status is TaskStatus.AWAITING_CONFIRMATION

        # A refused event reaches the user as the workflow's reason.
        by_executor = await funnel(
            dev_env, db, "task", "confirm", deal_id, "3-signed_contract_task", "--by", "ivanov"
        )
        assert by_executor.exit_code != 0
        assert "only the task's creator" in by_executor.output


async def test_deal_show_reads_like_a_report_in_the_company_time_zone(
    dev_env: WorkflowEnvironment, store: Store, tmp_path: Path, pusk: Pipeline
) -> None:
    db = tmp_path / "funnel.db"
    async with deal_system(dev_env, store) as deals:
        deal_id = await in_contract(deals, pusk)
        state = await deals.state(deal_id)
        entered = state.visits[0].entered_at

        shown = await funnel(dev_env, db, "deal", "show", deal_id)
        assert shown.exit_code == 0, shown.output
        out = shown.output
        assert "times in Europe/Moscow" in out
        assert entered.astimezone(ZoneInfo("Europe/Moscow")).strftime("%Y-%m-%d %H:%M MSK") in out
        assert "came by start, left by accepted" in out
        assert "came by moved" in out
        invoice = next(line for line in out.splitlines() if f"{deal_id}-3" in line)
        assert "UNPAID" in invoice
        assert "robot runs:" in out and "issue_invoice" in out and "done" in out

        berlin = await funnel(dev_env, db, "deal", "show", deal_id, "--tz", "Europe/Berlin")
        assert "times in Europe/Berlin" in berlin.output
        local = entered.astimezone(ZoneInfo("Europe/Berlin"))
        assert f"{local:%Y-%m-%d %H:%M} {local.tzname()}" in berlin.output

        await deals.invoice_paid(deal_id, InvoicePaid(invoice_id=f"{deal_id}-3"))
        await eventually(deals, deal_id, lambda s: s.invoices[0].paid_at is not None)
        paid = await funnel(dev_env, db, "deal", "show", deal_id)
        invoice = next(line for line in paid.output.splitlines() if f"{deal_id}-3" in line)
        assert "UNPAID" not in invoice and " paid 20" in invoice

        bad = await funnel(dev_env, db, "deal", "show", deal_id, "--tz", "Mars/Olympus")
        assert bad.exit_code == 1 and "Mars/Olympus" in bad.output

        # --json keeps the state's shape.
        as_json = await funnel(dev_env, db, "deal", "show", deal_id, "--json")
        assert '"visits"' in as_json.output and '"robot_runs"' in as_json.output


async def test_the_operator_acts_as_an_employee_and_the_deal_shows_it(
    dev_env: WorkflowEnvironment, store: Store, tmp_path: Path, pusk: Pipeline
) -> None:
    """`--as EMPLOYEE`: checked as that employee of the directory (role, department),
    recorded via cli; an unknown employee is refused by name."""
    db = tmp_path / "funnel.db"
    async with deal_system(dev_env, store) as deals:
        deal_id = new_deal_id("CLI")
        await deals.start(sample_deal(deal_id), pusk)
        unknown = await funnel(dev_env, db, "deal", "accept", deal_id, "--as", "nobody")
        assert unknown.exit_code != 0 and "--as nobody: no such employee" in unknown.output
        refused = await funnel(dev_env, db, "deal", "accept", deal_id, "--as", "petrov")
        assert refused.exit_code != 0
        assert "petrov cannot accept deal" in refused.output
        forged = await funnel(
            dev_env, db, "deal", "accept", deal_id, "--as", "smirnova", "--by", "ivanov"
        )
        assert "by ivanov differs from the caller smirnova" in forged.output
        accepted = await funnel(dev_env, db, "deal", "accept", deal_id, "--as", "smirnova")
        assert accepted.exit_code == 0, accepted.output
        moved = await funnel(dev_env, db, "deal", "move", deal_id, "contract", "--as", "ivanov")
        assert moved.exit_code == 0, moved.output
        task = "3-signed_contract_task"
        await eventually(deals, deal_id, lambda s: s.task(task) is not None)
        done = await funnel(dev_env, db, "task", "done", deal_id, task, "--as", "ivanov")
        assert "awaiting_confirmation" in done.output, done.output
        confirm = await funnel(dev_env, db, "task", "confirm", deal_id, task, "--as", "ivanov")
        assert "only its creator smirnova can" in confirm.output
        confirm = await funnel(dev_env, db, "task", "confirm", deal_id, task, "--as", "smirnova")
        assert confirm.exit_code == 0, confirm.output
        shown = await funnel(dev_env, db, "deal", "show", deal_id)
        assert "came by accepted, left by moved; by smirnova via cli" in shown.output
        assert "complete by ivanov via cli" in shown.output, shown.output
        assert "confirm by smirnova via cli" in shown.output
        state = await deals.state(deal_id)
    events = [(e.action.value, e.by, e.via) for e in state.task(task).events]  # type: ignore[union-attr]
    assert events == [("complete", "ivanov", "cli"), ("confirm", "smirnova", "cli")]
    assert [(v.entered_by, v.via) for v in state.visits[1:3]] == [
        ("smirnova", "cli"),
        ("ivanov", "cli"),
    ]
