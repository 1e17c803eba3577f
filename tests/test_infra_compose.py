"""infra/temporal-docker-compose.yml checked against the code: `docker compose config` where a
Docker client with the Compose plugin exists, and always: images pinned, every variable given
to our containers is a setting the code reads, every variable the file names is documented in
infra/.env.example (and nothing there is unused), every port of our services is the one the
code listens on, every command is a real `funnel` command, and the search attributes the
setup script registers are the workflow's."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import click
import pytest
import yaml
from pydantic import AliasChoices

from funnel.domain.search_attributes import ALL_KEYS
from funnel.runtime.settings import Settings
from starter.cli import main as funnel_cli

INFRA = Path(__file__).resolve().parent.parent / "infra"
COMPOSE = INFRA / "temporal-docker-compose.yml"
ENV_EXAMPLE = INFRA / ".env.example"
SETUP_NAMESPACE = INFRA / "scripts" / "setup-namespace.sh"
_VAR = re.compile(r"\$\{([A-Z0-9_]+)(?::?([-?])([^}]*))?\}")


def settings_env_names() -> set[str]:
    """The environment variables funnel/runtime/settings.py reads."""
    prefix = str(Settings.model_config.get("env_prefix", ""))
    names: set[str] = set()
    for name, field in Settings.model_fields.items():
        alias = field.validation_alias
        if isinstance(alias, AliasChoices):
            names.update(str(choice) for choice in alias.choices)
        elif isinstance(alias, str):
            names.add(alias)
        else:
            names.add(f"{prefix}{name}".upper())
    return names


def env_example() -> tuple[dict[str, str], set[str]]:
    """Values set in .env.example, and every name it mentions (commented-out ones too)."""
    values: dict[str, str] = {}
    mentioned: set[str] = set()
    for line in ENV_EXAMPLE.read_text().splitlines():
        match = re.match(r"^(#?)([A-Z][A-Z0-9_]*)=(.*)$", line.strip())
        if not match:
            continue
        commented, name, value = match.groups()
        mentioned.add(name)
        if not commented:
            values[name] = value.strip().strip("'\"")
    return values, mentioned


def interpolate(text: str, env: dict[str, str]) -> str:
    """Compose's ${VAR}, ${VAR:-default}, ${VAR:?error} (and $$ for a literal $)."""

    def one(match: re.Match[str]) -> str:
        name, kind, arg = match.groups()
        value = env.get(name, "")
        if kind == "-" and not value:
            return arg
        if kind == "?" and not value:
            raise AssertionError(f"{name} is required by the compose file but unset: {arg}")
        return value

    return _VAR.sub(one, text.replace("$$", "\0")).replace("\0", "$")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    values, _ = env_example()
    loaded = yaml.safe_load(interpolate(COMPOSE.read_text(), values))
    assert isinstance(loaded, dict)
    return loaded


def funnel_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        name: svc
        for name, svc in compose["services"].items()
        if svc.get("command", [None])[0] == "funnel"
    }


def environment(service: dict[str, Any]) -> dict[str, str | None]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        pairs = (item.split("=", 1) for item in env)
        return {p[0]: (p[1] if len(p) > 1 else None) for p in pairs}
    return {k: (None if v is None else str(v)) for k, v in env.items()}


def container_port(spec: str | int) -> int:
    return int(str(spec).rsplit(":", 1)[-1].split("/")[0])


