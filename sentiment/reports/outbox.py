"""The outbox: messages rendered once under an idempotency key, then delivered once.

States: pending -> sending -> delivering -> sent; a failure goes back to
pending (with backoff and `last_error`), to failed (permanent, or too many
attempts) or to unknown (the connection broke while the server had the data).

Delivery guarantee (see `send_pending`): every state change is committed
before the next network step. `sending` is committed before connecting,
`delivering` right before the message data is handed over. A process that dies
in `sending` never transferred the data, so the message is retried after its
lease expires. One that dies in `delivering` may have been delivered: over
SMTP it becomes `unknown` and is only resent by an explicit
`sentiment outbox retry ID`; the file transport is idempotent and just retries.
Every copy carries a Message-ID derived from the key, so a duplicate is
recognisable. Hence: never sent twice by the software; at most one
send can be lost to ambiguity, and it is reported, not hidden.

Chat messages (rows with a `channel`, queued by `sentiment.reports.channels.queue`) go through the
same states to the channel's group robot: `delivering` before the HTTP request, `unknown` when it
went out and no answer came back. Per channel they go one at a time and in order (a message waiting
for a retry holds back the later ones), within the robot's rate limit (`channels.ratelimit`): over
it, they stay pending with `next_attempt_at`; a rate-limit answer makes them wait the platform's
penalty without counting as a failed attempt.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import time
from datetime import datetime, timedelta, timezone
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, parseaddr
from pathlib import Path
from typing import Any, Callable, Mapping, Protocol, Sequence

import sqlite_utils

from sentiment.config import DEFAULT_AUDIENCES, Settings, address_problem
from sentiment.store import transaction
from sentiment.reports.channels import ratelimit
from sentiment.reports.channels.transport import ChatError, ChatTransport, make_chat_transport
from sentiment.reports.transports import MailError, make_transport

log = logging.getLogger(__name__)

BACKOFF_BASE = timedelta(minutes=1)
BACKOFF_MAX = timedelta(hours=6)
MAX_ATTEMPTS = 8
STATUSES = ("pending", "sending", "delivering", "sent", "failed", "unknown")
LISTED = ("id", "key", "kind", "audience", "recipients", "subject", "status", "attempts", "next_attempt_at",
          "last_error", "created_at", "sent_at", "eml_path", "channel")
CHAT_WAIT_BUDGET = 30.0  # seconds one send run may spend waiting for robots' rate limits, in all


def audiences(settings: Settings) -> Mapping[str, tuple[str, ...]]:
    """The configured audiences, or cs and pr at localhost when none are configured."""
    return settings.audiences or DEFAULT_AUDIENCES


class Rendered(Protocol):
    subject: str
    text: str
    html: str


def iso(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("naive datetime: pass an aware `now`")
    return moment.astimezone(timezone.utc).isoformat(timespec="seconds")


def _now(now: datetime | None) -> datetime:
    return now if now is not None else datetime.now(timezone.utc)


def _address(value: str) -> Address:
    problem = address_problem(value)
    if problem:
        raise MailError(f"invalid e-mail address: {problem} (check [mail] from and [audiences])", retryable=False)
    name, addr = parseaddr(value)
    user, domain = addr.rsplit("@", 1)
    return Address(display_name=_one_line(name), username=user, domain=domain)


def _one_line(value: str) -> str:
    return " ".join("".join(c if c.isprintable() else " " for c in value).split())


def message_id(key: str, sender: str) -> str:
    """Stable per idempotency key, so a duplicate (should one ever occur) is recognisable."""
    domain = parseaddr(sender)[1].rpartition("@")[2] or "sentiment.local"
    return f"<sentiment.{hashlib.sha256(key.encode()).hexdigest()[:32]}@{domain}>"


def build_email(settings: Settings, recipients: Sequence[str], message: Rendered, key: str,
                now: datetime) -> EmailMessage:
    """multipart/alternative (text, then HTML); every header comes from configuration."""
    msg = EmailMessage(policy=SMTP)
    msg["From"] = _address(settings.mail.sender)
    msg["To"] = [_address(r) for r in recipients]
    msg["Subject"] = _one_line(message.subject)[:200]
    msg["Date"] = format_datetime(now.astimezone(timezone.utc))
    msg["Message-ID"] = message_id(key, settings.mail.sender)
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(message.text, charset="utf-8")
    msg.add_alternative(message.html, subtype="html", charset="utf-8")
    return msg


def _slug(key: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", key)[:80]


def _write(path: Path, data: bytes) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except OSError as exc:
        raise MailError(f"cannot write {path}: {exc.strerror}", retryable=False) from None


def find(db: sqlite_utils.Database, key: str) -> int | None:
    row = db.execute("SELECT id FROM outbox WHERE key = ?", [key]).fetchone()
    return int(row[0]) if row else None


def enqueue(db: sqlite_utils.Database, settings: Settings, *, key: str, kind: str, audience: str,
            recipients: Sequence[str], message: Rendered, now: datetime | None = None,
            meta: Mapping[str, Any] | None = None) -> int:
    """Store a rendered message (and its .eml copy) once under `key`; returns its outbox id."""
    now = _now(now)
    data = build_email(settings, recipients, message, key, now).as_bytes()
    with transaction(db):
        existing = find(db, key)
        if existing is not None:
            return existing
        cur = db.execute(
            "INSERT INTO outbox (key, kind, audience, recipients, subject, message, status, attempts,"
            " next_attempt_at, created_at, meta) VALUES (?, ?, ?, ?, ?, ?, 'pending', 0, ?, ?, ?)",
            [key, kind, audience, json.dumps(list(recipients)), _one_line(message.subject),
             data.decode("utf-8"), iso(now), iso(now), json.dumps(dict(meta or {}), ensure_ascii=False)])
        outbox_id = int(cur.lastrowid)
        path = Path(settings.mail.outbox_dir) / f"{outbox_id:05d}-{_slug(key)}.eml"
        _write(path, data)
        db.execute("UPDATE outbox SET eml_path = ? WHERE id = ?", [str(path), outbox_id])
    log.info("queued %s as outbox #%d", key, outbox_id)
    return outbox_id


def export(directory: Path, settings: Settings, *, key: str, recipients: Sequence[str], message: Rendered,
           now: datetime | None = None) -> dict[str, str]:
    """Write <key>.eml, .html and .txt into `directory` (a preview; the outbox is not touched)."""
    directory = Path(directory)
    base = directory / _slug(key)
    data = build_email(settings, recipients, message, key, _now(now)).as_bytes()
    paths = {"eml": base.with_suffix(".eml"), "html": base.with_suffix(".html"), "text": base.with_suffix(".txt")}
    _write(paths["eml"], data)
    _write(paths["html"], message.html.encode())
    _write(paths["text"], message.text.encode())
    return {k: str(v) for k, v in paths.items()}


def backoff(attempts: int) -> timedelta:
    return min(BACKOFF_BASE * (2 ** max(attempts - 1, 0)), BACKOFF_MAX)


def lease(settings: Settings) -> timedelta:
    """How long a send may take before its `sending` state counts as interrupted."""
    return timedelta(seconds=4 * settings.mail.timeout + 60)


def _set(db: sqlite_utils.Database, outbox_id: int, **values: Any) -> None:
    with transaction(db):
        sets = ", ".join(f"{k} = ?" for k in values)
        db.execute(f"UPDATE outbox SET {sets} WHERE id = ?", [*values.values(), outbox_id])


def recover(db: sqlite_utils.Database, settings: Settings, now: datetime, idempotent: bool) -> list[int]:
    """Settle sends interrupted by a crash (lease expired): retry, or mark unknown if possibly delivered."""
    recovered = []
    with transaction(db):
        rows = db.execute("SELECT id, status, key, channel FROM outbox WHERE status IN ('sending', 'delivering')"
                          " AND next_attempt_at < ?", [iso(now)]).fetchall()
        for outbox_id, status, key, channel in rows:
            if channel is not None and status == "delivering":
                db.execute("UPDATE outbox SET status = 'unknown', last_error = ? WHERE id = ?", [
                    f"interrupted after the request went to the {channel} robot: it may have been posted; not resent"
                    f" automatically, check the group, then `sentiment outbox retry {outbox_id}` to resend", outbox_id])
            elif status == "sending" or (idempotent and channel is None):
                db.execute("UPDATE outbox SET status = 'pending', next_attempt_at = ?, last_error = ?"
                           " WHERE id = ?", [iso(now), f"interrupted while {status} (crash or restart); retrying",
                                             outbox_id])
            else:
                db.execute("UPDATE outbox SET status = 'unknown', last_error = ? WHERE id = ?", [
                    "interrupted while the SMTP server had the message data: it may have been delivered "
                    f"(Message-ID {message_id(key, settings.mail.sender)}); not resent automatically, "
                    f"check the mailbox, then `sentiment outbox retry {outbox_id}` to resend", outbox_id])
            recovered.append(int(outbox_id))
    for outbox_id in recovered:
        log.warning("outbox #%d: recovered an interrupted send", outbox_id)
    return recovered


def _claim(db: sqlite_utils.Database, outbox_id: int, moment: datetime, settings: Settings) -> bool:
    """Take this message's lease now, if it is still due and nobody holds it (atomic: one winner)."""
    with transaction(db):
        cur = db.execute("UPDATE outbox SET status = 'sending', attempts = attempts + 1, next_attempt_at = ?"
                         " WHERE id = ? AND status = 'pending' AND (next_attempt_at IS NULL OR next_attempt_at <= ?)",
                         [iso(moment + lease(settings)), outbox_id, iso(moment)])
        return cur.rowcount == 1


