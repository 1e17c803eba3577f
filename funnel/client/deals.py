"""A typed client for deals, shared by the CLI and the HTTP API: start a deal with the current
pipeline pinned, send its messages, read its state, list deals.

The deal's workflow answers while it exists. A closed deal's workflow is deleted with the
namespace's retention; its record stays in the store (funnel/storage/closed_deals.py), and every
read
here falls back to it, saying so (``source``: ``workflow`` or ``record``). A message to such
a deal gets the refusal a closed workflow gives."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from pydantic import BaseModel
from temporalio.client import (
    Client,
    WorkflowHandle,
    WorkflowHistory,
    WorkflowUpdateFailedError,
)
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from funnel.client.edits import DealEdits
from funnel.client.errors import (
    BadFilter,
    DealError,
    DealExists,
    DealNotFound,
    DealRejected,
    closed_refusal,
    visibility_literal,
)
from funnel.client.funnels import DealFunnels
from funnel.client.listing import (
    Cursor,
    DealFilter,
    DealSummary,
    Page,
    Source,
    StatusFilter,
    list_page,
)
from funnel.client.run_log import robot_runs, run_histories
from funnel.domain import messages
from funnel.domain.models import (
    AcceptInput,
    CloseInput,
    DealInput,
    DealResult,
    DealSnapshot,
    DealState,
    DealWorkflowInput,
    InvoicePaid,
    MoveInput,
    RunTemplateInput,
    TaskCompleted,
    TaskEvent,
    TaskView,
    UpdateFieldsInput,
    WaitingRobot,
    workflow_id_for,
)
from funnel.domain.people import Actor
from funnel.domain.pipeline import Pipeline
from funnel.domain.robot_runs import ActivityRun
from funnel.domain.search_attributes import at_start
from funnel.storage.closed_deals import ClosedDeal, ClosedDeals, MissingSchema

__all__ = [
    "BadFilter",
    "DealClient",
    "DealError",
    "DealExists",
    "DealNotFound",
    "DealRead",
    "DealRejected",
    "DealSummary",
    "visibility_literal",
]

UpdateResult = TypeVar("UpdateResult")
T = TypeVar("T")


@dataclass(frozen=True)
class DealRead:
    """A deal's state and where it was read: its workflow, or its record in the store."""

    state: DealState
    source: Source


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
        "search_attributes": at_start(deal, pipeline.first_stage.id, pipeline.id),
        "static_summary": summary_line(deal),
        "static_details": f"Pipeline {pipeline.id} version {pipeline.version}",
    }


