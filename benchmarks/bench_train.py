"""Peak memory, time and held-out accuracy of `sentiment model train --from-db` (issue "Analyst tools", item 4).

Builds a store of --rows rated reviews (cached under --dir), then trains on it in fresh processes,
each printing its peak RSS (ru_maxrss), seconds, and accuracy / macro-F1 on the held-out 20%:

  old  the former in-memory training, kept here as the baseline: every balanced text read and split
       in memory, the features of all of them in one matrix, scikit-learn's LogisticRegression
       (`training._fit`, which still trains the bundled default), the held-out texts in a list
  new  the CLI: sentiment --db STORE model train --from-db --base B --json (out of core:
       `sentiment.model.fitting`); its report also scores the bundled default on the same texts

    .venv/bin/python benchmarks/bench_train.py --rows 100000 300000 1000000 [--base builtin|none]
        [--texts gen|external] [--old-up-to 300000] [--stages] [--external [DIR]]

--texts gen: gen_reviews.py's synthetic reviews (30% negative, ~40 characters; few distinct words,
so their vocabulary is a few hundred features). --texts external: each review 1-3 clauses drawn
from the public sets' dev texts of its label (../shared/data/external; read, never copied into the
project), 30% negative: a vocabulary of hundreds of thousands of features, as a real shop's.
--old-up-to: run the old training only on stores up to this size (it needs ~2.6 GB at 1M).
--stages: peak RSS of each stage, sampled every 20 ms. --external: also train old and new on each
public set's dev.csv (`--labeled`-style) and score its test.csv: the accuracy check on real reviews.

Measured on the 2-core VM, shared with other work (so seconds vary by 2x), --base builtin:
see docs/model.md, "Training memory".
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import random
import re
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).parent))
from gen_reviews import review  # noqa: E402

EXTERNAL = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "external"
DATASETS = ("fewclue_eprstmt", "waimai_10k", "online_shopping_10_cats", "ChnSentiCorp_htl_all")

# a sampler thread: peak RSS per stage, the stage read from the main thread's stack
SAMPLER = r"""
import os, sys, threading, time
_OVER = {"evaluate_many": "evaluate", "evaluate": "evaluate", "_mean_model": "mean model", "_mean_of": "mean model",
         "save": "save"}
_INNER = {"rated_rowids": "read ids", "balanced_ids": "read ids", "labeled_texts": "read texts",
          "holdout_split": "split", "split": "split", "builtin_corpus": "builtin corpus",
          "featurize": "featurize", "_flush": "featurize", "extract": "featurize", "cut": "featurize",
          "add": "featurize", "_vocabulary": "vocabulary", "vocabulary": "vocabulary",
          "_rewrite": "matrix / rows", "matrix": "matrix / rows", "_nb_ratios": "fit", "_lbfgs": "fit",
          "fit": "fit", "_fit": "fit", "named": "fit"}
_peaks = {}
_page = os.sysconf("SC_PAGE_SIZE")
def _stage(main):
    frame, inner, over = sys._current_frames().get(main), None, None
    while frame is not None:
        name = frame.f_code.co_name
        inner = inner or _INNER.get(name)
        over = _OVER.get(name, over)
        frame = frame.f_back
    return over or inner or "other"
def _sample(main):
    while True:
        with open("/proc/self/statm") as fh:
            rss = int(fh.read().split()[1]) * _page >> 20
        stage = _stage(main)
        if rss > _peaks.get(stage, 0):
            _peaks[stage] = rss
        time.sleep(0.02)
if os.environ.get("BENCH_STAGES"):
    threading.Thread(target=_sample, args=(threading.get_ident(),), daemon=True).start()
def stages():
    return dict(_peaks)
"""

# the former `training.train` (before the out-of-core fit): `training._fit` (which still trains the
# bundled default) and the former `training._mean_model`
OLD_TRAIN = r"""
import hashlib, json
from dataclasses import asdict, replace
from sentiment.lang.text import normalize
from sentiment.model import training as nlp
from sentiment.model.linear import Model
def _mean_model(models, params, prefix):
    names = sorted({name for m in models for name in m.weights})
    n = len(models)
    mean = {name: sum(m.weights.get(name, 0.0) for m in models) / n for name in names}
    kept = {name: value for name, value in mean.items() if abs(value) >= params.min_weight}
    parts = [m.version for m in models] + [json.dumps(asdict(params), sort_keys=True)]
    digest = hashlib.sha256("\n".join(parts).encode()).hexdigest()[:8]
    return Model(kept, sum(m.bias for m in models) / n, models[0].lexicon, f"{prefix}-{digest}",
                 norm=models[0].norm, params=asdict(params))
