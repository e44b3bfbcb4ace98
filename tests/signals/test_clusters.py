"""Clusters on constructed histories with fixed clocks: rule windows, spikes, topics, duplicates."""
from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Iterable
from zoneinfo import ZoneInfo

import pytest

from sentiment import store
from sentiment.signals.clusters import (
    ClusterOptions,
    ClusterSettings,
    cluster_settings_from_rules,
    daily_counts,
    list_clusters,
    cluster_options,
    parse_since,
    update_clusters,
)
from sentiment.config import build_settings
from sentiment.errors import ConfigError
from sentiment.signals.topics import group_topics, near_groups, text_key

TZ = ZoneInfo("Asia/Shanghai")
T0 = datetime(2024, 5, 20, 9, 0, tzinfo=TZ)
RULES = {"quality": ClusterSettings(window=timedelta(hours=24), min_count=3)}


def opts(*kinds: str, **kw: Any) -> ClusterOptions:
    return ClusterOptions(tz=TZ, kinds=kinds or ClusterOptions.kinds, **kw)


class History:
    """Writes documents, analyses and rule hits with explicit times, as the pipeline would."""

    def __init__(self, path: Path) -> None:
        self.db = store.open_db(path)
        self.n = 0

    def add(self, at: datetime, text: str = "质量不好", *, item: str | None = "A", label: str | None = "negative",
            hits: Iterable[tuple[str, str, str]] = (), placeholder: bool = False, author: str | None = None,
            segment: bool = False, kind: str = "review") -> str:
        self.n += 1
        doc_id = f"d{self.n:05d}"
        created = at.astimezone(TZ).isoformat(timespec="seconds")
        doc = {f: None for f in store.DOCUMENT_FIELDS}
        doc.update(id=doc_id, source="tmall", kind=kind, item_id=item, item_title=f"商品{item}" if item else None,
                   text=text, text_raw=text, is_placeholder=int(placeholder), created_at=created,
                   author=author or f"买家{self.n}")
        tokens: list[Any] = []
        if segment:
            from sentiment.lang.segment import get_segmenter

            tokens = [list(t) for t in get_segmenter().tokenize(text)]
        row = {"document_id": doc_id, "score": 0.1 if label == "negative" else 0.9, "label": label,
               "tokens": json.dumps(tokens, ensure_ascii=False), "model_version": "t", "rules_version": "t",
               "analyzed_at": created}
        rows = [{"document_id": doc_id, "rule_id": rule, "category": cat, "severity": sev,
                 "terms": json.dumps([["质量", 0, 2]], ensure_ascii=False), "created_at": created}
                for rule, cat, sev in hits]
        with store.transaction(self.db):
            store.insert_documents(self.db, [doc])
            store.save_analyses(self.db, [row], rows)
        return doc_id

    def hit(self, at: datetime, severity: str = "medium", rule: str = "quality.bad", **kw: Any) -> str:
        return self.add(at, hits=[(rule, "quality", severity)], **kw)

    def clusters(self, kind: str | None = None) -> list[dict[str, Any]]:
        return list_clusters(self.db, kind=kind, tz=TZ)

    def snapshot(self) -> tuple[list[tuple], list[tuple]]:
        return (self.db.execute("SELECT * FROM clusters ORDER BY id").fetchall(),
                self.db.execute("SELECT * FROM cluster_members ORDER BY cluster_id, document_id").fetchall())

    def members(self, cluster_id: str) -> list[str]:
        return [r[0] for r in self.db.execute(
            "SELECT document_id FROM cluster_members WHERE cluster_id = ? ORDER BY document_id", [cluster_id])]


@pytest.fixture
def h(db_path: Path) -> History:
    return History(db_path)


def hours(n: float) -> timedelta:
    return timedelta(hours=n)


# -- rule clusters ---------------------------------------------------------------
def test_rule_cluster_opens_exactly_at_min_count(h: History) -> None:
    h.hit(T0)
    h.hit(T0 + hours(1), placeholder=True)  # placeholders never count
    h.hit(T0 + hours(10))
    report = update_clusters(h.db, RULES, T0 + hours(11), options=opts("rule"))
    assert report.opened == 0 and h.clusters() == []

    third = h.hit(T0 + hours(20), severity="high", rule="quality.broken")
    report = update_clusters(h.db, RULES, T0 + hours(21), options=opts("rule"))
    assert report.opened == 1 and report.members_added == 3
    [c] = h.clusters("rule")
    assert (c["item_id"], c["category"], c["size"]) == ("A", "quality", 3)
    assert c["first_seen"] == "2024-05-20T09:00:00+08:00" and c["last_seen"] == "2024-05-21T05:00:00+08:00"
    assert c["severity"] == "high"  # the highest of its members' hits
    assert c["rule_id"] == "quality.bad"  # the rule with most hits
    assert c["examples"][0] == "质量不好" and c["example_ids"][0] == third
    assert len(c["examples"]) == 3


