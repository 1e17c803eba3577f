"""The pipeline files as a request reads them (``POST /deals``, a lead, a move to another
funnel): read anew each time, so that a new deal gets the files as they are now."""

from __future__ import annotations

from fastapi import HTTPException, Request, status

from funnel.domain.pipeline import Pipeline
from funnel.runtime.pipeline_loader import PipelineError
from funnel.runtime.pipelines import Pipelines, UnknownPipeline, current_pipelines
from funnel.runtime.settings import Settings


def pipelines(request: Request) -> Pipelines:
    """The pipeline files as they are now; 503 when one of them is broken."""
    settings: Settings = request.app.state.settings
    try:
        return current_pipelines(settings)
    except PipelineError as exc:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE, detail=f"the pipeline files: {exc}"
        ) from exc


def pipeline_named(request: Request, pipeline_id: str | None) -> Pipeline:
    """The pipeline ``pipeline_id`` names (None: the default one); 422 for an unknown id."""
    try:
        return pipelines(request).get(pipeline_id)
    except UnknownPipeline as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=str(exc)) from exc