def old_train(texts, labels, base):
    pairs = [(t, int(y)) for t, y in zip((normalize(t) for t in texts), labels) if t]
    x, y = [t for t, _ in pairs], [lab for _, lab in pairs]
    params = nlp.ADAPT_PARAMS
    own = nlp._fit(x, y, [1.0] * len(x), params, prefix=f"custom-{base}")
    if base == "none":
        return own
    bt, bl = nlp.builtin_corpus()
    both = nlp._fit(x + bt, y + bl, [1.0] * len(x) + [params.base_weight] * len(bt), params, prefix="both")
    return _mean_model((own, both), replace(params, min_weight=max(params.min_weight, nlp.MEAN_MIN_WEIGHT)),
                           prefix=f"custom-{base}")
"""

STORE_OLD = SAMPLER + OLD_TRAIN + r"""
import json, resource, time
from sentiment import store
db_path, base = sys.argv[1], sys.argv[2]
start = time.perf_counter()
db = store.open_db(db_path, create=False)
texts, labels = store.labeled_texts(db, *nlp.balanced_ids(*store.rated_rowids(db)))
(texts, labels), held = nlp.holdout_split(texts, labels, 0.2)
n = len(texts)
model = old_train(texts, labels, base)
del texts, labels
quality = nlp.evaluate(model, *held)
print(json.dumps({"examples": n, "held": quality["n"], "accuracy": quality["accuracy"],
                  "macro_f1": quality["macro_f1"], "seconds": round(time.perf_counter() - start),
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss >> 10, "stages": stages()}))
"""

STORE_NEW = SAMPLER + r"""
import io, json, resource, time, contextlib
from sentiment.cli import main
start = time.perf_counter()
out = io.StringIO()
with contextlib.redirect_stdout(out):
    sys.argv = ["sentiment", *sys.argv[1:]]
    try:
        main()
    except SystemExit as exc:
        if exc.code:
            raise
report = json.loads(out.getvalue())
held = report["holdout"]
print(json.dumps({"examples": report["examples"], "held": held["n"], "accuracy": held["new"]["accuracy"],
                  "macro_f1": held["new"]["macro_f1"], "default_accuracy": held["current"]["accuracy"],
                  "default_macro_f1": held["current"]["macro_f1"], "seconds": round(time.perf_counter() - start),
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss >> 10, "stages": stages()}))
"""

LABELED = SAMPLER + OLD_TRAIN + r"""
import json, resource, time
mode, folder, base = sys.argv[1], sys.argv[2], sys.argv[3]
dev_x, dev_y = nlp.read_labeled_csv(f"{folder}/dev.csv")
test_x, test_y = nlp.read_labeled_csv(f"{folder}/test.csv")
start = time.perf_counter()
model = old_train(dev_x, dev_y, base) if mode == "old" else nlp.train(dev_x, dev_y, base=base)
seconds = time.perf_counter() - start
quality = nlp.evaluate(model, test_x, test_y)
print(json.dumps({"examples": len(dev_x), "held": quality["n"], "accuracy": quality["accuracy"],
                  "macro_f1": quality["macro_f1"], "neg_precision": quality["neg_precision"],
                  "neg_recall": quality["neg_recall"], "weights": len(model.weights), "seconds": round(seconds),
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss >> 10, "stages": stages()}))
"""


def gen_rows() -> Callable[[random.Random, int], tuple[str, str]]:
    def make(rng: random.Random, i: int) -> tuple[str, str]:
        r = review(rng, i)
        return r[3], "negative" if int(r[5]) <= 2 else "positive"
    return make


def external_rows(folder: Path) -> Callable[[random.Random, int], tuple[str, str]]:
    """Reviews of 1-3 clauses drawn from the public sets' dev texts of one label (30% negative)."""
    from sentiment.lang.text import normalize

    pools: dict[int, list[str]] = {0: [], 1: []}
    for name in DATASETS:
        path = folder / name / "dev.csv"
        if not path.is_file():
            continue
        with path.open(encoding="utf-8", newline="") as fh:
            for row in csv.DictReader(fh):
                clauses = [c for c in re.split(r"[，。！？,.!?；;\s]+", normalize(row["text"])) if len(c) >= 2]
                pools[int(row["label"])].extend(clauses)
    if not pools[0] or not pools[1]:
        sys.exit(f"--texts external: no dev.csv under {folder}")

    def make(rng: random.Random, i: int) -> tuple[str, str]:
        negative = rng.random() < 0.3
        pool = pools[0 if negative else 1]
        return "，".join(rng.choice(pool) for _ in range(rng.randint(1, 3))), "negative" if negative else "positive"
    return make


