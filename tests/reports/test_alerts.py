"""Immediate alerts per incident: the first alert when an incident opens, updates only when it gets
worse (severity rises, critical evidence) and not within the cooldown, quiet hours, one summary per
audience instead of a storm, ignored incidents and old evidence silent, never twice.

Incidents and their members are inserted directly, as docs/incidents.md describes the tables (the
engine fills them in the worker cycle before alerts are queued)."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from email import message_from_bytes
from email.policy import default as default_policy
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Sequence

import pytest

from sentiment import store
from sentiment.errors import ConfigError
from sentiment.reports import alerts
from sentiment.reports import outbox as mailer
from sentiment.reports.render import BODY_BUDGET
from smtp_server import SmtpServer
from test_digest import check_golden, make_settings, parse

# 2024-05-02 10:00 in Asia/Shanghai
NOW = datetime(2024, 5, 2, 2, 0, tzinfo=timezone.utc)
CST = timezone(timedelta(hours=8))
NUTS = "每日坚果礼盒 750g"
MOLD = "打开发现坚果发霉了，吃了拉肚子"
FAKE = "假货！和专柜的不一样"
XSS = "<script>alert('x')</script><img src=x onerror=alert(1)></table>发霉了"
SLA = {"critical": timedelta(hours=1), "high": timedelta(hours=4), "medium": timedelta(hours=24),
       "low": timedelta(hours=72)}


def rule(id: str, category: str, severity: str, owners: tuple[str, ...], immediate: bool, name: str,
         cooldown: timedelta | None = None) -> SimpleNamespace:
    return SimpleNamespace(id=id, category=category, name=name, severity=severity, owners=owners,
                           immediate=immediate, cooldown=cooldown)


RULES = [
    rule("food_safety.mold", "food_safety", "critical", ("cs", "pr"), True, "发霉变质"),
    rule("health_safety.allergy", "health_safety", "critical", ("cs", "pr"), True, "过敏"),
    rule("counterfeit.fake", "counterfeit", "high", ("pr", "cs"), True, "假货质疑"),
    rule("service.rude", "service", "medium", ("cs",), True, "服务态度差"),
    rule("quality.bad", "quality", "medium", ("cs",), False, "质量差"),
]
SEVERITY = {r.id: r.severity for r in RULES}
CATEGORY = {r.id: r.category for r in RULES}


@pytest.fixture
def settings(tmp_path: Path) -> Any:
    return make_settings(tmp_path, alerts={"cooldown": "2h", "quiet_hours": "22:00-08:00"})


@pytest.fixture
def db(settings: Any) -> Any:
    return store.open_db(settings.db)


def at(moment: datetime) -> str:
    """A document time as sources store it (Beijing time)."""
    return moment.astimezone(CST).isoformat(timespec="seconds")


def doc(db: Any, id: str, created: str | datetime, text: str = MOLD, *, rules: Sequence[str] = ("food_safety.mold",),
        item: str = "1001", title: str = NUTS, kind: str = "review", author: str | None = "坚果爱好者",
        order: str | None = None, meta: dict[str, Any] | None = None, precision: str | None = None,
        batch: int | None = None, placeholder: int = 0) -> None:
    """One document with its analysis and its hits (each rule's first term found in the text)."""
    created = at(created) if isinstance(created, datetime) else created
    row = {f: None for f in store.DOCUMENT_FIELDS}
    row.update(id=id, source="tmall", kind=kind, item_id=item, item_title=title, text=text, text_raw=text,
               author=author, rating="negative", is_placeholder=placeholder, created_at=created,
               date_precision=precision, batch_id=batch,
               meta=json.dumps({"order_id": order or f"80{id}", **(meta or {})}, ensure_ascii=False))
    terms = {"food_safety.mold": "发霉", "health_safety.allergy": "过敏", "counterfeit.fake": "假货",
             "service.rude": "态度", "quality.bad": "质量"}
    with store.transaction(db):
        store.insert_documents(db, [row])
        store.save_analyses(db, [{"document_id": id, "score": 0.1, "label": "negative", "tokens": "[]",
                                  "model_version": "t", "rules_version": "t", "analyzed_at": created}],
                            [{"document_id": id, "rule_id": r, "category": CATEGORY[r], "severity": SEVERITY[r],
                              "terms": json.dumps([[terms[r], text.find(terms[r]), text.find(terms[r]) + len(terms[r])]]
                                                  if terms[r] in text else [], ensure_ascii=False),
                              "created_at": created} for r in rules])


def incident(db: Any, members: Sequence[str], *, item: str = "1001", title: str | None = None,
             category: str = "food_safety", severity: str = "critical", owners: str = "cs,pr", kind: str = "rule",
             name: str | None = None, member_severity: str | None = None, opened: str | None = None) -> str:
    """Create or grow the incident of (item, category) with these members, as the engine would."""
    iid = store.incident_id("", item, category)
    with store.transaction(db):
        for d in members:
            created = db.execute("SELECT created_at FROM documents WHERE id = ?", [d]).fetchone()[0]
            hit = db.execute("SELECT severity FROM rule_hits WHERE document_id = ? AND category = ?"
                             " ORDER BY severity", [d, category]).fetchone()
            db.execute("INSERT OR IGNORE INTO incident_members VALUES (?, ?, ?, ?, ?)",
                       [iid, d, created, member_severity or (hit[0] if hit else severity), "2024-05-02T02:00:00+00:00"])
        size, first, last = db.execute("SELECT count(*), min(created_at), max(created_at) FROM incident_members"
                                       " WHERE incident_id = ?", [iid]).fetchone()
        rules = {r: [d for d, in db.execute("SELECT document_id FROM rule_hits WHERE rule_id = ?", [r])]
                 for r, in db.execute("SELECT DISTINCT h.rule_id FROM rule_hits h JOIN incident_members m"
                                      " ON m.document_id = h.document_id AND m.incident_id = ? WHERE h.category = ?",
                                      [iid, category])}
        title = title or db.execute("SELECT d.item_title FROM incident_members m JOIN documents d"
                                    " ON d.id = m.document_id WHERE m.incident_id = ?", [iid]).fetchone()[0]
        values = {"kind": kind, "shop": "", "item_key": item, "item_id": item, "item_title": title,
                  "category": category, "title": name, "severity": severity, "base_severity": severity,
                  "size": size, "first_seen": first, "last_seen": last, "due_from": first,
                  "due_at": (datetime.fromisoformat(first) + SLA[severity]).isoformat(), "owners": owners,
                  "rules": json.dumps(rules), "meta": "{}", "updated_at": "2024-05-02T02:00:00+00:00"}
        if opened is not None:
            values["opened_at"] = opened
        if db.execute("SELECT 1 FROM incidents WHERE id = ?", [iid]).fetchone():
            db["incidents"].update(iid, values)
        else:
            db["incidents"].insert({"id": iid, **values, "created_at": values["updated_at"],
                                    "opened_at": opened or datetime.fromisoformat(first).astimezone(timezone.utc)
                                    .isoformat()})
    return iid


def set_state(db: Any, iid: str, state: str) -> None:
    with store.transaction(db):
        db.execute("INSERT OR REPLACE INTO triage (item_key, kind, state, updated_at, updated_by)"
                   " VALUES (?, 'incident', ?, '2024-05-02T02:00:00+00:00', 'test')", [f"incident:{iid}", state])


def outbox(db: Any) -> list[dict[str, Any]]:
    return sorted(mailer.list_outbox(db, limit=10_000), key=lambda r: r["id"])


def alerted(db: Any) -> list[tuple[str, str, int]]:
    return [tuple(r) for r in db.execute("SELECT document_id, rule_id, outbox_id FROM alerted ORDER BY 1, 2")]


def alerted_severity(db: Any, iid: str) -> str | None:
    return db.execute("SELECT alerted_severity FROM incidents WHERE id = ?", [iid]).fetchone()[0]


def bodies(row: dict[str, Any]) -> tuple[str, str]:
    message = message_from_bytes(Path(row["eml_path"]).read_bytes(), policy=default_policy)
    return tuple(message.get_body((part,)).get_content().replace("\r\n", "\n")  # type: ignore[return-value]
                 for part in ("plain", "html"))


# ------------------------------------------------------------------ first alerts

def test_first_alert_per_incident_goes_to_its_owners_once(db: Any, settings: Any) -> None:
    doc(db, "m1", "2024-05-02T09:40:00+08:00", author="小明", order="1234567890123",
        meta={"review_url": "https://rate.tmall.com/r?id=m1"})
    doc(db, "m2", "2024-05-02T09:50:00+08:00", "又是发霉的，一股霉味", author="坚果控")
    mold = incident(db, ["m1", "m2"])
    doc(db, "q1", "2024-05-02T09:55:00+08:00", "质量一般", rules=["quality.bad"])
    quality = incident(db, ["q1"], category="quality", severity="medium", owners="cs")  # no immediate rule
    ids = alerts.queue_alerts(db, settings, NOW, RULES)
    assert len(ids) == 2  # one message per owning audience
    cs, pr = outbox(db)
    assert (cs["key"], cs["audience"]) == (f"alert:{mold}:20240502T0200Z:cs", "cs")
    assert cs["recipients"] == ["cs-lead@example.com", "cs2@example.com"] and pr["recipients"] == ["pr@example.com"]
    assert cs["subject"] == pr["subject"] == "【紧急·食品安全】每日坚果礼盒 750g：发霉变质（2 条）"
    assert alerted(db) == [("m1", mold, ids[0]), ("m2", mold, ids[0])]
    assert (alerted_severity(db, mold), alerted_severity(db, quality)) == ("critical", None)
    text, html = bodies(cs)
    for body in (text, html):  # what someone calling the buyer needs
        for needle in (mold, "1234567890123", "小明", "坚果控", "80m2", "2024-05-02 09:40", "差评",
                       "https://rate.tmall.com/r?id=m1", "https://detail.tmall.com/item.htm?id=1001",
                       "2024-05-02 10:40"):  # due: first seen + 1 h
            assert needle in body, needle
    assert "质量一般" not in text
    assert alerts.queue_alerts(db, settings, NOW, RULES) == []  # idempotent at the same now
    assert alerts.queue_alerts(db, settings, NOW + timedelta(minutes=5), RULES) == []
    assert alerts.queue_alerts(db, settings, NOW + timedelta(days=1), RULES) == []  # same documents: never again
    assert alerts.held_alerts(db, settings, NOW + timedelta(minutes=5), RULES) == []


def test_an_incident_that_grew_to_high_alerts_without_an_immediate_rule(db: Any, settings: Any) -> None:
    for i in range(3):
        doc(db, f"q{i}", f"2024-05-02T0{7 + i}:00:00+08:00", "质量太差，开线了", rules=["quality.bad"])
    medium = incident(db, ["q0", "q1"], category="quality", severity="medium", owners="cs")
    assert alerts.queue_alerts(db, settings, NOW, RULES) == []  # medium, no immediate rule: the digest's
    incident(db, ["q2"], category="quality", severity="high", owners="cs")  # the engine raised it
    ids = alerts.queue_alerts(db, settings, NOW + timedelta(minutes=5), RULES)
    assert [r["subject"] for r in outbox(db)] == ["【高·质量问题】每日坚果礼盒 750g：质量差（3 条）"]
    assert [a[0] for a in alerted(db)] == ["q0", "q1", "q2"] and alerted_severity(db, medium) == "high"
    assert len(ids) == 1 and outbox(db)[0]["audience"] == "cs"


def test_a_spike_incident_alerts_under_its_title(db: Any, settings: Any) -> None:
    doc(db, "s1", "2024-05-02T09:00:00+08:00", "太难吃了", rules=[])
    doc(db, "s2", "2024-05-02T09:10:00+08:00", "难吃，退货", rules=[])
    incident(db, ["s1", "s2"], category="spike", kind="spike", severity="high", owners="cs",
             name="差评激增：2 条（平时 0.1 条/天）")
    alerts.queue_alerts(db, settings, NOW, RULES)
    assert [r["subject"] for r in outbox(db)] == ["【高·差评激增】每日坚果礼盒 750g：差评激增：2 条（平时 0.1 条/天）（2 条）"]


def test_old_evidence_never_alerts(db: Any, settings: Any) -> None:
    for day in range(3, 90, 7):
        doc(db, f"old{day}", NOW - timedelta(days=day))
    iid = incident(db, [f"old{day}" for day in range(3, 90, 7)])
    assert alerts.queue_alerts(db, settings, NOW, RULES) == []  # a back-fill: critical, but nothing recent
    assert alerts.held_alerts(db, settings, NOW, RULES) == []
    doc(db, "edge", NOW - timedelta(hours=47))
    incident(db, ["edge"])
    assert len(alerts.queue_alerts(db, settings, NOW, RULES)) == 2  # cs and pr
    assert [a[0] for a in alerted(db)] == ["edge"]
    text, _ = bodies(outbox(db)[0])
    assert f"共 {len(range(3, 90, 7)) + 1} 条，本次 1 条" in text and iid in text


def test_placeholders_and_future_documents_are_not_evidence(db: Any, settings: Any) -> None:
    doc(db, "ph", "2024-05-02T09:00:00+08:00", "此用户没有填写评价发霉", placeholder=1)
    doc(db, "fut", NOW + timedelta(hours=2))
    incident(db, ["ph", "fut"])
    assert alerts.queue_alerts(db, settings, NOW, RULES) == []


def test_dateless_followups_alert_only_when_their_file_brought_fresh_documents(db: Any, settings: Any) -> None:
    old_file = store.start_batch(db, "old.csv", "a" * 64, 1)
    store.finish_batch(db, old_file, status="done", newest_at="2023-11-01T10:00:00+08:00")
    new_file = store.start_batch(db, "new.csv", "b" * 64, 1)
    store.finish_batch(db, new_file, status="done", newest_at="2024-05-02T09:00:00+08:00")
    # both follow-ups are dated when first seen (today): only the fresh file's may alert
    doc(db, "f-old", "2024-05-02T09:30:00+08:00", "追评：坚果发霉了", kind="followup", precision="first_seen",
        batch=old_file)
    stale = incident(db, ["f-old"])
    assert alerts.queue_alerts(db, settings, NOW, RULES) == []
    doc(db, "f-new", "2024-05-02T09:30:00+08:00", "追评：坚果发霉了，孩子吃了", kind="followup",
        precision="first_seen", batch=new_file, item="1002", title="手撕面包 1kg")
    fresh = incident(db, ["f-new"], item="1002", title="手撕面包 1kg")
    assert len(alerts.queue_alerts(db, settings, NOW, RULES)) == 2
    assert {a[1] for a in alerted(db)} == {fresh} and alerted_severity(db, stale) is None


# ------------------------------------------------------------------ updates

def test_updates_only_when_severity_rises_or_critical_evidence_arrives(db: Any, settings: Any) -> None:
    doc(db, "f1", "2024-05-02T09:40:00+08:00", FAKE, rules=["counterfeit.fake"], item="1002", title="手撕面包 1kg")
    fake = incident(db, ["f1"], item="1002", title="手撕面包 1kg", category="counterfeit", severity="high",
                    owners="pr")
    first = alerts.queue_alerts(db, settings, NOW, RULES)
    assert [r["subject"] for r in outbox(db)] == ["【高·假货质疑】手撕面包 1kg：假货质疑（1 条）"]
    doc(db, "f2", "2024-05-02T11:00:00+08:00", FAKE, rules=["counterfeit.fake"], item="1002", title="手撕面包 1kg")
    incident(db, ["f2"], item="1002", category="counterfeit", severity="high", owners="pr")
    for later in (timedelta(hours=1, minutes=30), timedelta(hours=5)):  # more of the same: the digest's job
        assert alerts.queue_alerts(db, settings, NOW + later, RULES) == []
        assert alerts.held_alerts(db, settings, NOW + later, RULES) == []
    doc(db, "f3", "2024-05-02T15:00:00+08:00", "假货，已经报警", rules=["counterfeit.fake"], item="1002",
        title="手撕面包 1kg")
    incident(db, ["f3"], item="1002", category="counterfeit", severity="critical", owners="pr",
             member_severity="high")  # the engine raised it (5 within 24 h)
    update = alerts.queue_alerts(db, settings, NOW + timedelta(hours=5, minutes=5), RULES)
    row = outbox(db)[-1]
    assert len(update) == 1 and row["key"] == f"alert:{fake}:20240502T0705Z:pr"  # critical: its interval
    assert row["subject"] == "【更新】【紧急·假货质疑】手撕面包 1kg：假货质疑（新增 2 条，共 3 条）"
    text, _ = bodies(row)
    assert "严重程度：高 → 紧急" in text and "80f2" in text and "80f3" in text and "80f1" not in text
    assert {a[0]: a[2] for a in alerted(db)} == {"f1": first[0], "f2": update[0], "f3": update[0]}
    assert alerted_severity(db, fake) == "critical"
    assert alerts.queue_alerts(db, settings, NOW + timedelta(hours=5, minutes=5), RULES) == []


def test_a_rise_waits_for_the_cooldown_and_is_listed_as_held(db: Any, settings: Any) -> None:
    doc(db, "r1", "2024-05-02T09:40:00+08:00", "客服态度恶劣", rules=["service.rude"])
    rude = incident(db, ["r1"], category="service", severity="medium", owners="cs")
    first = alerts.queue_alerts(db, settings, NOW, RULES)  # an immediate medium rule opens it
    assert len(first) == 1 and alerted_severity(db, rude) == "medium"
    doc(db, "r2", "2024-05-02T10:30:00+08:00", "态度太差，骂人", rules=["service.rude"])
    incident(db, ["r2"], category="service", severity="high", owners="cs")
    later = NOW + timedelta(hours=1)
    assert alerts.queue_alerts(db, settings, later, RULES) == []
    held = alerts.held_alerts(db, settings, later, RULES)
    assert [(h.incident_id, h.documents, h.reason, h.due_at, h.severity) for h in held] == [
        (rude, 1, "cooldown", "2024-05-02T04:00:00+00:00", "high")]  # visible, with when it goes
    assert alerts.held_rows(db, settings, later)[0]["subject"] == f"{rude} · 每日坚果礼盒 750g · 服务问题（1 条）"
    assert alerts.queue_alerts(db, settings, NOW + timedelta(hours=1, minutes=59), RULES) == []
    update = alerts.queue_alerts(db, settings, NOW + timedelta(hours=2), RULES)
    row = outbox(db)[-1]
    assert len(update) == 1 and row["key"] == f"alert:{rude}:20240502T0400Z:cs"
    assert row["subject"] == "【更新】【高·服务问题】每日坚果礼盒 750g：服务态度差（新增 1 条，共 2 条）"
    assert alerts.held_alerts(db, settings, NOW + timedelta(hours=2), RULES) == []


def test_new_critical_evidence_is_not_held_past_one_alert_interval(db: Any, settings: Any) -> None:
    """孩子…全身过敏…正在急诊 after a first mold alert: a 2 h cooldown must not hold it."""
    doc(db, "m1", "2024-05-02T09:40:00+08:00")
    mold = incident(db, ["m1"])
    first = alerts.queue_alerts(db, settings, NOW, RULES)
    doc(db, "m2", "2024-05-02T10:02:00+08:00", "孩子吃了发霉的坚果全身过敏，正在急诊")
    incident(db, ["m2"])
    assert alerts.queue_alerts(db, settings, NOW + timedelta(minutes=3), RULES) == []  # within the interval
    assert [(h.reason, h.due_at) for h in alerts.held_alerts(db, settings, NOW + timedelta(minutes=3), RULES)] == [
        ("cooldown", "2024-05-02T02:05:00+00:00")]
    update = alerts.queue_alerts(db, settings, NOW + timedelta(minutes=5), RULES)  # analyze_minutes = 5
    assert len(update) == 2 and len(first) == 2
    assert all(r["subject"].startswith("【更新】【紧急·食品安全】") for r in outbox(db)[-2:])
    assert {a[0]: a[2] for a in alerted(db)} == {"m1": first[0], "m2": update[0]} and alerted(db)[1][1] == mold


def test_a_rules_own_cooldown_applies(db: Any, settings: Any) -> None:
    rules = [r if r.id != "service.rude" else rule(r.id, r.category, r.severity, r.owners, True, r.name,
                                                    timedelta(minutes=10)) for r in RULES]
    doc(db, "r1", "2024-05-02T09:40:00+08:00", "客服态度恶劣", rules=["service.rude"])
    incident(db, ["r1"], category="service", severity="medium", owners="cs")
    alerts.queue_alerts(db, settings, NOW, rules)
    doc(db, "r2", "2024-05-02T10:05:00+08:00", "态度太差", rules=["service.rude"])
    incident(db, ["r2"], category="service", severity="high", owners="cs")
    assert alerts.queue_alerts(db, settings, NOW + timedelta(minutes=9), rules) == []
    assert len(alerts.queue_alerts(db, settings, NOW + timedelta(minutes=10), rules)) == 1


# ------------------------------------------------------------------ quiet hours, recipients, triage

def test_quiet_hours_hold_all_but_critical(db: Any, settings: Any) -> None:
    night = datetime(2024, 5, 1, 15, 30, tzinfo=timezone.utc)  # 23:30 in Shanghai
    doc(db, "f1", "2024-05-01T23:10:00+08:00", FAKE, rules=["counterfeit.fake"], item="1002", title="手撕面包 1kg")
    fake = incident(db, ["f1"], item="1002", title="手撕面包 1kg", category="counterfeit", severity="high")
    doc(db, "m1", "2024-05-01T23:20:00+08:00")
    mold = incident(db, ["m1"])
    ids = alerts.queue_alerts(db, settings, night, RULES)
    assert [r["key"].split(":")[1] for r in outbox(db)] == [mold, mold] and len(ids) == 2
    assert [(h.incident_id, h.reason, h.due_at) for h in alerts.held_alerts(db, settings, night, RULES)] == [
        (fake, "quiet_hours", "2024-05-02T00:00:00+00:00")]  # 08:00 Shanghai
    assert alerts.queue_alerts(db, settings, night + timedelta(hours=8), RULES) == []  # 07:30: still quiet
    morning = alerts.queue_alerts(db, settings, night + timedelta(hours=8, minutes=30), RULES)
    assert len(morning) == 2 and [r["recipients"] for r in outbox(db)[-2:]] == [
        ["cs-lead@example.com", "cs2@example.com"], ["pr@example.com"]]
    assert {r["key"].split(":")[1] for r in outbox(db)[-2:]} == {fake}


def test_owners_without_recipients_are_held_not_dropped(db: Any, settings: Any) -> None:
    doc(db, "m1", "2024-05-02T09:40:00+08:00")
    mold = incident(db, ["m1"], owners="legal,pr")
    ids = alerts.queue_alerts(db, settings, NOW, RULES)
    assert [r["audience"] for r in outbox(db)] == ["pr"] and len(ids) == 1  # legal has no recipients
    doc(db, "x1", "2024-05-02T09:45:00+08:00", "吃了过敏", rules=["health_safety.allergy"])
    allergy = incident(db, ["x1"], category="health_safety", owners="legal")
    assert alerts.queue_alerts(db, settings, NOW, RULES) == []
    assert [(h.incident_id, h.reason, h.due_at) for h in alerts.held_alerts(db, settings, NOW, RULES)] == [
        (allergy, "no_recipients", None)]
    assert alerted_severity(db, mold) == "critical" and alerted_severity(db, allergy) is None


def test_ignored_incidents_stay_silent_and_resolved_ones_alert_only_when_reopened(db: Any, settings: Any) -> None:
    doc(db, "m1", "2024-05-02T09:40:00+08:00")
    ignored = incident(db, ["m1"])
    set_state(db, ignored, "ignored")
    doc(db, "f1", "2024-05-02T09:40:00+08:00", FAKE, rules=["counterfeit.fake"], item="1002", title="手撕面包 1kg")
    fake = incident(db, ["f1"], item="1002", title="手撕面包 1kg", category="counterfeit", severity="high")
    first = alerts.queue_alerts(db, settings, NOW, RULES)
    assert {r["key"].split(":")[1] for r in outbox(db)} == {fake} and len(first) == 2
    assert alerts.held_alerts(db, settings, NOW, RULES) == []
    set_state(db, fake, "resolved")
    doc(db, "f2", "2024-05-02T13:00:00+08:00", FAKE, rules=["counterfeit.fake"], item="1002", title="手撕面包 1kg")
    incident(db, ["f2"], item="1002", category="counterfeit", severity="high")
    doc(db, "m2", "2024-05-02T13:00:00+08:00", "全是发霉的")
    incident(db, ["m2"])  # ignored: keeps growing silently, even with critical evidence
    later = NOW + timedelta(hours=3, minutes=10)
    assert alerts.queue_alerts(db, settings, later, RULES) == []  # resolved, not reopened (yet)
    set_state(db, fake, "new")  # the engine reopens it: same id, state new, opened_at = now
    incident(db, ["f2"], item="1002", category="counterfeit", severity="high", opened="2024-05-02T05:05:00+00:00")
    reopened = alerts.queue_alerts(db, settings, later, RULES)
    rows = outbox(db)[-2:]
    assert len(reopened) == 2 and {r["subject"] for r in rows} == {"【高·假货质疑】手撕面包 1kg：假货质疑（2 条）"}
    assert "事件重新打开" in bodies(rows[0])[0]
    assert not [a for a in alerted(db) if a[1] == ignored]


def test_documents_of_the_earlier_per_rule_alerts_do_not_alert_again(db: Any, settings: Any) -> None:
    doc(db, "m1", "2024-05-02T09:40:00+08:00")
    with store.transaction(db):  # alerted by the per-rule alerts before the upgrade
        db.execute("INSERT INTO alerted VALUES ('m1', 'food_safety.mold', 1, '2024-05-02T01:45:00+00:00')")
    incident(db, ["m1"])
    assert alerts.queue_alerts(db, settings, NOW, RULES) == []


# ------------------------------------------------------------------ summaries

def many(db: Any, n: int, owners: str, start: int = 0, severity: str = "high") -> list[str]:
    ids = []
    for i in range(start, start + n):
        item = str(2000 + i)
        for j in range(i % 3 + 1):  # sizes 1..3
            doc(db, f"d{i}-{j}", f"2024-05-02T09:{10 + j}:00+08:00", FAKE, rules=["counterfeit.fake"], item=item,
                title=f"商品{i}")
        ids.append(incident(db, [f"d{i}-{j}" for j in range(i % 3 + 1)], item=item, title=f"商品{i}",
                            category="counterfeit", severity=severity, owners=owners))
    return ids


def test_more_than_summary_over_new_incidents_make_one_summary_per_audience(db: Any, settings: Any) -> None:
    both = many(db, 3, "cs,pr")
    cs_only = many(db, 3, "cs", start=3)
    doc(db, "m1", "2024-05-02T09:00:00+08:00", item="3000", title="坚果")
    mold = incident(db, ["m1"], item="3000", title="坚果", owners="cs")
    ids = alerts.queue_alerts(db, settings, NOW, RULES)  # cs: 7 > 5, pr: 3
    rows = outbox(db)
    assert len(ids) == 4
    summary = [r for r in rows if r["audience"] == "cs"]
    assert len(summary) == 1 and summary[0]["key"] == "alert-summary:cs:20240502T0200Z"
    assert summary[0]["subject"] == "【风险汇总】客服：7 个新事件（1 个紧急）"
    assert sorted(r["key"].split(":")[1] for r in rows if r["audience"] == "pr") == sorted(both)
    text, html = bodies(summary[0])
    for iid in [mold, *both, *cs_only]:
        assert iid in text and iid in html, iid
    listed = [line.split()[2] for line in text.splitlines() if line[:1].isdigit() and ". [" in line]
    sizes = {iid: n for iid, n in db.execute("SELECT id, size FROM incidents")}
    assert listed[0] == mold  # critical first, then size
    assert [sizes[i] for i in listed[1:]] == sorted((sizes[i] for i in listed[1:]), reverse=True)
    assert "80m1" in text and "坚果爱好者" in text  # order id and nickname in the details
    assert {a[1] for a in alerted(db)} == {mold, *both, *cs_only}
    assert {a[2] for a in alerted(db) if a[1] in cs_only} == {summary[0]["id"]}
    assert alerts.queue_alerts(db, settings, NOW, RULES) == []
    assert alerts.queue_alerts(db, settings, NOW + timedelta(minutes=7), RULES) == []


def test_exactly_summary_over_new_incidents_still_go_one_by_one(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, alerts={"summary_over": 2})
    db = store.open_db(settings.db)
    incidents = many(db, 2, "cs")
    alerts.queue_alerts(db, settings, NOW, RULES)
    assert sorted(r["key"].split(":")[1] for r in outbox(db)) == sorted(incidents)


def test_updates_join_the_summary_only_when_they_too_exceed_the_limit(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, alerts={"cooldown": "2h", "summary_over": 2})
    db = store.open_db(settings.db)
    incidents = many(db, 3, "cs")
    assert len(alerts.queue_alerts(db, settings, NOW, RULES)) == 1  # 3 > 2: a summary
    later = NOW + timedelta(hours=3)
    for n, iid in enumerate(incidents[:2]):  # two rise: updates go one by one
        item = str(2000 + n)
        doc(db, f"u{n}", later - timedelta(minutes=30), FAKE, rules=["counterfeit.fake"], item=item, title=f"商品{n}")
        incident(db, [f"u{n}"], item=item, category="counterfeit", severity="critical", owners="cs")
    alerts.queue_alerts(db, settings, later, RULES)
    assert [r["subject"][:4] for r in outbox(db)[1:]] == ["【更新】", "【更新】"]
    later += timedelta(hours=3)
    for n in range(3):  # then all three get critical evidence: 3 > 2, one summary
        item = str(2000 + n)
        doc(db, f"v{n}", later - timedelta(minutes=30), "假货，孩子吃了住院", rules=["counterfeit.fake"], item=item,
            title=f"商品{n}")
        incident(db, [f"v{n}"], item=item, category="counterfeit", severity="critical", owners="cs",
                 member_severity="critical")
    alerts.queue_alerts(db, settings, later, RULES)
    assert len(outbox(db)) == 4 and outbox(db)[-1]["subject"] == "【风险汇总】客服：3 个事件更新（3 个紧急）"


def test_a_big_summary_stays_under_the_mail_size_limit_and_names_every_incident(db: Any, settings: Any) -> None:
    long_text = "假货！" + "和专柜的完全不一样，味道也不对，" * 30
    ids = []
    for i in range(60):
        item = str(5000 + i)
        for j in range(4):
            doc(db, f"b{i}-{j}", f"2024-05-02T09:{10 + j}:00+08:00", long_text, rules=["counterfeit.fake"], item=item,
                title="超长商品标题" * 10)
        ids.append(incident(db, [f"b{i}-{j}" for j in range(4)], item=item, title="超长商品标题" * 10,
                            category="counterfeit", severity="high", owners="pr"))
    alerts.queue_alerts(db, settings, NOW, RULES)
    (row,) = outbox(db)
    text, html = bodies(row)
    assert len(text.encode()) + len(html.encode()) <= BODY_BUDGET
    assert len(Path(row["eml_path"]).read_bytes()) < 100_000
    assert all(iid in text for iid in ids)
    assert "个事件的详情见" in text  # the details were cut, the list was not


def test_a_long_incident_alert_lists_the_newest_and_says_how_many_more(db: Any, settings: Any) -> None:
    for i in range(30):
        doc(db, f"m{i:02d}", NOW - timedelta(minutes=90 - i), MOLD + "，" * 200)
    incident(db, [f"m{i:02d}" for i in range(30)])
    alerts.queue_alerts(db, settings, NOW, RULES)
    text, html = bodies(outbox(db)[0])
    assert "另有 10 条" in text and "另有 10 条" in html
    assert "80m29" in text and "80m00" not in text  # newest first


# ------------------------------------------------------------------ rendering

def test_untrusted_titles_and_texts_cannot_inject_headers_or_markup(db: Any, settings: Any) -> None:
    doc(db, "x1", "2024-05-02T09:00:00+08:00", XSS, title="坚果\r\nBcc: evil@example.com", author="<b>买家</b>",
        meta={"review_url": "javascript:alert(1)"})
    incident(db, ["x1"], title="坚果\r\nBcc: evil@example.com")
    alerts.queue_alerts(db, settings, NOW, RULES)
    raw = Path(outbox(db)[0]["eml_path"]).read_bytes()
    head = raw.split(b"\r\n\r\n")[0].decode("ascii")
    assert not [line for line in head.split("\r\n") if line.lower().startswith("bcc")]
    assert outbox(db)[0]["subject"] == "【紧急·食品安全】坚果 Bcc: evil@example.com：发霉变质（1 条）"
    html = message_from_bytes(raw, policy=default_policy).get_body(("html",)).get_content()
    tags = parse(html)
    assert "script" not in tags.tags and "img" not in tags.tags and "b" not in tags.tags
    assert tags.tags.count("table") == tags.ends.count("table")
    assert "&lt;img src=x onerror=alert(1)&gt;" in html and "javascript:" not in html


def test_untrusted_text_in_a_summary_is_escaped(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, alerts={"summary_over": 1})
    db = store.open_db(settings.db)
    for n in range(2):
        doc(db, f"x{n}", "2024-05-02T09:00:00+08:00", XSS, item=str(n), title=f"坚果{n}\r\nBcc: evil@example.com")
        incident(db, [f"x{n}"], item=str(n), title=f"坚果{n}\r\nBcc: evil@example.com", owners="cs")
    alerts.queue_alerts(db, settings, NOW, RULES)
    (row,) = outbox(db)
    text, html = bodies(row)
    tags = parse(html)
    assert "script" not in tags.tags and "img" not in tags.tags
    assert tags.tags.count("table") == tags.ends.count("table")
    assert "坚果0 Bcc: evil@example.com" in text


def test_alert_golden_rendering(db: Any, settings: Any) -> None:
    doc(db, "m1", "2024-05-02T09:40:00+08:00", author="小明", order="1234567890123",
        meta={"review_url": "https://rate.tmall.com/r?id=m1"})
    doc(db, "m2", "2024-05-02T09:50:00+08:00", "又是发霉的，一股霉味", author="坚果控")
    incident(db, ["m1", "m2"])
    alerts.queue_alerts(db, settings, NOW, RULES)
    row = outbox(db)[0]
    text, html = bodies(row)
    check_golden("alert.txt", f"Subject: {row['subject']}\n\n{text}")
    check_golden("alert.html", html)


def test_alert_summary_golden_rendering(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, alerts={"cooldown": "2h", "summary_over": 2})
    db = store.open_db(settings.db)
    many(db, 2, "cs")
    doc(db, "m1", "2024-05-02T09:40:00+08:00", author="小明", meta={"review_url": "https://rate.tmall.com/r?id=m1"})
    incident(db, ["m1"], owners="cs")
    alerts.queue_alerts(db, settings, NOW, RULES)
    (row,) = outbox(db)
    text, html = bodies(row)
    check_golden("alert_summary.txt", f"Subject: {row['subject']}\n\n{text}")
    check_golden("alert_summary.html", html)


# ------------------------------------------------------------------ delivery, CLI, options

def test_alert_goes_out_over_smtp_to_the_owners(db: Any, tmp_path: Path) -> None:
    with SmtpServer() as server:
        settings = make_settings(tmp_path, mail={"transport": "smtp", "host": "127.0.0.1", "port": server.port})
        doc(db, "m1", "2024-05-02T09:40:00+08:00", author="小明", order="1234567890123")
        iid = incident(db, ["m1"])
        ids = alerts.queue_alerts(db, settings, NOW, RULES)
        assert mailer.send_pending(db, settings, NOW)["sent"] == ids
    assert sorted(m.rcpt_tos for m in server.messages) == [["cs-lead@example.com", "cs2@example.com"],
                                                            ["pr@example.com"]]
    assert {m.message["Subject"] for m in server.messages} == {"【紧急·食品安全】每日坚果礼盒 750g：发霉变质（1 条）"}
    body = server.messages[0].message.get_body(("plain",)).get_content()
    assert iid in body and "1234567890123" in body and "小明" in body


def test_held_alerts_are_listed_by_outbox_and_status(run_cli: Any, db_path: Path) -> None:
    """A held alert is never only a log line: `outbox` and `status` list it with when it goes."""
    db = store.open_db(db_path)
    now = datetime.now(timezone.utc)
    text = "假货！和专柜的不一样"
    row = {f: None for f in store.DOCUMENT_FIELDS}
    row.update(id="f1", source="tmall", kind="review", item_id="1002", item_title="手撕面包 1kg", text=text,
               text_raw=text, rating="negative", is_placeholder=0, created_at=at(now - timedelta(minutes=30)))
    with store.transaction(db):
        store.insert_documents(db, [row])
        store.insert_hits(db, [{"document_id": "f1", "rule_id": "counterfeit.fake", "category": "counterfeit",
                                "severity": "high", "terms": "[]", "created_at": row["created_at"]}])
    iid = incident(db, ["f1"], item="1002", title="手撕面包 1kg", category="counterfeit", severity="high",
                   owners="legal")  # nobody configured for legal; the bundled rules apply
    result, rows = run_cli.json("outbox")
    held = [r for r in rows if r["status"] == "held"]
    assert [(h["reason"], h["subject"], h["due_at"]) for h in held] == [
        ("no_recipients", f"{iid} · 手撕面包 1kg · 假货质疑（1 条）", None)]
    assert "held       alert  no_recipients goes once recipients are configured" in run_cli("outbox").stdout
    _, status = run_cli.json("status")
    assert status["worker"]["held_alerts"] == [{k: held[0][k] for k in ("subject", "reason", "due_at")}]


@pytest.mark.parametrize("raw, message", [
    ({"quiet_hours": "25:00-08:00"}, r"\[alerts\] quiet_hours: expected \"HH:MM-HH:MM\""),
    ({"cooldown": "soon"}, r"\[alerts\] cooldown: expected minutes or a duration"),
    ({"recent_hours": 0}, r"\[alerts\] recent_hours: expected a positive number"),
    ({"summary_over": 0}, r"\[alerts\] summary_over: expected a positive integer"),
    ({"recent": 48}, r"\[alerts\]: unknown key 'recent'"),
])
def test_bad_alert_options_name_the_key(tmp_path: Path, raw: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):  # when the settings load, not when alerts are queued
        make_settings(tmp_path, alerts=raw)