def test_hits_wider_than_window_or_on_other_items_do_not_cluster(h: History) -> None:
    for n in range(4):  # each hit within 24h of the previous one, but never 3 within 24h
        h.hit(T0 + hours(20 * n))
    h.hit(T0 + hours(65), item="B")
    h.hit(T0 + hours(66), item=None)  # no item id or title: its own "unknown" group
    update_clusters(h.db, RULES, T0 + hours(70), options=opts("rule"))
    assert h.clusters() == []


def test_rule_cluster_grows_within_window_of_last_member_and_keeps_its_id(h: History) -> None:
    for n in (0, 10, 20):
        h.hit(T0 + hours(n))
    update_clusters(h.db, RULES, T0 + hours(21), options=opts("rule"))
    [before] = h.clusters()
    late = h.hit(T0 + hours(43))  # 23h after the last member, 43h after the first
    report = update_clusters(h.db, RULES, T0 + hours(44), since=T0 + hours(42), options=opts("rule"))
    assert (report.opened, report.updated, report.members_added) == (0, 1, 1)
    [after] = h.clusters()
    assert after["id"] == before["id"] and after["size"] == 4
    assert late in h.members(after["id"])
    h.hit(T0 + hours(43 + 25))  # too late to join, and alone: no new cluster
    update_clusters(h.db, RULES, T0 + hours(70), options=opts("rule"))
    assert [(c["id"], c["size"]) for c in h.clusters()] == [(before["id"], 4)]


def test_cluster_straddling_the_lookback_horizon_keeps_its_id(h: History) -> None:
    for n in (0, 10, 20):
        h.hit(T0 + hours(n))
    update_clusters(h.db, RULES, T0 + hours(21), options=opts("rule"))
    [c] = h.clusters()
    later = T0 + timedelta(days=30, hours=15)  # horizon now between the first and the last member
    report = update_clusters(h.db, RULES, later, options=opts("rule"))
    assert (report.opened, report.closed, report.unchanged) == (0, 0, 1)
    assert [(x["id"], x["size"]) for x in h.clusters()] == [(c["id"], 3)]


def test_update_is_idempotent_for_every_kind(h: History) -> None:
    for n in (0, 5, 10):
        h.hit(T0 + hours(n))
    for n in range(4):
        h.add(T0 + hours(n), f"拉链坏了第{n}次", segment=True)
    for n in range(3):
        h.add(T0 + hours(n), "宝贝收到了，质量非常好，物流也很快，好评！", label="positive")
    first = update_clusters(h.db, RULES, T0 + hours(12), options=opts())
    assert {k for k, v in first.by_kind.items() if v["opened"]} == {"rule", "topic", "duplicate"}
    snap = h.snapshot()
    again = update_clusters(h.db, RULES, T0 + hours(12), options=opts())
    assert (again.opened, again.updated, again.closed, again.members_added, again.members_removed) == (0,) * 5
    assert again.unchanged == first.opened
    assert h.snapshot() == snap


def test_cluster_that_loses_members_is_closed_and_reopens_under_same_id(h: History) -> None:
    ids = [h.hit(T0 + hours(n)) for n in (0, 5, 10)]
    update_clusters(h.db, RULES, T0 + hours(12), options=opts("rule"))
    [c] = h.clusters()
    with store.transaction(h.db):  # a rescan after a rule change: the middle document no longer hits
        store.save_analyses(h.db, [{"document_id": ids[1], "score": 0.1, "label": "negative", "tokens": "[]",
                                    "model_version": "t", "rules_version": "t2", "analyzed_at": "x"}], [])
    report = update_clusters(h.db, RULES, T0 + hours(12), options=opts("rule"))
    assert report.closed == 1 and report.closed_ids == [c["id"]] and report.members_removed == 3
    assert h.clusters() == []
    [closed] = list_clusters(h.db, include_closed=True, tz=TZ)
    assert closed["status"] == "closed" and closed["size"] == 0 and h.members(c["id"]) == []
    h.hit(T0 + hours(11))
    report = update_clusters(h.db, RULES, T0 + hours(12), options=opts("rule"))
    assert report.opened_ids == [c["id"]]
    assert h.clusters()[0]["status"] == "open"


