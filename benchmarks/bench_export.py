"""`sentiment export` in flat memory: time and peak RSS for stores of growing size.

Builds a store of N documents per size (synthetic Tmall reviews from gen_reviews.py, with
scores, ~30% negative labels, rule hits on the negatives and cluster memberships, inserted
through `sentiment.store` functions; analysis is not what is measured), then runs
`sentiment export` once per format in a child process and reads that child's peak RSS
(resource.getrusage(RUSAGE_CHILDREN) after it exits). Flat memory: the peak does not grow
with N.

    .venv/bin/python benchmarks/bench_export.py [--sizes 100000,300000] [--formats csv,xlsx]
"""
from __future__ import annotations

import argparse
import hashlib
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from gen_reviews import review  # noqa: E402

CATEGORIES = [("quality.broken", "quality"), ("logistics.slow", "logistics"), ("service.attitude", "service"),
              ("escalation.regulator", "escalation"), ("counterfeit.fake", "counterfeit")]
BATCH = 5000


def documents(rng: random.Random, start: int, n: int) -> list[dict[str, Any]]:
    docs = []
    for i in range(start, start + n):
        (_, item, title, text, _, stars, date, sku, author, reply, order) = review(rng, i)
        docs.append({
            "id": hashlib.sha1(f"bench:{i}".encode()).hexdigest(), "source": "csv", "kind": "review",
            "item_id": item, "item_title": title, "sku": sku, "author": author,
            "rating": "negative" if int(stars) <= 2 else "positive", "text_raw": text, "text": text,
            "is_placeholder": 0, "created_at": date.replace(" ", "T") + "+08:00", "seller_reply": reply or None,
            "meta": f'{{"order_id": "{order}"}}', "ingested_at": "2026-11-25T00:00:00+00:00", "batch_id": 1,
        })
    return docs


def build_store(path: Path, n: int) -> float:
    from sentiment import store

    started = time.perf_counter()
    db = store.open_db(path)
    rng = random.Random(20261125)
    for start in range(0, n, BATCH):
        docs = documents(rng, start, min(BATCH, n - start))
        rows, hits, members = [], [], []
        for doc in docs:
            negative = doc["rating"] == "negative"
            score = rng.uniform(0.0, 0.35) if negative else rng.uniform(0.6, 1.0)
            rows.append({"document_id": doc["id"], "score": score, "label": "negative" if negative else "positive",
                         "tokens": None, "model_version": "bench", "rules_version": "bench",
                         "analyzed_at": "2026-11-25T00:00:00+00:00"})
            if negative:
                for rule_id, category in rng.sample(CATEGORIES, rng.randint(1, 2)):
                    hits.append({"document_id": doc["id"], "rule_id": rule_id, "category": category,
                                 "severity": "high", "terms": "[]", "created_at": doc["created_at"]})
                members.append([f"cluster{doc['item_id']}", doc["id"]])
        with store.transaction(db):
            store.insert_documents(db, docs)
            store.save_analyses(db, rows, hits)
            db.conn.executemany("INSERT OR IGNORE INTO cluster_members (cluster_id, document_id) VALUES (?, ?)",
                                members)
    db.conn.close()
    return time.perf_counter() - started


def measure(db: Path, out: Path) -> tuple[float, float, str]:
    """(seconds, peak RSS MB of the export process, its JSON summary). Each call is the only child
    running, and RUSAGE_CHILDREN keeps the maximum over children: run sizes in increasing order
    in fresh interpreters (see main) so one reading is one export."""
    code = ("import sys, resource; from sentiment.cli import cli; "
            "sys.argv = ['sentiment', '--db', sys.argv[1], 'export', sys.argv[2], '--json'];"
            "cli(prog_name='sentiment')")
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code, str(db), str(out)], capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(done.stderr)
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return seconds, peak_kb / 1024, done.stdout


def one(size: int, fmt: str, folder: Path) -> None:
    db = folder / f"s{size}.db"
    if not db.exists():
        print(f"store: {size:,} documents built in {build_store(db, size):.1f} s", flush=True)
    out = folder / f"out{size}.{fmt}"
    seconds, peak_mb, _ = measure(db, out)
    print(f"export {fmt:<4} {size:>9,} documents: {seconds:6.1f} s ({size / seconds:,.0f} docs/s), "
          f"peak RSS {peak_mb:6.1f} MB, file {out.stat().st_size / 2**20:.1f} MB", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="100000,300000")
    parser.add_argument("--formats", default="csv,xlsx")
    parser.add_argument("--one", nargs=3, metavar=("SIZE", "FORMAT", "DIR"), help=argparse.SUPPRESS)
    opts = parser.parse_args()
    if opts.one:  # one measurement in a fresh interpreter: RUSAGE_CHILDREN then holds only this export
        one(int(opts.one[0]), opts.one[1], Path(opts.one[2]))
        return
    with tempfile.TemporaryDirectory() as tmp:
        for size in (int(s) for s in opts.sizes.split(",")):
            for fmt in opts.formats.split(","):
                subprocess.run([sys.executable, __file__, "--one", str(size), fmt, tmp], check=True)


if __name__ == "__main__":
    main()
