"""``funnel doctor`` and ``funnel db upgrade`` against the real dev server and real databases:
all OK on a healthy setup, and a FAIL that says what to do for each kind of breakage."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

from google.protobuf.duration_pb2 import Duration
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.api.workflowservice.v1 import RegisterNamespaceRequest
from temporalio.testing import WorkflowEnvironment

from funnel.runtime.settings import Settings
from funnel.storage.migrate import head_revision, upgrade
from starter.doctor import Check, run_checks

FUNNEL = str(Path(sys.executable).parent / "funnel")


def settings_for(env: WorkflowEnvironment, db_url: str, **extra: object) -> Settings:
    values: dict[str, object] = {
        "temporal_address": env.client.service_client.config.target_host,
        "temporal_namespace": env.client.namespace,
        "database_url": db_url,
        **extra,
    }
    return Settings.model_validate(values, by_name=True)


def by_name(checks: list[Check]) -> dict[str, Check]:
    return {c.name: c for c in checks}


async def test_healthy_setup_is_all_ok(dev_env: WorkflowEnvironment, db_url: str) -> None:
    upgrade(db_url)
    checks = await run_checks(settings_for(dev_env, db_url))
    failed = [c.line() for c in checks if c.status == "FAIL"]
    assert not failed, failed
    named = by_name(checks)
    assert named["database schema"].status == "OK"
    assert named["search attribute DealAmount"].detail == "Double"
    assert named["payload codec"].status == "WARN"  # no keys: says contacts are in clear


async def test_each_breakage_fails_with_what_to_do(
    dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    # A namespace without our search attributes, one of them of the wrong type.
    namespace = f"doctor-{uuid.uuid4().hex[:6]}"
    await dev_env.client.workflow_service.register_namespace(
        RegisterNamespaceRequest(
            namespace=namespace, workflow_execution_retention_period=Duration(seconds=86_400)
        )
    )
    await dev_env.client.operator_service.add_search_attributes(
        AddSearchAttributesRequest(
            namespace=namespace,
            search_attributes={"DealStage": IndexedValueType.INDEXED_VALUE_TYPE_TEXT},
        )
    )
    db_url = f"sqlite:///{tmp_path / 'unmigrated.db'}"
    settings = settings_for(
        dev_env,
        db_url,
        temporal_namespace=namespace,
        codec_keys={"a": "not-base64!"},
        pipeline=tmp_path / "missing.yaml",
    )
    named = by_name(await run_checks(settings))
    assert named["payload codec"].status == "FAIL" and "base64" in named["payload codec"].detail
    assert named["pipeline"].status == "FAIL"
    schema = named["database schema"]
    assert schema.status == "FAIL" and "funnel db upgrade" in schema.detail
    stage = named["search attribute DealStage"]
    assert stage.status == "FAIL" and "is Text, the workflow needs Keyword" in stage.detail
    amount = named["search attribute DealAmount"]
    assert amount.status == "FAIL" and "search-attribute create" in amount.detail
    team = named["search attribute DealTeam"]
    assert team.status == "FAIL" and "--type KeywordList" in team.detail
    assert "funnel db backfill-team" in team.detail  # open deals started before lack it

    missing_ns = await run_checks(settings_for(dev_env, db_url, temporal_namespace="nope-x"))
    assert by_name(missing_ns)["namespace"].status == "FAIL"


def run_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [FUNNEL, *args], env={**os.environ, **env}, capture_output=True, text=True, timeout=60
    )


def test_cli_db_upgrade_then_doctor(tmp_path: Path) -> None:
    env = {
        "FUNNEL_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}",
        # Nothing listens there: the doctor must say so and exit 1.
        "TEMPORAL_ADDRESS": "127.0.0.1:1",
        "FUNNEL_HOME": str(tmp_path),
    }
    current = run_cli("db", "current", env=env)
    assert current.returncode == 1 and "database at none" in current.stdout
    upgraded = run_cli("db", "upgrade", env=env)
    assert upgraded.returncode == 0, upgraded.stderr
    assert f"at revision {head_revision()}" in upgraded.stdout
    assert run_cli("db", "current", env=env).returncode == 0

    doctor = run_cli("doctor", env=env)
    assert doctor.returncode == 1
    lines = doctor.stdout.splitlines()
    assert any(line.startswith("OK   database schema") for line in lines), doctor.stdout
    server = next(line for line in lines if line[5:].startswith("Temporal server:"))
    assert server.startswith("FAIL") and "TEMPORAL_ADDRESS" in server

    bad = run_cli("doctor", env={**env, "FUNNEL_METRICS_PORT": "not-a-port"})
    assert bad.returncode == 1 and bad.stdout.startswith("FAIL settings: metrics_port")
