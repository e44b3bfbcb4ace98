"""Daily digest: build (headline, incidents in four lists, per-category counts against their
baseline, unanswered, Q&A, trend), render (golden, escaping, size at scale), queue and CLI.

Triage in digests (states, assignees, what closes and reopens) is tested in
test_digest_triage.py. The fixtures (a constructed 2024-05-01) are in digest_fixtures.py."""
from __future__ import annotations

import json
import re
from datetime import date, datetime, timedelta, timezone
from email import message_from_bytes
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from digest_fixtures import (DAY, INC, PRAISE, RULES, XSS, XSS_NICK, add, analysis, check_golden, document,
                             incident, make_settings, parse, seed_day, set_triage, signal_rows, span, write_config)
from sentiment import store
from sentiment.cli import cli
from sentiment.errors import ConfigError
from sentiment.reports import digest
from sentiment.reports import outbox as mailer

# test_alerts.py and test_outbox.py import the fixtures from here
__all__ = ["DAY", "RULES", "XSS", "add", "check_golden", "make_settings", "parse", "seed_day", "span",
           "write_config"]


@pytest.fixture
def settings(tmp_path: Path) -> Any:
    return make_settings(tmp_path)


@pytest.fixture
def db(settings: Any) -> Any:
    return store.open_db(settings.db)


@pytest.fixture
def day_db(db: Any) -> Any:
    seed_day(db)
    return db


def build(db: Any, settings: Any, audience: str = "cs", day: date = DAY) -> dict[str, Any]:
    return digest.build_digest(db, settings, audience, day, RULES)


def ids(data: dict[str, Any], group: str) -> list[str]:
    return [c["id"] for c in data["incidents"][group]["items"]]


def listed(data: dict[str, Any]) -> list[str]:
    """Incident ids in the order the digest lists them."""
    return [i for group in data["incidents"]["order"] for i in ids(data, group)]


def plain(html: str) -> str:
    return re.sub(r' style="[^"]*"', "", html)


# ------------------------------------------------------------------ headline

def test_headline_numbers_and_changes(day_db: Any, settings: Any) -> None:
    h = build(day_db, settings)["headline"]
    # 5 negatives (m1, m2, f1, x1, l1) + 2 negative Q&A, 5 positives, 1 placeholder (unscored)
    assert (h["documents"], h["scored"], h["negatives"]) == (13, 12, 7)
    assert h["share"] == pytest.approx(7 / 12)
    extra = {1: 1, 2: 2}  # unanswered u2 on 04-30, u1 and u3 on 04-29
    week = [(n % 4 + extra.get(n, 0)) / (10 + extra.get(n, 0)) for n in range(1, 8)]
    assert h["prev_share"] == pytest.approx(2 / 11)
    assert h["avg7_share"] == pytest.approx(sum(week) / 7)
    assert h["delta_prev"] == pytest.approx(7 / 12 - 2 / 11)
    assert h["delta_avg7"] == pytest.approx(7 / 12 - sum(week) / 7)


def test_day_boundaries_follow_configured_timezone(db: Any, tmp_path: Path) -> None:
    add(db, "late", "差", "2024-05-02T07:00:00+08:00")  # 2024-05-01 23:00 UTC
    add(db, "early", "差", "2024-05-01T00:00:00+08:00")  # first second of 05-01 in Shanghai
    shanghai = make_settings(tmp_path)
    utc = make_settings(tmp_path, general={"timezone": "UTC"})
    assert build(db, shanghai)["headline"]["documents"] == 1
    assert build(db, shanghai, day=date(2024, 5, 2))["headline"]["documents"] == 1
    assert build(db, utc)["headline"]["documents"] == 1  # only "late"
    assert build(db, utc, day=date(2024, 4, 30))["headline"]["documents"] == 1


# ------------------------------------------------------------------ incidents

