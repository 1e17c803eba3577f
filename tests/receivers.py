"""Real servers on 127.0.0.1 that play the other side of the integrations: an HTTP receiver
(the company's webhook endpoint and the Bitrix24 REST methods, checking the request shapes
Bitrix24 documents) and an SMTP server (aiosmtpd). Both record what they got; the HTTP one
can be scripted to fail, answer slowly or hold a request."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

BITRIX_PATH = "/rest/1/t0ken/"


@dataclass
class Seen:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Script:
    """What the next requests get: (status, delay seconds) popped one per request."""

    answers: list[tuple[int, float]] = field(default_factory=list)


class HttpReceiver:
    def __init__(self) -> None:
        self.seen: list[Seen] = []
        self.processed: dict[str, dict[str, Any]] = {}  # webhook: Idempotency-Key -> body
        self.script = Script()
        self.hold = threading.Event()  # set: hold responses until `release` is set
        self.release = threading.Event()
        self.got_held = threading.Event()
        # Bitrix24 portal state
        self.notices: dict[str, dict[str, Any]] = {}  # TAG -> params (a tag replaces)
        self.tasks: dict[int, dict[str, Any]] = {}
        self.deal_updates: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver._lock:
                    receiver.seen.append(Seen(self.path, dict(self.headers.items()), body))
                    status, delay = (
                        receiver.script.answers.pop(0) if receiver.script.answers else (200, 0.0)
                    )
                    # Processed before answering, as a real receiver would: a slow or lost
                    # answer does not mean the receiver did nothing.
                    if status < 300:
                        answer = receiver._process(self.path, dict(self.headers.items()), body)
                    else:
                        answer = (status, {"error": "scripted failure"})
                if receiver.hold.is_set():
                    receiver.got_held.set()
                    receiver.release.wait(60)
                if delay:
                    time.sleep(delay)
                code, payload = answer if status < 300 else (status, answer[1])
                data = json.dumps(payload).encode()
                try:
                    self.send_response(code)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:
                    pass  # the client (a killed worker, a timeout) has gone

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def bitrix_url(self) -> str:
        return self.url + BITRIX_PATH

    def start(self) -> HttpReceiver:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.release.set()
        self._server.shutdown()
        self._server.server_close()

    def keys_seen(self) -> Counter[str]:
        return Counter(s.headers.get("Idempotency-Key", "") for s in self.seen)

    # --- what the receiver does with a request -----------------------------------------

    def _process(self, path: str, headers: dict[str, str], body: bytes) -> tuple[int, Any]:
        if path.startswith(BITRIX_PATH):
            try:
                return self._bitrix(path.removeprefix(BITRIX_PATH), json.loads(body))
            except (ValueError, KeyError, TypeError, AssertionError) as exc:
                return 400, {"error": "ERROR_ARGUMENT", "error_description": str(exc)}
        key = headers.get("Idempotency-Key")
        if not key:
            return 400, {"error": "Idempotency-Key header missing"}
        if key not in self.processed:  # a repeat of a key is acknowledged, not redone
            self.processed[key] = json.loads(body)
        return 200, {"ok": True}

    def _bitrix(self, method: str, p: dict[str, Any]) -> tuple[int, Any]:
        # Shapes as documented for the REST methods (UPPER_CASE fields, integer user ids).
        if method == "im.notify.system.add.json":
            assert isinstance(p["USER_ID"], int), "USER_ID must be an integer"
            assert isinstance(p["MESSAGE"], str) and p["MESSAGE"], "MESSAGE is required"
            self.notices[str(p.get("TAG") or len(self.notices))] = p
            return 200, {"result": len(self.notices)}
        if method == "tasks.task.add.json":
            f = p["fields"]
            assert isinstance(f["TITLE"], str) and f["TITLE"], "fields.TITLE is required"
            assert isinstance(f["RESPONSIBLE_ID"], int), "fields.RESPONSIBLE_ID must be an integer"
            for name in ("ACCOMPLICES", "AUDITORS"):
                assert all(isinstance(i, int) for i in f.get(name, [])), f"{name}: user ids"
            if "DEADLINE" in f:
                datetime.fromisoformat(f["DEADLINE"])
            assert f.get("TASK_CONTROL", "N") in ("Y", "N")
            task_id = len(self.tasks) + 1
            self.tasks[task_id] = f
            return 200, {"result": {"task": {"id": str(task_id), "title": f["TITLE"]}}}
        if method == "tasks.task.list.json":
            tag = p["filter"]["TAG"]
            found = [{"id": str(i)} for i, f in self.tasks.items() if tag in f.get("TAGS", [])]
            return 200, {"result": {"tasks": found}, "total": len(found)}
        if method == "crm.deal.update.json":
            assert isinstance(p["id"], int), "id must be the deal's integer id"
            assert set(p["fields"]) <= {"TITLE", "STAGE_ID"}, "unexpected deal fields"
            self.deal_updates.append(p)
            return 200, {"result": True}
        return 404, {"error": "ERROR_METHOD_NOT_FOUND", "error_description": method}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Mailbox:
    def __init__(self, refuse: set[str]) -> None:
        self.messages: list[Envelope] = []
        self.refuse = refuse

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if address in self.refuse:
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.messages.append(envelope)
        return "250 Message accepted"


class SmtpReceiver:
    def __init__(self, refuse: set[str] | None = None) -> None:
        self.mailbox = _Mailbox(refuse or set())
        self._controller = Controller(self.mailbox, hostname="127.0.0.1", port=free_port())

    def start(self) -> SmtpReceiver:
        self._controller.start()
        return self

    @property
    def port(self) -> int:
        return int(self._controller.port)

    def stop(self) -> None:
        self._controller.stop()
