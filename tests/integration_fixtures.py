"""Fixtures of the integration tests: the receivers, a directory whose people use every
channel, and a dispatcher wired to them on a fresh SQLite store."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from activities.dispatch import Dispatcher
from funnel.domain.activity_io import RobotContext
from funnel.runtime.integration_settings import IntegrationSettings
from funnel.storage.deliveries import DeliveryStore
from funnel.storage.directory import Directory
from funnel.storage.store import Store
from tests.db_fixtures import migrate
from tests.helpers import sample_deal
from tests.receivers import HttpReceiver, SmtpReceiver

DIRECTORY_YAML = """
employees:
  - {id: ivanov, name: Ivan Ivanov, head: smirnova, email: ivanov@pusk.example,
     channels: [inapp, webhook, email, bitrix24], bitrix24_user_id: 11}
  - {id: smirnova, name: Svetlana Smirnova, email: smirnova@pusk.example,
     channels: [inapp, email], bitrix24_user_id: 10}
  - {id: petrov, name: Pyotr Petrov, email: refused@pusk.example, channels: [email],
     bitrix24_user_id: 12}
  - {id: sidorova, name: Maria Sidorova, channels: [inapp]}
"""
SECRET = "s3cret"
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def write_directory(folder: Path) -> Path:
    path = folder / "directory.yaml"
    path.write_text(DIRECTORY_YAML)
    return path


@pytest.fixture
def http_receiver() -> Iterator[HttpReceiver]:
    receiver = HttpReceiver().start()
    yield receiver
    receiver.stop()


@pytest.fixture
def smtp_receiver() -> Iterator[SmtpReceiver]:
    receiver = SmtpReceiver(refuse={"refused@pusk.example"}).start()
    yield receiver
    receiver.stop()


def channel_settings(http: HttpReceiver, smtp: SmtpReceiver, **over: object) -> IntegrationSettings:
    values: dict[str, object] = {
        "webhook_url": http.url + "/hooks/funnel",
        "webhook_secret": SECRET,
        "webhook_timeout": 0.5,
        "smtp_host": "127.0.0.1",
        "smtp_port": smtp.port,
        "smtp_starttls": False,
        "smtp_from": "funnel@pusk.example",
        "bitrix24_webhook_url": http.bitrix_url,
        "bitrix24_stages": {"proposal": "PREPARATION"},
        "delivery_max_attempts": 3,
        **over,
    }
    return IntegrationSettings.model_validate(values)


@pytest.fixture
def dispatcher(
    tmp_path: Path, http_receiver: HttpReceiver, smtp_receiver: SmtpReceiver
) -> Iterator[Dispatcher]:
    url = f"sqlite:///{tmp_path / 'funnel.db'}"
    migrate(url)
    store = Store(url)
    outbox = DeliveryStore(store)
    directory = Directory.load(write_directory(tmp_path))
    d = Dispatcher(store, outbox, directory, channel_settings(http_receiver, smtp_receiver))
    yield d
    d.close()


def context(deal_id: str = "D-1", **fields: str | int) -> RobotContext:
    deal = sample_deal(deal_id).model_copy(update={"fields": dict(fields)})
    return RobotContext(
        deal=deal,
        pipeline_id="pusk",
        pipeline_version="v1",
        title="Romashka LLC / website / 250000 RUB",
        stage_id="new",
        stage_name="New deal",
    )
