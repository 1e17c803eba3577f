"""Changing a running deal: custom fields (``update_fields``), the deal itself (``edit_deal``:
people, contact, service, amount) and people's comments (``comment``).

An edit applies its effects in the deal, in this order: the new values (timers anchored on a
changed date field move), new people's effects (the open tasks of the current visit follow
the pipeline's rules, timers counted in the responsible's working time move:
workflows/reassign.py), the store's row and those tasks', the people told (the old and the
new responsible or head, a task's new confirmer), an open unpaid invoice reissued for a new
amount, the title rendered again, the search attributes, and the ``deal_edited`` report
event. Robots and notices still waiting resolve their roles
(responsible, head, sales team) when they run (DealContext.people), so they address the new
people without being touched. Every effect is keyed by the edit's number (``state.edits``):
a retried activity is a no-op in the store.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from pydantic import BaseModel
from temporalio import workflow
from temporalio.common import SearchAttributeUpdate
from temporalio.exceptions import ActivityError

from workflows.context import DealContext, invalid
from workflows.deadlines import Deadlines
from workflows.moves import MoveQueue
from workflows.patches import PATCH_EDIT_PEOPLE_FOLLOW
from workflows.payments import Payments
from workflows.permissions import Permissions, not_allowed
from workflows.reassign import Handover, Reassign

with workflow.unsafe.imports_passed_through():
    from funnel.domain.activity_io import ActivityName, DealEditCall, SetTitleCall
    from funnel.domain.edits import CommentInput, EditDealInput
    from funnel.domain.models import (
        DealComment,
        DealSnapshot,
        FieldValue,
        TaskComment,
        TaskView,
    )
    from funnel.domain.people import Doer
    from funnel.domain.pipeline import SetTitleRobot, Stage
    from funnel.domain.robot_runs import RunOutcome
    from funnel.domain.search_attributes import DEAL_AMOUNT, DEAL_RESPONSIBLE, DEAL_TEAM
    from funnel.domain.stage_plan import stage_plan
    from funnel.domain.text import literal
    from workflows.validation import FieldProblem, check_field_updates


# The deal's people: an edit changing one of them makes its tasks and waiting robots follow.
PEOPLE = {"responsible", "department_head", "sales_team"}


def _plain(value: Any) -> Any:
    """A value as the report's JSON keeps it."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", exclude_none=True)
    return str(value) if isinstance(value, Decimal) else value