def test_category_without_settings_uses_default_min_count(h: History) -> None:
    h.add(T0, hits=[("ship.slow", "shipping", "low")])
    update_clusters(h.db, RULES, T0 + hours(1), options=opts("rule"))
    [c] = h.clusters()
    assert (c["category"], c["size"], c["severity"]) == ("shipping", 1, "low")


def test_cluster_settings_from_rules_uses_duck_typing() -> None:
    rules = [SimpleNamespace(category="food", window=timedelta(hours=6), min_count=3),
             SimpleNamespace(category="food", window=timedelta(hours=48), min_count=2),
             SimpleNamespace(category="pr", window=timedelta(hours=24), min_count=1)]
    settings = cluster_settings_from_rules(SimpleNamespace(rules=tuple(rules)))
    assert settings["food"].window == timedelta(hours=48) and settings["food"].min_count == 2
    assert settings["pr"].min_count == 1 and list(settings) == ["food", "pr"]


# -- spikes --------------------------------------------------------------------------
DAY = datetime(2024, 5, 20, 0, 30, tzinfo=TZ)  # 00:30 local is still 5-19 in UTC


def _history(h: History, item: str, negatives: list[int], total: int) -> None:
    """One day per entry, oldest first, ending on DAY; `total` (<= 130) labeled documents a day."""
    for back, neg in enumerate(reversed(negatives)):
        day = DAY - timedelta(days=back)
        for n in range(max(total, neg)):
            h.add(day + timedelta(minutes=10 * n), item=item, label="negative" if n < neg else "positive")


def test_spikes_flag_a_busy_item_but_not_a_quiet_or_steady_one(h: History) -> None:
    _history(h, "busy", [2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 12], total=20)
    _history(h, "steady", [10] * 15, total=30)
    _history(h, "quiet", [0] * 14 + [1], total=1)
    _history(h, "new", [4], total=4)  # below the minimum count of 5, even with no baseline
    now = DAY + hours(20)
    report = update_clusters(h.db, {}, now, options=opts("spike"))
    [spike] = h.clusters("spike")
    assert report.opened == 1 and spike["item_id"] == "busy" and spike["size"] == 12
    meta = spike["meta"]
    assert meta["day"] == "2024-05-20" and meta["count"] == 12 and meta["total"] == 20
    assert meta["baseline_mean"] == pytest.approx(2.5) and meta["baseline_std"] == pytest.approx(0.5)
    assert "count" in meta["reasons"] and spike["severity"] == "high"
    # members are exactly that local day's negatives (the 00:30 ones included)
    assert spike["first_seen"] == "2024-05-20T00:30:00+08:00"
    again = update_clusters(h.db, {}, now, options=opts("spike"))
    assert again.opened == again.updated == 0 and h.clusters("spike")[0]["id"] == spike["id"]


def test_spike_threshold_uses_k_and_floor(h: History) -> None:
    _history(h, "busy", [2] * 14 + [5], total=20)  # std 0 -> limit 2 + 3 * floor 1 = 5: not above
    now = DAY + hours(20)
    update_clusters(h.db, {}, now, options=opts("spike"))
    assert h.clusters("spike") == []
    update_clusters(h.db, {}, now, options=opts("spike", spike_k=2.0))  # limit 4: flagged
    assert [c["meta"]["count_limit"] for c in h.clusters("spike")] == [4.0]


def test_spike_on_share_with_the_same_minimum_count(h: History) -> None:
    # 5 negatives a day, but today out of 6 documents instead of 100
    _history(h, "shop", [5] * 14, total=100)
    for n in range(6):
        h.add(DAY + hours(30) + timedelta(minutes=n), item="shop", label="negative" if n < 5 else "positive")
    update_clusters(h.db, {}, DAY + hours(40), options=opts("spike"))
    [spike] = h.clusters("spike")
    assert spike["meta"]["reasons"] == ["share"] and spike["meta"]["day"] == "2024-05-21"


def test_daily_counts_follow_the_timezone_across_dst(h: History) -> None:
    ny = ZoneInfo("America/New_York")  # DST starts 2024-03-10: no fixed offset, slow path
    h.add(datetime(2024, 3, 9, 23, 30, tzinfo=ny), item="x")
    h.add(datetime(2024, 3, 10, 23, 30, tzinfo=ny), item="x")
    counts, _ = daily_counts(h.db, ny, datetime(2024, 3, 1, tzinfo=ny), datetime(2024, 3, 12, tzinfo=ny))
    assert sorted(counts["x"]) == [datetime(2024, 3, 9).date(), datetime(2024, 3, 10).date()]


