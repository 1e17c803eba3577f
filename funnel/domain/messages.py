"""The deal workflow's names: its type, updates, signals and queries. The workflow registers
its handlers under these names and the client calls them by these names, so the client
needs nothing of the workflow's code."""

from __future__ import annotations

from typing import Final

WORKFLOW_TYPE: Final = "DealWorkflow"

# Updates: the caller hears whether the deal took the change.
ACCEPT: Final = "accept"
MOVE: Final = "move_to_stage"
CLOSE: Final = "close"
RUN_TEMPLATE: Final = "run_template"
TASK_EVENT: Final = "task_event"
UPDATE_FIELDS: Final = "update_fields"
MIGRATE: Final = "migrate_pipeline"
MOVE_TO_FUNNEL: Final = "move_to_funnel"  # to a stage of another pipeline
EDIT_DEAL: Final = "edit_deal"
COMMENT: Final = "comment"
REFRESH_SEARCH_ATTRIBUTES: Final = "refresh_search_attributes"

# Signals: for systems that send and forget.
INVOICE_PAID: Final = "invoice_paid"
TASK_COMPLETED: Final = "task_completed"

# Queries.
STATE: Final = "state"
PLAN: Final = "plan"
PIPELINE: Final = "pipeline"
