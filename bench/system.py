"""One benchmark system: a fresh persisted dev server in a temp dir, a worker process for
ours and one for the bare workflow on their own task queues, a client, and the output
format every benchmark shares (a table, then one JSON line)."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from temporalio.client import Client  # noqa: E402

from bench.driver import Deal, run_all  # noqa: E402
from bench.harness import DevServer, WorkerProcess, connect  # noqa: E402
from funnel.domain.pipeline import Pipeline  # noqa: E402
from funnel.runtime.pipeline_loader import load_pipeline  # noqa: E402
from funnel.runtime.settings import DEFAULT_PIPELINE  # noqa: E402
from funnel.runtime.temporal_client import register_search_attributes  # noqa: E402
from funnel.storage.migrate import upgrade  # noqa: E402
from funnel.storage.store import Store  # noqa: E402


@dataclass
class System:
    client: Client
    server: DevServer
    ours: WorkerProcess
    bare: WorkerProcess
    store: Store
    pipeline: Pipeline
    home: Path

    def deals(self, kind: str, n: int, prefix: str, **kwargs: Any) -> list[Deal]:
        queue = self.ours.task_queue if kind == "ours" else self.bare.task_queue
        tag = uuid.uuid4().hex[:6]
        return [
            Deal(self.client, kind, f"{prefix}-{kind}-{tag}-{i}", queue, self.pipeline, **kwargs)
            for i in range(n)
        ]


@contextlib.asynccontextmanager
async def system(
    *,
    pragmas: bool = True,
    db_url: str | None = None,
    ours_extra: Sequence[str] = (),
    bare_extra: Sequence[str] = (),
    pipeline: Path = DEFAULT_PIPELINE,
) -> AsyncIterator[System]:
    with tempfile.TemporaryDirectory(prefix="funnel-bench-") as tmp:
        home = Path(tmp)
        db = db_url or f"sqlite:///{home / 'funnel.db'}"
        upgrade(db)
        store = Store(db)
        with DevServer(home, pragmas=pragmas) as server:
            client = await connect(server.address)
            await register_search_attributes(client)
            ours = WorkerProcess(
                address=server.address, task_queue="bench-ours", db_url=db, kind="ours",
                extra=list(ours_extra), log=home / "worker-ours.log",
            )  # fmt: skip
            bare = WorkerProcess(
                address=server.address, task_queue="bench-bare", kind="bare",
                extra=list(bare_extra), log=home / "worker-bare.log",
            )  # fmt: skip
            with ours, bare:
                sys_ = System(client, server, ours, bare, store, load_pipeline(pipeline), home)
                # Warm up both (imports, sandbox, connections) before anything is timed.
                for kind in ("ours", "bare"):
                    await run_all(sys_.deals(kind, 4, "warm"), 4)
                yield sys_
        store.dispose()


def machine() -> dict[str, Any]:
    mem_kib = 0
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kib = int(line.split()[1])
    return {
        "cpus": os.cpu_count(),
        "ram_gib": round(mem_kib / 1024 / 1024, 1),
        "python": platform.python_version(),
        "load_1m": round(os.getloadavg()[0], 2),
    }


def report(name: str, rows: Sequence[Sequence[str]], figures: dict[str, Any]) -> None:
    """The table for people, then one JSON line for machines (the last line of output)."""
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    print(f"\n{name}")
    for at, row in enumerate(rows):
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)))
        if at == 0:
            print("  ".join("-" * w for w in widths))
    print(json.dumps({"bench": name, "machine": machine(), **figures}, default=str))


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]
