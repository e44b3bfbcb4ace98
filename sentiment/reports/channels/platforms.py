"""Each group robot's documented contract, as data and small pure functions (no I/O).

| | DingTalk custom robot | WeCom group robot | Feishu custom bot |
|---|---|---|---|
| message | `markdown` (`at.atMobiles` + `@<phone>` in the text) | `markdown` (`<@userid>` in the content) | `interactive` card, `lark_md` (`<at id=...></at>`) |
| signature | `timestamp` (ms) and `sign` = URL-encoded base64 HMAC-SHA256 keyed by the secret over `"{timestamp}\\n{secret}"`, as query parameters | none (the key in the URL) | `timestamp` (s) and `sign` = base64 HMAC-SHA256 keyed by `"{timestamp}\\n{secret}"` over an empty message, in the JSON body |
| size | body at most 20,000 bytes | `markdown.content` at most 4,096 bytes | body at most 20 KB |
| rate | 20 a minute per robot (then throttled 10 minutes) | 20 a minute | 100 a minute and 5 a second |
| answer | `errcode` 0; 130101 rate limited; 310000 signature, keyword or IP | `errcode` 0; 45009 rate limited | `code` (older: `StatusCode`) 0; 11232 rate limited; 19021 signature; 9499 bad request |

Checked against the platforms' documentation (as quoted by mirrors and SDKs), except DingTalk's
20,000-byte body limit, which is the figure we were given (not found in what we could read).

`scaled(factor)` shrinks the time windows (tests run a "minute" of a second against servers that
agree); production uses the platforms' own numbers.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass, replace
from typing import Any, Callable, Mapping, Sequence
from urllib.parse import urlencode

COLORS = {"critical": "red", "high": "orange"}  # Feishu card header colours by severity; others blue
MENTION_LEAD = "请关注："  # before the @-mentions of a critical item


@dataclass(frozen=True)
class Limit:
    """At most `count` requests in any `seconds` window."""

    count: int
    seconds: float


@dataclass(frozen=True)
class Answer:
    """What the platform said. `throttled`: its rate limit; `retryable`: trying later may help."""

    ok: bool
    status: int
    code: int | None
    message: str
    body: Any
    throttled: bool = False
    retryable: bool = False

    def describe(self) -> str:
        if self.code is not None:
            return f"{self.code} {self.message}".strip()
        return f"HTTP {self.status} {self.message}".strip()


@dataclass(frozen=True)
class Platform:
    name: str                      # dingtalk | wecom | feishu
    label: str                     # 钉钉 | 企业微信 | 飞书
    limits: tuple[Limit, ...]
    penalty: float                 # seconds to wait after a rate-limit answer
    max_bytes: int
    code_key: tuple[str, ...]      # where the answer's code is, in order
    message_key: tuple[str, ...]
    throttle_codes: frozenset[int]
    retry_codes: frozenset[int]    # transient (system busy, internal error)
    build: Callable[[str, str, Sequence[str], str | None, str], dict[str, Any]]
    size: Callable[[Mapping[str, Any]], int]
    sign: Callable[[str, str | None, Mapping[str, Any], float], tuple[str, dict[str, Any]]]

    def scaled(self, factor: float) -> "Platform":
        """The same contract with every time window (and the penalty) multiplied by `factor`."""
        if factor == 1:
            return self
        return replace(self, limits=tuple(Limit(x.count, x.seconds * factor) for x in self.limits),
                       penalty=self.penalty * factor)

    def fits(self, payload: Mapping[str, Any]) -> bool:
        return self.size(payload) <= self.max_bytes

    def answer(self, status: int, raw: bytes) -> Answer:
        """The platform's answer to one request (HTTP status and body)."""
        try:
            body: Any = json.loads(raw.decode("utf-8")) if raw else None
        except (UnicodeDecodeError, ValueError):
            body = None
        if not isinstance(body, dict):
            text = raw[:200].decode("utf-8", "replace").strip() if raw else ""
            return Answer(False, status, None, " ".join(text.split()) or "no JSON answer", raw[:500].decode(
                "utf-8", "replace"), throttled=status == 429, retryable=status >= 500 or status == 429)
        code = next((body[k] for k in self.code_key if isinstance(body.get(k), int)), None)
        message = " ".join(str(next((body[k] for k in self.message_key if body.get(k) is not None), "")).split())
        if status == 200 and code == 0:
            return Answer(True, status, code, message[:300], body)
        return Answer(False, status, code, message[:300] or f"HTTP {status}", body,
                      throttled=code in self.throttle_codes or status == 429,
                      retryable=code in self.retry_codes or status >= 500)


def _dumps(payload: Mapping[str, Any]) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def body_bytes(payload: Mapping[str, Any]) -> bytes:
    """The request body as sent: compact UTF-8 JSON."""
    return _dumps(payload)


