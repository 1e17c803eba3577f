"""Server time of the workspace's pages for a head of sales with 5,000 open deals (issue 18).

    .venv/bin/python bench/workspace.py [--deals 5000] [--requests 100] [--home DIR]

A persisted dev server, the product's worker (``worker.py``) and the API with the workspace
(bench/timed_api.py: ``funnel api`` plus a ``Server-Timing`` header on each answer). The
deals are real: ``--deals`` PUSK deals started through ``DealClient.start``, their
responsibles the three managers of smirnova's department (directory.yaml), and ``--moved``
of them moved on to the later process stages (a manager's move, which skips the stages in
between), so that every column of the board has deals. The worker's backlog is done before
anything is timed. With ``--home DIR`` the seeded server and store are kept in DIR and a
later run with the same ``--deals`` measures again without seeding (about 10 minutes for
5,000 deals on two cores).

smirnova (the department's head) signs in through ``POST /auth/sign-in``; then each page is
requested ``--requests`` times, one request at a time, over loopback with the session
cookie, as a browser navigates (``Accept: text/html``):

- ``GET /sign-in`` (no cookie): the foundation's page, a floor;
- ``GET /`` the board: goal p95 < 300 ms of server time;
- ``GET /board/changes``: what an open board asks every 2 s (the deals changed lately);
- ``GET /deals/{id}`` the deal card, ``--cards`` deals spread over the stages in turn (most
  are not in the worker's cache of 1,000 deals: the card reads a deal as a head opening any
  of them would): goal p95 < 200 ms;
- ``GET /deals/{id}`` as an API client (``Accept: application/json``), the same deals.

Server time is the ``Server-Timing`` header (bench/timed_api.py); client time, over loopback
with bench/wire.py, is shown beside it. Until the board and the card are on the branch, ``/``
is the foundation's placeholder and ``/deals/{id}`` answers JSON to a browser too: the
``answer`` column says what came back (HTML with N deal cards, or JSON).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx

from api.auth import SESSION_COOKIE
from bench.harness import ROOT, DevServer, WorkerProcess, connect, free_port, idle, wait_port
from bench.system import pct, report
from bench.timed_api import server_ms
from bench.wire import Wire, wire
from funnel.client.deals import DealClient
from funnel.domain.models import Contact, DealInput
from funnel.runtime.pipeline_loader import load_pipeline
from funnel.runtime.settings import DEFAULT_PIPELINE
from funnel.runtime.temporal_client import register_search_attributes
from funnel.storage.migrate import upgrade
from funnel.storage.people import People
from funnel.storage.store import Store

HEAD = "smirnova"
MANAGERS = ["ivanov", "petrov", "sidorova"]  # smirnova's department in directory.yaml
PASSWORD = "bench horse battery staple"
TASK_QUEUE = "bench-workspace"
GOALS_MS = {"board": 300.0, "deal card": 200.0}


def deal(i: int) -> DealInput:
    responsible = MANAGERS[i % len(MANAGERS)]
    return DealInput(
        deal_id=f"WS-{i:05d}",
        contact=Contact(
            name=f"Client {i}", company=f"Company {i:05d} LLC", email=f"c{i}@client.example"
        ),
        responsible=responsible,
        department_head=HEAD,
        sales_team=[m for m in MANAGERS if m != responsible][:1],
        service="website",
        amount=Decimal(50_000 + (i * 7919) % 950_000),
        currency="RUB",
    )


async def in_turns(
    count: int, at_once: int, step: str, one: Callable[[int], Awaitable[object]]
) -> None:
    """Run ``one(i)`` for every i below ``count``, ``at_once`` at a time, saying how far."""
    gate, done, began = asyncio.Semaphore(at_once), 0, time.perf_counter()

    async def each(i: int) -> None:
        nonlocal done
        async with gate:
            await one(i)
        done += 1
        if done % 500 == 0 or done == count:
            rate = done / (time.perf_counter() - began)
            print(f"  {step}: {done}/{count} ({rate:.0f}/s)", flush=True)

    await asyncio.gather(*(each(i) for i in range(count)))


async def seed(deals: DealClient, count: int, moved: float, stages: list[str]) -> None:
    """Start ``count`` deals; move every deal whose number falls in the ``moved`` share on
    to one of ``stages`` in turn (the rest stay in the first stage)."""
    pipeline = load_pipeline(DEFAULT_PIPELINE)
    await in_turns(count, 50, "started", lambda i: deals.start(deal(i), pipeline))
    every = round(1 / moved) if moved else 0
    to_move = [i for i in range(count) if every and i % every == 0]

    async def move(n: int) -> None:
        i = to_move[n]
        await deals.move(deal(i).deal_id, stages[n % len(stages)])

    await in_turns(len(to_move), 20, "moved", move)


@dataclass
class Timing:
    server: list[float] = field(default_factory=list)
    client: list[float] = field(default_factory=list)
    statuses: set[int] = field(default_factory=set)
    kind: str = ""  # the answer's content type
    size: int = 0
    cards: int = 0  # distinct data-deal-id hooks on the page

    @property
    def answer(self) -> str:
        cards = f", {self.cards} deal cards" if self.cards > 1 else ""
        return f"{self.kind}, {self.size // 1024} KiB{cards}"

    def part(self, start: int, stop: int | None = None) -> Timing:
        """The same page's requests from ``start`` to ``stop``."""
        return Timing(
            self.server[start:stop], self.client[start:stop], self.statuses, self.kind,
            self.size, self.cards,
        )  # fmt: skip

    def verdict(self, page: str) -> str:
        goal = GOALS_MS.get(page.split(",")[0])
        if goal is None:
            return ""
        if self.kind != "text/html" or (page == "board" and not self.cards):
            return "n/a: not this page yet"
        return f"p95 < {goal:.0f}: {'met' if pct(self.server, 0.95) < goal else 'NOT met'}"


