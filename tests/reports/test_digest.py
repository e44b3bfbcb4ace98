"""Daily digest: build (numbers, clusters, unanswered, PR items, Q&A, trend), render (golden, escaping, size).

Triage in digests (states, assignees, the resolved line) is tested in test_digest_triage.py."""
from __future__ import annotations

import json
import os
import re
from datetime import date, datetime, timedelta, timezone
from email import message_from_bytes
from email.policy import default as default_policy
from html.parser import HTMLParser
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from click.testing import CliRunner

from sentiment import store
from sentiment.reports import digest
from sentiment.reports import outbox as mailer
from sentiment.signals import triage
from sentiment.cli import cli
from sentiment.config import build_settings
from sentiment.errors import ConfigError

GOLDEN = Path(__file__).resolve().parent.parent / "golden"
DAY = date(2024, 5, 1)
XSS = "<script>alert('x')</script><img src=x onerror=alert(1)></table>质量太差了"


def rule(id: str, category: str, severity: str, owners: tuple[str, ...], immediate: bool = False,
         name: str = "", cooldown: timedelta | None = None) -> SimpleNamespace:
    return SimpleNamespace(id=id, category=category, name=name or id, severity=severity, owners=owners,
                           immediate=immediate, cooldown=cooldown)


RULES = [
    rule("food_safety.mold", "food_safety", "critical", ("cs", "pr"), True, "发霉变质"),
    rule("health_safety.allergy", "health_safety", "critical", ("cs", "pr"), True, "过敏"),
    rule("counterfeit.fake", "counterfeit", "high", ("pr", "cs"), True, "假货质疑"),
    rule("escalation.12315", "escalation", "high", ("pr",), True, "投诉升级"),
    rule("quality.bad", "quality", "medium", ("cs",), False, "质量差"),
    rule("logistics.slow", "logistics", "low", ("cs",), False, "物流慢"),
]


def make_settings(tmp_path: Path, **raw: Any) -> Any:
    data: dict[str, Any] = {
        "store": {"db": str(tmp_path / "s.db")},
        "mail": {"outbox_dir": str(tmp_path / "outbox"), "from": "舆情监控 <monitor@example.com>"},
        "audiences": {"cs": {"to": ["cs-lead@example.com", "cs2@example.com"]}, "pr": {"to": ["pr@example.com"]}},
    }
    for key, value in raw.items():
        data.setdefault(key, {}).update(value)
    return build_settings(data, None, {})


def add(db: Any, id: str, text: str, created: str, label: str | None = "negative", *, item: str = "1001",
        title: str = "每日坚果礼盒 750g", kind: str = "review", reply: str | None = None,
        parent: str | None = None, hits: list[tuple[str, str, str, list]] = (), placeholder: int = 0) -> None:
    """One document with its analysis and rule hits [(rule_id, category, severity, [[term, s, e]])]."""
    doc = {f: None for f in store.DOCUMENT_FIELDS}
    doc.update(id=id, source="tmall", kind=kind, item_id=item, item_title=title, text=text, text_raw=text,
               is_placeholder=placeholder, created_at=created, seller_reply=reply, parent_id=parent,
               rating={"negative": "negative", "positive": "positive"}.get(label or "", None))
    score = {"negative": 0.1, "neutral": 0.5, "positive": 0.9}.get(label or "", None)
    with store.transaction(db):
        store.insert_documents(db, [doc])
        store.save_analyses(db, [{"document_id": id, "score": score, "label": label, "tokens": "[]",
                                  "model_version": "t", "rules_version": "t", "analyzed_at": created}],
                            [{"document_id": id, "rule_id": r, "category": c, "severity": s,
                              "terms": json.dumps(t, ensure_ascii=False), "created_at": created}
                             for r, c, s, t in hits])


def span(text: str, *terms: str) -> list[list[Any]]:
    return [[t, text.index(t), text.index(t) + len(t)] for t in terms]


def cluster(db: Any, id: str, kind: str, members: list[str], *, item: str | None = "1001",
            title: str = "", category: str | None = None, rule_id: str | None = None, severity: str = "high",
            first: str = "2024-05-01T08:00:00+08:00", last: str = "2024-05-01T20:00:00+08:00",
            status: str = "open", terms: list[str] = ()) -> None:
    with store.transaction(db):
        db.execute("INSERT INTO clusters (id, kind, item_id, item_title, category, rule_id, severity, title, size,"
                   " first_seen, last_seen, status, meta) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                   [id, kind, item, "每日坚果礼盒 750g" if item == "1001" else "手撕面包 1kg", category, rule_id,
                    severity, title, len(members), first, last, status, json.dumps({"terms": list(terms)})])
        db.conn.executemany("INSERT INTO cluster_members VALUES (?, ?, 'x')", [[id, m] for m in members])