def test_incidents_in_four_lists_mould_first(day_db: Any, settings: Any) -> None:
    cs = build(day_db, settings)
    assert ids(cs, "new") == [INC["mould"], INC["fake"], INC["quality"]]  # critical, high, medium
    assert ids(cs, "growing") == [INC["spike"]]  # opened 04-30, two members on the day
    assert ids(cs, "overdue") == [INC["service"], INC["topic"]]  # overdue, no news: high before medium
    assert ids(cs, "closed") == [INC["logistics"], INC["misleading"]]  # latest closed first
    assert cs["incidents"]["counts"] == {"new": 3, "growing": 1, "overdue": 4, "open": 7, "closed": 2}
    assert cs["incidents"]["unlisted"] == 1 and cs["incidents"]["total"] == 8  # `stale`: open, quiet, not due
    for left_out in ("praise", "escalation", "ignored", "old", "stale"):  # PR's; ignored; closed before the day
        assert INC[left_out] not in listed(cs), left_out

    pr = build(day_db, settings, "pr")
    new = ids(pr, "new")
    assert new[0] == INC["mould"] and set(new[1:3]) == {INC["escalation"], INC["fake"]} and new[3] == INC["praise"]
    assert ids(pr, "growing") == ids(pr, "overdue") == [] and ids(pr, "closed") == [INC["misleading"]]
    assert pr["incidents"]["counts"] == {"new": 4, "growing": 0, "overdue": 1, "open": 4, "closed": 1}

    text = digest.render_digest(cs).text
    positions = [text.index(f"事件 {i} ") for i in listed(cs)]
    assert positions == sorted(positions)  # the mould incident is named first among incidents
    # the open lists by their first incident: critical mould, then high service (overdue), then the spike
    assert cs["incidents"]["order"] == ["new", "overdue", "growing", "closed"]
    assert text.index("-- 新增 · 3 个 --") < text.index("-- 逾期（不含新增、增长中的） · 2 个 --") < text.index(
        "-- 增长 · 1 个 --") < text.index("-- 昨日关闭 · 2 个 --")
    assert "另有 1 个待处理事件当日没有新证据、也未逾期" in text


def test_order_is_severity_then_overdue_then_size_then_newest(db: Any, settings: Any) -> None:
    def new_incident(name: str, severity: str, size: int, at: str, due: str) -> str:
        add(db, name, f"{name} 差评", at, item=name)
        return incident(db, name, "quality", [name], severity=severity, size=size, opened=at, due=due)

    later_due = "2024-05-03T00:00:00+08:00"
    a = new_incident("7001", "high", 5, "2024-05-01T09:00:00+08:00", later_due)
    b = new_incident("7002", "high", 1, "2024-05-01T08:00:00+08:00", "2024-05-01T09:00:00+08:00")  # overdue
    c = new_incident("7003", "critical", 1, "2024-05-01T07:00:00+08:00", later_due)
    d = new_incident("7004", "medium", 9, "2024-05-01T10:00:00+08:00", "2024-05-01T11:00:00+08:00")  # overdue
    e = new_incident("7005", "high", 5, "2024-05-01T12:00:00+08:00", later_due)  # as a, newer evidence
    low = new_incident("7006", "low", 50, "2024-05-01T13:00:00+08:00", "2024-05-01T14:00:00+08:00")
    assert ids(build(db, settings), "new") == [c, b, e, a, d, low]


def test_new_means_first_seen_on_the_day_or_opened_since_on_earlier_evidence(db: Any, settings: Any) -> None:
    add(db, "late", "发霉", "2024-04-29T10:00:00+08:00", item="7101")  # a late export, opened the next morning
    add(db, "day", "发霉", "2024-05-01T10:00:00+08:00", item="7102")  # first seen on the day, opened then
    add(db, "after", "发霉", "2024-05-02T08:00:00+08:00", item="7103")  # evidence after the day
    add(db, "old", "发霉", "2024-04-29T10:00:00+08:00", item="7104")  # opened before the day
    due = "2024-05-09T00:00:00+08:00"
    late = incident(db, "7101", "food_safety", ["late"], opened="2024-05-02T01:00:00+00:00", due=due)
    day = incident(db, "7102", "food_safety", ["day"], opened="2024-05-01T02:05:00+00:00", due=due)
    after = incident(db, "7103", "food_safety", ["after"], opened="2024-05-02T00:05:00+00:00", due=due)
    old = incident(db, "7104", "food_safety", ["old"], opened="2024-04-29T02:05:00+00:00", due=due)
    data = build(db, settings)
    assert set(ids(data, "new")) == {late, day} and data["incidents"]["unlisted"] == 2  # after, old
    assert {after, old}.isdisjoint(listed(data))


def test_the_most_urgent_incident_is_named_first_whatever_its_list(db: Any, settings: Any) -> None:
    add(db, "stuck", "发霉", "2024-04-25T10:00:00+08:00", item="7201")
    add(db, "fresh", "质量差", "2024-05-01T10:00:00+08:00", item="7202")
    stuck = incident(db, "7201", "food_safety", ["stuck"], severity="critical", opened="2024-04-25T02:05:00+00:00",
                     due="2024-04-25T11:00:00+08:00")  # overdue, no news on the day
    fresh = incident(db, "7202", "quality", ["fresh"], severity="medium", opened="2024-05-01T02:05:00+00:00",
                     due="2024-05-02T10:00:00+08:00")
    data = build(db, settings)
    assert (ids(data, "overdue"), ids(data, "new")) == ([stuck], [fresh])
    assert data["incidents"]["order"] == ["overdue", "new", "growing", "closed"]
    text = digest.render_digest(data).text
    assert text.index(f"事件 {stuck} ") < text.index(f"事件 {fresh} ")


