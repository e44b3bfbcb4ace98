"""Group robots on loopback for tests: DingTalk, WeCom and Feishu webhooks as their documentation
describes them, each on 127.0.0.1 and an ephemeral port (http.server in a thread).

Every server checks what the platform checks and answers as it does:

- DingTalk custom robot: `POST /robot/send?access_token=T&timestamp=MS&sign=S` with
  S = URL-encoded base64 HMAC-SHA256(secret, "{MS}\\n{secret}"), within an hour; body at most 20,000
  bytes; 20 messages a minute (`errcode` 130101); `errcode` 310000 for a bad signature.
- WeCom group robot: `POST /cgi-bin/webhook/send?key=K`; markdown content at most 4,096 bytes;
  20 a minute (`errcode` 45009).
- Feishu custom bot: `POST /open-apis/bot/v2/hook/K` with `timestamp` (s) and `sign` = base64
  HMAC-SHA256 keyed by "{timestamp}\\n{secret}" over an empty message in the JSON body (`code` 19021);
  body at most 20 KB (`code` 9499); 100 a minute and 5 a second (`code` 11232).

`scale` shrinks the minute (and second) so that rate-limit tests run in seconds: the client's
transport takes the same `time_scale`. `script` queues answers for the next requests (an error
code, "rate" for the rate-limit answer, ("status", 500) for an HTTP error, or "drop": take the
message, then close the connection without answering).

    with ChatServer("dingtalk", secret="SECabc", scale=1 / 60) as robot:
        ...post to robot.url...
        assert [m.text for m in robot.messages] == [...]
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

HOST = "127.0.0.1"
SIZE = {"dingtalk": 20_000, "wecom": 4096, "feishu": 20_000}
RATES = {"dingtalk": ((20, 60.0),), "wecom": ((20, 60.0),), "feishu": ((100, 60.0), (5, 1.0))}


@dataclass
class Message:
    """One message the robot accepted and posted to the group."""

    platform: str
    body: dict[str, Any]
    at: float

    @property
    def text(self) -> str:
        """The markdown shown in the group."""
        if self.platform == "dingtalk":
            return self.body["markdown"]["text"]
        if self.platform == "wecom":
            return self.body["markdown"]["content"]
        return self.body["card"]["elements"][0]["text"]["content"]

    @property
    def title(self) -> str:
        if self.platform == "dingtalk":
            return self.body["markdown"]["title"]
        if self.platform == "feishu":
            return self.body["card"]["header"]["title"]["content"]
        return self.text.split("\n", 1)[0]

    @property
    def mentioned(self) -> list[str]:
        """Who the group notifies, as the platform decides it."""
        if self.platform == "dingtalk":
            at = self.body.get("at", {})
            people = [m for m in at.get("atMobiles", []) if f"@{m}" in self.text]
            return (["all"] if at.get("isAtAll") else []) + people
        pattern = r"<@([^>]+)>" if self.platform == "wecom" else r"<at (?:id|user_id)=\"?([^\">]+)\"?>"
        return re.findall(pattern, self.text)


@dataclass
class ChatServer:
    platform: str
    secret: str | None = None
    key: str = "k-123"
    scale: float = 1.0
    script: list[Any] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)
    answers: list[dict[str, Any]] = field(default_factory=list)  # every answer given, in order
    requests: int = 0

    def __post_init__(self) -> None:
        self.lock = threading.Lock()
        self.accepted: list[float] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                return None

            def do_POST(self) -> None:  # noqa: N802
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status, answer = server.handle(self.path, raw)
                if answer is None:  # "drop": the message is posted, the answer never comes
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                data = json.dumps(answer, ensure_ascii=False).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer((HOST, 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        base = f"http://{HOST}:{self.port}"
        return {"dingtalk": f"{base}/robot/send?access_token={self.key}",
                "wecom": f"{base}/cgi-bin/webhook/send?key={self.key}",
                "feishu": f"{base}/open-apis/bot/v2/hook/{self.key}"}[self.platform]

    def __enter__(self) -> "ChatServer":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    # ------------------------------------------------------------------ the platforms' rules

    def handle(self, path: str, raw: bytes) -> tuple[int, dict[str, Any] | None]:
        with self.lock:
            self.requests += 1
            status, answer = self._decide(path, raw, time.time())
            if answer is not None:
                self.answers.append(answer)
            return status, answer

    def _decide(self, path: str, raw: bytes, now: float) -> tuple[int, dict[str, Any] | None]:
        url = urlsplit(path)
        query = parse_qs(url.query)
        try:
            body = json.loads(raw.decode("utf-8"))
        except ValueError:
            return 200, self._error("bad_json")
        problem = self._auth(url.path, query, body, now) or self._size(raw, body) or self._rate(now)
        if problem is not None:
            return 200, problem
        if self.script:
            scripted = self.script.pop(0)
            if scripted == "drop":
                self._accept(body, now)
                return 200, None
            if scripted == "rate":  # the robot's limit, used up by another sender
                return 200, self._error("rate")
            if isinstance(scripted, tuple):  # ("status", 500): an HTTP error
                return scripted[1], {"error": f"HTTP {scripted[1]}"}
            return 200, self._error("scripted", scripted)
        self._accept(body, now)
        return 200, self._ok()

    def _accept(self, body: dict[str, Any], now: float) -> None:
        body = {k: v for k, v in body.items() if k not in ("timestamp", "sign")}
        self.messages.append(Message(self.platform, body, now))
        self.accepted.append(now)

    def _ok(self) -> dict[str, Any]:
        if self.platform == "feishu":
            return {"StatusCode": 0, "StatusMessage": "success", "code": 0, "data": {}, "msg": "success"}
        return {"errcode": 0, "errmsg": "ok"}

    def _error(self, what: str, code: Any = None) -> dict[str, Any]:
        table = {
            "dingtalk": {"token": (300001, "token is not exist"), "sign": (310000, "sign not match"),
                         "timestamp": (310000, "invalid timestamp"), "size": (460101, "message too long"),
                         "rate": (130101, "send too fast, exceed 20 times per minute"),
                         "bad_json": (40035, "缺少参数 json")},
            "wecom": {"token": (93000, "invalid webhook url"), "size": (40058, "markdown.content exceed max length 4096"),
                      "rate": (45009, "api freq out of limit"), "bad_json": (40035, "invalid request")},
            "feishu": {"token": (19001, "param invalid: incoming webhook access token invalid"),
                       "sign": (19021, "sign match fail or timestamp is not within one hour from current time"),
                       "size": (9499, "Bad Request"), "rate": (11232, "frequency limited"),
                       "bad_json": (9499, "Bad Request")},
        }[self.platform]
        number, message = table.get(what, (code, f"scripted error {code}"))
        if self.platform == "feishu":
            return {"code": number, "msg": message, "data": {}}
        return {"errcode": number, "errmsg": message}

    def _auth(self, path: str, query: dict[str, list[str]], body: dict[str, Any], now: float) -> dict[str, Any] | None:
        if self.platform == "dingtalk":
            if path != "/robot/send" or query.get("access_token") != [self.key]:
                return self._error("token")
            if self.secret is None:
                return None
            try:
                stamp = int(query["timestamp"][0])
            except (KeyError, ValueError):
                return self._error("sign")
            if abs(now * 1000 - stamp) > 3_600_000:
                return self._error("timestamp")
            digest = hmac.new(self.secret.encode(), f"{stamp}\n{self.secret}".encode(), hashlib.sha256).digest()
            # parse_qs URL-decodes: an unencoded "+" of the base64 arrives as a space and fails, as on DingTalk
            return None if query.get("sign") == [base64.b64encode(digest).decode()] else self._error("sign")
        if self.platform == "wecom":
            ok = path == "/cgi-bin/webhook/send" and query.get("key") == [self.key]
            return None if ok else self._error("token")
        if path != f"/open-apis/bot/v2/hook/{self.key}":
            return self._error("token")
        if self.secret is None:
            return None
        try:
            stamp = int(body["timestamp"])
        except (KeyError, ValueError, TypeError):
            return self._error("sign")
        digest = hmac.new(f"{stamp}\n{self.secret}".encode(), b"", hashlib.sha256).digest()
        if abs(now - stamp) > 3600 or body.get("sign") != base64.b64encode(digest).decode():
            return self._error("sign")
        return None

    def _size(self, raw: bytes, body: dict[str, Any]) -> dict[str, Any] | None:
        if self.platform == "wecom":
            content = body.get("markdown", {}).get("content", "") if body.get("msgtype") == "markdown" else ""
            size = len(content.encode("utf-8"))
        else:
            size = len(raw)
        return self._error("size") if size > SIZE[self.platform] else None

    def _rate(self, now: float) -> dict[str, Any] | None:
        for count, seconds in RATES[self.platform]:
            window = seconds * self.scale
            if sum(1 for t in self.accepted if t > now - window) >= count:
                return self._error("rate")
        return None