def test_docker_compose_config_accepts_it() -> None:
    docker = shutil.which("docker")
    if docker is None:
        pytest.skip("no docker client on this machine")
    if subprocess.run([docker, "compose", "version"], capture_output=True).returncode != 0:
        pytest.skip("the docker client has no compose plugin")
    files = ["--env-file", str(ENV_EXAMPLE), "-f", str(COMPOSE)]
    profiles = ["--profile", "api", "--profile", "codec"]
    result = subprocess.run(
        [docker, "compose", *files, *profiles, "config", "--quiet"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr


def test_every_image_is_pinned(compose: dict[str, Any]) -> None:
    values, _ = env_example()
    for name, service in compose["services"].items():
        image = service["image"]
        repo, _, tag = image.rpartition(":")
        assert repo and tag and tag != "latest", f"{name}: image {image!r} is not pinned"
        if "build" not in service:  # pulled from a registry: a release number
            assert re.fullmatch(r"\d+(\.\d+)*", tag), f"{name}: {image!r} is not a release"
    # The schema tool must match the server it prepares.
    assert values["TEMPORAL_ADMINTOOLS_VERSION"] == values["TEMPORAL_VERSION"]


def test_our_containers_get_only_settings_the_code_reads(compose: dict[str, Any]) -> None:
    known = settings_env_names()
    services = funnel_services(compose)
    assert {"worker", "api", "migrate", "codec-server"} <= set(services)
    for name, service in services.items():
        unknown = set(environment(service)) - known
        assert not unknown, f"{name}: {sorted(unknown)} are not read by funnel/runtime/settings.py"


def test_every_command_is_a_funnel_command(compose: dict[str, Any]) -> None:
    for name, service in funnel_services(compose).items():
        group: click.Command = funnel_cli
        for word in service["command"][1:]:
            assert isinstance(group, click.Group), f"{name}: {service['command']}"
            found = group.get_command(click.Context(group), word)
            assert found is not None, f"{name}: `funnel` has no command {word!r}"
            group = found


def test_ports_are_the_ones_the_code_listens_on(compose: dict[str, Any]) -> None:
    # What each `funnel` command listens on, and the setting that says where.
    listens = {
        ("api",): ("FUNNEL_API_PORT", "FUNNEL_API_HOST"),
        ("codec-server",): ("FUNNEL_CODEC_SERVER_PORT", "FUNNEL_CODEC_SERVER_HOST"),
        ("worker",): ("FUNNEL_METRICS_PORT", "FUNNEL_METRICS_HOST"),
    }
    defaults = Settings.model_validate({})
    for name, service in funnel_services(compose).items():
        env = environment(service)
        published = [*service.get("ports", []), *service.get("expose", [])]
        setting = listens.get(tuple(service["command"][1:]))
        if setting is None:
            assert not published, f"{name}: `{service['command']}` listens on no port"
            continue
        port_var, host_var = setting
        field = port_var.removeprefix("FUNNEL_").lower()
        port = env.get(port_var) or getattr(defaults, field)
        for spec in published:
            assert container_port(spec) == int(port), f"{name}: {spec} but listens on {port}"
        host = env.get(host_var) or getattr(defaults, host_var.removeprefix("FUNNEL_").lower())
        assert host == "0.0.0.0", f"{name}: a published port needs {host_var}=0.0.0.0"
    # Our services reach the server on the port the temporal service listens on.
    temporal_port = container_port(compose["services"]["temporal"]["ports"][0])
    for name, service in funnel_services(compose).items():
        address = environment(service).get("TEMPORAL_ADDRESS")
        if address:
            assert address == f"temporal:{temporal_port}", name


def test_variables_are_documented_and_used() -> None:
    text = COMPOSE.read_text()
    referenced = {m.group(1) for m in _VAR.finditer(text.replace("$$", ""))}
    # Passed through by name (`VAR:` with no value).
    referenced |= set(re.findall(r"^\s+([A-Z][A-Z0-9_]*):\s*$", text, re.MULTILINE))
    _, mentioned = env_example()
    assert not referenced - mentioned, f"not in .env.example: {sorted(referenced - mentioned)}"
    assert not mentioned - referenced, f"unused in compose: {sorted(mentioned - referenced)}"
    readme = (INFRA / "README.md").read_text()
    undocumented = sorted(v for v in mentioned if f"`{v}`" not in readme)
    assert not undocumented, f"not explained in infra/README.md: {undocumented}"


def test_search_attributes_match_the_workflow() -> None:
    script = SETUP_NAMESPACE.read_text()
    block = re.search(r"SEARCH_ATTRIBUTES='([^']*)'", script)
    assert block is not None
    registered = dict(line.split() for line in block.group(1).strip().splitlines())
    expected = {
        # KEYWORD -> Keyword, KEYWORD_LIST -> KeywordList
        key.name: "".join(p.capitalize() for p in key.indexed_value_type.name.split("_"))
        for key in ALL_KEYS
    }
    assert registered == expected


def test_workers_and_api_wait_for_migrations(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name in ("worker", "api"):
        needs = services[name]["depends_on"]
        assert needs["migrate"]["condition"] == "service_completed_successfully", name
    migrate = services["migrate"]
    assert migrate["restart"] == "no"
    assert environment(migrate)["FUNNEL_DATABASE_URL"] == environment(services["worker"]).get(
        "FUNNEL_DATABASE_URL"
    )