def build_store(path: Path, rows: int, make: Callable[[random.Random, int], tuple[str, str]]) -> Path:
    if path.exists():
        return path
    from sentiment import store

    tmp = path.with_suffix(".tmp")
    tmp.unlink(missing_ok=True)
    store.open_db(tmp, create=True).conn.close()
    rng = random.Random(20261206)
    conn = sqlite3.connect(tmp)
    sql = ("INSERT INTO documents (id, source, kind, external_id, item_id, text_raw, text, rating, is_placeholder,"
           " created_at) VALUES (?,?,?,?,?,?,?,?,0,?)")
    with conn:
        batch = []
        for i in range(rows):
            text, rating = make(rng, i)
            batch.append((f"b{i:09d}", "csv", "review", str(1_000_000_000_000 + i), str(600_000_000_000 + i % 200),
                          text, text, rating, f"2026-{1 + i % 11:02d}-{1 + i % 28:02d}T10:00:00+08:00"))
            if len(batch) == 10000:
                conn.executemany(sql, batch)
                batch = []
        if batch:
            conn.executemany(sql, batch)
    conn.close()
    tmp.rename(path)
    return path


def run(script: str, args: list[str], stages: bool) -> dict | None:
    env = {**os.environ, "BENCH_STAGES": "1"} if stages else os.environ
    out = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True, env=env)
    if out.returncode:
        print(out.stderr[-3000:])
        return None
    return json.loads(out.stdout.strip().splitlines()[-1])


def show(label: str, r: dict | None, stages: bool) -> None:
    if r is None:
        return
    extra = (f"  (bundled default on the same texts: accuracy {r['default_accuracy']:.4f},"
             f" macro-F1 {r['default_macro_f1']:.4f})" if "default_accuracy" in r else "")
    print(f"  {label:<4} examples={r['examples']} held-out={r['held']} seconds={r['seconds']}"
          f" peak_rss_mb={r['peak_rss_mb']} accuracy={r['accuracy']:.4f} macro_f1={r['macro_f1']:.4f}{extra}",
          flush=True)
    if stages and r.get("stages"):
        print("       stages (peak MB): " + ", ".join(f"{k} {v}" for k, v in r["stages"].items()), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, nargs="*", default=[100_000, 300_000])
    parser.add_argument("--dir", type=Path, default=Path("/tmp/bench_train"))
    parser.add_argument("--base", choices=["builtin", "none"], default="builtin")
    parser.add_argument("--texts", choices=["gen", "external"], default="gen")
    parser.add_argument("--old-up-to", type=int, default=300_000, help="old training only on stores this small")
    parser.add_argument("--stages", action="store_true", help="peak RSS per stage")
    parser.add_argument("--external", type=Path, nargs="?", const=EXTERNAL,
                        help="also train old and new on each public set's dev.csv, scored on test.csv")
    args = parser.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    make = None
    for rows in args.rows:
        if args.texts == "gen":
            db = build_store(args.dir / f"rated_{rows}.db", rows, gen_rows())
        else:
            make = make or external_rows(EXTERNAL)
            db = build_store(args.dir / f"rated_ext_{rows}.db", rows, make)
        print(f"store {db} ({rows} rated documents, {db.stat().st_size / 2**20:.0f} MB; --base {args.base})",
              flush=True)
        if rows <= args.old_up_to:
            show("old", run(STORE_OLD, [str(db), args.base], args.stages), args.stages)
        show("new", run(STORE_NEW, ["--db", str(db), "model", "train", "--from-db", "--base", args.base,
                                    "--out", str(args.dir / f"m_{rows}.json.gz"), "--json"], args.stages),
             args.stages)
    if args.external is not None:
        for name in DATASETS:
            folder = args.external / name
            if not (folder / "dev.csv").is_file():
                print(f"{name}: no dev.csv under {args.external}, skipped")
                continue
            print(f"{name}: trained on dev.csv, scored on test.csv (--base {args.base})", flush=True)
            for mode in ("old", "new"):
                show(mode, run(LABELED, [mode, str(folder), args.base], args.stages), args.stages)


if __name__ == "__main__":
    start = time.perf_counter()
    main()
    print(f"({time.perf_counter() - start:.0f} s in all)")
