"""Peak memory and time of `sentiment model train --from-db` (issue "Analyst tools", item 4).

Builds a store of --rows rated reviews (texts and stars from gen_reviews.py, 30% negative,
inserted directly into `documents`, cached under --dir), then runs in fresh processes and
prints each one's peak RSS (ru_maxrss):

  read-old  the former reading, kept here as the baseline: every rated text at once, then sampled
  read-new  store.rated_rowids + training.balanced_ids + store.labeled_texts: rowids by cursor, seeded sample, chosen texts in chunks
  train     the whole CLI: sentiment --db STORE model train --from-db [--base B] --json

    .venv/bin/python benchmarks/bench_train.py --rows 100000 300000 [--base builtin|none] [--skip-train]

Measured on the 2-core VM (--base builtin, --holdout 0.2; synthetic texts of ~40 characters):
store 100k -> 47,878 training texts: 678 MB peak (1,624 MB before), 22 s;
store 300k -> 143,050 training texts: 1,109 MB peak (2,644 MB before), 37 s.
Reading alone is 87 / 154 MB (103 / 198 MB before): the fit, not the store, sets the peak,
at ~4.5 KB a training text on top of ~460 MB (the builtin-corpus fit and the libraries).
"""
from __future__ import annotations

import argparse
import json
import random
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from gen_reviews import review  # noqa: E402

CHILD = r"""
import json, resource, sys, time
mode, db_path = sys.argv[1], sys.argv[2]
start = time.perf_counter()
from sentiment import store
from sentiment.model import training
db = store.open_db(db_path, create=False)
if mode == "read-old":
    import random
    rows = db.execute("SELECT text, rating FROM documents WHERE " + store.RATED_WHERE + " ORDER BY id").fetchall()
    pos, neg = [t for t, r in rows if r == "positive"], [t for t, r in rows if r == "negative"]
    size, rng = min(len(pos), len(neg)), random.Random(20261125)
    texts = sorted(rng.sample(pos, size)) + sorted(rng.sample(neg, size))
    labels = [1] * size + [0] * size
else:
    texts, labels = store.labeled_texts(db, *training.balanced_ids(*store.rated_rowids(db)))
print(json.dumps({"examples": len(texts), "seconds": round(time.perf_counter() - start, 1),
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024}))
"""

CLI = r"""
import resource, sys
from sentiment.cli import main
sys.argv = ["sentiment", *sys.argv[1:]]
try:
    main()
finally:
    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024, file=sys.stderr)
"""


def build_store(path: Path, rows: int) -> Path:
    if path.exists():
        return path
    from sentiment import store

    tmp = path.with_suffix(".tmp")
    tmp.unlink(missing_ok=True)
    store.open_db(tmp, create=True).conn.close()
    rng = random.Random(20261206)
    conn = sqlite3.connect(tmp)
    with conn:
        batch = []
        for i in range(rows):
            r = review(rng, i)
            stars = int(r[5])
            rating = "negative" if stars <= 2 else "positive"
            batch.append((f"b{i:09d}", "csv", "review", r[0], r[1], r[3], r[3], rating,
                          f"2026-{1 + i % 11:02d}-{1 + i % 28:02d}T10:00:00+08:00"))
            if len(batch) == 10000:
                conn.executemany("INSERT INTO documents (id, source, kind, external_id, item_id, text_raw, text,"
                                 " rating, is_placeholder, created_at) VALUES (?,?,?,?,?,?,?,?,0,?)", batch)
                batch = []
        if batch:
            conn.executemany("INSERT INTO documents (id, source, kind, external_id, item_id, text_raw, text,"
                             " rating, is_placeholder, created_at) VALUES (?,?,?,?,?,?,?,?,0,?)", batch)
    conn.close()
    tmp.rename(path)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 300_000])
    parser.add_argument("--dir", type=Path, default=Path("/tmp/bench_train"))
    parser.add_argument("--base", choices=["builtin", "none"], default="builtin")
    parser.add_argument("--skip-train", action="store_true", help="measure the reading only")
    args = parser.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    for rows in args.rows:
        db = build_store(args.dir / f"rated_{rows}.db", rows)
        print(f"store {db} ({rows} rated documents, {db.stat().st_size / 2**20:.0f} MB)")
        for mode in ("read-old", "read-new"):
            out = subprocess.run([sys.executable, "-c", CHILD, mode, str(db)], capture_output=True, text=True,
                                 check=True)
            print(f"  {mode:<9} {json.loads(out.stdout)}")
        if args.skip_train:
            continue
        start = time.perf_counter()
        out = subprocess.run([sys.executable, "-c", CLI, "--db", str(db), "model", "train", "--from-db",
                              "--base", args.base, "--out", str(args.dir / f"m_{rows}.json.gz"), "--json"],
                             capture_output=True, text=True)
        if out.returncode:
            print(out.stderr)
            continue
        report = json.loads(out.stdout)
        print(f"  train     base={args.base} examples={report['examples']} holdout={report['holdout']['n']}"
              f" seconds={time.perf_counter() - start:.0f} peak_rss_mb={out.stderr.strip().splitlines()[-1]}"
              f" new={report['holdout']['new']} current={report['holdout']['current']}")


if __name__ == "__main__":
    main()
