"""A constructed shop for the console's tests: documents, analyses and rule hits as the pipeline
stores them; incidents, members and triage written directly, as docs/incidents.md describes them.
Times are relative to the real clock (the console compares them with now: overdue, waiting hours,
this week against last). Three users: 王小公 (pr, with e-mail), 李客服 (cs, with e-mail), 管理员
(admin, without). The review, nickname and item title of the allergy incident are hostile HTML."""
from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Sequence

from sentiment import store
from sentiment.config import build_settings
from sentiment.times import STORED_TZ
from sentiment.web.users import add_user

PASSWORD = "correct horse 1"
USERS = (("王小公", "pr", "pr@example.com"), ("李客服", "cs", "cs@example.com"), ("管理员", "admin", None))
PR, CS, ADMIN = (u[0] for u in USERS)
BASE_URL = "https://console.example.com"

XSS_TEXT = "<img src=x onerror=alert(1)>用了过敏，脸上起红疹"
XSS_NICK = "<script>alert(2)</script>买家"
XSS_TITLE = "<img src=x onerror=alert(3)>舒缓面霜"
NUTS, CUP, CREAM = "600100200301", "600100200302", "600100200303"
TITLES = {NUTS: "每日坚果礼盒 1500g", CUP: "儿童保温杯 500ml", CREAM: XSS_TITLE}
FORMULA = '=HYPERLINK("http://x","点我")发霉'


def ago(now: datetime, **delta: float) -> str:
    return (now - timedelta(**delta)).astimezone(STORED_TZ).isoformat(timespec="seconds")


def make_settings(tmp_path: Path, **raw: Any) -> Any:
    data: dict[str, Any] = {
        "store": {"db": str(tmp_path / "web.db")},
        "mail": {"outbox_dir": str(tmp_path / "outbox"), "from": "舆情监控 <monitor@example.com>"},
        "audiences": {"cs": {"to": ["cs-lead@example.com"]}, "pr": {"to": ["pr-lead@example.com"]}},
        "web": {"base_url": BASE_URL},
    }
    for key, value in raw.items():
        data.setdefault(key, {}).update(value)
    return build_settings(data, None, {})


def _tokens(text: str) -> list[list[Any]]:
    """A crude segmentation for stored tokens: runs of Chinese in pairs, Latin words, punctuation."""
    out = []
    for m in re.finditer(r"[\u4e00-\u9fff]{1,2}|[A-Za-z0-9]+|\S", text):
        out.append([m.group(), m.start(), m.end()])
    return out


class Shop:
    """Writes the fixture rows; `ids` maps short names to incident ids."""

    def __init__(self, db: Any, now: datetime) -> None:
        self.db, self.now, self.ids, self.n = db, now, {}, 0

    def doc(self, text: str, hours: float, *, item: str = NUTS, label: str = "negative", rating: str | None = None,
            kind: str = "review", author: str = "买家", reply: str | None = None, order: str | None = None,
            hits: Sequence[tuple[str, str, str, Sequence[str]]] = (), review_url: str | None = None) -> str:
        """One document `hours` ago with its analysis and hits [(rule_id, category, severity, terms)]."""
        self.n += 1
        doc_id = f"d{self.n:04d}"
        created = ago(self.now, hours=hours)
        meta = {k: v for k, v in (("order_id", order), ("review_url", review_url)) if v}
        row = {f: None for f in store.DOCUMENT_FIELDS}
        row.update(id=doc_id, source="tmall", kind=kind, item_id=item, item_title=TITLES[item], author=author,
                   rating=rating if rating is not None else ("negative" if label == "negative" else "positive"),
                   text=text, text_raw=text, is_placeholder=0, created_at=created, seller_reply=reply,
                   meta=json.dumps(meta, ensure_ascii=False) if meta else None)
        analysis = {"document_id": doc_id, "score": 0.1 if label == "negative" else 0.9, "label": label,
                    "tokens": json.dumps(_tokens(text), ensure_ascii=False), "model_version": "t",
                    "rules_version": "t", "analyzed_at": created}
        rows = [{"document_id": doc_id, "rule_id": r, "category": c, "severity": s,
                 "terms": json.dumps([[t, text.index(t), text.index(t) + len(t)] for t in terms], ensure_ascii=False),
                 "created_at": created} for r, c, s, terms in hits]
        with store.transaction(self.db):
            store.insert_documents(self.db, [row])
            store.save_analyses(self.db, [analysis], rows)
        return doc_id

    def incident(self, name: str, item: str, category: str, members: Sequence[str], *, severity: str,
                 owners: str, due_in_hours: float, title: str) -> str:
        iid = store.incident_id("", item, category)
        stamps = [self.db.execute("SELECT created_at FROM documents WHERE id = ?", [m]).fetchone()[0] for m in members]
        opened = ago(self.now, hours=1)
        with store.transaction(self.db):
            self.db["incidents"].insert({
                "id": iid, "kind": "rule", "shop": "", "item_key": item, "item_id": item,
                "item_title": TITLES[item], "category": category, "title": title, "severity": severity,
                "base_severity": severity, "size": len(members), "first_seen": min(stamps), "last_seen": max(stamps),
                "opened_at": opened, "due_from": min(stamps), "due_at": ago(self.now, hours=-due_in_hours),
                "owners": owners, "rules": "{}", "meta": "{}", "alerted_severity": None, "created_at": opened,
                "updated_at": opened})
            self.db.conn.executemany(
                "INSERT INTO incident_members (incident_id, document_id, created_at, severity, added_at)"
                " VALUES (?, ?, ?, ?, ?)", [(iid, m, at, severity, opened) for m, at in zip(members, stamps)])
            self.db.execute("INSERT INTO triage_log (item_key, at, by, action, from_state, to_state, note)"
                            " VALUES (?, ?, 'system', 'opened', 'new', 'new', ?)",
                            [f"incident:{iid}", opened, f"{severity} · {len(members)} 条证据"])
        self.ids[name] = iid
        return iid


