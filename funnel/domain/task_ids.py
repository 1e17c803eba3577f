"""One task id for people: the deal workflow's ``<seq>-<robot id>`` (``4-signed_contract_task``),
the id ``funnel task done`` and the HTTP API take.

The store keeps a task under its robot's idempotency key (``<deal id>:<seq>:<robot id>``, or
``<deal id>:<seq>:template:<template id>``), and ``funnel task list`` once printed the tail of
that key (``4:signed_contract_task``): ids copied from old output still work, normalised here.
"""

from __future__ import annotations

import re

# "<seq>:<rest>", the form the task list printed before it printed the workflow's id.
_LEGACY = re.compile(r"^(\d+):(.+)$")


def normalise_task_id(raw: str) -> str:
    """``4:signed_contract_task`` -> ``4-signed_contract_task``; any other id unchanged."""
    legacy = _LEGACY.match(raw.strip())
    return f"{legacy.group(1)}-{legacy.group(2)}" if legacy else raw.strip()