def seed_day(db: Any) -> None:
    """A constructed 2024-05-01 (Asia/Shanghai) with a trend, clusters, unanswered reviews, PR items and Q&A."""
    for n in range(1, 15):  # 04-17 .. 04-30: 10 documents a day, n % 4 negatives
        d = DAY - timedelta(days=n)
        for i in range(10):
            add(db, f"h{n}-{i}", "还不错" if i >= n % 4 else "一般般吧", f"{d}T1{i % 10}:00:00+08:00",
                "positive" if i >= n % 4 else "negative", reply="感谢")
    t1 = "打开发现坚果发霉了，吃了拉肚子"
    add(db, "m1", t1, "2024-05-01T09:15:00+08:00",
        hits=[("food_safety.mold", "food_safety", "critical", span(t1, "发霉", "拉肚子"))])
    t2 = "又是发霉的，一股霉味"
    add(db, "m2", t2, "2024-05-01T18:40:00+08:00", reply="亲，非常抱歉",
        hits=[("food_safety.mold", "food_safety", "critical", span(t2, "发霉", "霉味"))])
    t3 = "假货！已经向12315投诉，还要发微博曝光"
    add(db, "f1", t3, "2024-05-01T21:05:00+08:00", item="1002", title="手撕面包 1kg",
        hits=[("counterfeit.fake", "counterfeit", "high", span(t3, "假货")),
              ("escalation.12315", "escalation", "high", span(t3, "12315", "曝光"))])
    add(db, "x1", XSS, "2024-05-01T11:00:00+08:00", item="1002", title="手撕面包 1kg",
        hits=[("quality.bad", "quality", "medium", span(XSS, "质量太差"))])
    add(db, "l1", "快递太慢了，等了一周", "2024-05-01T12:00:00+08:00", item="1002", title="手撕面包 1kg",
        reply="抱歉", hits=[("logistics.slow", "logistics", "low", span("快递太慢了，等了一周", "太慢"))])
    for i in range(5):
        add(db, f"p{i}", "很好吃，回购", f"2024-05-01T1{i}:30:00+08:00", "positive")
    add(db, "ph", "此用户没有填写评价", "2024-05-01T10:00:00+08:00", None, placeholder=1)
    add(db, "q1", "这个会不会有霉味？", "2024-05-01T13:00:00+08:00", "negative", kind="question")
    add(db, "a1", "千万别买，我买的两袋都发霉了", "2024-05-01T14:00:00+08:00", "negative", kind="answer",
        parent="q1")
    # unanswered: older negatives without a seller reply
    add(db, "u1", "少发了一袋，联系客服没人理", "2024-04-29T10:00:00+08:00", item="1002", title="手撕面包 1kg")
    add(db, "u2", "包装漏气，面包硬了", "2024-04-30T08:00:00+08:00", item="1002", title="手撕面包 1kg")
    add(db, "u3", "已处理的差评", "2024-04-29T09:00:00+08:00", item="1002", title="手撕面包 1kg")
    with store.transaction(db):
        db.execute("INSERT INTO triage (item_key, kind, state) VALUES ('document:u3', 'document', 'resolved')")
    cluster(db, "c-mold", "rule", ["m1", "m2"], category="food_safety", rule_id="food_safety.mold",
            severity="critical", title="food_safety · 每日坚果礼盒 750g", terms=["发霉", "拉肚子"])
    cluster(db, "c-fake", "rule", ["f1"], item="1002", category="counterfeit", rule_id="counterfeit.fake",
            title="counterfeit · 手撕面包 1kg", terms=["假货"])
    cluster(db, "c-quality", "rule", ["x1"], item="1002", category="quality", rule_id="quality.bad",
            severity="medium", terms=["质量太差"])
    cluster(db, "c-spike", "spike", ["x1", "l1", "u1"], item="1002", severity="medium",
            title="差评激增 2024-05-01 · 手撕面包 1kg: 3 条")
    cluster(db, "c-done", "rule", ["l1"], item="1002", category="logistics", rule_id="logistics.slow",
            severity="low", terms=["太慢"])
    cluster(db, "c-closed", "rule", ["m1"], category="food_safety", status="closed", severity="critical")
    cluster(db, "c-old", "rule", ["u1"], item="1002", category="service", first="2024-04-20T08:00:00+08:00",
            last="2024-04-29T10:00:00+08:00")
    with store.transaction(db):
        db.execute("INSERT INTO triage (item_key, kind, state) VALUES ('cluster:c-done', 'cluster', 'resolved')")


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


