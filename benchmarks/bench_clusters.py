"""Time `update_clusters` over a store of N documents in the lookback window (default 100,000).

    python benchmarks/bench_clusters.py [--docs 100000] [--db /tmp/bench_clusters.db]

Synthetic history: 30 days, 300 items, ~25% negative, ~8% with a rule hit,
tokens drawn from a small complaint vocabulary, some copy-paste reviews. Prints
the time of a first update (everything opens), a repeated one (nothing changes)
and one after a new batch of 1,000 documents.
"""
from __future__ import annotations

import argparse
import json
import random
import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sentiment import store
from sentiment.signals.clusters import ClusterOptions, ClusterSettings, update_clusters

TZ = ZoneInfo("Asia/Shanghai")
NOW = datetime(2024, 6, 1, 12, 0, tzinfo=TZ)
WORDS = ("拉链 质量 物流 客服 颜色 尺码 味道 包装 破损 发货 退货 褪色 起球 开线 线头 做工 面料 偏小 偏大 "
         "扣子 掉 坏 臭 漏 软 硬 薄 厚 图片 色差 快递 慢 态度 售后 换货 气味 刺鼻 过敏 红肿 瑕疵").split()
PASTES = ("宝贝收到了，质量非常好，做工精细，穿着很舒服，物流也很快，客服态度也很好，五星好评！",
          "非常满意的一次购物，面料柔软舒适，颜色和图片一样，尺码标准，推荐大家购买。")
CATEGORIES = ("quality", "shipping", "service", "safety")


def build(path: Path, n: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    db = store.open_db(path)
    docs, rows, hits = [], [], []
    for i in range(n):
        at = NOW - timedelta(seconds=rng.randrange(29 * 86400))
        created = at.isoformat(timespec="seconds")
        negative = rng.random() < 0.25
        words = rng.sample(WORDS, rng.randint(2, 5))
        paste = rng.random() < 0.01
        text = rng.choice(PASTES) if paste else "，".join(words) + f"#{i}"
        item = f"item{int(rng.paretovariate(1.2)) % 300}"
        doc = {f: None for f in store.DOCUMENT_FIELDS}
        doc.update(id=f"d{i:07d}", source="bench", kind="review", item_id=item, item_title=f"商品{item}",
                   text=text, is_placeholder=0, created_at=created, author=f"u{rng.randrange(50000)}")
        docs.append(doc)
        tokens = [[w, 0, 0] for w in words]
        rows.append({"document_id": doc["id"], "score": 0.1 if negative else 0.9,
                     "label": "negative" if negative else "positive", "tokens": json.dumps(tokens, ensure_ascii=False),
                     "model_version": "b", "rules_version": "b", "analyzed_at": created})
        if negative and rng.random() < 0.33:
            cat = rng.choice(CATEGORIES)
            hits.append({"document_id": doc["id"], "rule_id": f"{cat}.x", "category": cat, "severity": "medium",
                         "terms": "[]", "created_at": created})
    with store.transaction(db):
        store.insert_documents(db, docs)
        store.save_analyses(db, rows, hits)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--docs", type=int, default=100_000)
    parser.add_argument("--db", type=Path, default=Path("/tmp/bench_clusters.db"))
    args = parser.parse_args()
    for suffix in ("", "-wal", "-shm"):
        Path(str(args.db) + suffix).unlink(missing_ok=True)
    t = time.perf_counter()
    build(args.db, args.docs)
    print(f"built {args.docs} documents in {time.perf_counter() - t:.1f}s")
    db = store.open_db(args.db)
    settings = {c: ClusterSettings(window=timedelta(hours=24), min_count=3) for c in CATEGORIES}
    opts = ClusterOptions(tz=TZ)
    for label in ("first update", "same again"):
        t = time.perf_counter()
        report = update_clusters(db, settings, NOW, options=opts)
        print(f"{label}: {time.perf_counter() - t:.2f}s  opened {report.opened} updated {report.updated} "
              f"closed {report.closed} unchanged {report.unchanged}  by kind {report.by_kind}")


if __name__ == "__main__":
    main()
