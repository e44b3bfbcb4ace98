"""The full-text index: kept by a cursor (no trigger on documents), updated by the worker's analyze
job, never stale for a search (rows past the cursor are scanned), short terms bounded by date."""
from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from sentiment import store
from sentiment.times import STORED_TZ
from sentiment.reports import search as find
from sentiment.worker.jobs import Jobs
from .web_fixtures import CUP, Shop, make_settings

NOW = datetime.now(STORED_TZ)


def new_shop(db: Any) -> Shop:
    """Writes documents with ids the seeded store does not have."""
    shop = Shop(db, NOW)
    shop.n = 1000
    return shop


def found(db: Any, query: str, **filters: Any) -> list[str]:
    flt = find.prepare(db, find.SearchFilter(text=tuple(find.terms_of(query)), **filters))
    flt, _ = find.bounded(flt, NOW)
    return [r["text"] for r in find.search(db, flt, limit=100)]


def test_no_trigger_on_documents_and_the_index_follows_a_cursor(db: Any) -> None:
    triggers = db.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'").fetchall()
    # only the status counters (one small row each); the search index is never written by a trigger
    assert triggers and all(name.startswith("count_") and find.FTS_TABLE not in sql for name, sql in triggers)
    assert find.has_index(db) and find.indexed_through(db) == 0
    total = db.execute("SELECT count(*) FROM documents").fetchone()[0]
    assert find.update_index(db) == total
    assert find.indexed_through(db) == db.execute("SELECT max(rowid) FROM documents").fetchone()[0]
    assert find.update_index(db) == 0  # nothing new, nothing read
    new_shop(db).doc("新到的杯子盖子拧不紧", 1, item=CUP)
    assert find.update_index(db) == 1
    assert db.execute(f"SELECT count(*) FROM {find.FTS_TABLE} WHERE {find.FTS_TABLE} MATCH '\"拧不紧\"'"
                      ).fetchone()[0] == 1


def test_the_index_grows_in_batches(db: Any, monkeypatch: Any) -> None:
    monkeypatch.setattr(find, "BATCH", 7)
    total = db.execute("SELECT count(*) FROM documents").fetchone()[0]
    assert find.update_index(db, limit=10) == 10
    assert find.update_index(db) == total - 10


def test_rows_past_the_cursor_are_found_without_the_index(db: Any) -> None:
    find.update_index(db)
    new_shop(db).doc("保温杯的盖子拧不紧漏水", 1, item=CUP)
    flt = find.SearchFilter(text=("拧不紧",), fts=True, through=find.indexed_through(db))
    assert [r["text"] for r in find.search(db, flt)] == ["保温杯的盖子拧不紧漏水"]
    assert found(db, "拧不紧漏水") == ["保温杯的盖子拧不紧漏水"]  # prepare() indexes it first


def test_a_search_does_not_wait_for_a_busy_store(db: Any, settings: Any) -> None:
    writer = sqlite3.connect(str(settings.db), isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    try:
        started = datetime.now()
        assert find.update_index(db, wait=False) == 0
        assert found(db, "哈喇味") == ["打开一股哈喇味，好几颗都发霉了"]  # scanned past the cursor
        assert (datetime.now() - started).total_seconds() < 2
    finally:
        writer.execute("ROLLBACK")
        writer.close()


def test_short_terms_scan_the_last_90_days_unless_dated(db: Any) -> None:
    recent = found(db, "发霉")
    assert len(recent) == 4 and "很久以前的发霉差评" not in recent
    since = NOW - timedelta(days=365)
    assert "很久以前的发霉差评" in found(db, "发霉", since=since)
    assert found(db, "霉 拉肚子") == ["坚果收到就发霉了，吃了拉肚子"]  # mixed: one indexed, one scanned


def test_query_text_is_literal(db: Any) -> None:
    assert found(db, "%") == [] and found(db, "_") == []
    assert found(db, "NEAR(a b)") == [] and found(db, "a* OR b") == [] and found(db, '"x"') == []
    assert found(db, '"') == ['=HYPERLINK("http://x","点我")发霉']
    assert found(db, '=HYPERLINK("http') == ['=HYPERLINK("http://x","点我")发霉']
    assert found(db, "HYPERLINK") == found(db, "hyperlink")  # trigram folds case like LIKE


def test_the_worker_analyze_job_updates_the_index(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    db = store.open_db(settings.db)
    new_shop(db).doc("杯子摔凹了，物流太差", 2, item=CUP)
    jobs = Jobs(settings, lambda: SimpleNamespace(rules=None))
    detail = jobs.analyze(NOW)
    assert detail["search_indexed"] == 1 and find.indexed_through(db) == 1
    assert jobs.analyze(NOW)["search_indexed"] == 0


def test_a_store_without_fts5_trigram_still_searches(db: Any) -> None:
    db.execute(f"DROP TABLE {find.FTS_TABLE}")
    assert not find.has_index(db) and find.update_index(db) == 0
    assert found(db, "哈喇味") == ["打开一股哈喇味，好几颗都发霉了"]


def test_a_search_indexes_a_bounded_slice_and_scans_the_rest(db: Any, monkeypatch: Any) -> None:
    monkeypatch.setattr(find, "INDEX_BEFORE_SEARCH", 5)
    assert found(db, "哈喇味") == ["打开一股哈喇味，好几颗都发霉了"]
    assert 0 < find.indexed_through(db) <= 5
