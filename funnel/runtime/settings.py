"""Settings from the environment (and an optional ``.env`` file).

Names: ``FUNNEL_HOME``, ``FUNNEL_DATABASE_URL``, ``FUNNEL_PIPELINES`` (the folder of pipeline
files), ``FUNNEL_PIPELINE`` (one file: see funnel/runtime/pipelines.py), ``FUNNEL_TASK_QUEUE``,
``FUNNEL_UI_PORT``, ``FUNNEL_TEMPORAL_PORT``, ``FUNNEL_CONNECT_WAIT`` (seconds a command waits
for a Temporal server still starting), ``FUNNEL_RETENTION_DAYS`` (the embedded server's
retention of closed workflows, funnel/runtime/retention.py) and Temporal's own ``TEMPORAL_ADDRESS``,
``TEMPORAL_NAMESPACE``, ``TEMPORAL_API_KEY``, ``TEMPORAL_TLS_CERT``, ``TEMPORAL_TLS_KEY``.

The HTTP API (see docs/http-api.md): ``FUNNEL_API_HOST``, ``FUNNEL_API_PORT``,
``FUNNEL_API_TOKENS`` (JSON: ``{"token": ["deals:read", "deals:write", "leads:write",
"reports:read"]}``), ``FUNNEL_API_MAX_BODY_BYTES``, ``FUNNEL_API_TEMPORAL_TIMEOUT``,
``FUNNEL_PAYMENT_WEBHOOK_SECRET``, ``FUNNEL_LEAD_DEDUP_HOURS`` and the defaults of deals
started from web-form leads ``FUNNEL_LEAD_RESPONSIBLE``, ``FUNNEL_LEAD_DEPARTMENT_HEAD``,
``FUNNEL_LEAD_SERVICE``, and the pipeline per form ``FUNNEL_LEAD_PIPELINES`` (JSON:
``{"source": "pipeline id"}``). People signing in: ``FUNNEL_SESSION_HOURS``,
``FUNNEL_SESSION_COOKIE_SECURE``, ``FUNNEL_SIGN_IN_MAX_FAILURES``,
``FUNNEL_SIGN_IN_WINDOW_MINUTES``, ``FUNNEL_SIGN_IN_LOCKOUT_MINUTES``,
``FUNNEL_INVITATION_HOURS``, ``FUNNEL_PUBLIC_URL``.

Operations (see infra/README.md): the payload codec ``FUNNEL_CODEC_KEYS`` (JSON:
``{"key id": "base64 AES key"}``) and ``FUNNEL_CODEC_ACTIVE_KEY``; its HTTP server for the Web
UI ``FUNNEL_CODEC_SERVER_HOST``, ``FUNNEL_CODEC_SERVER_PORT``, ``FUNNEL_CODEC_SERVER_TOKEN``,
``FUNNEL_CODEC_CORS_ORIGINS``, ``FUNNEL_CODEC_SERVER_ALLOW_NO_TOKEN``; ``FUNNEL_METRICS_PORT``,
``FUNNEL_METRICS_HOST`` (Prometheus), ``FUNNEL_LOG_FORMAT``, ``FUNNEL_LOG_LEVEL``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

# The project's folder (this file is funnel/runtime/settings.py): the shipped pipeline, the
# directory and the document templates live there.
PROJECT = Path(__file__).resolve().parents[2]
DEFAULT_PIPELINES = PROJECT / "pipelines"
DEFAULT_PIPELINE = DEFAULT_PIPELINES / "pusk.yaml"
DEFAULT_DIRECTORY = PROJECT / "directory.yaml"
# Deal document templates (jinja2 HTML), see activities/documents.py.
DEFAULT_DOCUMENT_TEMPLATES = PROJECT / "templates" / "documents"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="FUNNEL_", env_file=".env", extra="ignore", env_ignore_empty=True
    )

    home: Path = Field(default=Path(".funnel"), description="where the embedded server keeps data")
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; default: a SQLite file under FUNNEL_HOME"
    )
    pipelines: Path | None = Field(
        default=None,
        description="the folder of pipeline files new deals may run in; default: the"
        " project's pipelines/ (funnel/runtime/pipelines.py)",
    )
    pipeline: Path | None = Field(
        default=None,
        description="one pipeline file: alone, the only pipeline; with FUNNEL_PIPELINES, the"
        " default one (new deals naming none get it)",
    )
    task_queue: str = "sales-funnel"
    directory: Path = Field(
        default=DEFAULT_DIRECTORY, description="employee directory (YAML, see directory.yaml)"
    )
    ui_port: int = 8233
    temporal_port: int = 7233
    retention_days: int = Field(
        default=30,
        ge=1,
        le=3650,
        description="days the embedded server keeps a closed deal's workflow and history"
        " (its record in the store is kept for good); set by `funnel up`",
    )

    # --- HTTP API -------------------------------------------------------------------------
    api_host: str = "127.0.0.1"
    api_port: int = Field(default=8000, ge=1, le=65535)
    api_tokens: dict[str, list[str]] = Field(
        default_factory=dict,
        description="bearer token -> scopes; no token configured means every call gets 401",
    )
    api_max_body_bytes: int = Field(default=1_000_000, ge=1024)
    api_temporal_timeout: float = Field(
        default=30.0, gt=0, description="seconds a request waits for Temporal before 503"
    )
    payment_webhook_secret: SecretStr | None = Field(
        default=None, description="HMAC-SHA256 key of /webhooks/payments; unset: webhook off"
    )
    lead_dedup_hours: float = Field(default=24.0, ge=0)
    lead_responsible: str | None = Field(
        default=None, description="who takes web-form leads; unset: the directory's first manager"
    )
    lead_department_head: str | None = Field(
        default=None, description="their head; unset: the lead responsible's head in the directory"
    )
    lead_service: str = "default"
    lead_pipelines: dict[str, str] = Field(
        default_factory=dict,
        description="a lead's source (its form) -> the pipeline its deal starts in; other"
        " sources: the default pipeline",
    )

    # --- people signing in (see docs/http-api.md#people-sign-in) ---------------------------
    session_hours: float = Field(
        default=12.0, gt=0, description="hours a browser session lasts after sign-in"
    )
    session_cookie_secure: bool = Field(
        default=False,
        description="always mark the session cookie Secure (behind a TLS proxy that forwards"
        " plain HTTP); without it the cookie is Secure when the request came over https",
    )
    sign_in_max_failures: int = Field(
        default=5, ge=1, description="failed sign-ins of one user from one address that lock"
    )
    sign_in_window_minutes: float = Field(
        default=15.0, gt=0, description="within how many minutes those failures count"
    )
    sign_in_lockout_minutes: float = Field(
        default=15.0, gt=0, description="how long the user/address pair stays locked"
    )
    invitation_hours: float = Field(
        default=72.0, gt=0, description="hours an invitation link (`funnel user invite`) works"
    )
    public_url: str | None = Field(
        default=None,
        description="the API's address as people reach it, for invitation links and the"
        " Open deal buttons of Telegram messages; default http://FUNNEL_API_HOST:FUNNEL_API_PORT"
        " (Telegram messages then carry no button)",
    )

    # --- operations: payload encryption, codec server, metrics, logs ---------------------------
    codec_keys: dict[str, SecretStr] = Field(
        default_factory=dict,
        description="key id -> base64 AES key; empty: payloads are stored unencrypted",
    )
    codec_active_key: str | None = Field(
        default=None, description="key id that encrypts new payloads (optional with one key)"
    )
    codec_server_host: str = "127.0.0.1"
    codec_server_port: int = Field(default=8234, ge=1, le=65535)
    codec_server_token: SecretStr | None = Field(
        default=None,
        description="bearer token the codec server requires; unset: loopback host only",
    )
    codec_server_allow_no_token: bool = Field(
        default=False,
        description="serve a non-loopback host without a token: only where the network in"
        " front authenticates (the Web UI sends no token of its own)",
    )
    codec_cors_origins: list[str] = Field(
        default_factory=list,
        description="browser origins of the Web UI; empty: the embedded UI on FUNNEL_UI_PORT",
    )
    metrics_port: int | None = Field(
        default=None, ge=1, le=65535, description="Prometheus /metrics port; unset: off"
    )
    metrics_host: str = "127.0.0.1"  # containers set 0.0.0.0 (infra/temporal-docker-compose.yml)
    log_format: Literal["auto", "json", "text"] = Field(
        default="auto",
        description="auto: plain text when the log stream (stderr) is a terminal, else JSON",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    connect_wait: float = Field(
        default=30.0,
        ge=0,
        description="seconds a command waits for a Temporal server that is still starting",
    )

    temporal_address: str | None = Field(
        default=None, validation_alias=AliasChoices("TEMPORAL_ADDRESS", "FUNNEL_TEMPORAL_ADDRESS")
    )
    temporal_namespace: str = Field(
        default="default",
        validation_alias=AliasChoices("TEMPORAL_NAMESPACE", "FUNNEL_TEMPORAL_NAMESPACE"),
    )
    temporal_api_key: str | None = Field(
        default=None, validation_alias=AliasChoices("TEMPORAL_API_KEY")
    )
    temporal_tls_cert: Path | None = Field(
        default=None, validation_alias=AliasChoices("TEMPORAL_TLS_CERT")
    )
    temporal_tls_key: Path | None = Field(
        default=None, validation_alias=AliasChoices("TEMPORAL_TLS_KEY")
    )

    @property
    def effective_public_url(self) -> str:
        return (self.public_url or f"http://{self.api_host}:{self.api_port}").rstrip("/")

    @property
    def codec_keys_plain(self) -> dict[str, str]:
        return {k: v.get_secret_value() for k, v in self.codec_keys.items()}

    @property
    def effective_codec_cors_origins(self) -> list[str]:
        return self.codec_cors_origins or [
            f"http://127.0.0.1:{self.ui_port}",
            f"http://localhost:{self.ui_port}",
        ]

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.home.resolve() / 'funnel.db'}"

    @property
    def effective_temporal_address(self) -> str:
        return self.temporal_address or f"127.0.0.1:{self.temporal_port}"
