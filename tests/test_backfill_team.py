"""Open deals started before the DealTeam and DealPipeline search attributes get them from
`funnel db backfill-team`, so that their sales team finds them in their lists and lists by
pipeline find them; against the real dev server and a worker."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from pathlib import Path

from click.testing import CliRunner
from temporalio.common import TypedSearchAttributes
from temporalio.testing import WorkflowEnvironment

from funnel.client.deals import DealClient, start_options
from funnel.client.listing import DealFilter
from funnel.client.read_scope import ReadScope
from funnel.domain import messages
from funnel.domain.models import DealResult, DealWorkflowInput, workflow_id_for
from funnel.domain.pipeline import Pipeline
from funnel.domain.search_attributes import DEAL_PIPELINE, DEAL_TEAM, at_start
from funnel.storage.store import Store
from starter.backfill_team import backfill_team
from starter.cli import main
from tests.helpers import HISTORIES, eventually, keep_history, patch_ids, sample_deal
from tests.temporal_fixtures import deal_system, new_deal_id
from workflows.patches import PATCH_REFRESH_PIPELINE


async def _start_as_before(deals: DealClient, pusk: Pipeline, deal_id: str) -> None:
    """A deal started the way deals were before DealTeam: every attribute but the team (and
    the pipeline, which came later still)."""
    deal = sample_deal(deal_id)
    options = start_options(deal, pusk)
    older = [p for p in at_start(deal, pusk.first_stage.id) if p.key.name != DEAL_TEAM.name]
    options["search_attributes"] = TypedSearchAttributes(older)
    await deals.temporal_client.start_workflow(
        messages.WORKFLOW_TYPE,
        DealWorkflowInput(deal=deal, pipeline=pusk),
        task_queue=deals._task_queue,
        result_type=DealResult,
        **options,
    )
    await eventually(deals, deal_id, lambda s: bool(s.visits))


async def _team_lists(deals: DealClient, member: str, deal_id: str, want: bool) -> bool:
    """Whether ``member`` lists the open deal as a sales-team member, once visibility
    agrees with ``want`` (or after 10 s)."""
    scope = ReadScope(member, frozenset({member}), member=member)
    for _ in range(100):
        page = await deals.list_page(DealFilter(status="open", scope=scope), None, 500)
        listed = deal_id in {d.deal_id for d in page.deals}
        if listed == want:
            return listed
        await asyncio.sleep(0.1)
    return listed


async def test_backfill_sets_the_team_of_open_deals_started_before(
    dev_env: WorkflowEnvironment, store: Store, pusk: Pipeline, tmp_path: Path
) -> None:
    deal_id, lone = new_deal_id("BT"), new_deal_id("BT")
    async with deal_system(dev_env, store) as deals:
        await _start_as_before(deals, pusk, deal_id)
        alone = sample_deal(lone).model_copy(update={"sales_team": []})
        await deals.start(alone, pusk)
        assert not await _team_lists(deals, "petrov", deal_id, want=False)

        queue = deals._task_queue
        report = await backfill_team(dev_env.client, queue, timedelta(seconds=10))
        assert deal_id in report.set and lone in report.no_team and not report.failed
        assert report.pipeline_set == [deal_id]  # the lone deal had its pipeline from its start
        handle = dev_env.client.get_workflow_handle(workflow_id_for(deal_id))
        described = await handle.describe()
        assert described.typed_search_attributes.get(DEAL_TEAM) == ["petrov", "sidorova"]
        assert described.typed_search_attributes.get(DEAL_PIPELINE) == "pusk"
        assert await _team_lists(deals, "petrov", deal_id, want=True)
        # A refresh recorded before DealPipeline, which had nothing to set, replays without
        # setting it (the committed history pusk_refresh_nothing_before_deal_pipeline fails
        # tests/test_replay.py without the patch); this one took the patch.
        assert PATCH_REFRESH_PIPELINE in patch_ids(await handle.fetch_history())
        assert (HISTORIES / "pusk_refresh_nothing_before_deal_pipeline.json").exists()
        await keep_history(deals, deal_id, "pusk_refresh_sets_deal_pipeline")

        # Again, from the CLI: nothing more to set.
        await _team_lists(deals, "sidorova", deal_id, want=True)
        env = {
            "TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
            "FUNNEL_TASK_QUEUE": queue,
            "FUNNEL_DATABASE_URL": f"sqlite:///{tmp_path / 'funnel.db'}",
        }
        args = ["db", "backfill-team", "--json"]
        ran = await asyncio.to_thread(CliRunner().invoke, main, args, env=env)
        assert ran.exit_code == 0, ran.output
        again = json.loads(ran.output)
        assert (again["set"], again["already"], again["no_team"]) == ([], 1, [lone])
        assert again["pipeline_set"] == []
