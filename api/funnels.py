"""Several funnels over HTTP: ``GET /pipelines`` (the pipelines a deal may start in, the
default one marked) and ``POST /deals/{id}/move-to-funnel`` (a person moves the deal to a
stage of another pipeline, whose robots run). ``POST /deals`` names its pipeline in the body
(api/deals.py); a lead form's pipeline is configured (FUNNEL_LEAD_PIPELINES, api/intake.py).

The pipeline files are read per request, as ``POST /deals`` reads them: a new deal, or a
deal moved to another pipeline, gets its current version."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from api.caller import request_actor
from api.deals import DealId, _deals, _out, read, write
from api.errors import DEAL_ERRORS, temporal
from api.pipelines import pipeline_named, pipelines
from api.schemas import DealOut, Problem
from funnel.domain.pipeline import ID_PATTERN
from funnel.domain.text import FreeText, OneLine

router = APIRouter(tags=["deals"], responses=DEAL_ERRORS)
UNKNOWN: dict[int | str, dict[str, Any]] = {
    422: {"model": Problem, "description": "an unknown pipeline (the known ones named)"}
}


class PipelineOut(BaseModel):
    id: str
    name: str
    version: str
    default: bool = Field(description="a new deal naming no pipeline gets this one")
    stages: list[str]


class MoveToFunnelBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    pipeline: str = Field(pattern=ID_PATTERN, max_length=64, description="the other pipeline")
    stage: OneLine = Field(min_length=1, max_length=64, description="a process stage of it")
    reason: FreeText | None = None
    by: OneLine | None = Field(default=None, description="optional: the caller's own id")


@router.get("/pipelines", dependencies=read, summary="The pipelines deals may run in")
async def list_pipelines(request: Request) -> list[PipelineOut]:
    loaded = pipelines(request)
    return [
        PipelineOut(
            id=p.id,
            name=p.name,
            version=p.version,
            default=p is loaded.default,
            stages=[s.id for s in p.stages],
        )
        for p in loaded
    ]


@router.post(
    "/deals/{deal_id}/move-to-funnel",
    dependencies=write,
    responses=UNKNOWN,
    summary="Move the deal to a stage of another pipeline",
)
async def move_to_funnel(request: Request, deal_id: DealId, body: MoveToFunnelBody) -> DealOut:
    """The deal leaves its stage (everything it waited for there ends), runs in the other
    pipeline's current version from now on and enters ``stage``, whose robots run. Who may:
    as for a move (its responsible, their head or an admin); 409 with the deal's reason
    otherwise, or for a stage that is not a process stage of that pipeline."""
    target = pipeline_named(request, body.pipeline)
    call = _deals(request).move_to_funnel(
        deal_id, target, body.stage, body.reason, body.by, actor=request_actor(request)
    )
    return _out(request, await temporal(request, call))