def check_golden(name: str, content: str) -> None:
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN"):
        path.parent.mkdir(exist_ok=True)
        path.write_text(content, encoding="utf-8")
    assert content == path.read_text(encoding="utf-8"), f"{name} differs (UPDATE_GOLDEN=1 to accept)"


class Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.ends: list[str] = []
        self.attrs: list[tuple[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attrs.extend(attrs)

    def handle_endtag(self, tag: str) -> None:
        self.ends.append(tag)


def parse(html: str) -> Tags:
    tags = Tags()
    tags.feed(html)
    return tags


# ------------------------------------------------------------------ build

def test_headline_numbers_and_changes(day_db: Any, settings: Any) -> None:
    h = digest.build_digest(day_db, settings, "cs", DAY, RULES)["headline"]
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
    assert digest.build_digest(db, shanghai, "cs", DAY, RULES)["headline"]["documents"] == 1
    assert digest.build_digest(db, shanghai, "cs", date(2024, 5, 2), RULES)["headline"]["documents"] == 1
    assert digest.build_digest(db, utc, "cs", DAY, RULES)["headline"]["documents"] == 1  # only "late"
    assert digest.build_digest(db, utc, "cs", date(2024, 4, 30), RULES)["headline"]["documents"] == 1


def test_clusters_per_audience_ranked_by_severity_and_triage_hides(day_db: Any, settings: Any) -> None:
    cs = digest.build_digest(day_db, settings, "cs", DAY, RULES)["clusters"]["items"]
    pr = digest.build_digest(day_db, settings, "pr", DAY, RULES)["clusters"]["items"]
    assert [c["id"] for c in cs] == ["c-mold", "c-fake", "c-spike", "c-quality"]  # ties: larger first
    assert [c["id"] for c in pr] == ["c-mold", "c-fake", "c-spike"]  # no quality rule owned by pr
    mold = cs[0]
    assert mold["link"] == "https://detail.tmall.com/item.htm?id=1001"
    assert (mold["category_name"], mold["size"], mold["new"], mold["title"]) == ("食品安全", 2, 2, "食品安全：发霉、拉肚子")
    assert 2 <= len(mold["examples"]) <= 3
    hits = [p["t"] for p in mold["examples"][0]["parts"] if p["hit"]]
    assert hits == ["发霉", "霉味"]  # newest first: m2


def test_unanswered_negatives_after_n_hours_oldest_first(day_db: Any, tmp_path: Path) -> None:
    data = digest.build_digest(day_db, make_settings(tmp_path, digest={"unanswered_hours": 24}), "cs", DAY, RULES)
    # m1 (09:15 on the day) is younger than 24 h at the end of the day; u3 is resolved in triage
    assert [u["id"] for u in data["unanswered"]["items"]] == ["u1", "u2"]
    assert data["unanswered"]["items"][0]["hours"] == 62
    data = digest.build_digest(day_db, make_settings(tmp_path, digest={"unanswered_hours": 12}), "cs", DAY, RULES)
    assert [u["id"] for u in data["unanswered"]["items"]] == ["u1", "u2", "m1", "x1"]
    assert digest.build_digest(day_db, make_settings(tmp_path), "pr", DAY, RULES)["unanswered"] is None


def test_pr_escalation_and_counterfeit_items_and_negative_qa(day_db: Any, settings: Any) -> None:
    data = digest.build_digest(day_db, settings, "pr", DAY, RULES)
    groups = [(g["category"], g["item_id"], g["count"]) for g in data["escalation"]["items"]]
    assert groups == [("counterfeit", "1002", 1), ("escalation", "1002", 1)]
    qa = data["qa"]["items"]
    assert [q["id"] for q in qa] == ["q1", "a1"]
    assert "".join(p["t"] for p in qa[1]["question"]) == "这个会不会有霉味？"
    assert digest.build_digest(day_db, settings, "cs", DAY, RULES)["escalation"] is None


def test_trend_covers_fourteen_days_with_relative_bars(day_db: Any, settings: Any) -> None:
    trend = digest.build_digest(day_db, settings, "cs", DAY, RULES)["trend"]
    assert [t["date"] for t in trend] == [str(DAY - timedelta(days=n)) for n in range(13, -1, -1)]
    assert trend[-1]["bar"] == 100 and trend[-2]["bar"] == round(100 * (2 / 11) / (7 / 12))
    html = digest.render_digest(digest.build_digest(day_db, settings, "cs", DAY, RULES)).html
    assert len(re.findall(r'<td class="bar(?:-today)?" height="10" style="background: #', html)) == 14


def test_bad_digest_options_name_the_key(tmp_path: Path) -> None:
    # refused when the settings load, not when the digest runs
    with pytest.raises(ConfigError, match=r"\[digest\] unanswered_hours"):
        make_settings(tmp_path, digest={"unanswered_hours": "soon"})
    with pytest.raises(ConfigError, match=r"\[digest.sections\] cs: unknown section 'charts'"):
        make_settings(tmp_path, digest={"sections": {"cs": ["charts"]}})


# ------------------------------------------------------------------ render

def triage_day(db: Any) -> None:
    """Triage on top of `seed_day`: one cluster assigned, one in progress, a document resolved on the day."""
    triage.apply(db, "cluster:c-fake", "assign", by="组长", assignee="张三", now="2024-05-01T02:00:00+00:00")
    triage.apply(db, "cluster:c-spike", "start", by="李四", now="2024-05-01T03:00:00+00:00")
    triage.apply(db, "document:u2", "resolve", by="李四", now="2024-05-01T07:00:00+00:00")


@pytest.mark.parametrize("audience", ["cs", "pr"])
def test_golden_rendering_of_a_constructed_day(day_db: Any, settings: Any, audience: str) -> None:
    triage_day(day_db)
    message = digest.render_digest(digest.build_digest(day_db, settings, audience, DAY, RULES))
    check_golden(f"digest_{audience}.txt", f"Subject: {message.subject}\n\n{message.text}")
    check_golden(f"digest_{audience}.html", message.html)


def test_review_text_is_escaped_and_no_external_resources(day_db: Any, settings: Any) -> None:
    message = digest.render_digest(digest.build_digest(day_db, settings, "cs", DAY, RULES))
    tags = parse(message.html)
    assert "script" not in tags.tags and "img" not in tags.tags and "style" not in tags.tags
    assert tags.tags.count("table") == tags.ends.count("table")
    assert "&lt;script&gt;alert('x')&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;&lt;/table&gt;" \
        in message.html
    assert not [v for k, v in tags.attrs if k in ("src", "onerror")]
    assert all(v.startswith("https://detail.tmall.com/") for k, v in tags.attrs if k == "href")
    assert "<mark style=" in message.html  # CSS inlined
    assert XSS[:20] in message.text  # plain text keeps the review as written


def test_quiet_day_gets_the_short_form(db: Any, settings: Any) -> None:
    for i in range(3):
        add(db, f"ok{i}", "很好", f"2024-05-01T1{i}:00:00+08:00", "positive")
    data = digest.build_digest(db, settings, "cs", DAY, RULES)
    assert data["quiet"] is True
    message = digest.render_digest(data)
    assert message.subject == "【舆情日报】2024-05-01 客服：平稳，无需处理"
    assert "== 风险簇" not in message.text and "近 14 日" not in message.html
    check_golden("digest_quiet.txt", f"Subject: {message.subject}\n\n{message.text}")


def test_long_lists_end_with_more_and_message_stays_under_100kb(db: Any, settings: Any) -> None:
    long = "发霉" + "很长的评价内容" * 80
    for i in range(400):
        add(db, f"n{i:03d}", long, f"2024-04-30T0{i % 10}:{i % 60:02d}:00+08:00", item=str(2000 + i),
            title="超长商品标题" * 10, hits=[("food_safety.mold", "food_safety", "critical", [["发霉", 0, 2]])])
        cluster(db, f"k{i:03d}", "rule", [f"n{i:03d}"], item=str(2000 + i), category="food_safety",
                first="2024-04-30T08:00:00+08:00", last="2024-04-30T09:00:00+08:00")
    data = digest.build_digest(db, settings, "cs", date(2024, 4, 30), RULES)
    assert data["clusters"]["total"] == 400 and data["clusters"]["more"] == 400 - digest.LIMITS["clusters"]
    message = digest.render_digest(data)
    raw = mailer.build_email(settings, ["cs-lead@example.com"], message, "k", datetime.now(timezone.utc)).as_bytes()
    assert len(raw) < 100_000
    assert re.search(r"另有 \d+ 个风险簇", message.text) and re.search(r"另有 \d+ 个风险簇", message.html)


# ------------------------------------------------------------------ queue and CLI

def test_queue_digests_renders_each_audience_and_day_once(day_db: Any, settings: Any) -> None:
    now = datetime(2024, 5, 2, 1, 0, tzinfo=timezone.utc)
    ids = digest.queue_digests(day_db, settings, DAY, rules=RULES, now=now)
    assert digest.queue_digests(day_db, settings, DAY, rules=RULES, now=now) == ids
    rows = {r["audience"]: r for r in mailer.list_outbox(day_db)}
    assert rows["cs"]["recipients"] == ["cs-lead@example.com", "cs2@example.com"]
    assert rows["pr"]["recipients"] == ["pr@example.com"] and len(rows) == 2
    eml = message_from_bytes(Path(rows["cs"]["eml_path"]).read_bytes(), policy=default_policy)
    assert eml["Subject"] == rows["cs"]["subject"] and eml["To"] == "cs-lead@example.com, cs2@example.com"
    assert len(list(Path(settings.mail.outbox_dir).glob("*.eml"))) == 2


def write_config(tmp_path: Path) -> Path:
    config = tmp_path / "sentiment.toml"
    config.write_text(f"""
[store]
db = "s.db"
[mail]
outbox_dir = "outbox"
from = "舆情监控 <monitor@example.com>"
[audiences.cs]
to = ["cs-lead@example.com"]
[audiences.pr]
to = ["pr@example.com"]
""", encoding="utf-8")
    return config


def test_cli_digest_out_outbox_and_retry(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    seed_day(store.open_db(tmp_path / "s.db"))
    runner = CliRunner()
    base = ["--config", str(config)]
    result = runner.invoke(cli, [*base, "digest", "--date", "2024-05-01", "--out", str(tmp_path / "prev")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "prev" / "digest_cs_2024-05-01.html").exists()
    assert str(tmp_path / "prev" / "digest_pr_2024-05-01.eml") in result.output
    result = runner.invoke(cli, [*base, "digest", "--date", "2024-05-01", "--audience", "cs", "--json"])
    assert result.exit_code == 0, result.output
    queued = json.loads(result.output)["digests"]
    assert [d["audience"] for d in queued] == ["cs"] and Path(queued[0]["eml"]).exists()
    listed = json.loads(runner.invoke(cli, [*base, "outbox", "--json"]).output)
    assert [(r["id"], r["status"]) for r in listed] == [(queued[0]["id"], "pending")]
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
    add(db, "late1", "发霉了，吃完拉肚子", "2024-05-01T20:00:00+08:00",
        hits=[("food_safety.mold", "food_safety", "critical", span("发霉了，吃完拉肚子", "发霉"))])
    _, again = run_cli.json("digest", "--date", "2024-05-01", "--audience", "cs")
    assert again["digests"][0]["id"] == first["digests"][0]["id"]  # queued once: the same copy
    _, corrected = run_cli.json("digest", "--date", "2024-05-01", "--audience", "cs", "--resend")
    row = corrected["digests"][0]
    assert row["id"] != first["digests"][0]["id"] and row["subject"].startswith("【更正】【舆情日报】2024-05-01")
    assert "差评 1 条" in row["subject"]
    text = _text_of(Path(row["eml"]).read_bytes())
    assert "【更正】本日报是 2024-05-01 日报的更正版" in text and "数据截至：tmall 2024-05-01 20:00" in text
    db.execute("UPDATE documents SET created_at = '2026-12-06T09:00:00+08:00', date_precision = 'first_seen'"
               " WHERE id = 'late1'")  # a follow-up dated when first seen tells nothing of freshness
    assert digest.freshness(db, *day_bounds_of("2024-05-01"))["sources"] == []
    keys = [r["key"] for r in db.query("SELECT key FROM outbox ORDER BY id")]
    assert keys == ["digest:cs:2024-05-01", "digest:cs:2024-05-01:r1"]


def day_bounds_of(day: str) -> tuple[Any, Any, Any]:
    from datetime import date
    from zoneinfo import ZoneInfo

    from sentiment.times import day_bounds

    tz = ZoneInfo("Asia/Shanghai")
    return (*day_bounds(date.fromisoformat(day), tz), tz)


def _text_of(raw: bytes) -> str:
    from email import message_from_bytes
    from email.policy import default

    return message_from_bytes(raw, policy=default).get_body(("plain",)).get_content()