# ------------------------------------------------------------------ DingTalk

def dingtalk_signature(secret: str, timestamp_ms: int) -> str:
    """base64(HMAC-SHA256(key=secret, "{timestamp}\\n{secret}")), before URL encoding."""
    digest = hmac.new(secret.encode("utf-8"), f"{timestamp_ms}\n{secret}".encode("utf-8"), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def _dingtalk_build(title: str, markdown: str, mentions: Sequence[str], link: str | None,
                    color: str) -> dict[str, Any]:
    text = markdown.replace("\n", "\n\n")  # its markdown breaks lines only between paragraphs
    if mentions:
        text += "\n\n" + MENTION_LEAD + " ".join(f"@{m}" for m in mentions)
    return {"msgtype": "markdown", "markdown": {"title": title, "text": text},
            "at": {"atMobiles": list(mentions), "isAtAll": False}}


def _dingtalk_sign(url: str, secret: str | None, payload: Mapping[str, Any], now: float) -> tuple[str, dict[str, Any]]:
    if not secret:
        return url, dict(payload)
    timestamp = int(now * 1000)
    query = urlencode({"timestamp": timestamp, "sign": dingtalk_signature(secret, timestamp)})  # URL-encodes
    return f"{url}{'&' if '?' in url else '?'}{query}", dict(payload)


DINGTALK = Platform(
    name="dingtalk", label="钉钉", limits=(Limit(20, 60.0),), penalty=600.0, max_bytes=20_000,
    code_key=("errcode",), message_key=("errmsg",), throttle_codes=frozenset({130101}),
    retry_codes=frozenset({-1}), build=_dingtalk_build, size=lambda p: len(_dumps(p)), sign=_dingtalk_sign)


# ------------------------------------------------------------------ WeCom

def _wecom_build(title: str, markdown: str, mentions: Sequence[str], link: str | None,
                 color: str) -> dict[str, Any]:
    content = markdown + ("\n" + MENTION_LEAD + " ".join(f"<@{m}>" for m in mentions) if mentions else "")
    return {"msgtype": "markdown", "markdown": {"content": content}}


def _unsigned(url: str, secret: str | None, payload: Mapping[str, Any], now: float) -> tuple[str, dict[str, Any]]:
    return url, dict(payload)


WECOM = Platform(
    name="wecom", label="企业微信", limits=(Limit(20, 60.0),), penalty=60.0, max_bytes=4096,
    code_key=("errcode",), message_key=("errmsg",), throttle_codes=frozenset({45009}),
    retry_codes=frozenset({-1}), build=_wecom_build,
    size=lambda p: len(str(p.get("markdown", {}).get("content", "")).encode("utf-8")), sign=_unsigned)


# ------------------------------------------------------------------ Feishu

SIGNATURE_ROOM = 80  # "timestamp" and "sign" added to a Feishu body when it is sent


def feishu_signature(secret: str, timestamp_s: int) -> str:
    """base64(HMAC-SHA256(key="{timestamp}\\n{secret}", message="")) ."""
    digest = hmac.new(f"{timestamp_s}\n{secret}".encode("utf-8"), b"", hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def _feishu_build(title: str, markdown: str, mentions: Sequence[str], link: str | None,
                  color: str) -> dict[str, Any]:
    content = markdown + ("\n" + MENTION_LEAD + " ".join(f"<at id={m}></at>" for m in mentions) if mentions else "")
    elements: list[dict[str, Any]] = [{"tag": "div", "text": {"tag": "lark_md", "content": content}}]
    if link:
        elements.append({"tag": "action", "actions": [{"tag": "button", "type": "primary", "url": link,
                                                       "text": {"tag": "plain_text", "content": "查看并处理"}}]})
    return {"msg_type": "interactive", "card": {
        "config": {"wide_screen_mode": True},
        "header": {"title": {"tag": "plain_text", "content": title}, "template": color},
        "elements": elements}}


def _feishu_sign(url: str, secret: str | None, payload: Mapping[str, Any], now: float) -> tuple[str, dict[str, Any]]:
    if not secret:
        return url, dict(payload)
    timestamp = int(now)
    return url, {"timestamp": str(timestamp), "sign": feishu_signature(secret, timestamp), **payload}


FEISHU = Platform(
    name="feishu", label="飞书", limits=(Limit(100, 60.0), Limit(5, 1.0)), penalty=60.0, max_bytes=20_000,
    code_key=("code", "StatusCode"), message_key=("msg", "StatusMessage"), throttle_codes=frozenset({11232}),
    retry_codes=frozenset({2200}), build=_feishu_build, size=lambda p: len(_dumps(p)) + SIGNATURE_ROOM,
    sign=_feishu_sign)

PLATFORMS: dict[str, Platform] = {p.name: p for p in (DINGTALK, WECOM, FEISHU)}
