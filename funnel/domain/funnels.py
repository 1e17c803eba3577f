"""Several funnels: a new deal naming its pipeline, and moving a running deal to a stage of
another pipeline (by a person, the ``move_to_funnel`` update, or by a ``move_to_funnel``
robot, which asks the worker for the target's current version first)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from funnel.domain.models import DealInput
from funnel.domain.people import Actor
from funnel.domain.pipeline import ID_PATTERN, Pipeline
from funnel.domain.text import FreeText, OneLine

# The cause of a stage visit the deal entered from another pipeline.
MOVED_TO_FUNNEL = "moved_to_funnel"


class NewDeal(DealInput):
    """A deal to start (``POST /deals``, ``funnel deal start``), naming its pipeline."""

    pipeline: str | None = Field(
        default=None,
        pattern=ID_PATTERN,
        description="the pipeline's id; default: the default pipeline (GET /pipelines)",
    )

    def deal(self) -> DealInput:
        return DealInput.model_validate(self.model_dump(exclude={"pipeline"}))


class MoveToFunnelInput(BaseModel):
    """A person moves the deal to ``stage`` of another ``pipeline`` (its current version,
    loaded by the caller)."""

    model_config = ConfigDict(extra="forbid")
    pipeline: Pipeline
    stage: OneLine
    reason: FreeText | None = None
    by: OneLine | None = None
    actor: Actor | None = Field(
        default=None, description="the authenticated caller; set by the API or the CLI"
    )


class FunnelTarget(BaseModel):
    """What a ``move_to_funnel`` robot asks the worker for: the current version of
    ``pipeline_id``, which must have ``stage`` as a process stage."""

    key: str
    pipeline_id: str
    stage: str


def target_stage_problem(target: Pipeline, stage_id: str) -> str | None:
    """Why a deal cannot be moved into ``stage_id`` of ``target`` (None: it can)."""
    process = [s.id for s in target.stages if not s.terminal]
    if stage_id in process:
        return None
    what = "is a won/lost stage" if target.has_stage(stage_id) else "is not a stage"
    return (
        f"{stage_id!r} {what} of pipeline {target.id!r}; a deal moves to one of its process"
        f" stages: {', '.join(process)}"
    )
