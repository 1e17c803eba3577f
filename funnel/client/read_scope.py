"""Which deals a person may read (issue 17): one rule for lists, single deals, tasks and
reports, so that no reader can show what another hides.

- a manager: the deals they are responsible for, and those whose sales team they are in;
- a head: the deals of their department: whose ``department_head`` they are, or whose
  responsible is in their department (the directory: ``head`` is them, or the same
  ``department``);
- an admin, and every service token (a system driving deals for the company): all deals,
  ``scope_for`` answers None.

The directory is read when the scope is built, so a person moved to another department
reads that department's deals from their next request on.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from funnel.domain.models import DealInput
from funnel.domain.people import Actor, Role
from funnel.storage.directory import Employee


@dataclass(frozen=True)
class ReadScope:
    """The deals one person may read; None in place of a scope means all of them."""

    person: str
    responsibles: frozenset[str]  # a deal whose responsible is one of these
    head: str | None = None  # a deal whose department_head this is (a head's own)
    member: str | None = None  # a deal whose sales team has this person (a manager)

    def allows(self, deal: DealInput) -> bool:
        return (
            deal.responsible in self.responsibles
            or (self.head is not None and deal.department_head == self.head)
            or (self.member is not None and self.member in deal.sales_team)
        )

    def refusal(self, deal_id: str) -> str:
        return f"deal {deal_id} is not one of your deals ({self.person})"


def scope_for(actor: Actor | None, employees: Iterable[Employee]) -> ReadScope | None:
    """The actor's scope; None (everything) for a service, an admin or no actor at all (the
    CLI on the server, a trigger)."""
    if actor is None or actor.kind != "person" or actor.role is Role.ADMIN:
        return None
    me = actor.id
    if actor.role is Role.HEAD:
        department = actor.department
        staff = {
            e.id for e in employees if e.head == me or (department and e.department == department)
        }
        return ReadScope(me, frozenset({me, *staff}), head=me)
    return ReadScope(me, frozenset({me}), member=me)
