"""Workflows for tests/test_sandbox_runner.py, in a module of their own: the sandbox
re-imports a workflow's module for every run, and a test module imports pytest."""

from __future__ import annotations

from datetime import datetime

from temporalio import workflow


@workflow.defn
class ReadsTheClock:
    """Reads the machine's clock: non-deterministic, which the sandbox must refuse."""

    @workflow.run
    async def run(self) -> str:
        return datetime.now().isoformat()


@workflow.defn
class Echo:
    @workflow.run
    async def run(self, text: str) -> str:
        return text