# -- emergent topics -----------------------------------------------------------------
ZIPPER = ["拉链坏了，拉不上", "拉链用了两天就坏了", "拉链卡住了拉不动，太失望", "拉链质量很差一拉就坏"]
OTHER = ["物流太慢了等了一周", "颜色和图片差别很大", "尺码偏小穿不上", "客服态度很差不理人",
         "味道很大放了好几天", "包装破损盒子压扁了", "扣子掉了一颗", "线头很多做工粗糙"]


def test_emergent_topic_groups_unmatched_zipper_complaints(h: History) -> None:
    zipper = [h.add(T0 + hours(n), text, item=f"I{n % 2}", segment=True) for n, text in enumerate(ZIPPER)]
    for n, text in enumerate(OTHER):
        h.add(T0 + hours(5 + n), text, segment=True)
    h.add(T0 + hours(20), "拉链坏了，拉不上", hits=[("quality.zip", "quality", "medium")], segment=True)
    h.add(T0 + hours(21), "拉链很顺滑，没有坏", label="positive", segment=True)
    h.add(T0 - timedelta(days=40), "拉链坏了", segment=True)  # outside the lookback
    report = update_clusters(h.db, RULES, T0 + hours(22), options=opts("topic"))
    [topic] = h.clusters("topic")
    assert report.opened == 1 and h.members(topic["id"]) == sorted(zipper)
    assert topic["title"].split("、")[0] == "拉链" and topic["meta"]["keywords"][0] == "拉链"
    assert topic["item_id"] is None  # members span two items

    # a fifth variant joins the same topic (same id) on the next run
    fifth = h.add(T0 + hours(23), "拉链又坏了", segment=True)
    report = update_clusters(h.db, RULES, T0 + hours(24), options=opts("topic"))
    assert report.updated == 1 and report.opened == 0
    assert h.members(topic["id"]) == sorted([*zipper, fifth])


def test_group_topics_is_deterministic_and_needs_min_size() -> None:
    docs = [["拉链", "坏"], ["拉链", "坏", "两天"], ["物流", "慢"], ["颜色", "图片"], ["拉链", "卡住"]]
    groups, _ = group_topics(docs, 0.25, 3)
    assert groups == [[0, 1, 4]] and group_topics(docs, 0.25, 3)[0] == groups
    assert group_topics(docs, 0.25, 4)[0] == []


# -- near-duplicates -------------------------------------------------------------------
PASTE = "宝贝收到了，质量非常好，做工精细，穿着很舒服，物流也很快，客服态度也很好，五星好评！"


def test_copy_paste_reviews_are_grouped(h: History) -> None:
    same = [h.add(T0, PASTE, label="positive", author="a**1"),
            h.add(T0 + hours(1), PASTE.replace("，", " "), item="B", label="positive", author="b**2"),
            h.add(T0 + hours(2), PASTE.replace("！", "!!"), label="positive", author="c**3"),
            h.add(T0 + hours(3), PASTE.replace("五星", "五颗星"), label="positive", author="a**1")]  # near
    h.add(T0 + hours(4), "质量一般，物流慢，包装也破了，不推荐购买", label="negative")
    for n in range(3):  # too short to say anything
        h.add(T0 + hours(5 + n), "很好很好！", label="positive")
    h.add(T0 + hours(6), PASTE, kind="question")  # only reviews count
    h.add(T0 + hours(6), PASTE, placeholder=True)
    update_clusters(h.db, RULES, T0 + hours(8), options=opts("duplicate"))
    [dup] = h.clusters("duplicate")
    assert h.members(dup["id"]) == sorted(same)
    assert dup["title"] == PASTE[:30] and dup["meta"]["distinct_authors"] == 3
    assert dup["meta"]["distinct_texts"] == 2 and dup["item_id"] is None


def test_near_groups_use_jaccard_threshold() -> None:
    keys = [text_key(t) for t in (PASTE, PASTE.replace("五星", "五颗星"),  # Jaccard 0.86
                                  PASTE.replace("非常", "特别"),  # 0.78: below the threshold
                                  "质量一般物流慢包装也破了不推荐购买", "宝贝收到了质量一般物流很慢差评")]
    assert near_groups(keys, 0.8) == [[0, 1]]
    assert near_groups(keys, 0.75) == [[0, 1, 2]]
    assert text_key("好 评！，OK") == "好评ok"


