"""The incident engine on real exports: what opens an incident, growth, severity, quiet close,
reopen under the same id, duplicates, back-fills, cost in proportion to new data, migration."""
from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from sentiment import store
from sentiment.config import load_settings
from sentiment.rules.loader import load_ruleset
from sentiment.signals import triage
from sentiment.signals.incidents import CURSOR, update_incidents

SH = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 12, 5, 20, 0, tzinfo=SH)
HEADER = "评论ID,商品ID,商品名称,评论内容,评分,评价时间,用户昵称,订单号\n"
PRAISE = ["东西很好，包装完整，物流也快", "质量不错，和描述一致，会回购", "味道很好，家人都喜欢",
          "做工精细，性价比高", "非常满意，客服态度也好"]
_counter = iter(range(10**6))


def row(item: str, text: str, at: datetime, stars: int = 1, nick: str | None = None) -> str:
    n = next(_counter)
    title = {"i-food": "松子仁 500g 罐装", "i-cream": "保湿面霜 50ml", "i-cup": "保温杯 500ml"}.get(item, item)
    return (f"R{n:08d},{item},{title},{text},{stars},{at.strftime('%Y-%m-%d %H:%M:%S')},"
            f"{nick or f'买家{n}'},45000000{n:011d}\n")


def background(days: int = 30, per_day: int = 6, end: datetime = NOW) -> list[str]:
    """Quiet praise on three items for `days` days before `end` (every day has documents)."""
    rows = []
    for d in range(days, 0, -1):
        for k in range(per_day):
            at = end - timedelta(days=d, hours=k)
            rows.append(row(["i-food", "i-cream", "i-cup"][k % 3], PRAISE[(d + k) % len(PRAISE)] + f"（{d}-{k}）",
                            at, stars=5))
    return rows


@pytest.fixture
def shop(tmp_path: Path, db_path: Path, run_cli: Any):
    """Ingest rows as one export; return the store and a function running the engine at a time."""
    settings = load_settings(db=db_path)
    rules = load_ruleset(settings.rules_paths)
    files = iter(range(1000))

    class Shop:
        db = store.open_db(db_path)

        def ingest(self, rows: list[str]) -> None:
            path = tmp_path / f"export_{next(files)}.csv"
            path.write_text(HEADER + "".join(rows), encoding="utf-8-sig")
            result = run_cli("ingest", path)
            assert result.exit_code == 0, result.stderr

        def update(self, now: datetime = NOW, **kw: Any):
            return update_incidents(self.db, kw.pop("settings", settings), now, rules=rules, **kw)

        def queue(self, now: datetime = NOW, **kw: Any) -> list[dict[str, Any]]:
            return triage.list_incidents(self.db, now=now, **kw)

        def incident(self, item: str, category: str) -> dict[str, Any]:
            found = [i for i in triage.list_incidents(self.db, states=None, now=NOW)
                     if i["item_id"] == item and i["category"] == category]
            assert len(found) == 1, found
            return found[0]

    return Shop()


def test_a_critical_document_opens_an_incident_at_once_and_more_grow_it(shop: Any) -> None:
    shop.ingest(background() + [row("i-food", "打开就发霉了，全是绿毛", NOW - timedelta(hours=5))])
    report = shop.update()
    assert len(report.opened) == 1
    inc = shop.incident("i-food", "food_safety")
    assert (inc["severity"], inc["size"], inc["state"], inc["kind"]) == ("critical", 1, "new", "rule")
    assert set(inc["owners"]) == {"cs", "pr"}
    assert "发霉" in inc["title"]
    # due one hour after the evidence began (critical SLA), so overdue at NOW
    assert datetime.fromisoformat(inc["due_at"]) == NOW - timedelta(hours=4) and inc["overdue"]
    shop.ingest([row("i-food", "还是发霉的，罐子里有霉点", NOW - timedelta(hours=2)),
                  row("i-food", "发霉变质，孩子吃了拉肚子", NOW - timedelta(hours=1))])
    report = shop.update()
    assert report.opened == [] and report.grown == [inc["id"]]
    again = shop.incident("i-food", "food_safety")
    assert again["id"] == inc["id"] and again["size"] == 3
    assert [i["id"] for i in shop.queue()] == [inc["id"]]
    history = triage.history(shop.db, f"incident:{inc['id']}")
    assert [(h["by"], h["action"]) for h in history] == [("system", "opened")]