def test_incident_rows_carry_id_order_buyer_dates_links_and_triage(day_db: Any, settings: Any) -> None:
    data = build(day_db, settings)
    rows = {c["id"]: c for group, _ in digest.GROUPS for c in data["incidents"][group]["items"]}
    mould = rows[INC["mould"]]
    assert (mould["severity_name"], mould["category_name"], mould["item_title"], mould["link"]) == (
        "紧急", "食品安全", "每日坚果礼盒 750g", "https://detail.tmall.com/item.htm?id=1001")
    assert (mould["size"], mould["new"], mould["first_seen"], mould["last_seen"]) == (
        2, 2, "2024-05-01 09:15", "2024-05-01 18:40")
    assert (mould["due_at"], mould["overdue"], mould["state_name"], mould["assignee"]) == (
        "2024-05-01 10:15", True, "新", None)
    assert [(e["order_id"], e["author"], e["created_at"], e["rating_name"]) for e in mould["examples"]] == [
        ("3002", "坚果控", "2024-05-01 18:40", "差评"), ("3001", "小王", "2024-05-01 09:15", "差评")]
    assert [p["t"] for p in mould["examples"][0]["parts"] if p["hit"]] == ["发霉", "霉味"]
    fake = rows[INC["fake"]]
    assert (fake["state"], fake["assignee"], fake["overdue"], fake["due_at"]) == (
        "acknowledged", "张三", False, "2024-05-02 01:05")
    spike = rows[INC["spike"]]
    assert (spike["category_name"], spike["new"], spike["overdue"]) == ("差评激增", 2, True)
    assert [e["id"] for e in spike["examples"]] == ["l1", "x1", "u1"]  # the day's first, then newest first
    topic = rows[INC["topic"]]
    assert (topic["category_name"], topic["item_title"], topic["link"]) == ("新话题：包装、漏气", "（全店）", None)
    assert [p["t"] for p in topic["examples"][0]["parts"] if p["hit"]] == ["漏气"]  # the topic's terms

    message = digest.render_digest(data)
    assert f"事件 {INC['mould']} · 共 2 条，当日新增 2 条 · 首次 2024-05-01 09:15 · 最近 2024-05-01 18:40" in message.text
    assert "状态：新 · 负责人：未分配 · 处理时限 2024-05-01 10:15（已逾期）" in message.text
    assert "- 2024-05-01 18:40 评价 · 差评 · 订单号 3002 · 买家 坚果控" in message.text
    html = plain(message.html)
    assert f"事件 {INC['mould']} · 共 2 条" in html and "订单号 3002 · 买家 坚果控" in html
    assert '<a href="https://detail.tmall.com/item.htm?id=1001">每日坚果礼盒 750g</a>' in html


def test_identical_praise_never_enters_the_cs_digest(day_db: Any, settings: Any) -> None:
    cs = digest.render_digest(build(day_db, settings))
    pr = digest.render_digest(build(day_db, settings, "pr"))
    assert PRAISE not in cs.text and PRAISE not in cs.html and INC["praise"] not in cs.text
    assert PRAISE in pr.text and f"事件 {INC['praise']}" in pr.text  # 刷单 risk: PR's
    # an incident naming no owner goes to everyone, but not with praise alone ...
    for i in range(5):
        add(day_db, f"b{i}", "好吃好吃", f"2024-05-01T0{i}:10:00+08:00", "positive", item="1003", author=f"刷{i}")
    burst = incident(day_db, "1003", "review_manipulation", [f"b{i}" for i in range(5)], kind="manipulation",
                     severity="medium", owners="", opened="2024-05-01T02:00:00+00:00", due="2024-05-02T10:00:00+08:00")
    # ... and a shared one (a cash-back complaint joined the same id) shows CS no praise
    for i in range(3):
        add(day_db, f"s{i}", "好吃好吃", f"2024-05-01T0{i}:20:00+08:00", "positive", item="1004")
    cashback = "商家打电话让我改好评，还说好评返现"
    add(day_db, "s9", cashback, "2024-05-01T08:00:00+08:00", item="1004", author="不改")
    shared = incident(day_db, "1004", "review_manipulation", ["s0", "s1", "s2", "s9"], severity="high",
                      owners="cs,pr", opened="2024-05-01T02:00:00+00:00", due="2024-05-02T10:00:00+08:00")
    cs_data = build(day_db, settings)
    assert burst not in listed(cs_data) and shared in ids(cs_data, "new")
    row = next(c for c in cs_data["incidents"]["new"]["items"] if c["id"] == shared)
    assert [e["id"] for e in row["examples"]] == ["s9"] and row["category_name"] == "刷评/控评风险"
    text = digest.render_digest(cs_data).text
    assert "好吃好吃" not in text and cashback in text
    pr_data = build(day_db, settings, "pr")
    assert burst in ids(pr_data, "new") and len(next(c for c in pr_data["incidents"]["new"]["items"]
                                                    if c["id"] == shared)["examples"]) == 3


