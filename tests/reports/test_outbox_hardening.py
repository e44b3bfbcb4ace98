"""Outbox hardening: addresses and timeouts checked at load, one bad message never stalls the others or stays
`sending`, and concurrent `outbox send` runs deliver every message exactly once."""
from __future__ import annotations

import re
import threading
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from sentiment import store
from sentiment.config import build_settings, load_settings
from sentiment.errors import ConfigError
from sentiment.reports import outbox as mailer
from sentiment.reports.render import RenderedMessage
from sentiment.reports.transports import SmtpTransport
from smtp_server import SmtpServer

NOW = datetime(2024, 5, 2, 1, 0, tzinfo=timezone.utc)


def write_config(tmp_path: Path, port: int, extra: str = "") -> Path:
    config = tmp_path / "sentiment.toml"
    config.write_text(f"""
[mail]
transport = "smtp"
host = "127.0.0.1"
port = {port}
timeout = 5
from = "舆情监控 <monitor@example.com>"
{extra}
[audiences.cs]
to = ["cs-lead@example.com"]
""", encoding="utf-8")
    return config


def queue(db: Any, settings: Any, n: int, now: datetime = NOW) -> list[int]:
    return [mailer.enqueue(db, settings, key=f"test:{i}", kind="alert", audience="cs",
                           recipients=["cs-lead@example.com"], now=now,
                           message=RenderedMessage(f"提醒 {i}", f"正文 {i}", f"<p>正文 {i}</p>"))
            for i in range(n)]


# -- item 15: validated at load ----------------------------------------------------------------------------

@pytest.mark.parametrize("mail, audiences, message", [
    ({"timeout": 0}, None, "[mail] timeout: expected a number of seconds above 0 and at most 600, got 0"),
    ({"timeout": -5}, None, "[mail] timeout: expected a number of seconds above 0 and at most 600, got -5"),
    ({"timeout": 3600}, None, "[mail] timeout: expected a number of seconds above 0 and at most 600, got 3600"),
    ({"port": 0}, None, "[mail] port: expected a port from 1 to 65535, got 0"),
    ({"from": "监控 <监控@example.com>"}, None, "[mail] from: '监控@example.com' is not an ASCII e-mail address"),
    ({}, ["客服@example.com"], "[audiences.cs] to: '客服@example.com' is not an ASCII e-mail address"),
    ({}, ["张三@例子.公司"], "[audiences.cs] to: '张三@例子.公司' is not an ASCII e-mail address"),
    ({}, ["cs@例子.公司"], "use the domain's IDNA (xn--) form"),
    ({}, ["a@example.com, b@example.com"], "[audiences.cs] to: 'a@example.com, b@example.com' is not one"),
    ({}, ["cs lead@example.com"], "[audiences.cs] to: 'cs lead@example.com' is not a valid e-mail address"),
])
def test_bad_timeout_and_addresses_are_refused_at_load(tmp_path: Path, mail: dict, audiences: list | None,
                                                       message: str) -> None:
    data: dict[str, Any] = {"mail": mail, "audiences": {"cs": {"to": audiences or ["cs@example.com"]}}}
    with pytest.raises(ConfigError, match=re.escape(message)):
        build_settings(data, None, {})


def test_bad_address_is_an_error_line_from_the_cli(run_cli: Any, tmp_path: Path) -> None:
    config = write_config(tmp_path, 2525)
    config.write_text(config.read_text(encoding="utf-8").replace("cs-lead@example.com", "客服@example.com"),
                      encoding="utf-8")
    result = run_cli("outbox", "send")
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: [audiences.cs] to: '客服@example.com' is not an ASCII e-mail address")


def test_display_names_stay_allowed(tmp_path: Path) -> None:
    data = {"audiences": {"cs": {"to": ["客服组长 <cs-lead@example.com>", "cs@localhost"]}}}
    assert build_settings(data, None, {}).audiences["cs"] == ("客服组长 <cs-lead@example.com>", "cs@localhost")


# -- item 15: one message that cannot be delivered -----------------------------------------------------------