def _failed(db: sqlite_utils.Database, outbox_id: int, attempts: int, exc: MailError, now: datetime) -> str:
    error = str(exc)
    if exc.ambiguous:
        status = "unknown"
        error += f"; it may have been delivered: not resent automatically (`sentiment outbox retry {outbox_id}`)"
    elif not exc.retryable:
        status = "failed"
    elif attempts >= MAX_ATTEMPTS:
        status, error = "failed", f"{error} (gave up after {attempts} attempts)"
    else:
        status = "pending"
    _set(db, outbox_id, status=status, last_error=error, next_attempt_at=iso(now + backoff(attempts)))
    log.warning("outbox #%d: %s (%s)", outbox_id, error, status)
    return status


def run_clock(now: datetime) -> Callable[[], datetime]:
    """`now` advanced by the time this run has taken: leases are taken and renewed on this clock, so a
    message picked up late in a long run still gets a full lease (and a fixed `now` stays fixed in tests)."""
    start = time.monotonic()
    return lambda: now + timedelta(seconds=time.monotonic() - start)


def send_pending(db: sqlite_utils.Database, settings: Settings, now: datetime, transport: Any = None,
                 limit: int = 200, chat: Mapping[str, ChatTransport] | None = None) -> dict[str, Any]:
    """Deliver the due pending messages; returns {"sent": [...], "retrying": [...], "failed": [...], ...}.

    Each message is claimed (its lease taken) only when it is picked up, so runs that overlap share the
    messages and none is delivered twice; one message that cannot be delivered never stops the others.
    Mail goes through `transport` (default: [mail]); chat messages through `chat` (channel name ->
    transport; default: one per configured channel), see `_send_chat`.
    """
    if db.conn.in_transaction:
        raise RuntimeError("send_pending must not run inside a transaction (states must be committed)")
    clock = run_clock(now)
    report: dict[str, Any] = {"sent": [], "retrying": [], "failed": [], "unknown": [], "recovered": []}
    idempotent = transport.idempotent if transport is not None else settings.mail.transport == "file"
    report["recovered"] = recover(db, settings, now, idempotent)
    due = [r[0] for r in db.execute(
        "SELECT id FROM outbox WHERE status = 'pending' AND (next_attempt_at IS NULL OR next_attempt_at <= ?)"
        " AND channel IS NULL ORDER BY id LIMIT ?", [iso(now), limit]).fetchall()]
    if due:
        transport = transport if transport is not None else make_transport(settings.mail)
        with transport:
            for outbox_id in due:
                if _claim(db, outbox_id, clock(), settings):  # else another run took it, or it is no longer due
                    _send_one(db, settings, now, clock, transport, outbox_id, report)
    _send_chat(db, settings, now, clock, chat or {}, report, limit)
    return report


