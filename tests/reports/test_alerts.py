"""Immediate alerts: recent documents only, cooldown per rule cluster, quiet hours, never twice."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from sentiment import store
from sentiment.reports import alerts
from sentiment.reports import outbox as mailer
from sentiment.errors import ConfigError
from smtp_server import SmtpServer
from test_digest import RULES, XSS, add, check_golden, make_settings, parse, span

# 2024-05-02 10:00 in Asia/Shanghai
NOW = datetime(2024, 5, 2, 2, 0, tzinfo=timezone.utc)
MOLD = "打开发现坚果发霉了，吃了拉肚子"


def mold(db: Any, id: str, created: str, item: str = "1001", title: str = "每日坚果礼盒 750g",
         text: str = MOLD) -> None:
    add(db, id, text, created, item=item, title=title,
        hits=[("food_safety.mold", "food_safety", "critical", span(text, "发霉"))])


@pytest.fixture
def settings(tmp_path: Path) -> Any:
    return make_settings(tmp_path, alerts={"cooldown": "2h", "quiet_hours": "22:00-08:00"})


@pytest.fixture
def db(settings: Any) -> Any:
    return store.open_db(settings.db)


def outbox(db: Any) -> list[dict[str, Any]]:
    return sorted(mailer.list_outbox(db), key=lambda r: r["id"])


def alerted(db: Any) -> list[tuple[str, str, int]]:
    return [tuple(r) for r in db.execute("SELECT document_id, rule_id, outbox_id FROM alerted ORDER BY 1, 2")]


def test_critical_review_alerts_its_owners_once(db: Any, settings: Any) -> None:
    mold(db, "m1", "2024-05-02T09:40:00+08:00")
    mold(db, "m2", "2024-05-02T09:50:00+08:00")
    add(db, "q1", "质量一般", "2024-05-02T09:55:00+08:00",
        hits=[("quality.bad", "quality", "medium", [["质量", 0, 2]])])  # not an immediate rule
    ids = alerts.queue_alerts(db, settings, NOW, RULES)
    assert len(ids) == 1
    row = outbox(db)[0]
    assert row["key"] == "alert:food_safety.mold:1001:20240502T0200Z"
    assert row["recipients"] == ["cs-lead@example.com", "cs2@example.com", "pr@example.com"]
    assert row["subject"] == "【紧急·食品安全】每日坚果礼盒 750g：发霉变质（2 条）"
    assert alerted(db) == [("m1", "food_safety.mold", ids[0]), ("m2", "food_safety.mold", ids[0])]
    assert alerts.queue_alerts(db, settings, NOW + timedelta(minutes=5), RULES) == []
    assert alerts.queue_alerts(db, settings, NOW + timedelta(days=1), RULES) == []  # same documents: never again


def test_backfilled_history_never_alerts(db: Any, settings: Any) -> None:
    for day in range(3, 300, 7):
        mold(db, f"old{day}", (NOW - timedelta(days=day)).astimezone(settings.tz).isoformat())
    mold(db, "edge", (NOW - timedelta(hours=47)).astimezone(settings.tz).isoformat())
    assert len(alerts.queue_alerts(db, settings, NOW, RULES)) == 1
    assert [a[0] for a in alerted(db)] == ["edge"]


def test_cooldown_per_cluster_holds_then_sends_the_new_ones_together(db: Any, settings: Any) -> None:
    mold(db, "m1", "2024-05-02T09:40:00+08:00")
    first = alerts.queue_alerts(db, settings, NOW, RULES)
    mold(db, "m2", "2024-05-02T10:10:00+08:00")
    mold(db, "m3", "2024-05-02T10:40:00+08:00")
    mold(db, "b1", "2024-05-02T10:40:00+08:00", item="1002", title="手撕面包 1kg")  # another cluster
    second = alerts.queue_alerts(db, settings, NOW + timedelta(hours=1), RULES)
    assert len(second) == 1 and outbox(db)[-1]["key"].startswith("alert:food_safety.mold:1002:")
    assert alerts.queue_alerts(db, settings, NOW + timedelta(hours=1, minutes=59), RULES) == []
    third = alerts.queue_alerts(db, settings, NOW + timedelta(hours=2), RULES)
    assert len(third) == 1
    row = outbox(db)[-1]
    assert row["key"] == "alert:food_safety.mold:1001:20240502T0400Z" and "（2 条）" in row["subject"]
    assert {a[0]: a[2] for a in alerted(db)} == {"m1": first[0], "m2": third[0], "m3": third[0], "b1": second[0]}


def test_rule_cooldown_overrides_the_configured_one(db: Any, settings: Any) -> None:
    rules = [*RULES[1:], RULES[0].__class__(**{**vars(RULES[0]), "cooldown": timedelta(minutes=10)})]
    mold(db, "m1", "2024-05-02T09:40:00+08:00")
    alerts.queue_alerts(db, settings, NOW, rules)
    mold(db, "m2", "2024-05-02T10:05:00+08:00")
    assert len(alerts.queue_alerts(db, settings, NOW + timedelta(minutes=10), rules)) == 1


def test_quiet_hours_hold_all_but_critical(db: Any, settings: Any) -> None:
    night = datetime(2024, 5, 1, 15, 30, tzinfo=timezone.utc)  # 23:30 in Shanghai
    text = "假货！已经向12315投诉"
    add(db, "f1", text, "2024-05-01T23:10:00+08:00", item="1002",
        hits=[("counterfeit.fake", "counterfeit", "high", span(text, "假货"))])
    mold(db, "m1", "2024-05-01T23:20:00+08:00")
    ids = alerts.queue_alerts(db, settings, night, RULES)
    assert [r["key"].split(":")[1] for r in outbox(db)] == ["food_safety.mold"] and len(ids) == 1
    assert alerts.queue_alerts(db, settings, night + timedelta(hours=8), RULES) == []  # 07:30: still quiet
    morning = alerts.queue_alerts(db, settings, night + timedelta(hours=8, minutes=30), RULES)
    assert len(morning) == 1 and outbox(db)[-1]["recipients"] == ["pr@example.com", "cs-lead@example.com",
                                                                   "cs2@example.com"]


def test_a_document_hitting_two_immediate_rules_alerts_once(db: Any, settings: Any) -> None:
    text = "吃了发霉的坚果过敏住院"
    add(db, "d1", text, "2024-05-02T09:00:00+08:00",
        hits=[("food_safety.mold", "food_safety", "critical", span(text, "发霉")),
              ("health_safety.allergy", "health_safety", "critical", span(text, "过敏"))])
    ids = alerts.queue_alerts(db, settings, NOW, RULES)
    assert len(ids) == 1 and alerted(db) == [("d1", "food_safety.mold", ids[0]),
                                             ("d1", "health_safety.allergy", ids[0])]
    assert alerts.queue_alerts(db, settings, NOW + timedelta(days=1), RULES) == []


def test_untrusted_titles_and_texts_cannot_inject_headers_or_markup(db: Any, settings: Any) -> None:
    mold(db, "x1", "2024-05-02T09:00:00+08:00", title="坚果\r\nBcc: evil@example.com", text="发霉了" + XSS)
    alerts.queue_alerts(db, settings, NOW, RULES)
    raw = Path(outbox(db)[0]["eml_path"]).read_bytes()
    head = raw.split(b"\r\n\r\n")[0].decode("ascii")
    assert not [line for line in head.split("\r\n") if line.lower().startswith("bcc")]
    assert outbox(db)[0]["subject"] == "【紧急·食品安全】坚果 Bcc: evil@example.com：发霉变质（1 条）"
    from email import message_from_bytes
    from email.policy import default
    html = message_from_bytes(raw, policy=default).get_body(("html",)).get_content()
    tags = parse(html)
    assert "script" not in tags.tags and "img" not in tags.tags and tags.tags.count("table") == tags.ends.count("table")


def test_alert_golden_rendering(db: Any, settings: Any) -> None:
    mold(db, "m1", "2024-05-02T09:40:00+08:00")
    mold(db, "m2", "2024-05-02T09:50:00+08:00", text="又是发霉的，一股霉味")
    rows = alerts._candidates(db, ["food_safety.mold"], NOW, timedelta(hours=48))
    groups = alerts._groups(rows, {r.id: r for r in RULES})
    data = alerts.build_alert(RULES[0], "1001", groups[("food_safety.mold", "1001")], settings,
                              alerts.window_start(NOW, timedelta(hours=2)), timedelta(hours=2), timedelta(hours=48))
    message = alerts.render_alert(data)
    check_golden("alert.txt", f"Subject: {message.subject}\n\n{message.text}")
    check_golden("alert.html", message.html)


def test_alert_goes_out_over_smtp_to_the_owners(db: Any, tmp_path: Path) -> None:
    with SmtpServer() as server:
        settings = make_settings(tmp_path, mail={"transport": "smtp", "host": "127.0.0.1", "port": server.port})
        mold(db, "m1", "2024-05-02T09:40:00+08:00")
        ids = alerts.queue_alerts(db, settings, NOW, RULES)
        assert mailer.send_pending(db, settings, NOW)["sent"] == ids
    assert len(server.messages) == 1
    assert server.messages[0].rcpt_tos == ["cs-lead@example.com", "cs2@example.com", "pr@example.com"]
    assert server.messages[0].message["Subject"] == "【紧急·食品安全】每日坚果礼盒 750g：发霉变质（1 条）"


@pytest.mark.parametrize("raw, message", [
    ({"quiet_hours": "25:00-08:00"}, r"\[alerts\] quiet_hours: expected \"HH:MM-HH:MM\""),
    ({"cooldown": "soon"}, r"\[alerts\] cooldown: expected minutes or a duration"),
    ({"recent_hours": 0}, r"\[alerts\] recent_hours: expected a positive number"),
    ({"recent": 48}, r"\[alerts\]: unknown key 'recent'"),
])
def test_bad_alert_options_name_the_key(tmp_path: Path, raw: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):  # when the settings load, not when alerts are queued
        make_settings(tmp_path, alerts=raw)
