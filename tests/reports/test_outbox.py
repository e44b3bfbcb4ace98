"""Outbox and transports against a real SMTP server on loopback (aiosmtpd): delivery, AUTH, TLS, retries, crashes."""
from __future__ import annotations

from email import message_from_bytes
from email.policy import default as default_policy
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from sentiment import store
from sentiment.reports import digest
from sentiment.reports import outbox as mailer
from sentiment.config import build_settings
from sentiment.reports.transports import MailError, SmtpTransport
from smtp_server import Certificates, SmtpServer, free_port
from test_digest import DAY, RULES, make_settings, seed_day

NOW = datetime(2024, 5, 2, 1, 0, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def certs() -> Certificates:
    return Certificates()


def smtp_settings(tmp_path: Path, port: int, security: str = "none", username: str | None = None,
                  password: str | None = None) -> Any:
    data: dict[str, Any] = {
        "store": {"db": str(tmp_path / "s.db")},
        "mail": {"transport": "smtp", "host": "127.0.0.1", "port": port, "security": security, "timeout": 5,
                 "outbox_dir": str(tmp_path / "outbox"), "from": "舆情监控 <monitor@example.com>"},
        "audiences": {"cs": {"to": ["cs-lead@example.com", "cs2@example.com"]}, "pr": {"to": ["pr@example.com"]}},
    }
    if username:
        data["mail"]["username"] = username
    env = {"SENTIMENT_SMTP_PASSWORD": password} if password else {}
    return build_settings(data, None, env)


def queue_day(settings: Any) -> tuple[Any, list[int]]:
    db = store.open_db(settings.db)
    seed_day(db)
    return db, digest.queue_digests(db, settings, DAY, rules=RULES, now=NOW)


def status(db: Any, outbox_id: int) -> dict[str, Any]:
    return next(r for r in mailer.list_outbox(db) if r["id"] == outbox_id)


def test_digests_arrive_as_multipart_alternative_with_chinese_subject_per_audience(tmp_path: Path) -> None:
    with SmtpServer() as server:
        settings = smtp_settings(tmp_path, server.port)
        db, ids = queue_day(settings)
        report = mailer.send_pending(db, settings, NOW)
        assert report["sent"] == ids
        assert mailer.send_pending(db, settings, NOW + timedelta(hours=1))["sent"] == []
    assert len(server.messages) == 2
    by_rcpt = {tuple(m.rcpt_tos): m for m in server.messages}
    assert set(by_rcpt) == {("cs-lead@example.com", "cs2@example.com"), ("pr@example.com",)}
    cs = by_rcpt[("cs-lead@example.com", "cs2@example.com")]
    assert cs.mail_from == "monitor@example.com"
    msg = cs.message
    assert msg.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in msg.iter_parts()] == ["text/plain", "text/html"]
    assert msg["Subject"] == "【舆情日报】2024-05-01 客服：3 个新事件，4 个逾期，7 个待处理"
    assert "=?utf-8?" in cs.data.decode("ascii").split("\r\n\r\n")[0]  # RFC 2047 on the wire
    assert str(msg["From"]) == "舆情监控 <monitor@example.com>"
    assert msg["Message-ID"] == mailer.message_id("digest:cs:2024-05-01", settings.mail.sender)
    assert "食品安全" in msg.get_body(("plain",)).get_content()
    assert "<mark" in msg.get_body(("html",)).get_content()
    assert status(db, ids[0])["status"] == "sent" and status(db, ids[0])["attempts"] == 1


PLAIN_AUTH = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")


@PLAIN_AUTH
def test_auth_with_password_from_environment(tmp_path: Path) -> None:
    with SmtpServer(auth={"monitor": "s3cret"}) as server:
        settings = smtp_settings(tmp_path, server.port, username="monitor", password="s3cret")
        db, ids = queue_day(settings)
        assert mailer.send_pending(db, settings, NOW)["sent"] == ids
    assert {m.login for m in server.messages} == {"monitor"} and len(server.messages) == 2


@PLAIN_AUTH
def test_wrong_password_keeps_message_pending_with_error(tmp_path: Path) -> None:
    with SmtpServer(auth={"monitor": "s3cret"}) as server:
        settings = smtp_settings(tmp_path, server.port, username="monitor", password="guess")
        db, ids = queue_day(settings)
        report = mailer.send_pending(db, settings, NOW)
    assert [r["id"] for r in report["retrying"]] == ids and not server.messages
    row = status(db, ids[0])
    assert row["status"] == "pending" and "SMTP login as 'monitor'" in row["last_error"] and "535" in row["last_error"]


def test_username_without_password_is_a_clear_error(tmp_path: Path) -> None:
    settings = smtp_settings(tmp_path, 25, username="monitor")
    with pytest.raises(MailError, match="SENTIMENT_SMTP_PASSWORD is empty"):
        SmtpTransport(settings.mail)