def _send_one(db: sqlite_utils.Database, settings: Settings, now: datetime, clock: Callable[[], datetime],
              transport: Any, outbox_id: int, report: dict[str, Any]) -> None:
    """Deliver one claimed message; whatever goes wrong, it leaves `sending` for sent, pending, failed or unknown."""
    attempts, handed_over = 1, False

    def on_data() -> None:  # the data goes to the server next: renew the lease, record the ambiguity
        nonlocal handed_over
        _set(db, outbox_id, status="delivering", next_attempt_at=iso(clock() + lease(settings)))
        handed_over = True

    try:
        key, recipients, message, attempts = db.execute(
            "SELECT key, recipients, message, attempts FROM outbox WHERE id = ?", [outbox_id]).fetchone()
        note = transport.send(settings.mail.sender, json.loads(recipients), message.encode("utf-8"),
                              f"{outbox_id:05d}-{_slug(key)}", on_data)
    except MailError as exc:
        _report_failure(db, outbox_id, attempts, exc, now, report)
        return
    except Exception as exc:  # a bug or an unforeseen error: this message fails, the others still go
        log.exception("outbox #%d: unexpected error while delivering", outbox_id)
        ambiguous = handed_over and not getattr(transport, "idempotent", False)  # the server may have it
        error = MailError(_short(exc), retryable=False, ambiguous=ambiguous)
        _report_failure(db, outbox_id, attempts, error, now, report)
        return
    _set(db, outbox_id, status="sent", sent_at=iso(now), next_attempt_at=None, last_error=None)
    log.info("outbox #%d sent: %s", outbox_id, note)
    report["sent"].append(outbox_id)