def test_lists_are_capped_with_another_n(db: Any, settings: Any) -> None:
    for i in range(20):
        add(db, f"n{i}", "发霉了", f"2024-05-01T10:{i:02d}:00+08:00", item=str(5000 + i))
        incident(db, str(5000 + i), "food_safety", [f"n{i}"], severity="critical",
                 opened="2024-05-01T02:00:00+00:00", due="2024-05-02T10:00:00+08:00")
    for i in range(12):
        add(db, f"o{i}", "坏了", f"2024-04-20T10:{i:02d}:00+08:00", item=str(6000 + i))
        incident(db, str(6000 + i), "quality", [f"o{i}"], severity="medium",
                 opened="2024-04-20T02:00:00+00:00", due="2024-04-21T10:00:00+08:00")
    data = build(db, settings)
    new, overdue = data["incidents"]["new"], data["incidents"]["overdue"]
    assert (len(new["items"]), new["more"], new["total"]) == (digest.LIMITS["new"], 5, 20)
    assert (len(overdue["items"]), overdue["more"], overdue["total"]) == (digest.LIMITS["overdue"], 2, 12)
    assert data["incidents"]["counts"]["open"] == 32
    message = digest.render_digest(data)
    for part in (message.text, message.html):
        assert "另有 5 个事件" in part and "另有 2 个事件" in part


# ------------------------------------------------------------------ categories

def test_categories_against_their_baseline_from_signal_days(db: Any, settings: Any) -> None:
    day, before = DAY.isoformat(), [(DAY - timedelta(days=n)).isoformat() for n in range(1, 15)]
    quality = [1, 0, 2, 1, 0, 1, 1, 0, 2, 1, 0, 1, 1, 0]
    rows = [(day, "A", "quality", 6), (day, "B", "quality", 3), (day, "A", "logistics", 2), (day, "B", "logistics", 2),
            (day, "A", "food_safety", 4), (day, "A", "counterfeit", 3), (day, "A", "health_safety", 19),
            (day, "A", "escalation", 50), (day, "A", "~all", 100), (day, "A", "~negative", 60)]
    rows += [(d, "A", "quality", n) for d, n in zip(before, quality) if n]
    rows += [(d, "A", "logistics", 2) for d in before] + [(d, "B", "logistics", 1) for d in before]
    rows += [(d, "A", "health_safety", 10 * (k % 2)) for k, d in enumerate(before)]
    rows += [((DAY - timedelta(days=15)).isoformat(), "A", "food_safety", 500)]  # outside the baseline
    signal_rows(db, rows)
    add(db, "today", "还行", "2024-05-01T09:00:00+08:00", "positive")  # the day has data
    cats = build(db, settings)["categories"]
    assert cats["source"] == "signal_days" and cats["days"] == 14
    shown = [(r["category"], r["count"], r["mean"], r["above"]) for r in cats["items"]]
    assert shown == [("quality", 9, round(sum(quality) / 14, 1), True),  # over mean + 3 * max(std, 1)
                     ("food_safety", 4, 0.0, True),  # no history: over 0 + 3 * 1
                     ("health_safety", 19, 5.0, False),  # a noisy history: 5 + 3 * 5 = 20
                     ("logistics", 4, 3.0, False),  # the steady background
                     ("counterfeit", 3, 0.0, False)]  # at the threshold, not above
    assert "escalation" in {r["category"] for r in build(db, settings, "pr")["categories"]["items"]}  # PR's
    text = digest.render_digest(build(db, settings)).text
    assert "- 质量问题：9 条（基线 0.8） 高于基线" in text and "- 物流问题：4 条（基线 3.0）\n" in text


def test_categories_fall_back_to_rule_hits_when_the_day_is_not_counted(db: Any, settings: Any) -> None:
    slow = [("logistics.slow", "logistics", "low", [["慢", 0, 1]])]
    add(db, "d1", "慢死了", "2024-05-01T09:00:00+08:00", hits=slow)
    add(db, "d2", "慢，还破了", "2024-05-01T10:00:00+08:00", hits=[*slow, ("quality.bad", "quality", "medium", [])])
    add(db, "d3", "太慢", "2024-05-01T23:30:00+08:00",
        hits=[*slow, ("logistics.lost", "logistics", "low", [])])  # two rules, one document
    add(db, "d4", "慢", "2024-05-02T00:30:00+08:00", hits=slow)  # the next day
    add(db, "d5", "慢", "2024-05-01T11:00:00+08:00", placeholder=1, hits=slow)  # placeholders never count
    for n in range(1, 15):
        add(db, f"e{n}", "慢", f"{DAY - timedelta(days=n)}T12:00:00+08:00", hits=slow)
    signal_rows(db, [("2024-04-30", "1001", "logistics", 1)])  # counted days before do not switch the source
    cats = build(db, settings)["categories"]
    assert cats["source"] == "rule_hits"
    assert [(r["category"], r["count"], r["mean"]) for r in cats["items"]] == [("logistics", 3, 1.0), ("quality", 1, 0.0)]
    assert "当日尚未汇总，按规则命中直接计数。" in digest.render_digest(build(db, settings)).text


