"""Group robots as outbox transports, against loopback servers that implement each platform's contract
(tests/chat_servers.py): signatures, sizes, rate limits under a burst, retries after an error answer,
exactly-once across a crash, escaping and mentions."""
from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterable

import pytest

from chat_servers import ChatServer
from sentiment import store
from sentiment.config import build_settings
from sentiment.reports import outbox as mailer
from sentiment.reports.channels import ratelimit
from sentiment.reports.channels.platforms import DINGTALK, FEISHU, dingtalk_signature, feishu_signature
from sentiment.reports.channels.queue import enqueue_chat
from sentiment.reports.channels.render import fit
from sentiment.reports.channels.transport import ChatTransport

PLATFORMS = ("dingtalk", "wecom", "feishu")
SECRETS = {"dingtalk": "SECa1b2c3+/=d4", "wecom": None, "feishu": "fs-secret+/="}
MENTION = {"dingtalk": ["13800000000"], "wecom": ["zhangsan"], "feishu": ["ou_lead"]}
MINUTE = 1 / 60  # tests run a platform "minute" in one second; servers and transports agree


def robot_settings(tmp_path: Path, robots: dict[str, ChatServer], **secrets: str) -> Any:
    channels = {}
    for name, robot in robots.items():
        table: dict[str, Any] = {"type": robot.platform, "url": robot.url, "mention": MENTION[robot.platform]}
        secret = secrets.get(name.replace("-", "_"), robot.secret)
        if secret:
            table["secret"] = secret
        channels[name] = table
    return build_settings({
        "store": {"db": str(tmp_path / "s.db")},
        "mail": {"outbox_dir": str(tmp_path / "outbox"), "from": "舆情监控 <monitor@example.com>"},
        "channels": channels,
        "audiences": {"cs": {"channels": list(robots)}},
    }, None, {})


def transports(settings: Any, scale: float = MINUTE, max_wait: float = 5.0) -> dict[str, ChatTransport]:
    return {n: ChatTransport(c, time_scale=scale, max_wait=max_wait) for n, c in settings.channels.items()}


def queue_numbered(db: Any, settings: Any, channel: str, n: int, start: int = 0) -> list[int]:
    """n messages 「预警 NN」 for `channel`, queued in order."""
    robot = settings.channels[channel]
    now = datetime.now(timezone.utc)
    return [enqueue_chat(db, key=f"burst:{channel}:{i}", kind="alert", audience="cs", channel=robot, now=now,
                         message=fit(robot, f"预警 {i:02d}", lambda keep, i=i: f"**预警 {i:02d}**", (0,)))
            for i in range(start, start + n)]


def numbers(robot: ChatServer) -> list[int]:
    return [int(m.text.split("预警 ")[1][:2]) for m in robot.messages]


def rows(db: Any, ids: Iterable[int]) -> list[dict[str, Any]]:
    by_id = {r["id"]: r for r in mailer.list_outbox(db, limit=100_000)}
    return [by_id[i] for i in ids]