def _report_failure(db: sqlite_utils.Database, outbox_id: int, attempts: int, exc: MailError, now: datetime,
                    report: dict[str, Any]) -> None:
    status = _failed(db, outbox_id, attempts, exc, now)
    bucket = {"pending": "retrying", "failed": "failed", "unknown": "unknown"}[status]
    report[bucket].append({"id": outbox_id, "error": str(exc)})


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}"[:300] if text else type(exc).__name__


# ------------------------------------------------------------------ chat channels

def _chat_queue(db: sqlite_utils.Database, now: datetime, limit: int) -> dict[str, list[int]]:
    """Per channel, the pending messages that may go now, in order: none while an earlier one of the
    channel is being sent or is not due yet (waiting for a retry or the rate limit)."""
    queue: dict[str, list[int]] = {}
    blocked: set[str] = set()
    for outbox_id, channel, status, due in db.execute(
            "SELECT id, channel, status, next_attempt_at FROM outbox WHERE channel IS NOT NULL"
            " AND status IN ('pending', 'sending', 'delivering') ORDER BY id").fetchall():
        if channel in blocked:
            continue
        if status != "pending" or (due is not None and due > iso(now)) or sum(map(len, queue.values())) >= limit:
            blocked.add(channel)
            continue
        queue.setdefault(channel, []).append(int(outbox_id))
    return queue


def _send_chat(db: sqlite_utils.Database, settings: Settings, now: datetime, clock: Callable[[], datetime],
               chat: Mapping[str, ChatTransport], report: dict[str, Any], limit: int) -> None:
    """Each channel's due messages in order, one at a time, within its robot's rate limit: a short wait
    (up to the transport's `max_wait`) is waited out; a longer one leaves the rest pending until then."""
    budget = time.monotonic() + CHAT_WAIT_BUDGET
    for channel, ids in _chat_queue(db, now, limit).items():
        transport = chat.get(channel)
        if transport is None and channel in settings.channels:
            transport = make_chat_transport(settings.channels[channel])
        if transport is None:
            for outbox_id in ids:
                if _claim(db, outbox_id, clock(), settings):
                    _report_failure(db, outbox_id, 1, MailError(
                        f"channel {channel!r} is no longer configured (add [channels.{channel}] back, then"
                        f" `sentiment outbox retry {outbox_id}`)", retryable=False), now, report)
            continue
        with transport:
            for at, outbox_id in enumerate(ids):
                wait = ratelimit.wait_seconds(db, channel, transport.limits)
                if 0 < wait <= min(transport.max_wait, budget - time.monotonic()):
                    time.sleep(wait)
                    wait = ratelimit.wait_seconds(db, channel, transport.limits)
                if wait > 0:
                    _defer(db, ids[at:], clock() + timedelta(seconds=wait), report)
                    break
                if not _claim(db, outbox_id, clock(), settings) \
                        or not _send_chat_one(db, settings, now, clock, transport, outbox_id, report):
                    break  # taken by another run, or it waits for a retry: the later ones wait behind it


def _defer(db: sqlite_utils.Database, ids: Sequence[int], until: datetime, report: dict[str, Any]) -> None:
    with transaction(db):
        db.conn.executemany("UPDATE outbox SET next_attempt_at = ? WHERE id = ? AND status = 'pending'",
                            [[iso(until), i] for i in ids])
    report.setdefault("waiting", []).extend({"id": i, "until": iso(until)} for i in ids)
    log.info("outbox: %d chat message(s) wait for the robot's rate limit until %s", len(ids), iso(until))