def test_the_same_data_and_time_change_nothing_on_a_second_run(shop: Any) -> None:
    shop.ingest(background() + [row("i-food", "打开就发霉了", NOW - timedelta(hours=5))])
    shop.update()
    before = list(shop.db.query("SELECT * FROM incidents")), list(shop.db.query("SELECT * FROM triage_log"))
    report = shop.update()
    assert report.documents == 0 and report.opened == report.grown == []
    assert (list(shop.db.query("SELECT * FROM incidents")), list(shop.db.query("SELECT * FROM triage_log"))) == before


def test_steady_background_complaints_are_counted_not_queued(shop: Any) -> None:
    """物流慢 on a busy item at its usual rate (2 a day for 45 days) stays at the item's own baseline:
    counted in signal_days, not queued. (Before the store held a baseline, the rule's min_count
    opened an incident; it stopped growing once the rate was the baseline and closed after the
    quiet period.) A burst of 12 in one day opens it again."""
    rows = background(days=45)
    for d in range(45, 0, -1):
        for k in range(2):
            rows.append(row("i-cup", f"物流太慢了，等了好几天（{d}-{k}）", NOW - timedelta(days=d, hours=3 + k), stars=3))
    shop.ingest(rows)
    shop.update(NOW - timedelta(hours=12))
    assert shop.queue() == []
    counted = shop.db.execute("SELECT sum(n) FROM signal_days WHERE item_key = 'i-cup' AND category = 'logistics'"
                              ).fetchone()[0]
    assert counted == 90
    shop.ingest([row("i-cup", f"快递太慢了，一周还没到（第{k}单）", NOW - timedelta(hours=10 - k / 2))
                 for k in range(12)])
    shop.update()
    inc = shop.incident("i-cup", "logistics")
    assert inc["state"] == "new" and inc["severity"] in ("low", "medium", "high") and inc["size"] >= 12


def test_medium_rules_need_their_min_count_in_the_window(shop: Any) -> None:
    """quality.defect (medium, min_count 3 in 7 days): two defects open nothing, the third does."""
    shop.ingest(background() + [row("i-cup", "用了两天就坏了，质量太差", NOW - timedelta(days=3)),
                                row("i-cup", "盖子坏了，漏水", NOW - timedelta(days=2))])
    shop.update(NOW - timedelta(days=1))
    assert shop.queue(now=NOW - timedelta(days=1)) == []
    shop.ingest([row("i-cup", "杯子坏了，不保温", NOW - timedelta(hours=3))])
    shop.update()
    inc = shop.incident("i-cup", "quality")
    assert inc["size"] == 3 and inc["severity"] == "medium"


def test_quiet_incidents_close_by_themselves_and_reopen_under_the_same_id(shop: Any) -> None:
    shop.ingest(background() + [row("i-cream", "用了过敏，脸上起红疹", NOW - timedelta(hours=5))])
    shop.update()
    inc = shop.incident("i-cream", "health_safety")
    triage.apply(shop.db, inc["id"], "assign", by="pr-lead", assignee="张三")
    later = NOW + timedelta(days=15)
    report = shop.update(later)
    assert report.closed == [inc["id"]]
    closed = shop.incident("i-cream", "health_safety")
    assert closed["state"] == "resolved" and closed["updated_by"] == "system"
    assert shop.queue(now=later) == []
    shop.ingest([row("i-cream", "又一个过敏的，孩子脸肿了", later - timedelta(hours=1))])
    report = shop.update(later)
    assert report.reopened == [inc["id"]] and report.opened == []
    reopened = shop.incident("i-cream", "health_safety")
    assert reopened["id"] == inc["id"] and reopened["state"] == "new" and reopened["assignee"] == "张三"
    assert reopened["size"] == 2 and reopened["first_seen"] == closed["first_seen"]
    assert datetime.fromisoformat(reopened["due_at"]) == later  # one hour after the new evidence began
    actions = [(h["by"], h["action"], h["to_state"]) for h in triage.history(shop.db, f"incident:{inc['id']}")]
    assert actions == [("system", "opened", "new"), ("pr-lead", "assign", "acknowledged"),
                       ("system", "resolve", "resolved"), ("system", "reopen", "new")]
    assert "无新证据 14 天" in triage.history(shop.db, f"incident:{inc['id']}")[2]["note"]


