"""The web console's response times on a big store, through the real server (waitress, loopback).

Builds a store of --incidents open incidents (default 2,000, on 400 items and 5 categories, each
with 5 member documents) and --documents documents over 60 days (analyses with tokens, rule hits),
indexes it for search, then times each page (median of --rounds requests, signed in):
queue, API queue, an incident page, the reply backlog, the dashboard, search with a 3-character
term (index) and a 2-character term (bounded scan), and the CSV download of a search.

    .venv/bin/python benchmarks/bench_web.py [--incidents 2000] [--documents 100000] [--rounds 5]
"""
from __future__ import annotations

import argparse
import http.cookiejar
import json
import random
import re
import statistics
import tempfile
import time
import urllib.parse
import urllib.request
from datetime import datetime, timedelta
from pathlib import Path

from sentiment import store
from sentiment.config import build_settings
from sentiment.times import STORED_TZ
from sentiment.reports import search
from sentiment.web.server import Background
from sentiment.web.users import add_user

WORDS = ["质量", "太差", "快递", "很慢", "发霉", "味道", "不错", "包装", "破损", "客服", "态度", "退款", "保温",
         "漏水", "过敏", "假货", "回购", "好吃", "一般", "物流", "盖子", "拧不紧", "哈喇味", "变质", "划痕"]
CATEGORIES = [("food_safety", "critical"), ("counterfeit", "high"), ("quality", "medium"), ("logistics", "low"),
              ("service", "medium")]


def build(path: Path, n_incidents: int, n_documents: int) -> str:
    rng = random.Random(7)
    now = datetime.now(STORED_TZ)
    db = store.open_db(path)
    docs, analyses, hits = [], [], []
    for i in range(n_documents):
        words = rng.choices(WORDS, k=rng.randint(4, 12))
        text = "，".join(words)
        created = (now - timedelta(minutes=rng.randint(0, 60 * 24 * 60))).isoformat(timespec="seconds")
        label = "negative" if rng.random() < 0.3 else "positive"
        doc = {f: None for f in store.DOCUMENT_FIELDS}
        doc.update(id=f"doc{i:07d}", source="tmall", kind="review", item_id=str(600100000000 + i % 400),
                   item_title=f"商品 {i % 400}", author=f"买家{i % 997}", text=text, text_raw=text, is_placeholder=0,
                   rating=label, created_at=created, meta=json.dumps({"order_id": str(10**18 + i)}))
        docs.append(doc)
        tokens, at = [], 0
        for w in text.split("，"):
            tokens.append([w, at, at + len(w)])
            at += len(w) + 1
        analyses.append({"document_id": doc["id"], "score": 0.1 if label == "negative" else 0.9, "label": label,
                         "tokens": json.dumps(tokens, ensure_ascii=False), "model_version": "b", "rules_version": "b",
                         "analyzed_at": created})
        if label == "negative":
            category, severity = CATEGORIES[i % len(CATEGORIES)]
            hits.append({"document_id": doc["id"], "rule_id": f"{category}.x", "category": category,
                         "severity": severity, "terms": json.dumps([[words[0], 0, len(words[0])]], ensure_ascii=False),
                         "created_at": created})
    with store.transaction(db):
        store.insert_documents(db, docs)
        store.save_analyses(db, analyses, hits)
    opened = now.isoformat(timespec="seconds")
    rows, members = [], []
    for n in range(n_incidents):
        item, (category, severity) = n % 400, CATEGORIES[n // 400 % len(CATEGORIES)]
        iid = store.incident_id("", str(600100000000 + item), category)
        picked = [docs[(n * 5 + k) % n_documents] for k in range(5)]
        stamps = sorted(d["created_at"] for d in picked)
        rows.append({"id": iid, "kind": "rule", "shop": "", "item_key": str(600100000000 + item),
                     "item_id": str(600100000000 + item), "item_title": f"商品 {item}", "category": category,
                     "title": f"{category} · 商品 {item}", "severity": severity, "base_severity": severity, "size": 5,
                     "first_seen": stamps[0], "last_seen": stamps[-1], "opened_at": opened, "due_from": stamps[0],
                     "due_at": (now + timedelta(hours=rng.randint(-48, 48))).isoformat(timespec="seconds"),
                     "owners": "cs,pr", "rules": "{}", "meta": "{}", "alerted_severity": None,
                     "created_at": opened, "updated_at": opened})
        members += [(iid, d["id"], d["created_at"], severity, opened) for d in picked]
    with store.transaction(db):
        db["incidents"].insert_all(rows)
        db.conn.executemany("INSERT OR IGNORE INTO incident_members VALUES (?, ?, ?, ?, ?)", members)
    add_user(db, "bench", "admin", "bench password")
    search.update_index(db)
    first = rows[0]["id"]
    db.conn.close()
    return first


def timed(opener: urllib.request.OpenerDirector, url: str, rounds: int) -> tuple[float, int]:
    times, size = [], 0
    for _ in range(rounds):
        started = time.perf_counter()
        with opener.open(url) as response:
            size = len(response.read())
        times.append(time.perf_counter() - started)
    return statistics.median(times), size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--incidents", type=int, default=2000)
    parser.add_argument("--documents", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=5)
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.db"
        started = time.perf_counter()
        first = build(path, opts.incidents, opts.documents)
        print(f"store: {opts.incidents} incidents, {opts.documents} documents, built and indexed in "
              f"{time.perf_counter() - started:.1f} s")
        settings = build_settings({"store": {"db": str(path)}, "mail": {"outbox_dir": str(Path(tmp) / "outbox")}},
                                  None, {})
        server = Background(settings).start()
        try:
            opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
            page = opener.open(server.url + "/login").read().decode()
            token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
            opener.open(server.url + "/login", urllib.parse.urlencode(
                {"name": "bench", "password": "bench password", "csrf_token": token}).encode()).read()
            q = urllib.parse.quote
            for name, path_ in (("queue (all open incidents)", "/queue?owner="), ("GET /api/triage", "/api/triage"),
                                ("incident page", f"/incidents/{first}"), ("reply backlog", "/unanswered"),
                                ("dashboard", "/dashboard"), ("search, 3 characters (index)", f"/search?q={q('拧不紧')}"),
                                ("search, 2 characters (90-day scan)", f"/search?q={q('漏水')}"),
                                ("search CSV download (3 characters)", f"/search/export.csv?q={q('哈喇味')}")):
                median, size = timed(opener, server.url + path_, opts.rounds)
                print(f"{name:<40} {median * 1000:8.0f} ms  {size / 1024:8.0f} KB")
        finally:
            server.stop()


if __name__ == "__main__":
    main()