async def time_page(
    lean: Wire, paths: list[str], headers: dict[str, str], n: int, warm: str | None = None
) -> Timing:
    """``n`` requests, one at a time, going round ``paths``, after one to ``warm`` (imports,
    templates compiled, connections)."""
    timing = Timing()
    requests = [lean.request_bytes("GET", path, headers=headers) for path in paths]
    await lean.send(lean.request_bytes("GET", warm or paths[0], headers=headers))
    for at in range(n):
        began = time.perf_counter()
        answer = await lean.send(requests[at % len(requests)])
        timing.client.append((time.perf_counter() - began) * 1000)
        timing.server.append(server_ms(answer.headers))
        timing.statuses.add(answer.status)
        timing.kind = answer.headers.get("content-type", "").split(";")[0]
        timing.size = len(answer.body)
        timing.cards = len(set(re.findall(rb'data-deal-id="([^"]+)"', answer.body)))
    return timing


def api_process(home: Path, address: str, db_url: str, port: int) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    env.update(
        TEMPORAL_ADDRESS=address,
        FUNNEL_TASK_QUEUE=TASK_QUEUE,
        FUNNEL_DATABASE_URL=db_url,
        FUNNEL_HOME=str(home),
        FUNNEL_API_TOKENS="{}",
    )
    command = [sys.executable, str(ROOT / "bench" / "timed_api.py"), "--port", str(port)]
    log = (home / "api.log").open("ab")
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)


async def sign_in(port: int) -> str:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
        r = await http.post("/auth/sign-in", json={"user": HEAD, "password": PASSWORD})
        r.raise_for_status()
        return f"{SESSION_COOKIE}={r.cookies[SESSION_COOKIE]}"