def deliver(db: Any, settings: Any, chat: dict[str, ChatTransport], seconds: float = 30) -> None:
    """Worker cycles (real time) until nothing chat is pending."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        mailer.send_pending(db, settings, datetime.now(timezone.utc), chat=chat)
        if not db.execute("SELECT 1 FROM outbox WHERE status = 'pending'").fetchone():
            return
        time.sleep(0.05)
    pytest.fail("chat messages still pending")


# ------------------------------------------------------------------ signatures

def test_signatures_follow_the_documented_algorithms() -> None:
    """DingTalk: HMAC-SHA256 keyed by the secret over "{ms}\\n{secret}"; Feishu: keyed by "{s}\\n{secret}" over
    nothing. Checked against values computed by hand with openssl (`printf ... | openssl dgst -sha256 -hmac`)."""
    assert dingtalk_signature("SECtest", 1700000000000) == "aZLLrriXgn05YbwaGR7knYsLeJADjr9NwLaNNKpxh4g="
    assert feishu_signature("test", 1700000000) == "eSJQnOl8XqPTMPHWz9e5IzeHS/tqoc68g2967ekIPmg="
    url, _ = DINGTALK.sign("https://x/robot/send?access_token=t", "SECtest", {}, 1700000000.0)
    assert url == ("https://x/robot/send?access_token=t&timestamp=1700000000000"
                   "&sign=aZLLrriXgn05YbwaGR7knYsLeJADjr9NwLaNNKpxh4g%3D")  # URL-encoded
    _, body = FEISHU.sign("https://x/hook/k", "test", {"msg_type": "interactive"}, 1700000000.9)
    assert body == {"timestamp": "1700000000", "sign": "eSJQnOl8XqPTMPHWz9e5IzeHS/tqoc68g2967ekIPmg=",
                    "msg_type": "interactive"}


@pytest.mark.parametrize("platform", ["dingtalk", "feishu"])
def test_signed_requests_pass_and_a_wrong_secret_fails_with_the_platforms_message(tmp_path: Path,
                                                                                    platform: str) -> None:
    with ChatServer(platform, secret=SECRETS[platform]) as robot:
        settings = robot_settings(tmp_path, {"grp": robot})
        db = store.open_db(settings.db)
        ok = queue_numbered(db, settings, "grp", 1)
        assert mailer.send_pending(db, settings, datetime.now(timezone.utc), chat=transports(settings))["sent"] == ok
        wrong = robot_settings(tmp_path, {"grp": robot}, grp="SECwrong")
        bad = queue_numbered(db, wrong, "grp", 1, start=1)
        report = mailer.send_pending(db, wrong, datetime.now(timezone.utc), chat=transports(wrong))
    assert numbers(robot) == [0]
    row = rows(db, bad)[0]
    expected = {"dingtalk": "钉钉 answered 310000 sign not match",
                "feishu": "飞书 answered 19021 sign match fail or timestamp is not within one hour"}[platform]
    assert row["status"] == "failed" and row["last_error"].startswith(f"grp ({platform} http://127.0.0.1:")
    assert f"/…): {expected}" in row["last_error"], row["last_error"]
    assert report["failed"] == [{"id": bad[0], "error": row["last_error"]}]
    assert "SECwrong" not in row["last_error"] and robot.key not in row["last_error"]


def test_unsigned_wecom_robot_and_a_wrong_key(tmp_path: Path) -> None:
    with ChatServer("wecom") as robot:
        settings = robot_settings(tmp_path, {"grp": robot})
        db = store.open_db(settings.db)
        ids = queue_numbered(db, settings, "grp", 1)
        assert mailer.send_pending(db, settings, datetime.now(timezone.utc), chat=transports(settings))["sent"] == ids
        robot.key = "rotated"
        ids = queue_numbered(db, settings, "grp", 1, start=1)
        mailer.send_pending(db, settings, datetime.now(timezone.utc), chat=transports(settings))
    assert rows(db, ids)[0]["last_error"] == f"grp (wecom http://127.0.0.1:{robot.port}/…): 企业微信 answered 93000 invalid webhook url"


# ------------------------------------------------------------------ rate limits

@pytest.mark.parametrize("platform, scale", [("dingtalk", MINUTE), ("wecom", MINUTE), ("feishu", 0.1)])
def test_a_burst_of_50_arrives_complete_in_order_within_the_rate_limit(tmp_path: Path, platform: str,
                                                                       scale: float) -> None:
    with ChatServer(platform, secret=SECRETS[platform], scale=scale) as robot:
        settings = robot_settings(tmp_path, {"grp": robot})
        db = store.open_db(settings.db)
        queue_numbered(db, settings, "grp", 50)
        started = time.monotonic()
        deliver(db, settings, transports(settings, scale))
        took = time.monotonic() - started
    assert numbers(robot) == list(range(50))  # complete, in order, once
    assert robot.requests == 50 and all(a.get("errcode", a.get("code")) == 0 for a in robot.answers)
    minimum = {"dingtalk": 2 * 60, "wecom": 2 * 60, "feishu": 9 * 1}[platform] * scale  # 20/min; 5/s
    assert took >= minimum * 0.95
    gaps = [b.at - a.at for a, b in zip(robot.messages, robot.messages[20:])] if platform != "feishu" else []
    assert all(g >= 60 * scale for g in gaps)  # never 21 within a minute, as the server measures it


def test_over_the_limit_messages_wait_pending_in_order_across_runs_and_a_restart(tmp_path: Path) -> None:
    scale = 3 / 60  # a 3-second minute
    with ChatServer("dingtalk", secret=SECRETS["dingtalk"], scale=scale) as robot:
        settings = robot_settings(tmp_path, {"grp": robot})
        db = store.open_db(settings.db)
        ids = queue_numbered(db, settings, "grp", 25)
        report = mailer.send_pending(db, settings, datetime.now(timezone.utc), chat=transports(settings, scale, 0))
        assert report["sent"] == ids[:20] and [w["id"] for w in report["waiting"]] == ids[20:]
        waiting = rows(db, ids[20:])
        assert {r["status"] for r in waiting} == {"pending"} and all(r["next_attempt_at"] for r in waiting)
        assert {r["attempts"] for r in waiting} == {0} and {r["channel"] for r in waiting} == {"grp"}
        # a restart: a new connection and new transports know what was sent from the store
        db = store.open_db(settings.db)
        for row in waiting:  # even when they are due by the outbox's clock, the robot's minute is not over
            db.execute("UPDATE outbox SET next_attempt_at = ? WHERE id = ?", [mailer.iso(datetime(2000, 1, 1,
                                                                                          tzinfo=timezone.utc)), row["id"]])
        assert mailer.send_pending(db, settings, datetime.now(timezone.utc), chat=transports(settings, scale, 0))["sent"] == []
        assert 0 < ratelimit.wait_seconds(db, "grp", DINGTALK.scaled(scale).limits) <= 3.01
        deliver(db, settings, transports(settings, scale, 0))
    assert numbers(robot) == list(range(25)) and robot.requests == 25


def test_a_rate_limit_answer_waits_the_platforms_penalty_without_losing_or_reordering(tmp_path: Path) -> None:
    scale = 1 / 600  # 0.1 s minute, 1 s penalty (DingTalk throttles a robot 10 minutes)
    with ChatServer("dingtalk", secret=SECRETS["dingtalk"], scale=scale, script=["rate"]) as robot:  # used up
        settings = robot_settings(tmp_path, {"grp": robot})
        db = store.open_db(settings.db)
        ids = queue_numbered(db, settings, "grp", 3)
        report = mailer.send_pending(db, settings, datetime.now(timezone.utc), chat=transports(settings, scale))
        assert report["sent"] == [] and [r["id"] for r in report["retrying"]] == [ids[0]]
        first = rows(db, ids)[0]
        assert first["status"] == "pending" and first["attempts"] == 0
        assert "130101 send too fast, exceed 20 times per minute (rate limited; waiting 1 s)" in first["last_error"]
        assert robot.requests == 1  # the others waited behind it
        deliver(db, settings, transports(settings, scale))
    assert numbers(robot) == [0, 1, 2]
    assert [r["status"] for r in rows(db, ids)] == ["sent"] * 3 and rows(db, ids)[0]["last_error"] is None


# ------------------------------------------------------------------ error answers

@pytest.mark.parametrize("platform, busy, busy_text", [
    ("dingtalk", -1, "钉钉 answered -1 scripted error -1"),
    ("wecom", ("status", 500), "企业微信 answered HTTP 500"),
    ("feishu", 2200, "飞书 answered 2200 scripted error 2200"),
])
def test_transient_errors_are_retried_and_the_later_messages_wait(tmp_path: Path, platform: str, busy: Any,
                                                                  busy_text: str) -> None:
    with ChatServer(platform, secret=SECRETS[platform], script=[busy]) as robot:
        settings = robot_settings(tmp_path, {"grp": robot})
        db = store.open_db(settings.db)
        ids = queue_numbered(db, settings, "grp", 2)
        now = datetime.now(timezone.utc)
        report = mailer.send_pending(db, settings, now, chat=transports(settings))
        first = rows(db, ids)[0]
        assert [r["id"] for r in report["retrying"]] == [ids[0]] and report["sent"] == []
        assert first["status"] == "pending" and f"/…): {busy_text}" in first["last_error"], first["last_error"]
        assert first["next_attempt_at"] == mailer.iso(now + timedelta(minutes=1))
        assert mailer.send_pending(db, settings, now + timedelta(seconds=30), chat=transports(settings))["sent"] == []
        report = mailer.send_pending(db, settings, now + timedelta(minutes=1), chat=transports(settings))
    assert report["sent"] == ids and numbers(robot) == [0, 1]


def test_a_refused_message_fails_with_the_platforms_message_and_does_not_hold_back_the_rest(tmp_path: Path) -> None:
    with ChatServer("wecom", script=[40008]) as robot:
        settings = robot_settings(tmp_path, {"grp": robot})
        db = store.open_db(settings.db)
        ids = queue_numbered(db, settings, "grp", 2)
        report = mailer.send_pending(db, settings, datetime.now(timezone.utc), chat=transports(settings))
    assert report["sent"] == [ids[1]] and report["failed"][0]["id"] == ids[0]
    assert rows(db, ids)[0]["last_error"].endswith("/…): 企业微信 answered 40008 scripted error 40008")
    assert numbers(robot) == [1]


def test_a_removed_channel_fails_its_messages_clearly(tmp_path: Path) -> None:
    with ChatServer("wecom") as robot:
        settings = robot_settings(tmp_path, {"grp": robot})
        db = store.open_db(settings.db)
        ids = queue_numbered(db, settings, "grp", 1)
    settings = build_settings({"store": {"db": str(settings.db)}, "mail": {"outbox_dir": str(tmp_path / "o")}}, None, {})
    mailer.send_pending(db, settings, datetime.now(timezone.utc))
    row = rows(db, ids)[0]
    assert row["status"] == "failed" and "channel 'grp' is no longer configured" in row["last_error"]


# ------------------------------------------------------------------ exactly once across crashes

class Crash(BaseException):
    """The process dies (not an exception the outbox handles)."""


class CrashingTransport(ChatTransport):
    def __init__(self, channel: Any, when: str) -> None:
        super().__init__(channel)
        self.when = when

    def post(self, payload: Any, on_data: Any = lambda: None) -> Any:
        if self.when == "before":
            raise Crash()
        super().post(payload, on_data)
        raise Crash()  # the robot took it; the process dies before the outbox marks it sent


def test_a_crash_before_posting_is_retried_once_after_the_lease(tmp_path: Path) -> None:
    with ChatServer("feishu", secret=SECRETS["feishu"]) as robot:
        settings = robot_settings(tmp_path, {"grp": robot})
        db = store.open_db(settings.db)
        ids = queue_numbered(db, settings, "grp", 1)
        now = datetime.now(timezone.utc)
        with pytest.raises(Crash):
            mailer.send_pending(db, settings, now, chat={"grp": CrashingTransport(settings.channels["grp"], "before")})
        db = store.open_db(settings.db)  # restart
        assert rows(db, ids)[0]["status"] == "sending"
        assert mailer.send_pending(db, settings, now + timedelta(seconds=10))["sent"] == []  # the lease holds
        report = mailer.send_pending(db, settings, now + mailer.lease(settings) + timedelta(seconds=1))
    assert report["recovered"] == ids and report["sent"] == ids and numbers(robot) == [0]


def test_a_crash_after_the_robot_took_the_message_never_posts_it_twice(tmp_path: Path) -> None:
    with ChatServer("dingtalk", secret=SECRETS["dingtalk"]) as robot:
        settings = robot_settings(tmp_path, {"grp": robot})
        db = store.open_db(settings.db)
        ids = queue_numbered(db, settings, "grp", 2)
        now = datetime.now(timezone.utc)
        with pytest.raises(Crash):
            mailer.send_pending(db, settings, now, chat={"grp": CrashingTransport(settings.channels["grp"], "after")})
        db = store.open_db(settings.db)
        assert rows(db, ids)[0]["status"] == "delivering" and numbers(robot) == [0]
        # the lease was stamped with the wall clock when the robot was called (a loaded machine: after `now`)
        later = datetime.now(timezone.utc) + mailer.lease(settings) + timedelta(seconds=1)
        report = mailer.send_pending(db, settings, later, chat=transports(settings))
        assert report["recovered"] == [ids[0]] and report["sent"] == [ids[1]]  # the next one goes on
        row = rows(db, ids)[0]
        assert row["status"] == "unknown" and "it may have been posted" in row["last_error"]
        mailer.send_pending(db, settings, later + timedelta(days=1), chat=transports(settings))
        assert mailer.retry(db) == [] and numbers(robot) == [0, 1]  # never resent by itself
        mailer.retry(db, ids[0], now=later)  # the operator looked at the group: resend on purpose
        mailer.send_pending(db, settings, later, chat=transports(settings))
    assert numbers(robot) == [0, 1, 0]


def test_no_answer_after_posting_is_unknown_not_resent(tmp_path: Path) -> None:
    with ChatServer("wecom", script=["drop"]) as robot:
        settings = robot_settings(tmp_path, {"grp": robot})
        db = store.open_db(settings.db)
        ids = queue_numbered(db, settings, "grp", 1)
        report = mailer.send_pending(db, settings, datetime.now(timezone.utc), chat=transports(settings))
        mailer.send_pending(db, settings, datetime.now(timezone.utc) + timedelta(hours=1), chat=transports(settings))
    row = rows(db, ids)[0]
    assert report["unknown"][0]["id"] == ids[0] and row["status"] == "unknown"
    assert "no answer after sending" in row["last_error"] and robot.key not in row["last_error"]
    assert numbers(robot) == [0] and robot.requests == 1


def test_a_robot_that_is_down_is_retried_without_ambiguity(tmp_path: Path) -> None:
    with ChatServer("wecom") as robot:
        settings = robot_settings(tmp_path, {"grp": robot})
    db = store.open_db(settings.db)  # the server is gone: nothing listens on its port
    ids = queue_numbered(db, settings, "grp", 1)
    now = datetime.now(timezone.utc)
    report = mailer.send_pending(db, settings, now, chat=transports(settings))
    row = rows(db, ids)[0]
    assert [r["id"] for r in report["retrying"]] == ids and row["status"] == "pending"
    assert row["last_error"].startswith("grp (wecom http://127.0.0.1:") and "cannot connect" in row["last_error"]
    assert "k-123" not in row["last_error"]