def test_unencodable_recipient_fails_that_message_only(run_cli: Any, tmp_path: Path) -> None:
    """A message queued before addresses were checked (or by hand) names a non-ASCII recipient: SMTP cannot
    carry it. That message ends `failed` with the reason; the messages after it still go."""
    with SmtpServer() as server:
        write_config(tmp_path, server.port)
        settings = load_settings(db=run_cli.db, env={})
        db = store.open_db(settings.db)
        ids = queue(db, settings, 3)
        with store.transaction(db):
            db.execute("UPDATE outbox SET recipients = ? WHERE id = ?", ['["客服@example.com"]', ids[1]])
        result, report = run_cli.json("outbox", "send")
        assert result.exit_code == 0, result.stderr
        assert report["sent"] == [ids[0], ids[2]] and [f["id"] for f in report["failed"]] == [ids[1]]
        _, rows = run_cli.json("outbox")
    by_id = {r["id"]: r for r in rows}
    assert by_id[ids[1]]["status"] == "failed"
    assert "'客服@example.com'" in by_id[ids[1]]["last_error"] and "ASCII" in by_id[ids[1]]["last_error"]
    assert [by_id[i]["status"] for i in (ids[0], ids[2])] == ["sent", "sent"]
    assert len(server.messages) == 2


class BuggyTransport(SmtpTransport):
    """An unexpected exception (a bug, not a MailError) while delivering the second message."""

    def __init__(self, mail: Any) -> None:
        super().__init__(mail)
        self.calls = 0

    def send(self, sender: str, recipients: Any, data: bytes, name: str, on_data: Any) -> str:
        self.calls += 1
        if self.calls == 2:
            raise ValueError("timeout value out of range")
        return super().send(sender, recipients, data, name, on_data)


def test_unexpected_exception_fails_that_message_and_never_leaves_it_sending(tmp_path: Path) -> None:
    with SmtpServer() as server:
        settings = load_settings(config=write_config(tmp_path, server.port), db=tmp_path / "s.db", env={})
        db = store.open_db(settings.db)
        ids = queue(db, settings, 3)
        report = mailer.send_pending(db, settings, NOW, transport=BuggyTransport(settings.mail))
    assert report["sent"] == [ids[0], ids[2]]
    assert report["failed"] == [{"id": ids[1], "error": "ValueError: timeout value out of range"}]
    rows = {r["id"]: r for r in mailer.list_outbox(db)}
    assert rows[ids[1]]["status"] == "failed" and rows[ids[1]]["last_error"] == "ValueError: timeout value out of range"
    assert len(server.messages) == 2


# -- item 16: concurrent runs ----------------------------------------------------------------------------------

class SlowTransport(SmtpTransport):
    """A slow SMTP server: each message takes `delay` seconds before its data is handed over."""

    delay = 0.1

    def send(self, sender: str, recipients: Any, data: bytes, name: str, on_data: Any) -> str:
        time.sleep(self.delay)
        return super().send(sender, recipients, data, name, on_data)


def test_concurrent_send_runs_deliver_every_message_exactly_once(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Run A sends 40 messages slowly (4 s); run B starts when A has been running well over one lease
    (2 s here; leases are stored to the second) and sends until nothing is due. A lease taken when the *run*
    started has expired by then although A is still sending: B would take over the message A is sending and
    deliver it a second time. A lease taken when the message is picked up holds while it is being sent."""
    monkeypatch.setattr(mailer, "lease", lambda settings: timedelta(seconds=2))
    errors: list[BaseException] = []
    sent: dict[str, list[int]] = {"a": [], "b": []}
    with SmtpServer() as server:
        settings = load_settings(config=write_config(tmp_path, server.port), db=tmp_path / "s.db", env={})
        db = store.open_db(settings.db)
        ids = queue(db, settings, 40, now=datetime.now(timezone.utc) - timedelta(minutes=1))
        a_done = threading.Event()

        def run_a() -> None:
            try:
                own = store.open_db(settings.db)
                report = mailer.send_pending(own, settings, datetime.now(timezone.utc),
                                             transport=SlowTransport(settings.mail))
                sent["a"] += report["sent"]
            except BaseException as exc:  # noqa: BLE001 - reported by the test thread
                errors.append(exc)
            finally:
                a_done.set()

        def run_b() -> None:
            try:
                own = store.open_db(settings.db)
                time.sleep(3.2)
                while True:
                    finished = a_done.is_set()
                    report = mailer.send_pending(own, settings, datetime.now(timezone.utc),
                                                 transport=SlowTransport(settings.mail))
                    sent["b"] += report["sent"]
                    if finished:
                        return
                    time.sleep(0.05)
            except BaseException as exc:  # noqa: BLE001
                errors.append(exc)

        threads = [threading.Thread(target=run_a), threading.Thread(target=run_b)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
    assert errors == []
    subjects = Counter(m.message["Subject"] for m in server.messages)
    assert {s: n for s, n in subjects.items() if n > 1} == {}, "delivered more than once"
    assert len(subjects) == 40
    assert {r["status"] for r in mailer.list_outbox(db)} == {"sent"}
    assert sent["a"] and sent["b"], "the runs overlapped and shared the messages"
    assert sorted(sent["a"] + sent["b"]) == ids