def _send_chat_one(db: sqlite_utils.Database, settings: Settings, now: datetime, clock: Callable[[], datetime],
                   transport: ChatTransport, outbox_id: int, report: dict[str, Any]) -> bool:
    """Post one claimed chat message; True when the channel's next message may follow now."""
    attempts, posted = 1, False

    def on_data() -> None:  # the request goes out next: from now on a missing answer is ambiguous
        nonlocal posted
        _set(db, outbox_id, status="delivering", next_attempt_at=iso(clock() + lease(settings)))
        posted = True

    try:
        message, attempts, meta = db.execute("SELECT message, attempts, meta FROM outbox WHERE id = ?",
                                             [outbox_id]).fetchone()
        platform = json.loads(meta or "{}").get("platform", transport.platform.name)
        if platform != transport.platform.name:
            raise ChatError(f"rendered for {platform}, but [channels.{transport.channel.name}] is now"
                            f" {transport.platform.name}: queue it again", retryable=False)
        answer = transport.post(json.loads(message), on_data)
    except ChatError as exc:
        _record_post(db, transport, outbox_id, posted)
        if exc.throttle is None:
            _report_failure(db, outbox_id, attempts, exc, now, report)
            return not (exc.retryable or exc.ambiguous)  # a failed message does not hold back the others
        _set(db, outbox_id, status="pending", attempts=max(attempts - 1, 0), last_error=str(exc),
             next_attempt_at=iso(clock() + timedelta(seconds=exc.throttle)))
        report["retrying"].append({"id": outbox_id, "error": str(exc)})
        return False
    except Exception as exc:  # a bug or an unforeseen error: this message fails, the other channels still go
        log.exception("outbox #%d: unexpected error while posting", outbox_id)
        _record_post(db, transport, outbox_id, posted)
        _report_failure(db, outbox_id, attempts, MailError(_short(exc), retryable=False, ambiguous=posted), now,
                        report)
        return False
    _record_post(db, transport, outbox_id, posted)
    _set(db, outbox_id, status="sent", sent_at=iso(now), next_attempt_at=None, last_error=None)
    log.info("outbox #%d posted to %s: %s", outbox_id, transport.channel.name, answer.describe())
    report["sent"].append(outbox_id)
    return True


def _record_post(db: sqlite_utils.Database, transport: ChatTransport, outbox_id: int, posted: bool) -> None:
    if posted:  # the robot saw a request: it counts against its rate limit
        ratelimit.record(db, transport.channel.name, outbox_id)


def retry(db: sqlite_utils.Database, id: int | None = None, now: datetime | None = None) -> list[int]:
    """Make messages due again: one by id (also `unknown` ones), or all failed and waiting ones."""
    moment = iso(_now(now))
    with transaction(db):
        if id is None:
            ids = [r[0] for r in db.execute(
                "SELECT id FROM outbox WHERE status IN ('failed', 'pending') ORDER BY id").fetchall()]
        else:
            row = db.execute("SELECT status FROM outbox WHERE id = ?", [id]).fetchone()
            if row is None:
                raise MailError(f"no outbox message {id} (see `sentiment outbox`)", retryable=False)
            if row[0] == "sent":
                raise MailError(f"outbox message {id} was already sent", retryable=False)
            if row[0] in ("sending", "delivering"):
                raise MailError(f"outbox message {id} is being sent right now ({row[0]})", retryable=False)
            ids = [id]
        db.conn.executemany("UPDATE outbox SET status = 'pending', attempts = 0, next_attempt_at = ? WHERE id = ?",
                            [[moment, i] for i in ids])
    return ids


def list_outbox(db: sqlite_utils.Database, status: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
    """Outbox rows, newest first, without the message bodies."""
    where, params = ("WHERE status = ?", [status]) if status else ("", [])
    cur = db.execute(f"SELECT {', '.join(LISTED)} FROM outbox {where} ORDER BY id DESC LIMIT ?", [*params, limit])
    rows = [dict(zip(LISTED, r)) for r in cur.fetchall()]
    for row in rows:
        row["recipients"] = json.loads(row["recipients"] or "[]")
    return rows
