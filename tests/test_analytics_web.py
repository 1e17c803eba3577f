"""The HTTP face: JSON reports through a small FastAPI app, and the dashboard in a real
headless Chromium (Debian's package, driven over the DevTools protocol)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient

from analytics.router import get_analytics, router
from analytics.service import Analytics
from funnel.runtime.pipeline_loader import load_pipeline
from funnel.runtime.settings import DEFAULT_PIPELINE
from funnel.storage.store import Store
from tests import analytics_data
from tests.cdp import Browser, chromium_path

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


@pytest.fixture
def app(db_url: str) -> Iterator[FastAPI]:
    store = Store(db_url)
    analytics_data.load(store)
    store.dispose()
    analytics = Analytics(db_url, load_pipeline(DEFAULT_PIPELINE))
    app = FastAPI()
    app.include_router(router)
    app.dependency_overrides[get_analytics] = lambda: analytics
    yield app
    analytics.dispose()


def test_reports_as_json(app: FastAPI) -> None:
    client = TestClient(app)
    funnel = client.get("/reports/funnel").json()
    assert (funnel["kind"], funnel["deals"], funnel["won"]) == ("funnel", 5, 1)
    speed = client.get("/reports/speed", params={"responsible": "ivanov"}).json()
    assert speed["bottleneck"] == "contract"
    day = client.get("/reports/funnel", params={"from": "2025-03-11", "to": "2025-03-11"})
    assert day.json()["deals"] == 1
    trend = client.get("/reports/trend", params={"by": "week"}).json()
    assert [p["period"] for p in trend["periods"]] == ["2025-03-10", "2025-03-31"]
    managers = client.get("/reports/managers", params={"department": "kuznetsov"}).json()
    assert [m["responsible"] for m in managers["managers"]] == ["petrov", "sidorov"]
    assert client.get("/reports/nonsense").status_code == 422
    bad = client.get("/reports/funnel", params={"from": "2025-03-12", "to": "2025-03-11"})
    assert bad.status_code == 422


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def served(app: FastAPI) -> Iterator[str]:
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            httpx.get(f"{base}/reports/funnel", timeout=5)
            break
        except httpx.TransportError:
            time.sleep(0.05)
    yield base
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def browser() -> Iterator[Browser]:
    path = chromium_path()
    if path is None:
        pytest.fail("chromium is missing: apt-get install -y chromium (.ci/run does it)")
    b = Browser(path)
    yield b
    b.close()


def test_dashboard_in_chromium(served: str, browser: Browser, db_url: str) -> None:
    session = browser.open(f"{served}/dashboard")
    js = browser.evaluate
    # The funnel chart: one bar per stage, widths proportional to deals entered (5 = full).
    bars = js(
        session,
        """[...document.querySelectorAll('#funnel-chart .funnel-bar')].map(
        r => [r.dataset.stage, +r.dataset.entered, r.getBoundingClientRect().width])""",
    )
    widths = {stage: width for stage, _, width in bars}
    assert [b[0] for b in bars][:3] == ["new", "in_progress", "proposal"]
    assert widths["new"] == pytest.approx(560, abs=1)
    assert widths["in_progress"] == pytest.approx(560 * 3 / 5, abs=1)
    assert js(session, "document.querySelectorAll('#funnel-chart .lost-bar').length") == 2
    # The time-in-stage chart: the weekend-crossing contract stage has the longest bar.
    speed = js(
        session,
        """Object.fromEntries([...document.querySelectorAll('#speed-chart .speed-bar')]
        .map(r => [r.dataset.stage, r.getBoundingClientRect().width]))""",
    )
    assert max(speed, key=speed.get) == "contract"
    assert js(session, "document.getElementById('bottleneck').textContent") == "contract"
    # The breach table links every deal to its Temporal Web UI history.
    links = js(
        session,
        """[...document.querySelectorAll('#breaches a.deal-link')].map(
        a => [a.textContent, a.href])""",
    )
    assert links == [
        [d, f"http://127.0.0.1:8233/namespaces/default/workflows/deal-{d}"]
        for d in ("D1", "D4", "D2")
    ]
    backend = "postgresql" if db_url.startswith("postgresql") else "sqlite"
    shot = ARTIFACTS / f"analytics-dashboard-{backend}.png"
    browser.screenshot(session, shot)
    assert shot.stat().st_size > 10_000