# -- options, since, CLI -----------------------------------------------------------------
def test_cluster_options_validate_and_name_the_key() -> None:
    settings = build_settings({"general": {"timezone": "Europe/Berlin"},
                               "clusters": {"spike_k": 2.5, "topic_min_size": 4, "kinds": ["rule"]}}, None, {})
    o = cluster_options(settings)
    assert (o.spike_k, o.topic_min_size, o.kinds, o.tz) == (2.5, 4, ("rule",), ZoneInfo("Europe/Berlin"))
    assert cluster_options(replace(settings, timezone="Asia/Shanghai")).tz == TZ
    for bad, key in (({"spike_k": "x"}, "spike_k"), ({"topic_min_size": 1.5}, "topic_min_size"),
                     ({"lookback": 3}, "lookback"), ({"kinds": ["nope"]}, "kinds")):
        with pytest.raises(ConfigError, match=key):  # refused when the settings load
            build_settings({"clusters": bad}, None, {})


def test_parse_since() -> None:
    now = datetime(2024, 5, 20, 12, 0, tzinfo=TZ)
    assert parse_since("7d", now, TZ) == now - timedelta(days=7)
    assert parse_since("2024-05-01", now, TZ) == datetime(2024, 5, 1, tzinfo=TZ)
    assert parse_since("2024-05-01T08:00:00+00:00", now, TZ).hour == 8
    with pytest.raises(ValueError, match="not a date"):
        parse_since("yesterday", now, TZ)


def test_cli_lists_clusters_as_json(h: History, run_cli: Any) -> None:
    for n in (0, 5, 10):
        h.hit(T0 + hours(n))
    for n in range(3):
        h.add(T0 + hours(n), PASTE, label="positive")
    update_clusters(h.db, RULES, T0 + hours(12), options=opts())
    result, data = run_cli.json("clusters")
    assert result.exit_code == 0 and data["count"] == 2
    row = data["clusters"][0]
    for key in ("id", "kind", "item_id", "item_title", "category", "severity", "size", "first_seen",
                "last_seen", "title", "examples"):
        assert key in row
    assert {c["kind"] for c in data["clusters"]} == {"rule", "duplicate"}
    _, only = run_cli.json("clusters", "--kind", "rule", "--since", "2024-05-20")
    assert [c["size"] for c in only["clusters"]] == [3] and only["clusters"][0]["examples"] == ["质量不好"] * 3
    _, none = run_cli.json("clusters", "--since", "2024-06-01")
    assert none["count"] == 0
    text = run_cli("clusters", "--kind", "rule")
    assert "quality" in text.stdout and "· 质量不好" in text.stdout
    bad = run_cli("clusters", "--since", "someday")
    assert bad.exit_code == 2 and "--since" in bad.stderr


def test_cli_update_recomputes_with_the_configured_rules(h: History, run_cli: Any) -> None:
    recent = datetime.now(TZ) - hours(2)
    h.add(recent, hits=[("food_safety.mold", "food_safety", "critical")])  # bundled: min_count 1
    result, data = run_cli.json("clusters", "--update")
    assert result.exit_code == 0 and data["update"]["by_kind"]["rule"]["opened"] >= 1
    assert [c["category"] for c in data["clusters"] if c["kind"] == "rule"] == ["food_safety"]
    _, again = run_cli.json("clusters", "--update")
    assert again["update"]["opened"] == again["update"]["closed"] == 0


def test_cli_without_database_is_an_error(run_cli: Any) -> None:
    result = run_cli("clusters")
    assert result.exit_code == 1 and result.stderr.startswith("Error: database")


def test_proposed_migration_applies_and_is_used(h: History) -> None:
    from sentiment.signals.clusters import _m006_cluster_indexes

    with store.transaction(h.db):
        _m006_cluster_indexes(h.db)
    assert "idx_rule_hits_created_at" in {i.name for i in h.db["rule_hits"].indexes}
    plan = " ".join(str(r) for r in h.db.execute(
        "EXPLAIN QUERY PLAN SELECT document_id FROM rule_hits WHERE created_at >= ? AND created_at <= ?",
        ["a", "b"]))
    assert "idx_rule_hits_created_at" in plan
    for n in (0, 5, 10):
        h.hit(T0 + hours(n))
    assert update_clusters(h.db, RULES, T0 + hours(12), options=opts("rule")).opened == 1


def test_options_replace_keeps_frozen_defaults() -> None:
    o = replace(ClusterOptions(), spike_k=1.0)
    assert o.spike_min_count == 5 and o.lookback_days == 30 and o.topic_max_docs == 5000
