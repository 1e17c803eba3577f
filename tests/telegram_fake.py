"""A Telegram Bot API server on 127.0.0.1 for the tests: ``sendMessage`` and ``getMe`` of one
bot, checking each request the way the Bot API documents it (a JSON body, ``chat_id`` a
number or an @username, ``text`` within 4,096 characters, HTML that Telegram's parser accepts,
an inline keyboard of URL buttons), answering as Telegram does: the chats it knows get the
message, a chat that blocked the bot gets 403, an unknown one 400 "chat not found", and
scripted flood control answers 429 with ``parameters.retry_after``."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

TOKEN = "123456789:AAEfakeTOKENfakeTOKENfakeTOKENfake12"
BOT = {"id": 123456789, "is_bot": True, "first_name": "PUSK funnel", "username": "pusk_funnel_bot"}
# The tags Telegram's HTML parse mode accepts.
HTML_TAGS = {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "span", "tg-spoiler",
             "a", "code", "pre", "blockquote", "tg-emoji"}  # fmt: skip
_BARE_AMPERSAND = re.compile(r"&(?![A-Za-z]+;|#[0-9]+;|#x[0-9A-Fa-f]+;)")
_BARE_LESS_THAN = re.compile(r"<(?![A-Za-z/])")


@dataclass
class Message:
    chat_id: int | str
    text: str  # as the person reads it: tags gone, entities decoded
    sent: str  # the text as the bot sent it
    buttons: list[tuple[str, str]]  # (label, url)
    at: float  # time.monotonic()


@dataclass
class Request:
    method: str
    body: Any
    at: float


@dataclass
class BadRequest(Exception):
    status: int
    description: str
    parameters: dict[str, Any] = field(default_factory=dict)


class _Visible(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in HTML_TAGS:
            problem = f'Unsupported start tag "{tag}"'
            raise BadRequest(400, f"Bad Request: can't parse entities: {problem}")

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def visible_text(text: str) -> str:
    """What Telegram shows for an HTML text, or the 400 it answers."""
    if _BARE_AMPERSAND.search(text) or _BARE_LESS_THAN.search(text):
        raise BadRequest(400, "Bad Request: can't parse entities: unescaped & or <")
    parser = _Visible()
    parser.feed(text)
    parser.close()
    return "".join(parser.parts)


class TelegramFake:
    def __init__(self, chats: Iterable[int | str], blocked: Iterable[int | str] = ()) -> None:
        self.chats = set(chats)  # chats where someone pressed Start
        self.blocked = set(blocked)  # chats whose person blocked the bot since
        self.flood: list[int] = []  # retry_after of the 429s the next sendMessages get
        self.messages: list[Message] = []
        self.requests: list[Request] = []
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with fake._lock:
                    status, answer = fake._answer(self.path, self.headers.get_content_type(), body)
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        """FUNNEL_TELEGRAM_API_BASE of this server."""
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> TelegramFake:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def sent_to(self, chat_id: int | str) -> list[Message]:
        return [m for m in self.messages if m.chat_id == chat_id]

    def calls(self, method: str) -> list[Request]:
        return [r for r in self.requests if r.method == method]

    # --- what the Bot API does with a request --------------------------------------------

    def _answer(self, path: str, content_type: str, raw: bytes) -> tuple[int, dict[str, Any]]:
        token, _, method = path.removeprefix("/bot").partition("/")
        try:
            body = json.loads(raw) if content_type == "application/json" else None
        except ValueError:
            body = None
        self.requests.append(Request(method, body, time.monotonic()))
        try:
            if token != TOKEN:
                raise BadRequest(401, "Unauthorized")
            if not isinstance(body, dict):
                raise BadRequest(400, "Bad Request: the body must be a JSON object")
            if method == "getMe":
                return 200, {"ok": True, "result": BOT}
            if method != "sendMessage":
                raise BadRequest(404, "Not Found")
            return 200, {"ok": True, "result": self._send_message(body)}
        except BadRequest as problem:
            answer: dict[str, Any] = {
                "ok": False,
                "error_code": problem.status,
                "description": problem.description,
            }
            if problem.parameters:
                answer["parameters"] = problem.parameters
            return problem.status, answer

    def _send_message(self, p: dict[str, Any]) -> dict[str, Any]:
        chat_id, text = p.get("chat_id"), p.get("text")
        if isinstance(chat_id, bool) or not isinstance(chat_id, int | str):
            raise BadRequest(400, "Bad Request: chat_id is empty")
        if not isinstance(text, str) or not text.strip():
            raise BadRequest(400, "Bad Request: message text is empty")
        if p.get("parse_mode") not in (None, "HTML"):
            raise BadRequest(400, f"Bad Request: unsupported parse_mode {p['parse_mode']!r}")
        shown = visible_text(text) if p.get("parse_mode") == "HTML" else text
        if len(shown) > 4096:
            raise BadRequest(400, "Bad Request: message is too long")
        buttons = _buttons(p.get("reply_markup"))
        if self.flood:
            wait = self.flood.pop(0)
            raise BadRequest(429, f"Too Many Requests: retry after {wait}", {"retry_after": wait})
        if chat_id in self.blocked:
            raise BadRequest(403, "Forbidden: bot was blocked by the user")
        if chat_id not in self.chats:
            raise BadRequest(400, "Bad Request: chat not found")
        self.messages.append(Message(chat_id, shown, text, buttons, time.monotonic()))
        return {
            "message_id": len(self.messages),
            "from": BOT,
            "chat": {"id": chat_id, "type": "private"},
            "date": int(time.time()),
            "text": shown,
        }


def _buttons(markup: object) -> list[tuple[str, str]]:
    if markup is None:
        return []
    rows = markup.get("inline_keyboard") if isinstance(markup, dict) else None
    if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
        raise BadRequest(400, "Bad Request: field \"inline_keyboard\" of the InlineKeyboardMarkup"
                         " should be an Array of Arrays")  # fmt: skip
    found: list[tuple[str, str]] = []
    for button in (b for row in rows for b in row):
        if not isinstance(button, dict) or not isinstance(button.get("text"), str):
            raise BadRequest(400, 'Bad Request: can\'t find field "text"')
        url = button.get("url")
        parts = urlsplit(url) if isinstance(url, str) else None
        # Telegram refuses links it cannot open from a phone, e.g. http://localhost:8000.
        if parts is None or parts.scheme not in ("http", "https") or "." not in parts.netloc:
            raise BadRequest(400, "Bad Request: BUTTON_URL_INVALID")
        assert isinstance(url, str)
        found.append((button["text"], url))
    return found