class Edits:
    def __init__(
        self,
        ctx: DealContext,
        may: Permissions,
        moves: MoveQueue,
        deadlines: Deadlines,
        payments: Payments,
    ) -> None:
        self._ctx = ctx
        self._may = may
        self._moves = moves
        self._deadlines = deadlines
        self._payments = payments
        self._reassign = Reassign(ctx)

    # --- custom fields (update_fields, and the fields of an edit) ------------------------

    def check_fields(self, fields: dict[str, FieldValue]) -> None:
        try:
            check_field_updates(self._ctx.pipeline, fields)
        except FieldProblem as exc:
            raise invalid(str(exc)) from None

    async def apply_fields(self, fields: dict[str, FieldValue]) -> None:
        """Set the fields; every waiting robot or deadline anchored on a changed field gets
        its due time computed again (Bitrix24 keeps the old time)."""
        state = self._ctx.state
        changes = check_field_updates(self._ctx.pipeline, fields)
        deal = state.deal
        custom = {k: v for k, v in changes.items() if k != "amount"}
        update: dict[str, object] = {"fields": {**deal.fields, **custom}}
        if "amount" in changes:
            update["amount"] = changes["amount"]
        state.deal = deal.model_copy(update=update)
        await self._deadlines.follow_fields({f"fields.{k}" for k in custom})

    # --- edit_deal ------------------------------------------------------------------------

    def _changes(self, input: EditDealInput) -> dict[str, tuple[Any, Any]]:
        """What the edit changes: name -> (old, new); custom fields as ``fields.<name>``."""
        deal = self._ctx.state.deal
        diff = {
            name: (getattr(deal, name), new)
            for name, new in input.given().items()
            if getattr(deal, name) != new
        }
        for name, new in (input.fields or {}).items():
            if deal.fields.get(name) != new:
                diff[f"fields.{name}"] = (deal.fields.get(name), new)
        return diff

    def edit_problem(self, input: EditDealInput) -> str | None:
        if input.fields and "amount" in input.fields:
            return "the amount is edited as `amount`, not as a custom field"
        if not self._changes(input):
            return f"the edit changes nothing on deal {self._ctx.state.deal_id}"
        return None

    def validate_edit(self, input: EditDealInput) -> None:
        self._ctx.require_open()
        not_allowed(self._may.lead(input.actor, None, "edit"))
        if input.fields:
            self.check_fields(input.fields)
        problem = self.edit_problem(input)
        if problem is not None:
            raise invalid(problem)

    async def edit(self, input: EditDealInput) -> DealSnapshot:
        ctx, state, moves = self._ctx, self._ctx.state, self._moves
        # Checked again: the deal may have closed, or another edit made this one empty,
        # while it waited its turn.
        not_allowed(self._may.lead(input.actor, None, "edit"))
        moves.refuse_if(moves.closing_problem() or self.edit_problem(input))
        by = Doer.of(input.actor)
        diff = self._changes(input)
        old = state.deal
        state.edits += 1
        key = f"{state.deal_id}:edit:{state.edits}"
        state.deal = old.model_copy(update=input.given())
        if input.fields:
            await self.apply_fields(input.fields)
        new = state.deal
        follow = bool(PEOPLE & diff.keys()) and workflow.patched(PATCH_EDIT_PEOPLE_FOLLOW)
        handovers: list[Handover] = []
        if follow:
            handovers = self._reassign.follow_rules(old)
            moved = [h.task for h in handovers]
            if "responsible" in diff:
                await self._deadlines.follow_responsible()
        else:
            moved = self._move_tasks(old.responsible, new.responsible)
        stage = ctx.current_stage()
        with ctx.working():
            await ctx.call(
                ActivityName.RECORD_DEAL_EDIT,
                DealEditCall(
                    key=f"{key}:store",
                    deal=new,
                    task_keys=[] if follow else [t.key for t in moved],
                    tasks=[h.people() for h in handovers],
                    at=ctx.now(),
                    plan=stage_plan(state.waiting, state.seq),  # timers the edit moved
                ),
                None,
                summary="Write the edited deal and its moved tasks to the store",
            )
            await self._tell(key, stage, diff)
            await self._reassign.tell_new_confirmers(key, stage, handovers)
            if {"amount", "currency"} & diff.keys():
                await self._reissue_invoice(key, stage)
            await self._render_title(key, stage)
        updates: list[SearchAttributeUpdate[Any]] = []
        if "responsible" in diff:
            updates.append(DEAL_RESPONSIBLE.value_set(new.responsible))
        if "amount" in diff:
            updates.append(DEAL_AMOUNT.value_set(float(new.amount)))
        if "sales_team" in diff:
            # The team finds its open deals by this attribute (funnel/client/read_scope.py).
            updates.append(DEAL_TEAM.value_set(list(new.sales_team)))
        if updates:
            workflow.upsert_search_attributes(updates)
        await ctx.write_report(
            f"{key}:report",
            stage,
            "deal_edited",
            ", ".join(diff),
            "Write the edit to the history",
            extra=by.report()
            | {
                "reason": input.reason,
                "changes": {k: [_plain(a), _plain(b)] for k, (a, b) in diff.items()},
                "tasks_moved": [t.task_id for t in moved],
            },
        )
        return DealSnapshot.of(state)

    def _move_tasks(self, old: str, new: str) -> list[TaskView]:
        """The open tasks of the current visit whose executor was the old responsible (deals
        edited before PATCH_EDIT_PEOPLE_FOLLOW)."""
        state = self._ctx.state
        if old == new:
            return []
        moved = [
            t
            for t in state.tasks
            if t.seq == state.seq and not t.status.closed and t.responsible == old
        ]
        for task in moved:
            task.responsible = new
        return moved

    async def _tell(self, key: str, stage: Stage, diff: dict[str, tuple[Any, Any]]) -> None:
        """The old and the new responsible (and head) hear of the change."""
        told: list[str] = []
        lines: list[str] = []
        for role, name in (("responsible", "responsible"), ("department_head", "head")):
            if role in diff:
                old, new = diff[role]
                told += [p for p in (old, new) if p not in told]
                lines.append(f"{name}: {literal(old)} -> {literal(new)}")
        if told:
            await self._ctx.notify(
                f"{key}:told",
                stage,
                told,
                f"Deal {{{{ deal.title }}}} was reassigned ({'; '.join(lines)}).",
                "Tell the old and the new people of the deal",
            )

    async def _reissue_invoice(self, key: str, stage: Stage) -> None:
        """An open invoice nobody has paid anything of follows the new amount: it is
        cancelled and one for the new amount issued. A partly paid one stays as it is."""
        ctx, state = self._ctx, self._ctx.state
        replaced = [
            i.invoice_id for i in state.invoices if i.open and not i.prepayment and not i.payments
        ]
        if not replaced:
            return
        context = ctx.robot_context(stage)
        await self._payments.issue_invoice(
            state.seq,
            f"{key}:invoice",
            context,
            "Reissue the open invoice for the new amount",
            RunOutcome.DONE,
            invoice_id=f"{state.deal_id}-{state.seq}-e{state.edits}",
        )
        await self._payments.send_reissued(f"{key}:invoice:send", context, replaced)

    def _title_robot(self, stage: Stage) -> SetTitleRobot | None:
        """The current stage's title rule, else the first stage's (the standard title)."""
        for where in (stage, self._ctx.pipeline.first_stage):
            robot = next((r for r in where.robots if isinstance(r, SetTitleRobot)), None)
            if robot is not None:
                return robot
        return None

    async def _render_title(self, key: str, stage: Stage) -> None:
        robot = self._title_robot(stage)
        if robot is None:
            return
        try:
            self._ctx.state.title = await self._ctx.call(
                ActivityName.SET_TITLE,
                SetTitleCall(
                    key=f"{key}:title",
                    context=self._ctx.robot_context(stage),
                    template=robot.template,
                ),
                str,
                summary="Render the title again",
            )
        except ActivityError as err:
            # A title template that cannot render the edited deal keeps the old title: the
            # edit itself is made.
            workflow.logger.warning("title after edit failed: %s", err)

    # --- comments -------------------------------------------------------------------------

    def comment_problem(self, input: CommentInput) -> str | None:
        state = self._ctx.state
        if input.task_id is not None and state.task(input.task_id) is None:
            return f"deal {state.deal_id} has no task {input.task_id!r}"
        return None

    def validate_comment(self, input: CommentInput) -> None:
        self._ctx.require_open()
        not_allowed(self._may.read(input.actor, "comment on"))
        problem = self.comment_problem(input)
        if problem is not None:
            raise invalid(problem)

    async def comment(self, input: CommentInput) -> DealSnapshot:
        ctx, state = self._ctx, self._ctx.state
        not_allowed(self._may.read(input.actor, "comment on"))
        self._moves.refuse_if(self.comment_problem(input))
        by = Doer.of(input.actor)
        assert by.id is not None  # read() refuses a comment without an actor
        now = ctx.now()
        state.comments.append(
            DealComment(text=input.text, by=by.id, at=now, via=by.via, task_id=input.task_id)
        )
        key = f"{state.deal_id}:comment:{len(state.comments)}"
        task = state.task(input.task_id) if input.task_id else None
        if task is not None:
            task.comments.append(TaskComment(by=by.id, at=now, text=input.text, via=by.via))
        await ctx.write_report(
            key,
            ctx.current_stage(),
            "comment",
            input.task_id or "",
            "Write the comment to the history",
            extra=by.report() | {"text": input.text, "task_id": input.task_id},
        )
        return DealSnapshot.of(state)
