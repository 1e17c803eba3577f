"""Who may do what to a deal: the funnel's control points, checked by the deal itself.

A change message carries the ``Actor`` its caller authenticated (the HTTP API from the
signed-in person or token, the CLI from ``--as``). The deal checks the actor twice: in the
update's validator (a refused request never reaches the history) and again when the change
is applied (the deal may have moved on while the request waited its turn). Each check
answers None or a reason naming who and why.

A request without an actor (an older caller, the CLI without ``--as``, or a history recorded
before actors) is not checked here and its free-text ``by`` is kept as it is: histories
replay as they ran, since none of them holds an actor (nor, before service tokens were
actors, a service actor: the service rules changed without a patch). The rules:

- accept, move, close, the task set: the deal's responsible, their head (the deal's
  ``department_head``) or an admin;
- moving back to a stage before ``contract`` from ``contract`` or later needs a reason
  (closing as lost needs one for everyone, see the close validator);
- complete a task: its executor, a co-executor or its creator (whose completion confirms
  it); confirm or return it: its creator only (not an admin: the confirmation is the
  creator's control point, separation of duties);
- change fields: the responsible, the head, the sales team or an admin;
- edit the deal (people, contact, service, amount): the responsible, the head or an admin;
- comment: whoever may read the deal (the responsible, the head, the sales team, an
  admin), a person only;
- a service (a payment system, a lead form, an integration; a service token over HTTP)
  acts as itself, recorded as a service: it may complete tasks (reporting the work done:
  never the executor's or the creator's completion, so a task needing confirmation waits
  for its creator) and change fields; accept, moves, closing, confirmations, the task set,
  edits and comments need a person. Its ``by`` naming someone else is refused where it would
  pass the service off as that person (every action but fields), and ignored for fields,
  which record no one. Payments (``invoice_paid``) are kept whoever reports them.
- the deal's own triggers (an invoice paid, tasks done) are never checked.
"""

from __future__ import annotations

from temporalio import workflow
from temporalio.exceptions import ApplicationError

from workflows.context import DealContext

with workflow.unsafe.imports_passed_through():
    from funnel.domain.models import TaskAction, TaskView
    from funnel.domain.people import Actor, Role
    from funnel.domain.pipeline import Stage
    from funnel.domain.who_may import acting_problem, task_problem

# The stage from which moving back needs a reason: the contract is drafted, an invoice
# issued; going back undoes that work and the report should say why. A pipeline without
# such a stage has no such rule.
CONTRACT_STAGE = "contract"


def not_allowed(problem: str | None) -> None:
    """Refuse a request the actor may not make. Only requests with an actor can be refused
    so, and no history recorded before actors holds one: no patch is needed."""
    if problem is not None:
        raise ApplicationError(problem, type="NotAllowed")


class Permissions:
    def __init__(self, ctx: DealContext) -> None:
        self._ctx = ctx

    def lead(self, actor: Actor | None, by: str | None, doing: str) -> str | None:
        """The responsible, their head or an admin; ``doing`` says what, for the reason."""
        if actor is None:
            return None
        deal = self._ctx.state.deal
        problem = acting_problem(actor, by, f"{doing} deal {deal.deal_id}")
        if problem is not None:
            return problem
        if actor.kind == "service":
            return (
                f"service {actor.id} cannot {doing} deal {deal.deal_id}: a person must (signed"
                " in, or with a personal token)"
            )
        if actor.role is Role.ADMIN or actor.id in (deal.responsible, deal.department_head):
            return None
        return (
            f"{actor.id} cannot {doing} deal {deal.deal_id}: only its responsible"
            f" {deal.responsible}, their head {deal.department_head} or an admin can"
        )

    def move(
        self, actor: Actor | None, by: str | None, landing: Stage, to: str, reason: str | None
    ) -> str | None:
        """A move by a lead; back past the contract only with a reason. ``landing`` is the
        stage the deal is in or entering when the check runs."""
        problem = self.lead(actor, by, f"move to {to!r}")
        if problem is not None or actor is None or (reason or "").strip():
            return problem
        order = [s.id for s in self._ctx.pipeline.stages]
        if CONTRACT_STAGE not in order or to not in order or landing.id not in order:
            return None
        if order.index(to) < order.index(CONTRACT_STAGE) <= order.index(landing.id):
            return (
                f"{actor.id} moves deal {self._ctx.state.deal_id} back from {landing.id!r}"
                f" to {to!r}, before {CONTRACT_STAGE!r}: that needs a reason"
            )
        return None

    def fields(self, actor: Actor | None, by: str | None) -> str | None:
        """The deal's team or a service (whose ``by`` is ignored)."""
        if actor is None or actor.kind == "service":
            return None
        problem = acting_problem(actor, by, f"change the fields of deal {self._ctx.state.deal_id}")
        if problem is not None or actor.id in self._ctx.state.deal.sales_team:
            return problem
        return self.lead(actor, by, "change the fields of")

    def read(self, actor: Actor | None, doing: str) -> str | None:
        """The people who may read the deal: its responsible, head, sales team or an
        admin. A comment is a person's: a request without an actor or from a service is
        refused."""
        deal = self._ctx.state.deal
        if actor is None or actor.kind == "service":
            name = "a request without a person" if actor is None else f"service {actor.id}"
            return f"{name} cannot {doing} deal {deal.deal_id}: a person must"
        if actor.role is Role.ADMIN or actor.id in (
            deal.responsible,
            deal.department_head,
            *deal.sales_team,
        ):
            return None
        return (
            f"{actor.id} cannot {doing} deal {deal.deal_id}: only its responsible, head,"
            " sales team or an admin can"
        )

    def task(
        self, actor: Actor | None, by: str | None, task: TaskView, action: TaskAction
    ) -> str | None:
        return task_problem(actor, by, task, action)
