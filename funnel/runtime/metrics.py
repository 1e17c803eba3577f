"""Our own metrics, exported next to the SDK's on the worker's Prometheus endpoint
(``FUNNEL_METRICS_PORT``, see :func:`telemetry_runtime`).

Everything goes through Temporal's ``MetricMeter``, never a separate Prometheus client:
``workflow.metric_meter()`` drops what a workflow records while it replays, so a deal whose
history is replayed after a worker restart is not counted twice.

Names (Prometheus; counters get ``_total`` appended):

- ``funnel_deals_started`` (pipeline): a new deal's first run (a worker interceptor)
- ``funnel_stage_transitions`` (pipeline, from_stage, to_stage)
- ``funnel_deadline_breaches`` (pipeline, stage)
- ``funnel_robot_failures`` (robot_type, stage): a robot that failed after its retries
- ``funnel_activity_failures`` (activity): every failed activity attempt (an interceptor)
- ``funnel_invoice_paid_reaction_seconds`` (histogram): from the invoice_paid signal (or,
  for an invoice paid early, from entering the payment stage) to the deal's next stage

Where DealWorkflow (workflows/deal.py) calls the ``record_*`` helpers, always with
``workflow.metric_meter()``: ``_enter`` (stage transition; and, when the move's cause is
``invoice_paid``, the reaction time), ``_watch_deadline`` after the breach is marked (deadline
breach), the ``except ActivityError`` of ``_run_robot`` (robot failure, by ``robot.type``).
They add no command to the history, so they need no ``workflow.patched``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from temporalio import activity, workflow
from temporalio.common import MetricMeter
from temporalio.exceptions import CancelledError
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    ExecuteWorkflowInput,
    Interceptor,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
)

from funnel.runtime.settings import Settings

DEALS_STARTED = "funnel_deals_started"
STAGE_TRANSITIONS = "funnel_stage_transitions"
DEADLINE_BREACHES = "funnel_deadline_breaches"
ROBOT_FAILURES = "funnel_robot_failures"
ACTIVITY_FAILURES = "funnel_activity_failures"
INVOICE_PAID_REACTION = "funnel_invoice_paid_reaction_seconds"

DEAL_WORKFLOW_TYPE = "DealWorkflow"

_runtimes: dict[str, Runtime] = {}


def telemetry_runtime(bind_address: str) -> Runtime:
    """A Temporal runtime exporting the SDK's and our metrics on ``http://<bind>/metrics``.

    One per address per process: the runtime owns the HTTP listener, so a second one on the
    same port would fail to bind."""
    runtime = _runtimes.get(bind_address)
    if runtime is None:
        runtime = Runtime(
            telemetry=TelemetryConfig(
                metrics=PrometheusConfig(
                    bind_address=bind_address,
                    counters_total_suffix=True,
                    durations_as_seconds=True,
                )
            )
        )
        _runtimes[bind_address] = runtime
    return runtime


def runtime_for(settings: Settings) -> Runtime | None:
    """The metrics runtime when FUNNEL_METRICS_PORT is set; None: the SDK's default."""
    if settings.metrics_port is None:
        return None
    return telemetry_runtime(f"{settings.metrics_host}:{settings.metrics_port}")


# --- helpers for workflow code: call them with workflow.metric_meter() ----------------------


def record_stage_transition(
    meter: MetricMeter, pipeline_id: str, from_stage: str | None, to_stage: str
) -> None:
    meter.create_counter(STAGE_TRANSITIONS, "deals moving from one stage to another").add(
        1,
        {"pipeline": pipeline_id, "from_stage": from_stage or "(start)", "to_stage": to_stage},
    )


def record_deadline_breach(meter: MetricMeter, pipeline_id: str, stage: str) -> None:
    meter.create_counter(DEADLINE_BREACHES, "stage deadlines breached").add(
        1, {"pipeline": pipeline_id, "stage": stage}
    )


def record_robot_failure(meter: MetricMeter, robot_type: str, stage: str) -> None:
    meter.create_counter(ROBOT_FAILURES, "robots that failed after their retries").add(
        1, {"robot_type": robot_type, "stage": stage}
    )


def record_invoice_paid_reaction(
    meter: MetricMeter, since: datetime, now: datetime, pipeline_id: str
) -> None:
    """``since``: when the signal arrived (or the payment stage was entered, for an invoice
    paid early); ``now``: ``workflow.now()`` when the deal entered the next stage."""
    seconds = max((now - since) / timedelta(seconds=1), 0.0)
    meter.create_histogram_float(
        INVOICE_PAID_REACTION, "from invoice_paid to the next stage", "s"
    ).record(seconds, {"pipeline": pipeline_id})


def record_deal_started(meter: MetricMeter, pipeline_id: str) -> None:
    meter.create_counter(DEALS_STARTED, "deals started").add(1, {"pipeline": pipeline_id})


# --- the worker interceptor: deals started, activity failures -------------------------------


def _pipeline_id(args: Sequence[Any]) -> str:
    # DealWorkflowInput carries the pinned pipeline; read it loosely, since a metric must
    # never be the reason a deal fails.
    first = args[0] if args else None
    pipeline = getattr(first, "pipeline", None)
    return str(getattr(pipeline, "id", "unknown"))


class _WorkflowMetrics(WorkflowInboundInterceptor):
    async def execute_workflow(self, input: ExecuteWorkflowInput) -> Any:
        info = workflow.info()
        # A run that continued-as-new is the same deal: count only the first run.
        if info.workflow_type == DEAL_WORKFLOW_TYPE and info.continued_run_id is None:
            record_deal_started(workflow.metric_meter(), _pipeline_id(input.args))
        return await super().execute_workflow(input)


class _ActivityMetrics(ActivityInboundInterceptor):
    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        try:
            return await super().execute_activity(input)
        except BaseException as exc:
            # Cancellation on shutdown or when a deal leaves its stage is not a failure.
            if not isinstance(exc, asyncio.CancelledError | CancelledError):
                activity.metric_meter().create_counter(
                    ACTIVITY_FAILURES, "failed activity attempts"
                ).add(1, {"activity": activity.info().activity_type})
            raise


class MetricsInterceptor(Interceptor):
    """Add to the worker's interceptors: counts deals started and failed activity attempts."""

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _ActivityMetrics(next)

    def workflow_interceptor_class(
        self, input: WorkflowInterceptorClassInput
    ) -> type[WorkflowInboundInterceptor] | None:
        return _WorkflowMetrics
