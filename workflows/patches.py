"""Every ``workflow.patched`` id of the deal workflow, named by the behaviour it brought.

A patch id is written into the history of every deal that took the new branch, so an id
never changes once released. A patch is retired in two releases (docs/patches.md): first
``workflow.deprecate_patch(ID)`` in place of the check, once no run started before the
change is open (a patch is decided per run, a continued-as-new run takes the new branch),
e.g. for 2026-12-01 once this counts none::

    WorkflowType = 'DealWorkflow' AND ExecutionStatus = 'Running'
        AND StartTime < '2026-12-01T00:00:00Z'

(the replay histories that need the old branch are deleted in that release), then the
call itself, once no run that recorded the marker is open.
"""

from __future__ import annotations

from dataclasses import dataclass

from temporalio import workflow

# `accept` writes a `deal_accepted` report event (who accepted, how long the deal waited).
# Deals recorded before accept without it. Folded into PATCH_NOV_27 for deals started since.
# Retire with PATCH_NOV_27.
PATCH_ACCEPT_REPORTED = "accept-writes-report-event"

# A trigger checked while the run loop was still entering the stage a trigger had chosen saw
# the old stage and queued the same move again (the deal entered `payment` twice when the
# contract task and the invoice arrived together): such a move is now dropped. Deals that
# did so replay without the fix. Folded into PATCH_NOV_27. Retire with PATCH_NOV_27.
PATCH_ONE_MOVE_AT_A_TIME = "drop-stale-trigger-move"

# The stage-transition record is a local activity (was an activity: one server round trip
# more on every move). Folded into PATCH_NOV_27. Retire with PATCH_NOV_27.
PATCH_TRANSITION_LOCAL = "transition-record-local"

# The changes of 2026-11-27 under one id, so that a new deal records one marker (and one
# TemporalChangeVersion upsert, a visibility write) instead of three:
# - PATCH_ONE_MOVE_AT_A_TIME, PATCH_TRANSITION_LOCAL and PATCH_ACCEPT_REPORTED, as above;
# - no search-attribute upsert on entering the first stage when the start already set
#   every value (DealClient.start does);
# - a template task being created counts as not done: a trigger checked while the last task
#   of a chain was being created (any message to the deal in that moment) closed the deal as
#   won with that task never done.
# Deals recorded with the three older markers, or with none, replay through the three checks.
# The id keeps its date: histories carry it. Retire once no deal started before 2026-12-01
# is open (with the three above: then every open deal has this marker).
PATCH_NOV_27 = "deal-code-2026-11-27"

# A request is checked again when the deal applies it, not only by its validator: ten
# `accept`s sent at once all passed their validators against the same state and entered
# `in_progress` ten times. Checked only where a request no longer applies, so a deal records
# the marker only when it refuses one. Retire once no deal started before 2026-12-01 is open.
PATCH_RECHECK = "recheck-when-applied"

# An invoice is paid when its payments add up to its amount; a payment naming an invoice the
# deal never issued, or in another currency, is reported and not applied. Checked only for
# a payment those rules treat differently from before (partial, over, unknown, currency).
# Retire once no deal started before 2026-12-01 is open.
PATCH_PAYMENTS_ADD_UP = "payments-add-up"

# A closed deal writes its record to the store (funnel/storage/closed_deals.py) as its last
# step. Retire once no deal started before 2026-12-01 is open.
PATCH_CLOSED_RECORD = "closed-deal-record"

# Coming back to a stage that issues an invoice reuses the one still open (contract ->
# proposal -> contract left two collectable invoices). Checked only when an open invoice
# exists. Retire once no deal started before 2026-12-01 is open.
PATCH_ONE_OPEN_INVOICE = "one-open-invoice"

# A task due within a minute of its stage's deadline is told with the stage's breach, not
# in a second message (the shipped contract stage had both at 5 working days). Checked only
# then. Retire once no deal started before 2026-12-01 is open.
PATCH_ONE_ALARM = "one-alarm-per-breach"

# The confirmation loop tells people: the creator that a task awaits confirmation, the
# executor why it was returned. Checked only when someone is to be told. Retire once no deal
# started before 2026-12-01 is open.
PATCH_CONFIRMATION_LOOP = "confirmation-loop-notices"

# A robot may repeat (`repeat: {every, until, max}`, workflows/repeats.py): its repetitions,
# each on a durable timer under its own key, stopped by what they wait for. Asked only when a
# stage has a repeating robot (no pipeline pinned before could have one), so a deal records
# the marker only then. Retire once no deal started before 2026-12-01 is open.
PATCH_REPEATING_ROBOTS = "repeating-robots"

# Reassigning a deal's people (edit_deal) makes its open tasks follow the pipeline's rules:
# executor, co-executors and creator (who confirms) are the task robot's roles resolved for
# the new people, and waiting robots counted in the responsible's working time get due
# times in the new responsible's. Deals edited before moved the executor only. Checked only
# when an edit changes the responsible, the head or the sales team. Retire once no deal
# started before 2026-12-02 is open.
PATCH_EDIT_PEOPLE_FOLLOW = "edit-people-follow-rules"

# `refresh_search_attributes` (funnel db backfill-team) also sets DealPipeline, the pipeline's
# id, on a deal started before it: lists by pipeline find it. A refresh recorded before set
# no such attribute. Checked only when the deal lacks it. Retire once no deal started before
# 2026-12-02 is open.
PATCH_REFRESH_PIPELINE = "refresh-sets-deal-pipeline"

# Entering a stage computes the due times of its timed robots with its deadline, in one
# local activity before the stage-transition record (was: one per robot, after it), so the
# record carries the stage's plan to the store for the board. Checked only on entering a
# stage with a robot so timed. Retire once no deal started before 2026-12-02 is open.
PATCH_STAGE_PLAN = "stage-plan-at-entry"


@dataclass(frozen=True)
class RunPatches:
    """The patched behaviours decided once, on the run's first workflow task: a deal that
    started before a change keeps the old behaviour for the rest of its run."""

    nov_27: bool = False
    drop_stale_moves: bool = False
    transition_local: bool = False

    @classmethod
    def decide(cls) -> RunPatches:
        # The order of these checks (and that the older two are asked only without
        # PATCH_NOV_27) is part of every recorded history.
        nov_27 = workflow.patched(PATCH_NOV_27)
        drop_stale_moves = nov_27 or workflow.patched(PATCH_ONE_MOVE_AT_A_TIME)
        transition_local = nov_27 or workflow.patched(PATCH_TRANSITION_LOCAL)
        return cls(nov_27, drop_stale_moves, transition_local)