class DealClient(DealEdits, DealFunnels):
    def __init__(
        self,
        client: Client,
        *,
        task_queue: str,
        ui_base: str | None = None,
        records: ClosedDeals | None = None,
    ) -> None:
        self._client = client
        self._task_queue = task_queue
        self._ui_base = ui_base
        # The closed deals' records; None: reads end at the workflow (tests, benchmarks).
        self.records = records

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

    async def start(
        self, deal: DealInput, pipeline: Pipeline, *, actor: Actor | None = None
    ) -> DealState:
        """Start the deal as ``actor``, whom its first stage visit records, and answer its
        opening state (stage, people, pinned pipeline) once the server has recorded the
        start. The state is the one the workflow begins from, built here: asking the
        workflow would wait until a worker has run the deal's first step, ten times the
        cost of the start under a burst of new deals (docs/performance.md). A worker that
        is down delays the deal, not its start."""
        try:
            await self._client.start_workflow(
                messages.WORKFLOW_TYPE,
                DealWorkflowInput(deal=deal, pipeline=pipeline, started_by=actor),
                task_queue=self._task_queue,
                result_type=DealResult,
                **start_options(deal, pipeline),
            )
        except WorkflowAlreadyStartedError as exc:
            raise DealExists(f"deal {deal.deal_id} already exists") from exc
        return DealState.opening(deal, pipeline)

    def _handle(self, deal_id: str) -> WorkflowHandle[Any, DealResult]:
        return self._client.get_workflow_handle(workflow_id_for(deal_id), result_type=DealResult)

    async def record(self, deal_id: str) -> ClosedDeal | None:
        """The closed deal's record in the store, if it has one."""
        if self.records is None:
            return None
        try:
            return await asyncio.to_thread(self.records.get, deal_id)
        except MissingSchema:
            return None  # a database not migrated yet holds no record
        except Exception as exc:  # the store is down: say so, not "no deal"
            raise DealError(
                f"deal {deal_id}: its workflow is not found and its record cannot be read"
                f" from the store ({exc})"
            ) from exc

    async def read(self, deal_id: str) -> DealRead:
        """The deal's state from its workflow, or from its record once the workflow is gone."""
        try:
            state = await _ask(self._handle(deal_id), messages.STATE, DealState)
            return DealRead(state, "workflow")
        except RPCError as exc:
            record = await self._record_if_gone(exc, deal_id)
            return DealRead(record.state, "record")

    async def state(self, deal_id: str) -> DealState:
        return (await self.read(deal_id)).state

    async def _record_if_gone(self, exc: RPCError, deal_id: str) -> ClosedDeal:
        """The deal's record when ``exc`` says its workflow is gone; else ``exc`` translated."""
        record = await self.record(deal_id) if exc.status == RPCStatusCode.NOT_FOUND else None
        if record is None:
            raise _translate(exc, deal_id) from exc
        return record

    async def plan(self, deal_id: str) -> list[WaitingRobot]:
        """Every waiting robot and deadline of a live deal, with its due time and rule (a
        closed deal's record: nothing waits any more)."""
        try:
            plan: list[WaitingRobot] = await self._handle(deal_id).query(
                messages.PLAN, result_type=list[WaitingRobot]
            )
            return plan
        except RPCError as exc:
            await self._record_if_gone(exc, deal_id)
            return []

    async def pipeline(self, deal_id: str) -> Pipeline:
        """The pipeline version the deal runs on."""
        try:
            return await _ask(self._handle(deal_id), messages.PIPELINE, Pipeline)
        except RPCError as exc:
            raise await self._error(exc, deal_id) from exc

    async def robot_runs(self, deal_id: str) -> tuple[DealRead, list[ActivityRun]]:
        """The deal's state and every robot activity run, from the workflow's event
        histories or from the record."""
        found = await self.read(deal_id)
        if found.source == "workflow":
            try:
                histories = await run_histories(self._client, deal_id)
                return found, [run for h in histories for run in robot_runs(h)]
            except RPCError as exc:  # deleted between the two reads
                found = DealRead((await self._record_if_gone(exc, deal_id)).state, "record")
        record = await self.record(deal_id)
        return found, record.robot_runs if record else []

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

    # Every change takes the caller's ``actor`` (authenticated by the API or the CLI): the
    # deal checks what they may do and records who did it. It replaces an actor in the
    # request model, which a request body must never choose.

    async def accept(
        self, deal_id: str, by: str | None = None, *, actor: Actor | None = None
    ) -> DealState:
        return await self._change(deal_id, messages.ACCEPT, AcceptInput(by=by, actor=actor))

    async def move(
        self,
        deal_id: str,
        stage: str,
        reason: str | None = None,
        by: str | None = None,
        *,
        actor: Actor | None = None,
    ) -> DealState:
        request = MoveInput(stage=stage, reason=reason, by=by, actor=actor)
        return await self._change(deal_id, messages.MOVE, request)

    async def close(
        self, deal_id: str, request: CloseInput, *, actor: Actor | None = None
    ) -> DealState:
        return await self._change(deal_id, messages.CLOSE, _as(request, actor))

    async def run_template(
        self, deal_id: str, by: str | None = None, *, actor: Actor | None = None
    ) -> list[TaskView]:
        request = RunTemplateInput(by=by, actor=actor)
        return await self._update(deal_id, messages.RUN_TEMPLATE, request, list[TaskView])

    async def task_event(
        self, deal_id: str, event: TaskEvent, *, actor: Actor | None = None
    ) -> TaskView:
        return await self._update(deal_id, messages.TASK_EVENT, _as(event, actor), TaskView)

    async def update_fields(
        self, deal_id: str, request: UpdateFieldsInput, *, actor: Actor | None = None
    ) -> DealState:
        return await self._change(deal_id, messages.UPDATE_FIELDS, _as(request, actor))

    async def invoice_paid(self, deal_id: str, paid: InvoicePaid) -> None:
        await self._signal(deal_id, messages.INVOICE_PAID, paid)

    async def task_completed(
        self, deal_id: str, done: TaskCompleted, *, actor: Actor | None = None
    ) -> None:
        await self._signal(deal_id, messages.TASK_COMPLETED, _as(done, actor))

    async def _change(
        self,
        deal_id: str,
        update: str,
        arg: BaseModel,
    ) -> DealState:
        """An update that changes the deal answers a DealSnapshot (kept small: it is written
        into the deal's history); callers here get the whole state, read once it is in."""
        await self._update(deal_id, update, arg, DealSnapshot)
        return await self.state(deal_id)

    async def _update(
        self,
        deal_id: str,
        update: str,
        arg: BaseModel,
        result_type: type[UpdateResult],
    ) -> UpdateResult:
        try:
            answer: UpdateResult = await self._handle(deal_id).execute_update(
                update, arg, result_type=result_type
            )
            return answer
        except WorkflowUpdateFailedError as exc:
            cause = exc.cause
            message = cause.message if isinstance(cause, ApplicationError) else str(cause)
            raise DealRejected(message) from exc
        except RPCError as exc:
            raise await self._error(exc, deal_id) from exc

    async def _signal(
        self,
        deal_id: str,
        signal: str,
        arg: BaseModel,
    ) -> None:
        try:
            await self._handle(deal_id).signal(signal, arg)
        except RPCError as exc:
            raise await self._error(exc, deal_id) from exc

    async def _error(self, exc: RPCError, deal_id: str) -> DealError:
        """A message the deal's workflow did not take: a deal whose workflow is gone but
        whose record is kept is closed, not unknown."""
        if exc.status == RPCStatusCode.NOT_FOUND and await self.record(deal_id) is not None:
            return closed_refusal(deal_id)
        return _translate(exc, deal_id)

    async def list_page(self, filt: DealFilter, cursor: Cursor | None, page_size: int) -> Page:
        """One page of deals: open ones through visibility, then closed ones from the store."""
        return await list_page(self._client, self.records, filt, cursor, page_size)

    async def list(
        self,
        *,
        stage: str | None = None,
        responsible: str | None = None,
        breached: bool | None = None,
        status: StatusFilter | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        pipeline: str | None = None,
        limit: int = 100,
    ) -> list[DealSummary]:
        filt = DealFilter(stage, responsible, breached, status, since, until, pipeline=pipeline)
        deals: list[DealSummary] = []
        cursor: Cursor | None = None
        while len(deals) < limit:
            page = await self.list_page(filt, cursor, min(limit - len(deals), 100))
            deals += page.deals
            if page.next is None:
                break
            cursor = page.next
        return deals


Request = TypeVar("Request", CloseInput, TaskEvent, UpdateFieldsInput, TaskCompleted)


def _as(request: Request, actor: Actor | None) -> Request:
    """The request sent as ``actor``: the one given here, never one the request brought."""
    return request.model_copy(update={"actor": actor})


def _translate(exc: RPCError, deal_id: str) -> DealError:
    if "already completed" in exc.message:
        # The deal's workflow has finished: the deal is won or lost for good.
        return closed_refusal(deal_id)
    if exc.status == RPCStatusCode.NOT_FOUND:
        return DealNotFound(f"no deal {deal_id!r}")
    return DealError(f"deal {deal_id}: {exc.message}")


async def _ask(handle: WorkflowHandle[Any, Any], query: str, result_type: type[T]) -> T:
    answer: T = await handle.query(query, result_type=result_type)
    return answer
