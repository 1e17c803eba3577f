"""The pipeline files, for the deal workflow that cannot read them: a ``move_to_funnel``
robot asks for its target pipeline's current version (the one a new deal would get), and
the answer, recorded in the deal's history, is what the deal runs in from then on."""

from __future__ import annotations

from collections.abc import Callable

from temporalio import activity
from temporalio.exceptions import ApplicationError

from funnel.domain.activity_io import ActivityName
from funnel.domain.funnels import FunnelTarget, target_stage_problem
from funnel.domain.pipeline import Pipeline
from funnel.runtime.pipeline_loader import PipelineError
from funnel.runtime.pipelines import Pipelines, load_settings_pipelines


class PipelineActivities:
    def __init__(self, load: Callable[[], Pipelines] = load_settings_pipelines) -> None:
        self._load = load  # read at every call: a changed file reaches the next move

    @activity.defn(name=ActivityName.LOAD_PIPELINE)
    def load_target(self, target: FunnelTarget) -> Pipeline:
        """The target's current version; a pipeline or stage the files do not have fails
        the robot at once (retrying cannot help until someone edits the files)."""
        try:
            pipeline = self._load().get(target.pipeline_id)
        except PipelineError as exc:
            raise ApplicationError(str(exc), type="UnknownPipeline", non_retryable=True) from exc
        problem = target_stage_problem(pipeline, target.stage)
        if problem is not None:
            raise ApplicationError(problem, type="UnknownPipeline", non_retryable=True)
        return pipeline
