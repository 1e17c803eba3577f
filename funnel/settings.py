"""Settings from the environment (and an optional ``.env`` file).

Names: ``FUNNEL_HOME``, ``FUNNEL_DATABASE_URL``, ``FUNNEL_PIPELINE``, ``FUNNEL_TASK_QUEUE``,
``FUNNEL_UI_PORT``, ``FUNNEL_TEMPORAL_PORT`` and Temporal's own ``TEMPORAL_ADDRESS``,
``TEMPORAL_NAMESPACE``, ``TEMPORAL_API_KEY``, ``TEMPORAL_TLS_CERT``, ``TEMPORAL_TLS_KEY``.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_PIPELINE = Path(__file__).resolve().parent.parent / "pipelines" / "pusk.yaml"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="FUNNEL_", env_file=".env", extra="ignore", env_ignore_empty=True
    )

    home: Path = Field(default=Path(".funnel"), description="where the embedded server keeps data")
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; default: a SQLite file under FUNNEL_HOME"
    )
    pipeline: Path = Field(default=DEFAULT_PIPELINE, description="the pipeline file new deals use")
    task_queue: str = "sales-funnel"
    ui_port: int = 8233
    temporal_port: int = 7233

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
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.home.resolve() / 'funnel.db'}"

    @property
    def effective_temporal_address(self) -> str:
        return self.temporal_address or f"127.0.0.1:{self.temporal_port}"