# ------------------------------------------------------------------ subject and size

def test_subject_counts_incidents(day_db: Any, settings: Any, tmp_path: Path) -> None:
    cs = build(day_db, settings)
    assert digest.render_digest(cs).subject == "【舆情日报】2024-05-01 客服：3 个新事件，4 个逾期，7 个待处理"
    assert digest.render_digest(build(day_db, settings, "pr")).subject == \
        "【舆情日报】2024-05-01 公关：4 个新事件，1 个逾期，4 个待处理"
    cs["correction"] = True
    assert digest.render_digest(cs).subject == "【更正】【舆情日报】2024-05-01 客服：3 个新事件，4 个逾期，7 个待处理"
    assert digest.render_digest(build(day_db, settings, day=date(2024, 6, 1))).subject == \
        "【舆情日报】2024-06-01 客服：尚无当日数据，无法判断"
    without = make_settings(tmp_path, digest={"sections": {"cs": ["unanswered"]}})
    assert digest.render_digest(build(day_db, without)).subject == "【舆情日报】2024-05-01 客服：差评 7 条（58.3%）"


def test_two_thousand_open_incidents_stay_under_100kb(db: Any, settings: Any) -> None:
    """A large shop: 2,000 open incidents (500 new, 500 growing, 500 overdue, 500 quiet) and 30
    closed on the day, long reviews and titles. Subject counts all; the body stays small."""
    long = "发霉" + "很长的评价内容，" * 60
    docs, analyses, hits, incidents, members, states = [], [], [], [], [], []
    for i in range(2030):
        group = "closed" if i >= 2000 else ("new", "growing", "overdue", "quiet")[i % 4]
        on_day = group in ("new", "growing", "closed")
        at = f"2024-05-01T{8 + i % 12:02d}:{i % 60:02d}:00+08:00" if on_day else "2024-04-20T10:00:00+08:00"
        item, doc = str(100000 + i), f"n{i:04d}"
        docs.append(document(doc, long, at, item=item, title="超长商品标题" * 15, author="买家" * 10, order=str(9 * 10**17 + i)))
        analyses.append(analysis(doc, at, "negative"))
        hits.append({"document_id": doc, "rule_id": "food_safety.mold", "category": "food_safety",
                     "severity": "critical", "terms": '[["发霉", 0, 2]]', "created_at": at})
        iid = store.incident_id("", item, "food_safety")
        opened = "2024-05-01T00:30:00+00:00" if group == "new" else "2024-04-20T02:00:00+00:00"
        due = "2024-04-21T10:00:00+08:00" if group == "overdue" else "2024-05-10T10:00:00+08:00"
        incidents.append({"id": iid, "kind": "rule", "shop": "", "item_key": item, "item_id": item,
                          "item_title": "超长商品标题" * 15, "category": "food_safety", "title": "",
                          "severity": ("critical", "high", "medium", "low")[i % 3], "size": 1 + i % 40,
                          "first_seen": at if group == "new" else "2024-04-20T10:00:00+08:00", "last_seen": at,
                          "opened_at": opened, "due_at": due, "owners": "cs,pr",
                          "meta": "{}"})
        members.append((iid, doc, at, "critical", opened))
        if group == "closed":
            states.append((f"incident:{iid}", "incident", "resolved", "cs,pr", "2024-05-01T05:00:00+00:00",
                           "system", "无新证据 14 天，自动关闭"))
    with store.transaction(db):
        store.insert_documents(db, docs)
        store.save_analyses(db, analyses, hits)
        db["incidents"].insert_all(incidents)
        db.conn.executemany("INSERT INTO incident_members (incident_id, document_id, created_at, severity, added_at)"
                            " VALUES (?, ?, ?, ?, ?)", members)
        db.conn.executemany("INSERT INTO triage (item_key, kind, state, owner, resolved_at, updated_by, note)"
                            " VALUES (?, ?, ?, ?, ?, ?, ?)", states)
    data = build(db, settings)
    assert data["incidents"]["counts"] == {"new": 500, "growing": 500, "overdue": 500, "open": 2000, "closed": 30}
    message = digest.render_digest(data)
    assert message.subject == "【舆情日报】2024-05-01 客服：500 个新事件，500 个逾期，2000 个待处理"
    assert len(message.html.encode()) < 100_000 and len(message.text.encode()) < 100_000
    raw = mailer.build_email(settings, ["cs-lead@example.com"], message, "k", datetime.now(timezone.utc)).as_bytes()
    assert len(raw) < 100_000
    for name in ("新增", "增长", "昨日关闭"):  # every list shows its first incidents and how many more
        assert re.search(rf"-- {name}(?:（[^）]*）)? · \d+ 个 --\n\[", message.text), name
    more = [int(n) for n in re.findall(r"另有 (\d+) 个事件", message.text)]
    shown = len(re.findall(r"^    事件 inc-", message.text, re.M))
    assert len(more) == 4 and sum(more) + shown == 1530 and shown >= 10  # the 500 quiet ones are not listed
    assert more == [int(n) for n in re.findall(r"另有 (\d+) 个事件", message.html)]
    assert "另有 500 个待处理事件当日没有新证据" in message.text