def test_an_ignored_incident_grows_silently(shop: Any) -> None:
    shop.ingest(background() + [row("i-cream", "用了过敏，脸上起红疹", NOW - timedelta(hours=5))])
    shop.update()
    inc = shop.incident("i-cream", "health_safety")
    triage.apply(shop.db, inc["id"], "ignore", by="pr-lead", note="同一买家重复")
    shop.ingest([row("i-cream", "也过敏了", NOW - timedelta(hours=1))])
    report = shop.update()
    assert report.reopened == [] and shop.incident("i-cream", "health_safety")["state"] == "ignored"
    assert shop.incident("i-cream", "health_safety")["size"] == 2 and shop.queue() == []


def test_size_and_speed_raise_the_severity(shop: Any, db_path: Path) -> None:
    """quality.defect is medium; five defects within 24 hours raise it a step (grow_day_count 5)."""
    shop.ingest(background() + [row("i-cup", f"质量太差，坏了（{k}）", NOW - timedelta(hours=20 - k))
                                for k in range(4)])
    shop.update()
    inc = shop.incident("i-cup", "quality")
    assert inc["severity"] == "medium"
    shop.ingest([row("i-cup", "又坏了一个，质量太差", NOW - timedelta(hours=1))])
    report = shop.update()
    raised = shop.incident("i-cup", "quality")
    assert report.raised == [inc["id"]] and raised["severity"] == "high"
    assert datetime.fromisoformat(raised["due_at"]) - datetime.fromisoformat(raised["due_from"]) == timedelta(hours=4)
    notes = [h["note"] for h in triage.history(shop.db, f"incident:{inc['id']}") if h["action"] == "severity"]
    assert notes and "中 → 高" in notes[0]


def test_a_back_fill_of_old_evidence_makes_resolved_incidents_not_a_queue(shop: Any) -> None:
    old = NOW - timedelta(days=40)
    shop.ingest(background(days=60) + [row("i-food", "发霉了", old), row("i-food", "也发霉了", old + timedelta(hours=2))])
    report = shop.update()
    assert report.opened == [] and report.backfilled == 1
    inc = shop.incident("i-food", "food_safety")
    assert inc["state"] == "resolved" and shop.queue() == []
    assert triage.history(shop.db, f"incident:{inc['id']}")[-1]["note"] == "证据早于静默期，自动关闭"


def test_duplicate_praise_is_no_incident_but_coordinated_negative_duplicates_are(shop: Any) -> None:
    praise = [row(["i-food", "i-cream", "i-cup"][k % 3], "物流有点慢，东西还可以，总体满意吧",
                  NOW - timedelta(days=k % 6, hours=k), stars=5) for k in range(12)]
    attack = [row("i-cream", "垃圾产品千万别买，用完脸烂了，大家避雷这家店", NOW - timedelta(hours=k + 1),
                  stars=1, nick=f"路人{k}") for k in range(4)]
    shop.ingest(background() + praise + attack)
    shop.update()
    queue = shop.queue()
    cats = {(i["item_id"], i["category"]) for i in queue}
    assert ("i-cream", "review_manipulation") in cats
    manip = shop.incident("i-cream", "review_manipulation")
    assert manip["owners"] == ["pr"] and manip["kind"] == "manipulation" and manip["size"] >= 4
    praise_texts = {r["id"] for r in shop.db.query("SELECT id FROM documents WHERE text LIKE '物流有点慢%'")}
    members = {r["document_id"] for r in shop.db.query("SELECT document_id FROM incident_members")}
    assert not praise_texts & members


def test_a_burst_of_identical_praise_on_one_item_is_a_manipulation_risk(shop: Any) -> None:
    burst = [row("i-cup", "宝贝收到了非常满意，质量很棒推荐购买", NOW - timedelta(hours=k * 3), stars=5, nick=f"刷{k}")
             for k in range(8)]
    shop.ingest(background(per_day=3) + burst)
    shop.update()
    inc = shop.incident("i-cup", "review_manipulation")
    assert inc["owners"] == ["pr"] and inc["size"] == 8
    assert inc["severity"] == "medium"  # speed raises rule incidents only: a burst carries its own severity
    assert json.loads(shop.db.execute(
        "SELECT meta FROM incidents WHERE id = ?", [inc["id"]]).fetchone()[0])["manipulation"] == "praise_burst"


