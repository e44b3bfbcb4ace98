"""Immediate alerts: recent documents only, one message per owning audience, cooldown per rule
cluster (critical news within one alert interval), quiet hours, held alerts listed, never twice."""
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
    assert len(ids) == 2  # one message per owning audience
    cs, pr = outbox(db)
    assert (cs["key"], cs["audience"]) == ("alert:food_safety.mold:1001:20240502T0200Z:cs", "cs")
    assert cs["recipients"] == ["cs-lead@example.com", "cs2@example.com"] and pr["recipients"] == ["pr@example.com"]
    assert cs["subject"] == pr["subject"] == "【紧急·食品安全】每日坚果礼盒 750g：发霉变质（2 条）"
    assert alerted(db) == [("m1", "food_safety.mold", ids[0]), ("m2", "food_safety.mold", ids[0])]
    assert alerts.queue_alerts(db, settings, NOW + timedelta(minutes=5), RULES) == []
    assert alerts.queue_alerts(db, settings, NOW + timedelta(days=1), RULES) == []  # same documents: never again


def test_backfilled_history_never_alerts(db: Any, settings: Any) -> None:
    for day in range(3, 300, 7):
        mold(db, f"old{day}", (NOW - timedelta(days=day)).astimezone(settings.tz).isoformat())
    mold(db, "edge", (NOW - timedelta(hours=47)).astimezone(settings.tz).isoformat())
    assert len(alerts.queue_alerts(db, settings, NOW, RULES)) == 2  # cs and pr
    assert [a[0] for a in alerted(db)] == ["edge"]


def fake(db: Any, id: str, created: str, item: str = "1002") -> None:
    text = "假货！和专柜的不一样"
    add(db, id, text, created, item=item, hits=[("counterfeit.fake", "counterfeit", "high", span(text, "假货"))])


def test_cooldown_per_cluster_holds_then_sends_the_new_ones_together(db: Any, settings: Any) -> None:
    fake(db, "f1", "2024-05-02T09:40:00+08:00")
    first = alerts.queue_alerts(db, settings, NOW, RULES)
    fake(db, "f2", "2024-05-02T10:10:00+08:00")
    fake(db, "f3", "2024-05-02T10:40:00+08:00")
    fake(db, "g1", "2024-05-02T10:40:00+08:00", item="1003")  # another cluster
    second = alerts.queue_alerts(db, settings, NOW + timedelta(hours=1), RULES)
    assert len(second) == 2 and outbox(db)[-1]["key"].startswith("alert:counterfeit.fake:1003:")
    held = alerts.held_alerts(db, settings, NOW + timedelta(hours=1), RULES)
    assert [(h.rule_id, h.item_id, h.documents, h.reason, h.due_at) for h in held] == [
        ("counterfeit.fake", "1002", 2, "cooldown", "2024-05-02T04:00:00+00:00")]  # visible, with when it goes
    assert alerts.queue_alerts(db, settings, NOW + timedelta(hours=1, minutes=59), RULES) == []
    third = alerts.queue_alerts(db, settings, NOW + timedelta(hours=2), RULES)
    assert len(third) == 2
    row = outbox(db)[-1]
    assert row["key"] == "alert:counterfeit.fake:1002:20240502T0400Z:pr" and "（2 条）" in row["subject"]
    assert row["subject"].startswith("【更新】")  # an update to the first alert
    assert {a[0]: a[2] for a in alerted(db)} == {"f1": first[0], "f2": third[0], "f3": third[0], "g1": second[0]}
    assert alerts.held_alerts(db, settings, NOW + timedelta(hours=2), RULES) == []


def test_new_critical_evidence_is_not_held_past_one_alert_interval(db: Any, settings: Any) -> None:
    """孩子…全身过敏…正在急诊 after a first allergy alert: a 2 h cooldown must not hold it."""
    mold(db, "m1", "2024-05-02T09:40:00+08:00")
    first = alerts.queue_alerts(db, settings, NOW, RULES)
    mold(db, "m2", "2024-05-02T10:02:00+08:00", text="孩子吃了发霉的坚果全身过敏，正在急诊")
    assert alerts.queue_alerts(db, settings, NOW + timedelta(minutes=3), RULES) == []  # within the interval
    assert [h.due_at for h in alerts.held_alerts(db, settings, NOW + timedelta(minutes=3), RULES)] == [
        "2024-05-02T02:05:00+00:00"]
    update = alerts.queue_alerts(db, settings, NOW + timedelta(minutes=5), RULES)  # analyze_minutes = 5
    assert len(update) == 2 and len(first) == 2
    assert all(r["subject"].startswith("【更新】【紧急·食品安全】") for r in outbox(db)[-2:])
    assert {a[0]: a[2] for a in alerted(db)} == {"m1": first[0], "m2": update[0]}


def test_rule_cooldown_overrides_the_configured_one(db: Any, settings: Any) -> None:
    fake_rule = next(r for r in RULES if r.id == "counterfeit.fake")
    rules = [*(r for r in RULES if r is not fake_rule),
             fake_rule.__class__(**{**vars(fake_rule), "cooldown": timedelta(minutes=10)})]
    fake(db, "f1", "2024-05-02T09:40:00+08:00")
    alerts.queue_alerts(db, settings, NOW, rules)
    fake(db, "f2", "2024-05-02T10:05:00+08:00")
    assert alerts.queue_alerts(db, settings, NOW + timedelta(minutes=9), rules) == []
    assert len(alerts.queue_alerts(db, settings, NOW + timedelta(minutes=10), rules)) == 2


