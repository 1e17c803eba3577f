"""Moving a running deal to another version of its pipeline (the ``migrate_pipeline``
update, sent by ``funnel pipeline migrate``): on request only, the new version applies from
the next stage entry; what waits now stays as it is."""

from __future__ import annotations

from temporalio import workflow

from workflows.context import DealContext, invalid
from workflows.pinned import pinned

with workflow.unsafe.imports_passed_through():
    from funnel.domain.models import DealSnapshot, MigrateInput, PipelineMigration


class Migration:
    def __init__(self, ctx: DealContext) -> None:
        self._ctx = ctx

    def validate(self, input: MigrateInput) -> None:
        ctx = self._ctx
        ctx.require_open()
        new = input.pipeline
        if new.id != ctx.pipeline.id:
            raise invalid(f"pipeline {new.id!r} is not this deal's {ctx.pipeline.id!r}")
        if new.version == ctx.pipeline.version:
            raise invalid(f"the deal already runs version {new.version}")
        if not new.has_stage(ctx.state.stage):
            raise invalid(
                f"version {new.version} has no stage {ctx.state.stage!r}, where the deal is"
            )

    def apply(self, input: MigrateInput) -> DealSnapshot:
        ctx = self._ctx
        ctx.state.migrations.append(
            PipelineMigration(
                from_version=ctx.pipeline.version,
                to_version=input.pipeline.version,
                at=ctx.now(),
                by=input.by,
            )
        )
        ctx.pipeline = pinned(input.pipeline)
        ctx.state.pipeline_version = input.pipeline.version
        return DealSnapshot.of(ctx.state)