# ------------------------------------------------------------------ unanswered, Q&A, optional sections

def test_unanswered_negatives_after_n_hours_oldest_first(day_db: Any, tmp_path: Path) -> None:
    data = build(day_db, make_settings(tmp_path, digest={"unanswered_hours": 24}))
    # m1 (09:15 on the day) is younger than 24 h at the end of the day; u3 is resolved in triage
    assert [u["id"] for u in data["unanswered"]["items"]] == ["u1", "u2"]
    u1 = data["unanswered"]["items"][0]
    assert (u1["hours"], u1["order_id"], u1["author"], u1["created_at"]) == (62, "2901", "老李", "2024-04-29 10:00")
    assert u1["incidents"] == sorted([INC["spike"], INC["service"]]) and u1["link"].endswith("id=1002")
    data = build(day_db, make_settings(tmp_path, digest={"unanswered_hours": 12}))
    assert [u["id"] for u in data["unanswered"]["items"]] == ["u1", "u2", "m1", "x1"]
    assert build(day_db, make_settings(tmp_path), "pr")["unanswered"] is None  # CS's backlog by default
    text = digest.render_digest(data).text
    assert "2024-04-29 10:00 评价 · 差评 · 订单号 2901 · 买家 老李 · 事件 " in text


def test_negative_qa_and_the_optional_sections(day_db: Any, tmp_path: Path) -> None:
    settings = make_settings(tmp_path, digest={"sections": {"pr": ["incidents", "escalation", "items", "qa"]}})
    data = build(day_db, settings, "pr")
    assert data["sections"] == ["incidents", "escalation", "items", "qa"] and data["categories"] is None
    groups = [(g["category"], g["item_id"], g["count"]) for g in data["escalation"]["items"]]
    assert groups == [("counterfeit", "1002", 1), ("escalation", "1002", 1)]
    assert data["escalation"]["items"][0]["examples"][0]["order_id"] == "3003"
    assert [(i["item_id"], i["negatives"]) for i in data["items"]["items"]] == [("1001", 4), ("1002", 3)]
    qa = data["qa"]["items"]
    assert [q["id"] for q in qa] == ["q1", "a1"] and qa[1]["author"] == "老顾客"
    assert "".join(p["t"] for p in qa[1]["question"]) == "这个会不会有霉味？"
    default = build(day_db, make_settings(tmp_path))
    assert default["sections"] == ["incidents", "categories", "unanswered", "qa"]
    assert default["escalation"] is None and default["items"] is None


def test_trend_covers_fourteen_days_with_relative_bars(day_db: Any, settings: Any) -> None:
    trend = build(day_db, settings)["trend"]
    assert [t["date"] for t in trend] == [str(DAY - timedelta(days=n)) for n in range(13, -1, -1)]
    assert trend[-1]["bar"] == 100 and trend[-2]["bar"] == round(100 * (2 / 11) / (7 / 12))
    html = digest.render_digest(build(day_db, settings)).html
    assert len(re.findall(r'<td class="bar(?:-today)?" height="10" style="background: #', html)) == 14


def test_digest_sections_config_accepts_the_old_clusters_name(tmp_path: Path) -> None:
    # refused when the settings load, not when the digest runs
    with pytest.raises(ConfigError, match=r"\[digest\] unanswered_hours"):
        make_settings(tmp_path, digest={"unanswered_hours": "soon"})
    with pytest.raises(ConfigError, match=r"\[digest.sections\] cs: unknown section 'charts' \(allowed: incidents,"):
        make_settings(tmp_path, digest={"sections": {"cs": ["charts"]}})
    old = make_settings(tmp_path, digest={"sections": {"cs": ["clusters", "unanswered", "incidents"]}})
    assert digest.digest_options(old, "cs")["sections"] == ("incidents", "unanswered")
    assert digest.digest_options(make_settings(tmp_path), "pr")["sections"] == ("incidents", "categories", "qa")


