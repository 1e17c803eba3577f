"""A lean HTTP/1.1 client for load: keep-alive connections on asyncio streams, requests
written as bytes, answers read by their Content-Length.

The benchmarks' load generator shares the machine's two cores with the server it measures:
httpx spent about 3 ms of CPU per ``POST /deals``, as much as the API itself, so a rate
measured with it was partly the driver's. This client spends a small part of that. It
speaks only what the funnel's API answers (HTTP/1.1, Content-Length bodies, no redirects).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]  # names in lower case
    body: bytes

    def json(self) -> object:
        return json.loads(self.body)

    def raise_for_status(self) -> None:
        if self.status >= 400:
            raise RuntimeError(f"HTTP {self.status}: {self.body[:500]!r}")


# uvicorn closes a keep-alive connection idle for 5 s: one idle longer than this is not reused.
IDLE_REUSE_SECONDS = 2.0


class _Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.used_at = time.monotonic()

    async def exchange(self, request: bytes) -> Answer:
        self.writer.write(request)
        status_line = await self.reader.readline()
        if not status_line:
            raise ConnectionError("the server closed the connection")
        status = int(status_line.split(b" ", 2)[1])
        headers: dict[str, str] = {}
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        body = await self.reader.readexactly(int(headers.get("content-length", "0")))
        return Answer(status, headers, body)


class Wire:
    """Up to ``connections`` keep-alive connections to 127.0.0.1:``port``, each used by one
    request at a time; ``headers`` go with every request."""

    def __init__(self, port: int, connections: int, headers: Mapping[str, str]) -> None:
        self._port = port
        self._slots = asyncio.Semaphore(connections)
        self._idle: list[_Connection] = []
        self._open: list[_Connection] = []
        fixed = {"Host": f"127.0.0.1:{port}", **headers}
        self._fixed = "".join(f"{k}: {v}\r\n" for k, v in fixed.items()).encode("latin-1")

    def request_bytes(
        self, method: str, path: str, body: bytes | None = None, headers: Mapping[str, str] = {}
    ) -> bytes:
        extra = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        if body is not None:
            extra += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        head = f"{method} {path} HTTP/1.1\r\n".encode() + self._fixed + extra.encode("latin-1")
        return head + b"\r\n" + (body or b"")

    async def send(self, request: bytes) -> Answer:
        """Send a request made by ``request_bytes`` and read its answer."""
        async with self._slots:
            connection = await self._take()
            try:
                answer = await connection.exchange(request)
            except BaseException:
                self._drop(connection)
                raise
            if answer.headers.get("connection") == "close":
                self._drop(connection)
            else:
                connection.used_at = time.monotonic()
                self._idle.append(connection)
            return answer

    async def _take(self) -> _Connection:
        while self._idle:
            connection = self._idle.pop()
            if time.monotonic() - connection.used_at < IDLE_REUSE_SECONDS:
                return connection
            self._drop(connection)
        return await self._connect()

    async def get(self, path: str, headers: Mapping[str, str] = {}) -> Answer:
        return await self.send(self.request_bytes("GET", path, headers=headers))

    async def post_json(self, path: str, body: object) -> Answer:
        return await self.send(self.request_bytes("POST", path, json.dumps(body).encode()))

    async def _connect(self) -> _Connection:
        reader, writer = await asyncio.open_connection("127.0.0.1", self._port)
        connection = _Connection(reader, writer)
        self._open.append(connection)
        return connection

    def _drop(self, connection: _Connection) -> None:
        connection.writer.close()
        self._open.remove(connection)

    async def close(self) -> None:
        for connection in list(self._open):
            self._drop(connection)
        self._idle.clear()


@contextlib.asynccontextmanager
async def wire(port: int, connections: int, headers: Mapping[str, str]) -> AsyncIterator[Wire]:
    client = Wire(port, connections, headers)
    try:
        yield client
    finally:
        await client.close()
