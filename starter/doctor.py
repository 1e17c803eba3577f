"""``funnel doctor``: checks everything a worker needs and says what to do about what is wrong.

One line per check, ``OK`` or ``FAIL`` (or ``WARN``); the exit status is 1 when anything
failed. Checks run in order and a check whose precondition failed is skipped (no namespace
check without a server), so the first FAIL is the one to fix first.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import asdict, dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Literal

import click
from pydantic import ValidationError

from funnel.runtime.settings import Settings

if TYPE_CHECKING:
    from temporalio.client import Client

Status = Literal["OK", "WARN", "FAIL"]
TEMPORAL_TIMEOUT = 5.0  # seconds: a reachable server answers far sooner
RPC_TIMEOUT = timedelta(seconds=TEMPORAL_TIMEOUT)
# Deals started before DealTeam (DealPipeline) was registered lack it: the team does not list
# them (lists by pipeline miss them).
_BACKFILL = {
    "DealTeam": "; then `funnel db backfill-team` gives the open deals their sales team",
    "DealPipeline": "; then `funnel db backfill-team` gives the open deals their pipeline",
}


@dataclass(frozen=True)
class Check:
    name: str
    status: Status
    detail: str

    def line(self) -> str:
        return f"{self.status:<4} {self.name}: {self.detail}"


def check_settings(settings: Settings) -> list[Check]:
    from funnel.runtime.codec import CodecConfigError, codec_from_settings
    from funnel.runtime.codec_server import is_loopback

    checks: list[Check] = []
    try:
        codec = codec_from_settings(settings.codec_keys_plain, settings.codec_active_key)
    except CodecConfigError as exc:
        checks.append(Check("payload codec", "FAIL", str(exc)))
    else:
        if codec is None:
            checks.append(
                Check(
                    "payload codec",
                    "WARN",
                    "off: contacts are stored in clear text on the Temporal server; set"
                    " FUNNEL_CODEC_KEYS (`funnel codec-key` makes a key)",
                )
            )
        else:
            detail = f"AES-GCM, active key {codec.active_key_id!r} of {len(codec.key_ids)}"
            checks.append(Check("payload codec", "OK", detail))
            exposed = not is_loopback(settings.codec_server_host)
            if exposed and not (
                settings.codec_server_token or settings.codec_server_allow_no_token
            ):
                checks.append(
                    Check(
                        "codec server",
                        "FAIL",
                        f"listens on {settings.codec_server_host} without a token: set"
                        " FUNNEL_CODEC_SERVER_TOKEN or FUNNEL_CODEC_SERVER_HOST=127.0.0.1",
                    )
                )
    cert, key = settings.temporal_tls_cert, settings.temporal_tls_key
    if (cert is None) != (key is None):
        checks.append(
            Check("TLS", "FAIL", "set both TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY, or neither")
        )
    for path in (p for p in (cert, key) if p is not None):
        if not path.is_file():
            checks.append(Check("TLS", "FAIL", f"{path} does not exist or is not a file"))
    if settings.api_port in (settings.codec_server_port, settings.metrics_port):
        checks.append(
            Check(
                "ports",
                "FAIL",
                f"port {settings.api_port} is used twice: give FUNNEL_API_PORT,"
                " FUNNEL_CODEC_SERVER_PORT and FUNNEL_METRICS_PORT different values",
            )
        )
    if not any(c.status == "FAIL" for c in checks):
        checks.append(Check("settings", "OK", f"task queue {settings.task_queue!r}"))
    return checks


def check_pipeline(settings: Settings) -> Check:
    """Every pipeline file loads (FUNNEL_PIPELINES, FUNNEL_PIPELINE), and every lead form's
    pipeline (FUNNEL_LEAD_PIPELINES) is one of them."""
    from funnel.runtime.pipeline_loader import PipelineError
    from funnel.runtime.pipelines import Pipelines, lead_pipeline_problem

    try:
        pipelines = Pipelines.from_settings(settings)
    except PipelineError as exc:
        return Check(
            "pipeline",
            "FAIL",
            f"{exc}; fix the file or point FUNNEL_PIPELINES (FUNNEL_PIPELINE) elsewhere",
        )
    problem = lead_pipeline_problem(settings, pipelines)
    if problem is not None:
        return Check("pipeline", "FAIL", problem)
    loaded = "; ".join(
        f"{pipelines.path_of(p.id)}: {p.id} version {p.version}"
        + (" (default)" if p is pipelines.default else "")
        for p in pipelines
    )
    return Check("pipeline", "OK", loaded)


def check_database(settings: Settings) -> list[Check]:
    import sqlalchemy as sa

    from funnel.storage.migrate import schema_status

    url = settings.effective_database_url
    shown = sa.make_url(url).render_as_string(hide_password=True)
    try:
        status = schema_status(url)
    except (sa.exc.SQLAlchemyError, ValueError) as exc:
        reason = str(exc).splitlines()[0]
        return [
            Check(
                "database",
                "FAIL",
                f"{shown} unreachable ({reason}); start it or fix FUNNEL_DATABASE_URL",
            )
        ]
    checks = [Check("database", "OK", f"{shown} reachable")]
    if status.at_head:
        checks.append(Check("database schema", "OK", f"at revision {status.head} (head)"))
    else:
        checks.append(
            Check(
                "database schema",
                "FAIL",
                f"at revision {status.current or 'none'}, the code needs {status.head}:"
                " run `funnel db upgrade`",
            )
        )
    return checks


async def check_temporal(settings: Settings) -> list[Check]:
    from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
    from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
    from temporalio.service import RPCError

    from funnel.domain.search_attributes import ALL_KEYS
    from funnel.runtime.temporal_client import connect

    address, namespace = settings.effective_temporal_address, settings.temporal_namespace
    try:
        # Without the codec: these checks read no payloads, and bad keys have their own line.
        plain = settings.model_copy(update={"codec_keys": {}, "codec_active_key": None})
        # No waiting for a server that is starting: the doctor reports what it finds now.
        client = await asyncio.wait_for(connect(plain, wait=0), TEMPORAL_TIMEOUT)
    except (RuntimeError, TimeoutError, OSError) as exc:
        return [
            Check(
                "Temporal server",
                "FAIL",
                f"{address} unreachable ({exc or 'timed out'}); start it (`funnel up`) or"
                " set TEMPORAL_ADDRESS (and TEMPORAL_API_KEY or TEMPORAL_TLS_* for Cloud)",
            )
        ]
    checks = [Check("Temporal server", "OK", f"{address} reachable")]
    try:
        await client.workflow_service.describe_namespace(
            DescribeNamespaceRequest(namespace=namespace),
            timeout=RPC_TIMEOUT,
        )
    except RPCError as exc:
        checks.append(
            Check(
                "namespace",
                "FAIL",
                f"{namespace!r}: {exc.message}; create it (`temporal operator namespace create"
                f" --namespace {namespace}`) or fix TEMPORAL_NAMESPACE",
            )
        )
        return checks
    checks.append(Check("namespace", "OK", namespace))
    checks.append(await check_retention(client, settings))
    try:
        listed = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace=namespace),
            timeout=RPC_TIMEOUT,
        )
    except RPCError as exc:  # Temporal Cloud does not serve the operator API to an API key
        checks.append(
            Check(
                "search attributes",
                "WARN",
                f"cannot list them ({exc.message}); check in the Cloud UI that"
                " DealStage, DealResponsible (Keyword), DealAmount (Double),"
                " DealDeadlineBreached (Bool), DealTeam (KeywordList) and DealPipeline"
                " (Keyword) exist",
            )
        )
        return checks
    have = dict(listed.custom_attributes)
    for key in ALL_KEYS:
        want = int(key.indexed_value_type)
        kind = _type_name(want)
        if key.name not in have:
            checks.append(
                Check(
                    f"search attribute {key.name}",
                    "FAIL",
                    f"missing: `temporal operator search-attribute create --namespace"
                    f" {namespace} --name {key.name} --type {kind}`" + _BACKFILL.get(key.name, ""),
                )
            )
        elif int(have[key.name]) != want:
            got = _type_name(have[key.name])
            checks.append(
                Check(
                    f"search attribute {key.name}",
                    "FAIL",
                    f"is {got}, the workflow needs {kind}: remove it and create it"
                    " again with the right type (or use another namespace)",
                )
            )
        else:
            checks.append(Check(f"search attribute {key.name}", "OK", kind))
    return checks


async def check_retention(client: Client, settings: Settings) -> Check:
    """How long closed deals' workflows stay in Temporal; the records in the store stay."""
    from temporalio.service import RPCError

    from funnel.runtime.retention import DAY, in_words, retention

    try:
        ttl = await retention(client, settings.temporal_namespace)
    except RPCError as exc:
        return Check("retention", "WARN", f"cannot read the namespace's retention: {exc.message}")
    detail = (
        f"{in_words(ttl)}: a closed deal's workflow and full history (Web UI) stay that long;"
        " its record in the database stays for good"
    )
    wanted = settings.retention_days * DAY
    if settings.temporal_address is None and ttl != wanted:
        return Check(
            "retention",
            "WARN",
            f"{detail}; FUNNEL_RETENTION_DAYS says {settings.retention_days} days:"
            " `funnel up` sets it",
        )
    return Check("retention", "OK", detail)


