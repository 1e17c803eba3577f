"""A workflow whose activity always fails, for the activity-failure counter test (workflows
must live in an importable module: the sandbox refuses ones defined in a test's __main__)."""

from __future__ import annotations

from datetime import timedelta

from temporalio import activity, workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError


@activity.defn
def always_fails() -> None:
    raise ApplicationError("the CRM said no")


@workflow.defn
class FailingRobotWorkflow:
    @workflow.run
    async def run(self) -> str:
        try:
            await workflow.execute_activity(
                always_fails,
                start_to_close_timeout=timedelta(seconds=5),
                retry_policy=RetryPolicy(maximum_attempts=2, initial_interval=timedelta(0)),
            )
        except ActivityError:
            return "failed"
        return "ran"
