"""A constructed shop day for digest tests: documents, analyses and rule hits as the pipeline
stores them; incidents, members, `signal_days` and triage rows written directly as
docs/incidents.md describes them (the tests do not run the incident engine).

`seed_day` builds 2024-05-01 (Asia/Shanghai); `INC` names its incidents' ids."""
from __future__ import annotations

import json
import os
from datetime import date, timedelta
from html.parser import HTMLParser
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Iterable, Sequence

from sentiment import store
from sentiment.config import build_settings

GOLDEN = Path(__file__).resolve().parent.parent / "golden"
DAY = date(2024, 5, 1)
XSS = "<script>alert('x')</script><img src=x onerror=alert(1)></table>质量太差了"
XSS_NICK = "<img src=x onerror=alert(1)>买家"


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


TITLES = {"1001": "每日坚果礼盒 750g", "1002": "手撕面包 1kg"}


def document(id: str, text: str, created: str, label: str | None = "negative", *, item: str = "1001",
             title: str | None = None, kind: str = "review", reply: str | None = None, parent: str | None = None,
             placeholder: int = 0, author: str | None = None, order: str | None = None) -> dict[str, Any]:
    doc = {f: None for f in store.DOCUMENT_FIELDS}
    doc.update(id=id, source="tmall", kind=kind, item_id=item, item_title=title or TITLES.get(item, "每日坚果礼盒 750g"),
               text=text, text_raw=text, is_placeholder=placeholder, created_at=created, seller_reply=reply,
               parent_id=parent, author=author, meta=json.dumps({"order_id": order}) if order else None,
               rating={"negative": "negative", "positive": "positive"}.get(label or "", None))
    return doc


def analysis(id: str, created: str, label: str | None) -> dict[str, Any]:
    score = {"negative": 0.1, "neutral": 0.5, "positive": 0.9}.get(label or "", None)
    return {"document_id": id, "score": score, "label": label, "tokens": "[]", "model_version": "t",
            "rules_version": "t", "analyzed_at": created}


def add(db: Any, id: str, text: str, created: str, label: str | None = "negative", *, item: str = "1001",
        title: str = "每日坚果礼盒 750g", kind: str = "review", reply: str | None = None,
        parent: str | None = None, hits: Sequence[tuple[str, str, str, list]] = (), placeholder: int = 0,
        author: str | None = None, order: str | None = None) -> None:
    """One document with its analysis and rule hits [(rule_id, category, severity, [[term, s, e]])]."""
    doc = document(id, text, created, label, item=item, title=title, kind=kind, reply=reply, parent=parent,
                   placeholder=placeholder, author=author, order=order)
    with store.transaction(db):
        store.insert_documents(db, [doc])
        store.save_analyses(db, [analysis(id, created, label)],
                            [{"document_id": id, "rule_id": r, "category": c, "severity": s,
                              "terms": json.dumps(t, ensure_ascii=False), "created_at": created}
                             for r, c, s, t in hits])


def span(text: str, *terms: str) -> list[list[Any]]:
    return [[t, text.index(t), text.index(t) + len(t)] for t in terms]


def incident(db: Any, item: str, category: str, members: Sequence[str], *, severity: str = "high",
             kind: str = "rule", owners: str = "cs", opened: str, due: str | None, first: str | None = None,
             last: str | None = None, size: int | None = None, terms: Sequence[str] = (), title: str = "",
             item_title: str | None = None) -> str:
    """An incident of (item, category) as the engine stores it, with its members (their documents'
    created_at); returns its id. `item` `*` is shop-wide."""
    iid = store.incident_id("", item, category)
    rows = db.execute(f"SELECT id, created_at FROM documents WHERE id IN ({', '.join('?' * len(members))})"
                      " ORDER BY created_at", list(members)).fetchall() if members else []
    assert len(rows) == len(members), f"unknown members of {category}: {members}"
    stamps = [r[1] for r in rows]
    with store.transaction(db):
        db["incidents"].insert({
            "id": iid, "kind": kind, "shop": "", "item_key": item, "item_id": None if item == "*" else item,
            "item_title": None if item == "*" else (item_title or TITLES.get(item, item)), "category": category,
            "title": title or category, "severity": severity, "base_severity": severity,
            "size": len(members) if size is None else size, "first_seen": first or stamps[0],
            "last_seen": last or stamps[-1], "opened_at": opened, "due_from": first or stamps[0], "due_at": due,
            "owners": owners, "rules": "{}", "meta": json.dumps({"terms": list(terms)}, ensure_ascii=False),
            "alerted_severity": None, "created_at": opened, "updated_at": opened})
        db.conn.executemany("INSERT INTO incident_members (incident_id, document_id, created_at, severity, added_at)"
                            " VALUES (?, ?, ?, ?, ?)", [(iid, d, at, severity, opened) for d, at in rows])
    return iid