def test_a_spike_without_a_rule_is_its_own_incident(shop: Any) -> None:
    shop.ingest(background() + [row("i-cup", f"这次买的太失望了，跟上次差远了（{k}）", NOW - timedelta(hours=k + 1))
                                for k in range(8)])
    shop.update()
    spikes = [i for i in shop.queue() if i["category"] == "spike"]
    assert len(spikes) == 1 and spikes[0]["item_id"] == "i-cup" and spikes[0]["size"] == 8
    assert "差评激增" in spikes[0]["title"]


def test_a_spike_on_an_item_known_only_by_its_title(shop: Any) -> None:
    """An export without item ids: the item is its title, and its spike is found all the same."""
    def titled(text: str, at: datetime, stars: int) -> str:
        return row("i-cup", text, at, stars=stars).replace(",i-cup,", ",,", 1)

    rows = [titled(PRAISE[(d + k) % len(PRAISE)] + f"（{d}-{k}）", NOW - timedelta(days=d, hours=k), 5)
            for d in range(30, 0, -1) for k in range(2)]
    rows += [titled(f"这次买的太失望了，跟上次差远了（{k}）", NOW - timedelta(hours=k + 1), 1) for k in range(8)]
    shop.ingest(rows)
    assert shop.db.execute("SELECT count(*) FROM documents WHERE item_id IS NULL").fetchone()[0] == len(rows)
    shop.update()
    spikes = [i for i in shop.queue() if i["category"] == "spike"]
    assert len(spikes) == 1 and spikes[0]["size"] == 8 and spikes[0]["item_title"] == "保温杯 500ml"


def test_a_cycle_reads_only_what_was_analyzed_since_the_last(shop: Any) -> None:
    shop.ingest(background())
    first = shop.update()
    assert first.documents == 180 and first.days_recounted == 30
    cursor = int(shop.db.execute("SELECT value FROM engine_state WHERE key = ?", [CURSOR]).fetchone()[0])
    shop.ingest([row("i-food", "发霉了", NOW - timedelta(hours=1))])
    second = shop.update()
    assert second.documents == 1 and second.days_recounted == 1
    assert int(shop.db.execute("SELECT value FROM engine_state WHERE key = ?", [CURSOR]).fetchone()[0]) == cursor + 1


def busy_back_fill() -> list[str]:
    """A back-fill of 45 days on three items: steady complaints, bursts, critical ones."""
    rows = background(days=45)
    for d in range(45, 0, -1):
        for k, item in enumerate(("i-cup", "i-food", "i-cream")):
            rows.append(row(item, f"物流太慢了，等了好几天（{d}-{k}）", NOW - timedelta(days=d, hours=3 + k), stars=3))
            if d % 9 == k:
                rows += [row(item, f"用了两天就坏了，质量太差（{d}-{k}-{j}）", NOW - timedelta(days=d, hours=j))
                         for j in range(4)]
    rows.append(row("i-food", "打开就发霉了，全是绿毛", NOW - timedelta(days=2)))
    rows += [row("i-cup", f"快递太慢了，一周还没到（{k}）", NOW - timedelta(hours=10 - k / 2)) for k in range(12)]
    return rows