# ------------------------------------------------------------------ render

@pytest.mark.parametrize("audience", ["cs", "pr"])
def test_golden_rendering_of_a_constructed_day(day_db: Any, settings: Any, audience: str) -> None:
    message = digest.render_digest(build(day_db, settings, audience))
    check_golden(f"digest_{audience}.txt", f"Subject: {message.subject}\n\n{message.text}")
    check_golden(f"digest_{audience}.html", message.html)


def test_review_text_and_nickname_are_escaped_and_no_external_resources(day_db: Any, settings: Any) -> None:
    message = digest.render_digest(build(day_db, settings))
    tags = parse(message.html)
    assert "script" not in tags.tags and "img" not in tags.tags and "style" not in tags.tags
    assert tags.tags.count("table") == tags.ends.count("table")
    assert "&lt;script&gt;alert('x')&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;&lt;/table&gt;" \
        in message.html
    assert "买家 &lt;img src=x onerror=alert(1)&gt;买家" in message.html  # the nickname too
    assert not [v for k, v in tags.attrs if k in ("src", "onerror")]
    assert all(v.startswith("https://detail.tmall.com/") for k, v in tags.attrs if k == "href")
    assert "<mark style=" in message.html  # CSS inlined
    assert XSS[:20] in message.text and f"买家 {XSS_NICK}" in message.text  # plain text keeps them as written


def test_quiet_day_gets_the_short_form(db: Any, settings: Any) -> None:
    for i in range(3):
        add(db, f"ok{i}", "很好", f"2024-05-01T1{i}:00:00+08:00", "positive")
    data = build(db, settings)
    assert data["quiet"] is True
    message = digest.render_digest(data)
    assert message.subject == "【舆情日报】2024-05-01 客服：平稳，无需处理"
    assert "== 事件" not in message.text and "近 14 日" not in message.html
    check_golden("digest_quiet.txt", f"Subject: {message.subject}\n\n{message.text}")
    add(db, "old", "坏了", "2024-04-20T10:00:00+08:00")
    incident(db, "1001", "quality", ["old"], severity="low", opened="2024-04-20T02:00:00+00:00",
             due="2024-05-20T10:00:00+08:00")
    data = build(db, settings)  # an open incident waits: not a calm day
    assert data["quiet"] is False and digest.render_digest(data).subject.endswith("0 个新事件，0 个逾期，1 个待处理")


# ------------------------------------------------------------------ queue and CLI

def test_queue_digests_renders_each_audience_and_day_once(day_db: Any, settings: Any) -> None:
    now = datetime(2024, 5, 2, 1, 0, tzinfo=timezone.utc)
    queued = digest.queue_digests(day_db, settings, DAY, rules=RULES, now=now)
    assert digest.queue_digests(day_db, settings, DAY, rules=RULES, now=now) == queued
    rows = {r["audience"]: r for r in mailer.list_outbox(day_db)}
    assert rows["cs"]["recipients"] == ["cs-lead@example.com", "cs2@example.com"]
    assert rows["pr"]["recipients"] == ["pr@example.com"] and len(rows) == 2
    eml = message_from_bytes(Path(rows["cs"]["eml_path"]).read_bytes(), policy=default_policy)
    assert eml["Subject"] == rows["cs"]["subject"] and eml["To"] == "cs-lead@example.com, cs2@example.com"
    assert len(list(Path(settings.mail.outbox_dir).glob("*.eml"))) == 2