def set_triage(db: Any, key: str, state: str, *, at: str, by: str = "李四", assignee: str | None = None,
               note: str | None = None, owner: str | None = None, action: str | None = None) -> None:
    """The triage row of `key` (incident:<id> / document:<id>) set to `state`, with a log entry."""
    kind = key.partition(":")[0]
    old = db.execute("SELECT state, assignee, owner, resolved_at FROM triage WHERE item_key = ?", [key]).fetchone()
    before = old[0] if old else "new"
    resolved_at = at if state == "resolved" else None
    with store.transaction(db):
        db.execute("INSERT OR REPLACE INTO triage (item_key, kind, state, owner, assignee, note, resolved_at,"
                   " updated_at, updated_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                   [key, kind, state, owner if owner is not None else (old[2] if old else None),
                    assignee if assignee is not None else (old[1] if old else None), note, resolved_at, at, by])
        db.execute("INSERT INTO triage_log (item_key, at, by, action, from_state, to_state, note)"
                   " VALUES (?, ?, ?, ?, ?, ?, ?)", [key, at, by, action or state, before, state, note])


def signal_rows(db: Any, rows: Iterable[tuple[str, str, str, int]]) -> None:
    """`signal_days` rows (day, item_key, category, n)."""
    with store.transaction(db):
        db.conn.executemany("INSERT OR REPLACE INTO signal_days (day, item_key, category, n) VALUES (?, ?, ?, ?)",
                            list(rows))


INC: dict[str, str] = {}  # short name -> incident id of seed_day's incidents
PRAISE = "很好吃，回购"