def test_starttls_with_generated_certificate_and_auth(tmp_path: Path, certs: Certificates) -> None:
    with SmtpServer(tls="starttls", certs=certs, auth={"monitor": "s3cret"}) as server:
        settings = smtp_settings(tmp_path, server.port, "starttls", "monitor", "s3cret")
        db, ids = queue_day(settings)
        # without trusting the test CA the certificate is rejected and nothing is sent
        report = mailer.send_pending(db, settings, NOW, transport=SmtpTransport(settings.mail))
        assert len(report["retrying"]) == 2 and "CERTIFICATE_VERIFY_FAILED" in report["retrying"][0]["error"]
        later = NOW + timedelta(minutes=5)
        trusted = SmtpTransport(settings.mail, ssl_context=certs.client_context())
        assert mailer.send_pending(db, settings, later, transport=trusted)["sent"] == ids
    assert len(server.messages) == 2 and server.messages[0].login == "monitor"


def test_implicit_tls(tmp_path: Path, certs: Certificates) -> None:
    with SmtpServer(tls="ssl", certs=certs) as server:
        settings = smtp_settings(tmp_path, server.port, "ssl")
        db, ids = queue_day(settings)
        transport = SmtpTransport(settings.mail, ssl_context=certs.client_context())
        assert mailer.send_pending(db, settings, NOW, transport=transport)["sent"] == ids
    assert len(server.messages) == 2


def test_server_down_then_back_delivers_exactly_once(tmp_path: Path) -> None:
    port = free_port()
    settings = smtp_settings(tmp_path, port)
    db, ids = queue_day(settings)
    report = mailer.send_pending(db, settings, NOW)
    assert [r["id"] for r in report["retrying"]] == ids
    row = status(db, ids[0])
    assert (row["status"], row["attempts"]) == ("pending", 1)
    assert f"cannot connect to SMTP server 127.0.0.1:{port}" in row["last_error"]
    assert row["next_attempt_at"] == mailer.iso(NOW + timedelta(minutes=1))
    # backoff: not due yet, so not even attempted
    assert mailer.send_pending(db, settings, NOW + timedelta(seconds=30)) == \
        {"sent": [], "retrying": [], "failed": [], "unknown": [], "recovered": []}
    with SmtpServer(port=port) as server:
        assert mailer.send_pending(db, settings, NOW + timedelta(minutes=2))["sent"] == ids
        assert mailer.send_pending(db, settings, NOW + timedelta(hours=2))["sent"] == []
        assert mailer.retry(db) == []  # nothing failed or waiting
    assert len(server.messages) == 2
    assert status(db, ids[0])["attempts"] == 2 and status(db, ids[0])["status"] == "sent"


class FlakyTransport:
    """Raises the given MailError for every send (no network)."""

    idempotent = False

    def __init__(self, error: MailError) -> None:
        self.error = error
        self.calls = 0

    def __enter__(self) -> "FlakyTransport":
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def send(self, sender: str, recipients: Any, data: bytes, name: str, on_data: Any) -> str:
        self.calls += 1
        raise self.error


def test_backoff_doubles_and_gives_up_after_max_attempts(tmp_path: Path) -> None:
    settings = smtp_settings(tmp_path, 25)
    db, ids = queue_day(settings)
    flaky = FlakyTransport(MailError("421 try later"))
    now = NOW
    waits = []
    for attempt in range(1, mailer.MAX_ATTEMPTS + 1):
        mailer.send_pending(db, settings, now, transport=flaky)
        row = status(db, ids[0])
        assert row["attempts"] == attempt and row["last_error"].startswith("421 try later")
        due = datetime.fromisoformat(row["next_attempt_at"])
        waits.append(due - now)
        now = due
    assert waits[:4] == [timedelta(minutes=m) for m in (1, 2, 4, 8)]
    assert status(db, ids[0])["status"] == "failed" and "gave up after 8 attempts" in status(db, ids[0])["last_error"]
    calls = flaky.calls
    mailer.send_pending(db, settings, now + timedelta(days=1), transport=flaky)
    assert flaky.calls == calls  # failed messages wait for `retry`
    assert mailer.retry(db) == ids
    assert status(db, ids[0])["status"] == "pending" and status(db, ids[0])["attempts"] == 0


def test_permanent_refusal_fails_without_retrying(tmp_path: Path) -> None:
    with SmtpServer() as server:
        server.handler.refuse.add("pr@example.com")
        settings = smtp_settings(tmp_path, server.port)
        db, ids = queue_day(settings)
        report = mailer.send_pending(db, settings, NOW)
        assert report["sent"] == [ids[0]] and report["failed"][0]["id"] == ids[1]
        assert "550" in status(db, ids[1])["last_error"] and status(db, ids[1])["status"] == "failed"
        server.handler.refuse.clear()
        assert mailer.retry(db, ids[1], now=NOW) == [ids[1]]
        assert mailer.send_pending(db, settings, NOW)["sent"] == [ids[1]]
    assert [m.rcpt_tos for m in server.messages] == [["cs-lead@example.com", "cs2@example.com"], ["pr@example.com"]]


class Crash(BaseException):
    """The process dies (not an exception the mailer handles)."""