def test_quiet_hours_hold_all_but_critical(db: Any, settings: Any) -> None:
    night = datetime(2024, 5, 1, 15, 30, tzinfo=timezone.utc)  # 23:30 in Shanghai
    text = "假货！已经向12315投诉"
    add(db, "f1", text, "2024-05-01T23:10:00+08:00", item="1002",
        hits=[("counterfeit.fake", "counterfeit", "high", span(text, "假货"))])
    mold(db, "m1", "2024-05-01T23:20:00+08:00")
    ids = alerts.queue_alerts(db, settings, night, RULES)
    assert [r["key"].split(":")[1] for r in outbox(db)] == ["food_safety.mold"] * 2 and len(ids) == 2
    assert [(h.rule_id, h.reason, h.due_at) for h in alerts.held_alerts(db, settings, night, RULES)] == [
        ("counterfeit.fake", "quiet_hours", "2024-05-02T00:00:00+00:00")]  # 08:00 Shanghai
    assert alerts.queue_alerts(db, settings, night + timedelta(hours=8), RULES) == []  # 07:30: still quiet
    morning = alerts.queue_alerts(db, settings, night + timedelta(hours=8, minutes=30), RULES)
    assert len(morning) == 2 and [r["recipients"] for r in outbox(db)[-2:]] == [
        ["cs-lead@example.com", "cs2@example.com"], ["pr@example.com"]]


def test_a_document_hitting_two_immediate_rules_alerts_once(db: Any, settings: Any) -> None:
    text = "吃了发霉的坚果过敏住院"
    add(db, "d1", text, "2024-05-02T09:00:00+08:00",
        hits=[("food_safety.mold", "food_safety", "critical", span(text, "发霉")),
              ("health_safety.allergy", "health_safety", "critical", span(text, "过敏"))])
    ids = alerts.queue_alerts(db, settings, NOW, RULES)
    assert len(ids) == 2 and alerted(db) == [("d1", "food_safety.mold", ids[0]),
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
    assert sorted(m.rcpt_tos for m in server.messages) == [["cs-lead@example.com", "cs2@example.com"],
                                                            ["pr@example.com"]]
    assert {m.message["Subject"] for m in server.messages} == {"【紧急·食品安全】每日坚果礼盒 750g：发霉变质（1 条）"}


def test_a_review_that_fires_several_rules_reaches_the_owners_of_each(db: Any, settings: Any) -> None:
    """再不处理我就去12315投诉，还要发微博曝光: the regulator rule is cs+pr, the media rule pr only;
    the most severe rule's owners alone left CS, who must call the buyer, out."""
    text = "再不处理我就去12315投诉，还要发微博曝光"
    add(db, "e1", text, "2024-05-02T09:30:00+08:00", item="1002",
        hits=[("escalation.12315", "escalation", "high", span(text, "12315")),
              ("counterfeit.fake", "counterfeit", "high", span(text, "曝光"))])
    owners = {"counterfeit.fake": ("pr",), "escalation.12315": ("cs", "pr")}  # the first alphabetically: pr only
    rules = [r.__class__(**{**vars(r), "owners": owners.get(r.id, r.owners)}) for r in RULES]
    ids = alerts.queue_alerts(db, settings, NOW, rules)
    rows = outbox(db)
    assert len(ids) == 2 and [r["audience"] for r in rows] == ["cs", "pr"]
    assert len({r["key"].rsplit(":", 1)[0] for r in rows}) == 1  # one alert, a message per audience


@pytest.mark.parametrize("raw, message", [
    ({"quiet_hours": "25:00-08:00"}, r"\[alerts\] quiet_hours: expected \"HH:MM-HH:MM\""),
    ({"cooldown": "soon"}, r"\[alerts\] cooldown: expected minutes or a duration"),
    ({"recent_hours": 0}, r"\[alerts\] recent_hours: expected a positive number"),
    ({"recent": 48}, r"\[alerts\]: unknown key 'recent'"),
])
def test_bad_alert_options_name_the_key(tmp_path: Path, raw: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):  # when the settings load, not when alerts are queued
        make_settings(tmp_path, alerts=raw)


def test_held_alerts_are_listed_by_outbox_and_status(run_cli: Any, db_path: Path) -> None:
    """A held alert is never only a log line: `outbox` and `status` list it with when it goes."""
    db = store.open_db(db_path)
    now = datetime.now(timezone.utc)
    fake(db, "f1", (now - timedelta(minutes=30)).astimezone(timezone(timedelta(hours=8))).isoformat(timespec="seconds"))
    assert run_cli("alerts").exit_code == 0  # the bundled counterfeit.fake: high, immediate, cooldown 12h
    fake(db, "f2", (now - timedelta(minutes=5)).astimezone(timezone(timedelta(hours=8))).isoformat(timespec="seconds"))
    result, rows = run_cli.json("outbox")
    held = [r for r in rows if r["status"] == "held"]
    assert [(h["reason"], h["subject"]) for h in held] == [("cooldown", "counterfeit.fake · 1002（1 条）")]
    assert datetime.fromisoformat(held[0]["due_at"]) > now + timedelta(hours=11)
    assert "held       alert  cooldown" in run_cli("outbox").stdout
    _, status = run_cli.json("status")
    assert status["worker"]["held_alerts"] == [{k: held[0][k] for k in ("subject", "reason", "due_at")}]