def seed_day(db: Any) -> None:
    """A constructed 2024-05-01 (Asia/Shanghai): a 14-day trend, the day's reviews, unanswered
    older reviews, negative Q&A, and incidents in every digest list.

    For CS: 新增 mould (critical, overdue), fake (high, assigned), quality (medium, the XSS review);
    增长 spike (in progress, overdue); 逾期 service (high) and a shop-wide topic; 昨日关闭 logistics
    (by 李四) and misleading (quiet close by system); one stale open incident not listed; an
    ignored and an earlier-resolved incident left out. PR also gets escalation and the praise
    burst (`review_manipulation`, owned by PR only)."""
    for n in range(1, 15):  # 04-17 .. 04-30: 10 documents a day, n % 4 negatives
        d = DAY - timedelta(days=n)
        for i in range(10):
            add(db, f"h{n}-{i}", "还不错" if i >= n % 4 else "一般般吧", f"{d}T1{i % 10}:00:00+08:00",
                "positive" if i >= n % 4 else "negative", reply="感谢")
    t1 = "打开发现坚果发霉了，吃了拉肚子"
    add(db, "m1", t1, "2024-05-01T09:15:00+08:00", author="小王", order="3001",
        hits=[("food_safety.mold", "food_safety", "critical", span(t1, "发霉", "拉肚子"))])
    t2 = "又是发霉的，一股霉味"
    add(db, "m2", t2, "2024-05-01T18:40:00+08:00", reply="亲，非常抱歉", author="坚果控", order="3002",
        hits=[("food_safety.mold", "food_safety", "critical", span(t2, "发霉", "霉味"))])
    t3 = "假货！已经向12315投诉，还要发微博曝光"
    add(db, "f1", t3, "2024-05-01T21:05:00+08:00", item="1002", title="手撕面包 1kg", author="路人甲", order="3003",
        hits=[("counterfeit.fake", "counterfeit", "high", span(t3, "假货")),
              ("escalation.12315", "escalation", "high", span(t3, "12315", "曝光"))])
    add(db, "x1", XSS, "2024-05-01T11:00:00+08:00", item="1002", title="手撕面包 1kg", author=XSS_NICK, order="3004",
        hits=[("quality.bad", "quality", "medium", span(XSS, "质量太差"))])
    add(db, "l1", "快递太慢了，等了一周", "2024-05-01T12:00:00+08:00", item="1002", title="手撕面包 1kg",
        reply="抱歉", author="等快递", order="3005",
        hits=[("logistics.slow", "logistics", "low", span("快递太慢了，等了一周", "太慢"))])
    for i in range(5):  # identical praise: a 刷单 risk for PR, never CS's business
        add(db, f"p{i}", PRAISE, f"2024-05-01T1{i}:30:00+08:00", "positive", author=f"买家{i}", order=f"400{i}")
    add(db, "ph", "此用户没有填写评价", "2024-05-01T10:00:00+08:00", None, placeholder=1)
    add(db, "q1", "这个会不会有霉味？", "2024-05-01T13:00:00+08:00", "negative", kind="question", author="想买")
    add(db, "a1", "千万别买，我买的两袋都发霉了", "2024-05-01T14:00:00+08:00", "negative", kind="answer",
        parent="q1", author="老顾客")
    # unanswered: older negatives without a seller reply
    add(db, "u1", "少发了一袋，联系客服没人理", "2024-04-29T10:00:00+08:00", item="1002", title="手撕面包 1kg",
        author="老李", order="2901")
    add(db, "u2", "包装漏气，面包硬了", "2024-04-30T08:00:00+08:00", item="1002", title="手撕面包 1kg",
        author="小张", order="3010")
    add(db, "u3", "已处理的差评", "2024-04-29T09:00:00+08:00", item="1002", title="手撕面包 1kg")
    set_triage(db, "document:u3", "resolved", at="2024-04-30T02:00:00+00:00", owner="cs")

    INC["mould"] = incident(db, "1001", "food_safety", ["m1", "m2"], severity="critical", owners="cs,pr",
                            opened="2024-05-01T01:16:00+00:00", due="2024-05-01T10:15:00+08:00",
                            terms=["发霉", "拉肚子"])
    INC["fake"] = incident(db, "1002", "counterfeit", ["f1"], owners="cs,pr", opened="2024-05-01T13:06:00+00:00",
                           due="2024-05-02T01:05:00+08:00")
    INC["escalation"] = incident(db, "1002", "escalation", ["f1"], owners="pr", opened="2024-05-01T13:06:00+00:00",
                                 due="2024-05-02T01:05:00+08:00")
    INC["quality"] = incident(db, "1002", "quality", ["x1"], severity="medium", owners="cs",
                              opened="2024-05-01T03:01:00+00:00", due="2024-05-02T11:00:00+08:00")
    INC["spike"] = incident(db, "1002", "spike", ["u1", "x1", "l1"], kind="spike", severity="medium", owners="cs",
                            opened="2024-04-30T02:00:00+00:00", due="2024-04-30T10:00:00+08:00")
    INC["service"] = incident(db, "1002", "service", ["u1"], owners="cs", opened="2024-04-29T02:01:00+00:00",
                              due="2024-04-29T14:00:00+08:00")
    INC["topic"] = incident(db, "*", "topic:包装、漏气", ["u2"], kind="topic", severity="medium", owners="cs",
                            opened="2024-04-30T00:05:00+00:00", due="2024-05-01T08:00:00+08:00", terms=["漏气"])
    INC["logistics"] = incident(db, "1002", "logistics", ["l1"], severity="low", owners="cs",
                                opened="2024-05-01T04:01:00+00:00", due="2024-05-04T12:00:00+08:00")
    INC["misleading"] = incident(db, "1001", "misleading", ["h14-0"], severity="medium", owners="cs,pr",
                                 opened="2024-04-17T02:01:00+00:00", due="2024-04-18T10:00:00+08:00")
    INC["praise"] = incident(db, "1001", "review_manipulation", [f"p{i}" for i in range(5)], kind="manipulation",
                             severity="medium", owners="pr", opened="2024-05-01T06:31:00+00:00",
                             due="2024-05-02T10:30:00+08:00", title=f"集中好评：{PRAISE}")
    INC["ignored"] = incident(db, "1001", "health_safety", ["m1"], severity="critical", owners="cs,pr",
                              opened="2024-05-01T01:16:00+00:00", due="2024-05-01T10:15:00+08:00")
    INC["old"] = incident(db, "1001", "quality", ["h10-0"], severity="medium", owners="cs",
                          opened="2024-04-21T02:00:00+00:00", due="2024-04-22T10:00:00+08:00")
    INC["stale"] = incident(db, "1001", "logistics", ["h3-0"], severity="low", owners="cs",
                            opened="2024-04-28T02:01:00+00:00", due="2024-05-03T10:00:00+08:00")
    set_triage(db, f"incident:{INC['fake']}", "acknowledged", at="2024-05-01T13:30:00+00:00", by="组长",
               assignee="张三", owner="cs,pr", action="assign")
    set_triage(db, f"incident:{INC['spike']}", "in_progress", at="2024-05-01T03:00:00+00:00", assignee="李四",
               owner="cs", action="start")
    set_triage(db, f"incident:{INC['service']}", "acknowledged", at="2024-04-29T05:00:00+00:00", assignee="王五",
               owner="cs", action="assign")
    set_triage(db, f"incident:{INC['logistics']}", "resolved", at="2024-05-01T04:00:00+00:00", note="已补发",
               owner="cs")
    set_triage(db, f"incident:{INC['misleading']}", "resolved", at="2024-05-01T01:00:00+00:00", by="system",
               note="无新证据 14 天，自动关闭", owner="cs,pr")
    set_triage(db, f"incident:{INC['ignored']}", "ignored", at="2024-05-01T02:00:00+00:00", note="误报",
               owner="cs,pr")
    set_triage(db, f"incident:{INC['old']}", "resolved", at="2024-04-30T10:00:00+00:00", owner="cs")

    day = DAY.isoformat()  # what the engine counted for the day (and logistics' steady background)
    signal_rows(db, [(day, "1001", "food_safety", 2), (day, "1002", "counterfeit", 1), (day, "1002", "escalation", 1),
                 (day, "1002", "quality", 1), (day, "1002", "logistics", 1), (day, "1001", "~all", 9),
                 (day, "1002", "~all", 3), (day, "1001", "~negative", 4), (day, "1002", "~negative", 3)]
                + [((DAY - timedelta(days=n)).isoformat(), "1002", "logistics", 1) for n in range(1, 15)])


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


def write_config(tmp_path: Path) -> Path:
    config = tmp_path / "sentiment.toml"
    config.write_text("""
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