async def measure(args: argparse.Namespace, home: Path) -> None:
    db_url = f"sqlite:///{home / 'funnel.db'}"
    upgrade(db_url)
    store = Store(db_url)
    People(store).set_password(HEAD, PASSWORD)
    marker = home / "seeded.json"
    seeded = marker.exists() and json.loads(marker.read_text()).get("deals") == args.deals
    pipeline = load_pipeline(DEFAULT_PIPELINE)
    stages = [s.id for s in pipeline.stages if not s.terminal][1:]
    with DevServer(home) as server:
        client = await connect(server.address)
        await register_search_attributes(client)
        worker = WorkerProcess(
            address=server.address, task_queue=TASK_QUEUE, db_url=db_url, kind="product",
            log=home / "worker.log", env={"FUNNEL_HOME": str(home)},
        )  # fmt: skip
        with worker:
            if not seeded:
                began = time.perf_counter()
                await seed(
                    DealClient(client, task_queue=TASK_QUEUE), args.deals, args.moved, stages
                )
                marker.write_text(json.dumps({"deals": args.deals}))
                print(f"seeded in {time.perf_counter() - began:.0f} s", flush=True)
                worker.stop()  # its cache emptied, as in a kept server's later run
                worker.start()
            # A kept server's deals may have had deadlines fall due since: let the worker
            # finish their robots (and replays) before anything is timed.
            await idle(worker.pid, quiet=5)
            running = await client.count_workflows(
                "WorkflowType = 'DealWorkflow' AND ExecutionStatus = 'Running'"
            )
            port = free_port()
            api = api_process(home, server.address, db_url, port)
            try:
                wait_port(port, 60, process=api)
                timings = await time_pages(args, port)
            finally:
                api.terminate()
                api.wait(15)
    store.dispose()
    rows = [
        ("page", "answer", "status", "server p50 / p95 / max ms", "client p50 / p95 ms", "goal")
    ]
    for name, t in timings.items():
        rows.append((
            name, t.answer, ",".join(map(str, sorted(t.statuses))),
            f"{statistics.median(t.server):.1f} / {pct(t.server, 0.95):.1f} / {max(t.server):.1f}",
            f"{statistics.median(t.client):.1f} / {pct(t.client, 0.95):.1f}", t.verdict(name),
        ))  # fmt: skip
    figures = {name: {"answer": t.answer, "server_ms": t.server} for name, t in timings.items()}
    report("workspace", rows, {"open_deals": running.count, "requests": args.requests, **figures})


async def time_pages(args: argparse.Namespace, port: int) -> dict[str, Timing]:
    cookie = await sign_in(port)
    html = {"Accept": "text/html,application/xhtml+xml", "Cookie": cookie}
    step = max(1, args.deals // args.cards)
    cards = [f"/deals/{deal(i).deal_id}" for i in range(0, args.deals, step)][: args.cards]
    warm_card = f"/deals/{deal(1).deal_id}"
    json_ = {"Accept": "application/json", "Cookie": cookie}
    # What an open board asks every 2 s: the deals changed since its last answer.
    since = (datetime.now(UTC) - timedelta(seconds=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    n = args.requests
    async with wire(port, 1, {}) as lean:
        timed = {
            "sign-in page": await time_page(lean, ["/sign-in"], {"Accept": "text/html"}, n),
            "board": await time_page(lean, ["/"], html, n),
            "board live poll": await time_page(lean, [f"/board/changes?since={since}"], html, n),
            # Warmed up on a deal not timed: each timed deal's first open is its first read
            # since the worker started, a replay of its history; the next ones hit its cache.
            "deal card": await time_page(lean, cards, html, n, warm=warm_card),
            "GET /deals/{id} JSON": await time_page(lean, cards, json_, n),
        }
    card = timed["deal card"]
    parts = {"deal card, first opens": card.part(0, len(cards))}
    parts["deal card, opened again"] = card.part(len(cards))
    return {**timed, **(parts if parts["deal card, opened again"].server else {})}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--deals", type=int, default=5000)
    parser.add_argument("--moved", type=float, default=0.5, help="share moved past `new`")
    parser.add_argument("--requests", type=int, default=100, help="per page")
    parser.add_argument("--cards", type=int, default=50, help="deals whose card is opened")
    parser.add_argument("--home", type=Path, help="keep the seeded server here, reuse it")
    args = parser.parse_args()
    if args.home is not None:
        args.home.mkdir(parents=True, exist_ok=True)
        asyncio.run(measure(args, args.home.resolve()))
        return
    with tempfile.TemporaryDirectory(prefix="funnel-bench-ws-") as tmp:
        asyncio.run(measure(args, Path(tmp)))


if __name__ == "__main__":
    main()