def seed(db: Any, now: datetime) -> dict[str, str]:
    """The shop; returns short name -> incident id."""
    shop = Shop(db, now)
    mould = ("food_safety.mold", "food_safety", "critical")
    m1 = shop.doc("坚果收到就发霉了，吃了拉肚子", 30, author="小王", order="1234567890123456789",
                  hits=[(*mould, ["发霉", "拉肚子"])], review_url="https://rate.tmall.com/r?id=1")
    m2 = shop.doc("打开一股哈喇味，好几颗都发霉了", 20, author="坚果控", order="2234567890123456789",
                  hits=[(*mould, ["发霉"])])
    m3 = shop.doc("又是发霉的，一股霉味", 10, author="老顾客", reply="亲，已为您退款", hits=[(*mould, ["发霉"])])
    x1 = shop.doc(XSS_TEXT, 26, item=CREAM, author=XSS_NICK, order="3234567890123456789",
                  hits=[("health_safety.allergy", "health_safety", "critical", ["过敏"])])
    f1 = shop.doc("怀疑是假货，和专柜的不一样", 50, item=CREAM,
                  hits=[("counterfeit.fake", "counterfeit", "high", ["假货"])])
    e1 = shop.doc("再不处理就打12315投诉你们", 6, item=CUP, author="维权人",
                  hits=[("escalation.12315", "escalation", "high", ["12315", "投诉"])])
    s1 = shop.doc("快递太慢了，一个星期才到", 40, item=CUP, hits=[("logistics.slow", "logistics", "low", ["太慢"])])
    shop.doc(FORMULA, 60, item=NUTS)
    # background for the trend and the terms: last week and this week, praise and complaints
    for day in range(1, 21):
        shop.doc("味道不错，会回购", 24 * day + 3, label="positive")
        shop.doc("包装精美，送人很好", 24 * day + 5, item=CUP, label="positive")
        if day % 3 == 0:
            shop.doc("保温效果差，质量一般", 24 * day + 7, item=CUP)
    for hours in (70, 80, 90):
        shop.doc("保温杯漏水了，质量太差", hours, item=CUP)
    shop.doc("很久以前的发霉差评", 24 * 200, hits=[(*mould, ["发霉"])])
    shop.incident("mould", NUTS, "food_safety", [m1, m2, m3], severity="critical", owners="cs,pr",
                  due_in_hours=-3, title="发霉、拉肚子")
    shop.incident("allergy", CREAM, "health_safety", [x1], severity="critical", owners="cs,pr",
                  due_in_hours=0.5, title="<b>过敏</b>起红疹")
    shop.incident("fake", CREAM, "counterfeit", [f1], severity="high", owners="pr,cs", due_in_hours=3,
                  title="假货质疑")
    shop.incident("escalation", CUP, "escalation", [e1], severity="high", owners="pr", due_in_hours=2,
                  title="12315 投诉")
    shop.incident("slow", CUP, "logistics", [s1], severity="low", owners="cs", due_in_hours=40, title="物流慢")
    return shop.ids


def add_users(db: Any) -> None:
    for name, audience, email in USERS:
        add_user(db, name, audience, PASSWORD, email=email)


def build_store(path: Path, now: datetime | None = None) -> dict[str, str]:
    """A seeded store with users at `path`; returns the incident ids."""
    db = store.open_db(path)
    ids = seed(db, now or datetime.now(STORED_TZ))
    add_users(db)
    db.conn.close()
    return ids


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "no CSRF token on the page"
    return found.group(1)


def sign_in(client: Any, name: str = PR, password: str = PASSWORD, next_url: str | None = None) -> Any:
    """Sign in through the form (GET for the CSRF token, then POST); returns the POST's response."""
    page = client.get("/login" + (f"?next={next_url}" if next_url else ""))
    return client.post("/login", data={"name": name, "password": password, "csrf_token": csrf_of(page.text),
                                       "next": next_url or ""})
