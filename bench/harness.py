"""Processes the benchmarks and the fault tests start, stop and kill: a persisted Temporal
dev server, worker processes, and a private PostgreSQL instance.

Everything here is a real process: faults are real SIGKILLs and real outages, never mocks.
The private PostgreSQL exists so that a test can stop *its* database without touching the
machine's shared cluster, which other test runs use at the same time.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from temporalio.client import Client

from funnel.runtime.temporal_client import DATA_CONVERTER
from starter.devserver import dev_server_command

ROOT = Path(__file__).resolve().parent.parent
PG_BIN = Path("/usr/lib/postgresql/15/bin")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def wait_port(
    port: int, timeout: float = 30.0, *, process: subprocess.Popen[bytes] | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while not port_open(port):
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode} before opening {port}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"nothing listens on port {port} after {timeout} s")
        time.sleep(0.05)


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / 100  # utime + stime, in clock ticks


async def idle(pid: int, quiet: float = 3.0) -> None:
    """Wait until the process has used no CPU for ``quiet`` seconds (its backlog is done)."""
    last = cpu_seconds(pid)
    while True:
        await asyncio.sleep(quiet)
        now = cpu_seconds(pid)
        if now - last < 0.05:
            return
        last = now


async def connect(address: str, timeout: float = 60.0) -> Client:
    """A client of a server that has just started: its port opens before its frontend is
    healthy, and a loaded machine can take seconds in between."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return await Client.connect(address, data_converter=DATA_CONVERTER)
        except RuntimeError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)


class DevServer:
    """``temporal server start-dev`` persisted in ``home/temporal.db``; stop and start it
    again on the same port and file to simulate a server restart."""

    def __init__(self, home: Path, *, port: int | None = None, pragmas: bool = True) -> None:
        self.home = home
        self.port = port or free_port()
        self.pragmas = pragmas
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        command = dev_server_command(self.home / "temporal.db", port=self.port, ui_port=0, ui=False)
        if not self.pragmas:
            # The SQLite defaults (rollback journal, synchronous=full), to show what the
            # pragmas are worth.
            for pragma in ("journal_mode=wal", "synchronous=normal"):
                at = command.index(pragma)
                del command[at - 1 : at + 1]
        return command

    def start(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        with (self.home / "temporal-server.log").open("ab") as log:
            self._process = subprocess.Popen(
                self.command(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        wait_port(self.port, process=self._process)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self._process is None:
            return
        self._process.send_signal(sig)
        try:
            self._process.wait(20)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._process = None
        # The next start must find the port free, or it would fail to bind.
        deadline = time.monotonic() + 10
        while port_open(self.port) and time.monotonic() < deadline:
            time.sleep(0.05)

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def __enter__(self) -> DevServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class WorkerProcess:
    """A worker in a process of its own: ``python worker.py`` (the product's worker, as
    deployed) or ``bench/run_worker.py`` (ours with tuning flags, or the bare one)."""

    def __init__(
        self,
        *,
        address: str,
        task_queue: str,
        db_url: str | None = None,
        kind: str = "product",
        extra: list[str] | None = None,
        log: Path | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.address, self.task_queue, self.db_url = address, task_queue, db_url
        self.env = env or {}
        self.kind, self.extra, self.log = kind, extra or [], log
        self._process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        env = dict(os.environ)
        env.update(TEMPORAL_ADDRESS=self.address, FUNNEL_TASK_QUEUE=self.task_queue)
        if self.db_url:
            env["FUNNEL_DATABASE_URL"] = self.db_url
        env.update(self.env)
        if self.kind == "product":
            command = [sys.executable, str(ROOT / "worker.py")]
        else:
            command = [sys.executable, str(ROOT / "bench" / "run_worker.py"), self.kind]
            command += ["--address", self.address, "--task-queue", self.task_queue]
            command += ["--db", self.db_url] if self.db_url else []
            command += self.extra
        out = self.log.open("ab") if self.log else subprocess.DEVNULL
        self._process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
        )
        self.starts += 1

    def ensure_running(self) -> bool:
        """Start the worker again if it exited (as a supervisor would); True if it had."""
        if self._process is not None and self._process.poll() is None:
            return False
        self.start()
        return True

    def kill(self) -> None:
        """SIGKILL: no graceful shutdown, activities cut off mid-write."""
        if self._process is not None:
            self._process.kill()
            self._process.wait()
            self._process = None

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(15)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process = None

    @property
    def pid(self) -> int:
        assert self._process is not None
        return self._process.pid

    def __enter__(self) -> WorkerProcess:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class PrivatePostgres:
    """A throwaway PostgreSQL 15 cluster on a free port in a temp dir, owned by the
    ``postgres`` user (the server refuses to run as root), so it can be stopped at will."""

    def __init__(self) -> None:
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="funnel-pg-"))
        self.data = self.dir / "data"
        self._as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str) -> None:
        subprocess.run(
            [*self._as_postgres, *args], check=True, stdout=subprocess.DEVNULL, cwd=self.dir
        )

    def init(self) -> None:
        if self._as_postgres:
            shutil.chown(self.dir, "postgres", "postgres")
        self._run(str(PG_BIN / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres")

    def start(self) -> None:
        options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(
            str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.dir / "log"),
            "-o", options, "-w", "start",
        )  # fmt: skip

    def stop(self) -> None:
        # fast: disconnect clients at once, as a crash or a failover would.
        self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")

    def destroy(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> PrivatePostgres:
        self.init()
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.destroy()
