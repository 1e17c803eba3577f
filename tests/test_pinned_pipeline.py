"""A worker holds one Pipeline object per pinned version, however many deals run on it
(workflows/pinned.py): each deal's input carries the whole pipeline, and a copy per cached
workflow was most of an open deal's memory."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from typing import Any

from temporalio import workflow
from temporalio.client import WorkflowHistory
from temporalio.worker import (
    ExecuteWorkflowInput,
    Interceptor,
    Replayer,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
)

from funnel.domain.pipeline import Pipeline
from funnel.runtime.temporal_client import DATA_CONVERTER
from tests.helpers import HISTORIES, mini_pipeline
from workflows.deal import DealWorkflow
from workflows.pinned import pinned, pinned_count


def _copy(pipeline: Pipeline) -> Pipeline:
    """What a deal's workflow input deserializes: an equal object of its own."""
    return Pipeline.model_validate_json(pipeline.model_dump_json())


def test_equal_pipelines_of_one_version_are_one_object() -> None:
    first = mini_pipeline([{"id": "a", "name": "A"}], version="pinned-1")
    second = _copy(first)
    assert second == first and second is not first
    assert pinned(first) is first
    assert pinned(second) is first


def test_another_version_or_other_content_is_not_shared() -> None:
    v1 = mini_pipeline([{"id": "a", "name": "A"}], version="pinned-2")
    v2 = mini_pipeline([{"id": "a", "name": "A"}], version="pinned-3")
    assert pinned(v1) is v1 and pinned(v2) is v2
    # The same version string over other content (set by hand): the deal keeps its own.
    edited = mini_pipeline([{"id": "a", "name": "A"}, {"id": "b", "name": "B"}], version="pinned-2")
    assert pinned(edited) is edited


def test_a_version_no_deal_holds_is_freed() -> None:
    gc.collect()
    before = pinned_count()
    held = pinned(mini_pipeline([{"id": "a", "name": "A"}], version="pinned-4"))
    assert pinned_count() == before + 1
    del held
    gc.collect()
    assert pinned_count() == before


_seen: list[tuple[Pipeline, Pipeline]] = []


class _SeeThePipeline(WorkflowInboundInterceptor):
    async def execute_workflow(self, input: ExecuteWorkflowInput) -> Any:
        result = await super().execute_workflow(input)
        deal: Any = workflow.instance()
        _seen.append((deal.pipeline(), input.args[0].pipeline))
        return result


class _Interceptor(Interceptor):
    def workflow_interceptor_class(
        self, input: WorkflowInterceptorClassInput
    ) -> type[WorkflowInboundInterceptor]:
        return _SeeThePipeline


async def test_two_deals_on_one_version_share_the_pipeline_in_the_worker() -> None:
    """Two deals replayed in one worker (the sandbox imports the workflow afresh for each)
    run on one Pipeline object, and neither workflow input keeps a copy of its own."""
    text = (HISTORIES / "pusk_all_stages_won.json").read_text()
    histories = [WorkflowHistory.from_json(f"deal-pinned-{n}", text) for n in (1, 2)]
    replayer = Replayer(
        workflows=[DealWorkflow], data_converter=DATA_CONVERTER, interceptors=[_Interceptor()]
    )
    _seen.clear()

    async def both() -> AsyncIterator[WorkflowHistory]:
        for history in histories:
            yield history

    results = await replayer.replay_workflows(both(), raise_on_replay_failure=True)
    assert results.replay_failures == {}
    assert len(_seen) == 2
    (first, first_input), (second, second_input) = _seen
    assert first is second
    assert first_input is first and second_input is first
