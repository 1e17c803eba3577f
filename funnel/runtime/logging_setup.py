"""Logging of the worker and ``funnel up``: plain text for a person at a terminal, one JSON
object a line for a log collector. FUNNEL_LOG_FORMAT=auto (the default) picks text when the
log stream (stderr) is a terminal and JSON otherwise (a pipe, a file, a container's log);
``json`` or ``text`` forces one.

Every record logged in a deal's workflow or activity carries the deal id: the SDK's workflow
and activity loggers attach ``temporal_workflow`` / ``temporal_activity`` dicts to the
record, whose workflow id is ``deal-<deal id>``.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

from funnel.runtime.settings import Settings

_DEAL_PREFIX = "deal-"


def deal_id_of(record: logging.LogRecord) -> str | None:
    for attr in ("temporal_workflow", "temporal_activity"):
        details = getattr(record, attr, None)
        if isinstance(details, dict):
            workflow_id = details.get("workflow_id")
            if isinstance(workflow_id, str) and workflow_id.startswith(_DEAL_PREFIX):
                return workflow_id[len(_DEAL_PREFIX) :]
    deal_id = getattr(record, "deal_id", None)  # logger.info(..., extra={"deal_id": ...})
    return deal_id if isinstance(deal_id, str) else None


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        deal_id = deal_id_of(record)
        if deal_id is not None:
            entry["deal_id"] = deal_id
        for attr, keys in (
            ("temporal_workflow", ("workflow_id", "run_id", "workflow_type")),
            ("temporal_activity", ("activity_type", "attempt")),
        ):
            details = getattr(record, attr, None)
            if isinstance(details, dict):
                entry.update({k: details[k] for k in keys if k in details})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


class _TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        deal_id = deal_id_of(record)
        return f"{text} [deal {deal_id}]" if deal_id else text


def _is_terminal(stream: TextIO) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty is not None and isatty())


def logs_as_json(settings: Settings, stream: TextIO) -> bool:
    if settings.log_format == "auto":
        # JSON lines between `funnel up`'s own lines on a terminal are noise to a person.
        return not _is_terminal(stream)
    return settings.log_format == "json"


def configure_logging(settings: Settings, stream: TextIO | None = None) -> None:
    """Replace the root handlers (idempotent: a second call does not double the output);
    logs go to ``stream``, stderr by default."""
    out = stream if stream is not None else sys.stderr
    handler = logging.StreamHandler(out)
    if logs_as_json(settings, out):
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(_TextFormatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level)