def test_cli_digest_out_outbox_and_retry(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    seed_day(store.open_db(tmp_path / "s.db"))
    runner = CliRunner()
    base = ["--config", str(config)]
    result = runner.invoke(cli, [*base, "digest", "--date", "2024-05-01", "--out", str(tmp_path / "prev")])
    assert result.exit_code == 0, result.output
    preview = (tmp_path / "prev" / "digest_cs_2024-05-01.txt").read_text(encoding="utf-8")
    assert f"事件 {INC['mould']}" in preview and "订单号 3001 · 买家 小王" in preview
    assert str(tmp_path / "prev" / "digest_pr_2024-05-01.eml") in result.output
    result = runner.invoke(cli, [*base, "digest", "--date", "2024-05-01", "--audience", "cs", "--json"])
    assert result.exit_code == 0, result.output
    queued = json.loads(result.output)["digests"]
    assert [d["audience"] for d in queued] == ["cs"] and Path(queued[0]["eml"]).exists()
    assert queued[0]["subject"] == "【舆情日报】2024-05-01 客服：3 个新事件，4 个逾期，7 个待处理"
    listed_rows = json.loads(runner.invoke(cli, [*base, "outbox", "--json"]).output)
    assert [(r["id"], r["status"]) for r in listed_rows] == [(queued[0]["id"], "pending")]
    result = runner.invoke(cli, [*base, "outbox", "retry", "99"])
    assert result.exit_code == 1 and "Error: no outbox message 99" in result.output
    result = runner.invoke(cli, [*base, "digest", "--audience", "legal"])
    assert result.exit_code == 1 and "Error: unknown audience 'legal' (configured: cs, pr)" in result.output
    result = runner.invoke(cli, [*base, "digest", "--date", "2024-05-01", "--send"])
    assert result.exit_code == 0 and "sent 2," in result.output
    assert len(list((tmp_path / "outbox" / "sent").glob("*.eml"))) == 2


def test_cli_without_config_renders_latest_day_for_default_audiences(tmp_path: Path) -> None:
    seed_day(store.open_db(tmp_path / "sentiment.db"))  # the embedded default: ./sentiment.db, ./outbox/
    runner = CliRunner()
    result = runner.invoke(cli, ["digest", "--date", "latest"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith(f"cs: {tmp_path / 'outbox' / '00001-digest_cs_2024-05-01.eml'}  【舆情日报】2024-05-01")
    assert (tmp_path / "outbox" / "00002-digest_pr_2024-05-01.eml").exists()
    to = message_from_bytes((tmp_path / "outbox" / "00001-digest_cs_2024-05-01.eml").read_bytes(),
                            policy=default_policy)["To"]
    assert to == "cs@localhost"
    result = runner.invoke(cli, ["digest", "--date", "May 1"])
    assert result.exit_code == 2 and "'May 1' is not a date like 2024-05-01 or `latest`" in result.output


def test_a_day_without_data_is_not_called_calm_and_a_late_export_is_resent(run_cli: Any, db_path: Path) -> None:
    """Day one: an empty store said 平稳，无需处理 for a day it had no data for, and when that day's
    export came later the digest could not be corrected."""
    _, first = run_cli.json("digest", "--date", "2024-05-01", "--audience", "cs")
    subject = first["digests"][0]["subject"]
    assert "平稳" not in subject and subject.endswith("尚无当日数据，无法判断")
    body = Path(first["digests"][0]["eml"]).read_bytes()
    assert "数据截至：尚未收到任何数据" in _text_of(body) and "尚未收到 2024-05-01 的评价数据" in _text_of(body)
    db = store.open_db(db_path)
    add(db, "late1", "发霉了，吃完拉肚子", "2024-05-01T20:00:00+08:00", author="迟到", order="5001",
        hits=[("food_safety.mold", "food_safety", "critical", span("发霉了，吃完拉肚子", "发霉"))])
    incident(db, "1001", "food_safety", ["late1"], severity="critical", owners="cs,pr",
             opened="2024-05-01T12:05:00+00:00", due="2024-05-01T21:00:00+08:00")
    _, again = run_cli.json("digest", "--date", "2024-05-01", "--audience", "cs")
    assert again["digests"][0]["id"] == first["digests"][0]["id"]  # queued once: the same copy
    _, corrected = run_cli.json("digest", "--date", "2024-05-01", "--audience", "cs", "--resend")
    row = corrected["digests"][0]
    assert row["id"] != first["digests"][0]["id"]
    assert row["subject"] == "【更正】【舆情日报】2024-05-01 客服：1 个新事件，1 个逾期，1 个待处理"
    text = _text_of(Path(row["eml"]).read_bytes())
    assert "【更正】本日报是 2024-05-01 日报的更正版" in text and "数据截至：tmall 2024-05-01 20:00" in text
    assert "订单号 5001 · 买家 迟到" in text
    db.execute("UPDATE documents SET created_at = '2026-12-06T09:00:00+08:00', date_precision = 'first_seen'"
               " WHERE id = 'late1'")  # a follow-up dated when first seen tells nothing of freshness
    assert digest.freshness(db, *day_bounds_of("2024-05-01"))["sources"] == []
    keys = [r["key"] for r in db.query("SELECT key FROM outbox ORDER BY id")]
    assert keys == ["digest:cs:2024-05-01", "digest:cs:2024-05-01:r1"]


def day_bounds_of(day: str) -> tuple[Any, Any, Any]:
    from zoneinfo import ZoneInfo

    from sentiment.times import day_bounds

    tz = ZoneInfo("Asia/Shanghai")
    return (*day_bounds(date.fromisoformat(day), tz), tz)


def _text_of(raw: bytes) -> str:
    return message_from_bytes(raw, policy=default_policy).get_body(("plain",)).get_content()