class CrashingTransport(SmtpTransport):
    """Dies either before the data is handed over, or right after the server accepted it."""

    def __init__(self, mail: Any, when: str) -> None:
        super().__init__(mail)
        self.when = when

    def send(self, sender: str, recipients: Any, data: bytes, name: str, on_data: Any) -> str:
        if self.when == "before":
            raise Crash()
        super().send(sender, recipients, data, name, on_data)
        raise Crash()


def test_crash_before_data_is_retried_after_the_lease(tmp_path: Path) -> None:
    with SmtpServer() as server:
        settings = smtp_settings(tmp_path, server.port)
        db, ids = queue_day(settings)
        with pytest.raises(Crash):
            mailer.send_pending(db, settings, NOW, transport=CrashingTransport(settings.mail, "before"))
        db = store.open_db(settings.db)  # "restart"
        assert status(db, ids[0])["status"] == "sending"
        assert mailer.send_pending(db, settings, NOW + timedelta(seconds=10))["sent"] == [ids[1]]  # lease holds
        later = NOW + mailer.lease(settings) + timedelta(seconds=1)
        report = mailer.send_pending(db, settings, later)
        assert report["recovered"] == [ids[0]] and report["sent"] == [ids[0]]
    assert sorted(len(m.rcpt_tos) for m in server.messages) == [1, 2]


def test_crash_after_server_accepted_is_never_resent_automatically(tmp_path: Path) -> None:
    with SmtpServer() as server:
        settings = smtp_settings(tmp_path, server.port)
        db, ids = queue_day(settings)
        with pytest.raises(Crash):
            mailer.send_pending(db, settings, NOW, transport=CrashingTransport(settings.mail, "after"))
        assert len(server.messages) == 1
        db = store.open_db(settings.db)
        assert status(db, ids[0])["status"] == "delivering"
        later = NOW + mailer.lease(settings) + timedelta(seconds=1)
        report = mailer.send_pending(db, settings, later)
        assert report["recovered"] == [ids[0]] and report["sent"] == [ids[1]]
        row = status(db, ids[0])
        assert row["status"] == "unknown" and "may have been delivered" in row["last_error"]
        assert mailer.message_id("digest:cs:2024-05-01", settings.mail.sender) in row["last_error"]
        mailer.send_pending(db, settings, later + timedelta(days=1))
        assert mailer.retry(db) == []  # a bulk retry never resends an unknown message
        assert len(server.messages) == 2
        mailer.retry(db, ids[0], now=later)  # the operator checked: resend on purpose
        assert mailer.send_pending(db, settings, later)["sent"] == [ids[0]]
    assert len(server.messages) == 3
    assert server.messages[0].message["Message-ID"] == server.messages[2].message["Message-ID"]


def test_file_transport_is_the_default_and_idempotent(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    assert settings.mail.transport == "file"
    db, ids = queue_day(settings)
    outbox = Path(settings.mail.outbox_dir)
    queued = sorted(p.name for p in outbox.glob("*.eml"))
    assert queued == ["00001-digest_cs_2024-05-01.eml", "00002-digest_pr_2024-05-01.eml"]
    assert mailer.send_pending(db, settings, NOW)["sent"] == ids
    assert sorted(p.name for p in (outbox / "sent").glob("*.eml")) == queued
    assert (outbox / "sent" / queued[0]).read_bytes() == (outbox / queued[0]).read_bytes()
    # a crash after writing but before marking sent: the retry finds the file and does not write twice
    with store.transaction(db):
        db.execute("UPDATE outbox SET status = 'delivering', next_attempt_at = ? WHERE id = ?",
                   [mailer.iso(NOW), ids[0]])
    report = mailer.send_pending(db, settings, NOW + timedelta(minutes=1))
    assert report["recovered"] == [ids[0]] and report["sent"] == [ids[0]]
    assert len(list((outbox / "sent").glob("*.eml"))) == 2


def test_retry_refuses_sent_and_unknown_ids(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    db, ids = queue_day(settings)
    mailer.send_pending(db, settings, NOW)
    with pytest.raises(MailError, match=f"outbox message {ids[0]} was already sent"):
        mailer.retry(db, ids[0])
    with pytest.raises(MailError, match="no outbox message 42"):
        mailer.retry(db, 42)


def test_headers_come_from_config_and_cannot_be_injected(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    message = digest.RenderedMessage("紧急：商品\r\nBcc: evil@example.com\r\nX-Evil: 1", "正文", "<p>正文</p>")
    raw = mailer.build_email(settings, ["cs-lead@example.com"], message, "k", NOW).as_bytes()
    head = raw.split(b"\r\n\r\n")[0].decode("ascii")  # ASCII only: non-ASCII headers are RFC 2047 encoded
    names = [line.split(":")[0] for line in head.split("\r\n") if line and not line[0].isspace()]
    assert names == ["From", "To", "Subject", "Date", "Message-ID", "Auto-Submitted", "MIME-Version", "Content-Type"]
    parsed = message_from_bytes(raw, policy=default_policy)
    assert parsed["Bcc"] is None and parsed["X-Evil"] is None
    assert parsed["Subject"] == "紧急：商品 Bcc: evil@example.com X-Evil: 1"
    assert parsed["To"] == "cs-lead@example.com"
