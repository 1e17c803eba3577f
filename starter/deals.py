"""A typed client for deals, shared by the CLI (and later the HTTP API): start a deal with the
current pipeline pinned, send its messages, read its state, list deals through visibility."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowHandle,
    WorkflowHistory,
    WorkflowUpdateFailedError,
)
from temporalio.common import SearchAttributePair, TypedSearchAttributes, WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode
from temporalio.workflow import UpdateMethodMultiParam

from funnel.models import (
    AcceptInput,
    CloseInput,
    DealInput,
    DealResult,
    DealSnapshot,
    DealState,
    DealWorkflowInput,
    InvoicePaid,
    MigrateInput,
    MoveInput,
    RunTemplateInput,
    TaskCompleted,
    TaskEvent,
    TaskView,
    UpdateFieldsInput,
    WaitingRobot,
    workflow_id_for,
)
from funnel.pipeline import Pipeline
from funnel.search_attributes import DEAL_AMOUNT, DEAL_BREACHED, DEAL_RESPONSIBLE, DEAL_STAGE
from funnel.text import control_character
from workflows.deal import DealWorkflow

UpdateArg = TypeVar("UpdateArg")
UpdateResult = TypeVar("UpdateResult")


class DealError(Exception):
    """A request about a deal that could not be carried out; the message says why."""


class DealNotFound(DealError):
    pass


class DealExists(DealError):
    pass


class DealRejected(DealError):
    """The workflow refused the message (e.g. an unknown stage)."""


class BadFilter(DealError, ValueError):
    """A list filter that cannot be searched for."""


@dataclass(frozen=True)
class DealSummary:
    deal_id: str
    stage: str | None
    responsible: str | None
    amount: float | None
    breached: bool | None
    status: str


def summary_line(deal: DealInput) -> str:
    who = deal.contact.company or deal.contact.name
    return f"Deal {deal.deal_id}: {who}, {deal.service}, {deal.amount} {deal.currency}"


def start_options(deal: DealInput, pipeline: Pipeline) -> dict[str, Any]:
    """How every deal is started (by this client, and by the benchmarks' driver): its id,
    its search attributes set from the start (the workflow then upserts none on entering
    the first stage), and the summary the Web UI lists."""
    return {
        "id": workflow_id_for(deal.deal_id),
        # A deal id names one deal for good: never start a second one with it.
        "id_reuse_policy": WorkflowIDReusePolicy.REJECT_DUPLICATE,
        "search_attributes": TypedSearchAttributes(
            [
                SearchAttributePair(DEAL_STAGE, pipeline.first_stage.id),
                SearchAttributePair(DEAL_RESPONSIBLE, deal.responsible),
                SearchAttributePair(DEAL_AMOUNT, float(deal.amount)),
                SearchAttributePair(DEAL_BREACHED, False),
            ]
        ),
        "static_summary": summary_line(deal),
        "static_details": f"Pipeline {pipeline.id} version {pipeline.version}",
    }


class DealClient:
    def __init__(self, client: Client, *, task_queue: str, ui_base: str | None = None) -> None:
        self._client = client
        self._task_queue = task_queue
        self._ui_base = ui_base

    @property
    def temporal_client(self) -> Client:
        """The underlying client, for what this class does not wrap (health checks, paged
        visibility listing and event histories in the HTTP API)."""
        return self._client

    def ui_link(self, deal_id: str) -> str | None:
        if self._ui_base is None:
            return None
        namespace = self._client.namespace
        return f"{self._ui_base}/namespaces/{namespace}/workflows/{workflow_id_for(deal_id)}"

    async def start(self, deal: DealInput, pipeline: Pipeline) -> DealState:
        try:
            handle = await self._client.start_workflow(
                DealWorkflow.run,
                DealWorkflowInput(deal=deal, pipeline=pipeline),
                task_queue=self._task_queue,
                **start_options(deal, pipeline),
            )
        except WorkflowAlreadyStartedError as exc:
            raise DealExists(f"deal {deal.deal_id} already exists") from exc
        return await self._query(handle, deal.deal_id)

    def _handle(self, deal_id: str) -> WorkflowHandle[DealWorkflow, DealResult]:
        return self._client.get_workflow_handle_for(DealWorkflow.run, workflow_id_for(deal_id))

    async def state(self, deal_id: str) -> DealState:
        return await self._query(self._handle(deal_id), deal_id)

    async def plan(self, deal_id: str) -> list[WaitingRobot]:
        """Every waiting robot and deadline of a live deal, with its due time and rule."""
        try:
            return await self._handle(deal_id).query(DealWorkflow.plan)
        except RPCError as exc:
            raise _translate(exc, deal_id) from exc

    async def pipeline(self, deal_id: str) -> Pipeline:
        """The pipeline version the deal runs on."""
        try:
            return await self._handle(deal_id).query(DealWorkflow.pipeline)
        except RPCError as exc:
            raise _translate(exc, deal_id) from exc

    async def _query(
        self, handle: WorkflowHandle[DealWorkflow, DealResult], deal_id: str
    ) -> DealState:
        try:
            return await handle.query(DealWorkflow.state)
        except RPCError as exc:
            raise _translate(exc, deal_id) from exc

    async def history(self, deal_id: str) -> WorkflowHistory:
        try:
            return await self._handle(deal_id).fetch_history()
        except RPCError as exc:
            raise _translate(exc, deal_id) from exc

    async def result(self, deal_id: str) -> DealResult:
        try:
            return await self._handle(deal_id).result()
        except RPCError as exc:
            raise _translate(exc, deal_id) from exc

    async def accept(self, deal_id: str, by: str | None = None) -> DealState:
        return await self._change(deal_id, DealWorkflow.accept, AcceptInput(by=by))

    async def move(
        self, deal_id: str, stage: str, reason: str | None = None, by: str | None = None
    ) -> DealState:
        return await self._change(
            deal_id, DealWorkflow.move_to_stage, MoveInput(stage=stage, reason=reason, by=by)
        )

    async def close(self, deal_id: str, request: CloseInput) -> DealState:
        return await self._change(deal_id, DealWorkflow.close, request)

    async def run_template(self, deal_id: str, by: str | None = None) -> list[TaskView]:
        return await self._update(deal_id, DealWorkflow.run_template, RunTemplateInput(by=by))

    async def task_event(self, deal_id: str, event: TaskEvent) -> TaskView:
        return await self._update(deal_id, DealWorkflow.task_event, event)

    async def update_fields(self, deal_id: str, request: UpdateFieldsInput) -> DealState:
        return await self._change(deal_id, DealWorkflow.update_fields, request)

    async def migrate(self, deal_id: str, request: MigrateInput) -> DealState:
        return await self._change(deal_id, DealWorkflow.migrate_pipeline, request)

    async def invoice_paid(self, deal_id: str, paid: InvoicePaid) -> None:
        await self._signal(deal_id, DealWorkflow.invoice_paid, paid)

    async def task_completed(self, deal_id: str, done: TaskCompleted) -> None:
        await self._signal(deal_id, DealWorkflow.task_completed, done)

    async def _change(
        self,
        deal_id: str,
        update: UpdateMethodMultiParam[[DealWorkflow, UpdateArg], DealSnapshot],
        arg: UpdateArg,
    ) -> DealState:
        """An update that changes the deal answers a DealSnapshot (kept small: it is written
        into the deal's history); callers here get the whole state, read once it is in."""
        await self._update(deal_id, update, arg)
        return await self.state(deal_id)

    async def _update(
        self,
        deal_id: str,
        update: UpdateMethodMultiParam[[DealWorkflow, UpdateArg], UpdateResult],
        arg: UpdateArg,
    ) -> UpdateResult:
        try:
            return await self._handle(deal_id).execute_update(update, arg)
        except WorkflowUpdateFailedError as exc:
            cause = exc.cause
            message = cause.message if isinstance(cause, ApplicationError) else str(cause)
            raise DealRejected(message) from exc
        except RPCError as exc:
            raise _translate(exc, deal_id) from exc

    async def _signal(
        self,
        deal_id: str,
        signal: Callable[[DealWorkflow, UpdateArg], Awaitable[None]],
        arg: UpdateArg,
    ) -> None:
        try:
            await self._handle(deal_id).signal(signal, arg)
        except RPCError as exc:
            raise _translate(exc, deal_id) from exc

    async def list(
        self,
        *,
        stage: str | None = None,
        responsible: str | None = None,
        breached: bool | None = None,
        limit: int = 100,
    ) -> list[DealSummary]:
        clauses = ["WorkflowType = 'DealWorkflow'"]
        if stage:
            clauses.append(f"DealStage = {visibility_literal(stage)}")
        if responsible:
            clauses.append(f"DealResponsible = {visibility_literal(responsible)}")
        if breached is not None:
            clauses.append(f"DealDeadlineBreached = {str(breached).lower()}")
        deals: list[DealSummary] = []
        async for execution in self._client.list_workflows(" AND ".join(clauses), limit=limit):
            attrs = execution.typed_search_attributes
            deals.append(
                DealSummary(
                    deal_id=execution.id.removeprefix("deal-"),
                    stage=attrs.get(DEAL_STAGE),
                    responsible=attrs.get(DEAL_RESPONSIBLE),
                    amount=attrs.get(DEAL_AMOUNT),
                    breached=attrs.get(DEAL_BREACHED),
                    status=(execution.status or WorkflowExecutionStatus.RUNNING).name.lower(),
                )
            )
        return deals


def visibility_literal(value: str) -> str:
    """``value`` as a string literal of a Temporal visibility query (a control character
    cannot be searched for: a NUL cut the dev server's SQLite query short)."""
    if control_character(value) is not None:
        raise BadFilter(f"{value!r} holds a control character: it cannot be searched for")
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _translate(exc: RPCError, deal_id: str) -> DealError:
    if "already completed" in exc.message:
        # The deal's workflow has finished: the deal is won or lost for good.
        return DealRejected(f"deal {deal_id} is closed and cannot change any more")
    if exc.status == RPCStatusCode.NOT_FOUND:
        return DealNotFound(f"no deal {deal_id!r}")
    return DealError(f"deal {deal_id}: {exc.message}")