def test_a_back_fill_reads_each_category_once_with_the_same_result(shop: Any, monkeypatch: Any) -> None:
    """The hits of a category are read in one query for all its items; the incidents are exactly
    those of one query per item."""
    from sentiment.signals import incidents

    shop.ingest(busy_back_fill())
    statements: list[str] = []
    shop.db.conn.set_trace_callback(statements.append)
    shop.update()
    shop.db.conn.set_trace_callback(None)
    per_item = [s for s in statements if "FROM rule_hits h JOIN documents d" in s and "GROUP BY d.id" in s]
    categories = {r[0] for r in shop.db.execute("SELECT DISTINCT category FROM rule_hits")}
    assert len(categories) >= 2 and len(per_item) <= len(categories)

    def snapshot() -> list[tuple]:
        return [tuple(r) for r in shop.db.execute(
            "SELECT i.id, i.size, i.severity, i.first_seen, i.last_seen, t.state FROM incidents i"
            " LEFT JOIN triage t ON t.item_key = 'incident:' || i.id ORDER BY i.id")] + \
            [tuple(r) for r in shop.db.execute("SELECT incident_id, document_id FROM incident_members ORDER BY 1, 2")]

    found = snapshot()
    assert len({r[0] for r in shop.db.execute("SELECT id FROM incidents")}) >= 3
    with shop.db.conn:
        for table in ("incidents", "incident_members", "triage", "triage_log", "signal_days"):
            shop.db.execute(f"DELETE FROM {table}")
        shop.db.execute("DELETE FROM engine_state WHERE key LIKE 'incidents.%'")
    monkeypatch.setattr(incidents, "_CategoryHits", None)  # the per-item query for every piece of evidence
    monkeypatch.setattr(incidents, "_apply_rule_evidence", lambda ctx, found: [incidents._apply(ctx, ev) for ev in found])
    shop.update()
    assert snapshot() == found


def test_triaged_clusters_become_incidents_keeping_state_and_history(tmp_path: Path) -> None:
    """A store from before incidents: two triaged rule clusters of one item and category and an
    untriaged one. The migration makes one incident keeping the latest state and every entry."""
    path = tmp_path / "old.db"
    db = store.open_db(path)
    for table in ("incidents", "incident_members", "signal_days", "engine_state"):
        db[table].drop()
    db.execute("DELETE FROM _migrations WHERE name = '010_incidents'")
    for doc, at in (("d1", "2026-11-01T10:00:00+08:00"), ("d2", "2026-11-20T10:00:00+08:00")):
        db.execute("INSERT INTO documents (id, kind, shop, item_id, item_title, text, created_at) VALUES"
                   " (?, 'review', '', 'i-food', '松子仁', '发霉了', ?)", [doc, at])
    for cid, doc, updated, state in (("c1", "d1", "2026-11-02T00:00:00+00:00", "resolved"),
                                     ("c2", "d2", "2026-11-21T00:00:00+00:00", "in_progress")):
        db.execute("INSERT INTO clusters (id, kind, item_id, item_title, category, severity, title, size,"
                   " first_seen, last_seen, status) VALUES (?, 'rule', 'i-food', '松子仁', 'food_safety',"
                   " 'critical', '食品安全', 1, '2026-11-01', '2026-11-20', 'open')", [cid])
        db.execute("INSERT INTO cluster_members (cluster_id, document_id) VALUES (?, ?)", [cid, doc])
        db.execute("INSERT INTO triage (item_key, kind, state, owner, assignee, updated_at, updated_by) VALUES"
                   " (?, 'cluster', ?, 'cs,pr', ?, ?, 'pr-lead')", [f"cluster:{cid}", state, f"人{cid}", updated])
        db.execute("INSERT INTO triage_log (item_key, at, by, action, from_state, to_state) VALUES"
                   " (?, ?, 'pr-lead', 'ack', 'new', ?)", [f"cluster:{cid}", updated, state])
    db.execute("INSERT INTO clusters (id, kind, item_id, category, size, status) VALUES"
               " ('c3', 'rule', 'i-cup', 'quality', 0, 'closed')")
    db.conn.close()
    db = store.open_db(path)
    [inc] = list(db.query("SELECT * FROM incidents"))
    assert inc["id"] == store.incident_id("", "i-food", "food_safety") and inc["size"] == 2
    assert inc["owners"] == "cs,pr" and json.loads(inc["meta"])["migrated_from"] == ["c1", "c2"]
    [row_] = list(db.query("SELECT * FROM triage"))
    assert (row_["item_key"], row_["state"], row_["assignee"]) == (f"incident:{inc['id']}", "in_progress", "人c2")
    assert [h["to_state"] for h in triage.history(db, f"incident:{inc['id']}")] == ["resolved", "in_progress"]
    assert db.execute("SELECT count(*) FROM triage_log WHERE item_key LIKE 'cluster:%'").fetchone()[0] == 0
