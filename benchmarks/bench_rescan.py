"""Rules-only rescan speed (issue: risk rules and clusters): target >= 50,000 stored documents/s.

Builds a store of --rows real reviews (ingested and analyzed), adds a rule
file, and times `rescan` (the library call behind `sentiment rescan`) when only
the rules changed: stored tokens are reused, nothing is segmented again. The
baseline in the same run is a full rescan after a model change (segment, score
and match every document again). Cluster updates are timed separately.

    .venv/bin/python benchmarks/bench_rescan.py [--rows 50000]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bench_ingest import run_ours  # noqa: E402
from bench_pipeline import real_texts, write_export  # noqa: E402
from gen_reviews import texts as synthetic_texts  # noqa: E402

EXTRA_RULE = """
[[rule]]
id = "quality.zipper"
category = "quality"
name = "拉链问题"
severity = "medium"
owners = ["cs"]
query = '拉链 AND (坏 OR 卡 OR 掉)'
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=50_000)
    opts = parser.parse_args()

    from sentiment import store
    from sentiment.signals.clusters import cluster_options, cluster_settings_from_rules, update_clusters
    from sentiment.config import load_settings
    from sentiment.pipeline.analysis import Pipeline
    from sentiment.pipeline.rescan import rescan

    with tempfile.TemporaryDirectory() as tmp:
        texts = real_texts()
        print("texts:", "real reviews (waimai, eprstmt, online_shopping test rows), repeated" if texts
              else "synthetic (datasets absent)")
        texts = texts or synthetic_texts(3000)
        export = Path(tmp) / "reviews.csv"
        write_export(export, (texts * (opts.rows // len(texts) + 1))[:opts.rows])
        db_path = Path(tmp) / "r.db"
        seconds, _, totals = run_ours(export, db_path, analyze=True)
        print(f"store: {totals['new']} documents ingested and analyzed in {seconds:.1f} s")
        (Path(tmp) / "extra.toml").write_text(EXTRA_RULE, encoding="utf-8")
        settings = load_settings(db=db_path, env={})
        pipeline = Pipeline.from_settings(settings, [Path(tmp) / "extra.toml"])
        db = store.open_db(db_path)

        start, cpu = time.perf_counter(), time.process_time()
        report = rescan(db, pipeline)
        rules_only, rules_cpu = time.perf_counter() - start, time.process_time() - cpu
        assert report.rules_only == report.documents, report.to_json()
        print(f"rules-only rescan: {report.documents / rules_only:>8.0f} docs/s wall, "
              f"{report.documents / rules_cpu:.0f} docs/s CPU "
              f"({report.documents} in {rules_only:.2f} s; hits +{sum(report.hits_added.values())}"
              f" -{sum(report.hits_removed.values())}) target >= 50,000/s")

        db.execute("UPDATE analyses SET model_version = 'older-model'")
        start = time.perf_counter()
        report = rescan(db, pipeline)
        full = time.perf_counter() - start
        assert report.reanalyzed == report.documents
        print(f"full rescan:       {report.documents / full:>8.0f} docs/s (baseline: segment + score + match again)"
              f"  rules-only is {full / rules_only:.1f}x faster")

        start = time.perf_counter()
        result = update_clusters(db, cluster_settings_from_rules(pipeline.rules.rules),
                                 datetime.now(settings.tz), since=datetime(2026, 1, 1, tzinfo=settings.tz),
                                 options=cluster_options(settings))
        print(f"update_clusters:   {time.perf_counter() - start:.2f} s ({result.to_json()['opened']} opened)")


if __name__ == "__main__":
    main()