def _type_name(value: int) -> str:
    """INDEXED_VALUE_TYPE_KEYWORD -> Keyword, as the CLI and the UI spell it."""
    from temporalio.api.enums.v1 import IndexedValueType

    name = IndexedValueType.Name(IndexedValueType.ValueType(value))
    # KEYWORD_LIST -> KeywordList
    return "".join(p.capitalize() for p in name.removeprefix("INDEXED_VALUE_TYPE_").split("_"))


def check_invoices() -> Check:
    """The requisites invoices print and their payment link, as the worker will read them."""
    from funnel.runtime.invoice_settings import InvoiceSettings, load_invoice_setup

    settings = InvoiceSettings()
    try:
        setup = load_invoice_setup(settings)
    except ValueError as exc:
        return Check("invoices", "FAIL", f"{exc}; the worker refuses to start with it")
    link = setup.payment_url_template or "none (set FUNNEL_PAYMENT_URL_TEMPLATE)"
    company = setup.company
    detail = f"{company.name}, INN {company.inn} ({settings.company}); payment link: {link}"
    return Check("invoices", "OK", detail)


async def run_checks(settings: Settings) -> list[Check]:
    from starter.doctor_channels import check_channels  # it builds on this module's Check

    checks = check_settings(settings)
    checks.append(check_pipeline(settings))
    checks += await asyncio.to_thread(check_channels, settings)
    checks.append(check_invoices())
    checks += await asyncio.to_thread(check_database, settings)
    checks += await check_temporal(settings)
    return checks


def _load_settings() -> Settings | Check:
    try:
        return Settings()
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        return Check("settings", "FAIL", f"{problems} (FUNNEL_<NAME> in the environment or .env)")


@click.command("doctor")
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
def doctor_command(as_json: bool) -> None:
    """Check server, namespace, search attributes, database schema, pipeline, directory,
    channels (Telegram) and settings."""
    loaded = _load_settings()
    checks = [loaded] if isinstance(loaded, Check) else asyncio.run(run_checks(loaded))
    if as_json:
        click.echo(json.dumps([asdict(c) for c in checks], indent=2))
    else:
        for check in checks:
            click.echo(check.line())
    if any(c.status == "FAIL" for c in checks):
        raise SystemExit(1)
