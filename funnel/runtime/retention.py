"""The namespace's retention: how long Temporal keeps a closed deal's workflow and its full
event history (the Web UI shows them only that long). The deal itself is kept for good as
its record in the store (funnel/storage/closed_deals.py); retention bounds only the Web UI's
view and
the window in which `funnel db backfill-closed` can record deals closed without one.

`funnel up` sets it on the embedded dev server's namespace (``FUNNEL_RETENTION_DAYS``, default
30; the dev server's own default is 24 hours); a cluster's namespace keeps the retention its
operators gave it. `funnel doctor` reports it.
"""

from __future__ import annotations

from datetime import timedelta

from google.protobuf.duration_pb2 import Duration
from temporalio.api.namespace.v1 import NamespaceConfig
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest, UpdateNamespaceRequest
from temporalio.client import Client

DAY = timedelta(days=1)


async def retention(client: Client, namespace: str | None = None) -> timedelta:
    """The namespace's retention of closed workflows."""
    described = await client.workflow_service.describe_namespace(
        DescribeNamespaceRequest(namespace=namespace or client.namespace)
    )
    ttl: timedelta = described.config.workflow_execution_retention_ttl.ToTimedelta()
    return ttl


async def set_retention(client: Client, days: int, namespace: str | None = None) -> timedelta:
    """Keep closed workflows ``days`` days in the namespace; returns the retention before."""
    name = namespace or client.namespace
    before = await retention(client, name)
    wanted = days * DAY
    if before != wanted:
        # Only the retention is set: the server leaves every config field not given as is.
        ttl = Duration()
        ttl.FromTimedelta(wanted)
        await client.workflow_service.update_namespace(
            UpdateNamespaceRequest(
                namespace=name,
                config=NamespaceConfig(workflow_execution_retention_ttl=ttl),
            )
        )
    return before


def in_words(ttl: timedelta) -> str:
    if ttl % DAY == timedelta(0):
        return f"{ttl // DAY} days"
    return f"{ttl.total_seconds() / 3600:g} hours"
