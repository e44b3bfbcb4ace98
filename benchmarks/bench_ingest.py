"""Ingestion speed and memory (issue: package, store and ingestion).

Target: >= 20,000 CSV rows/s without analysis, memory flat as the file grows.
Each size runs `sentiment ingest --no-analyze` in a fresh process (the real
CLI path) and reads its peak RSS. The baseline in the same run is the floor any
ingester pays: Python's csv module reading the file and a bare executemany of
the raw rows into SQLite (no parsing, normalization or dedupe).

    .venv/bin/python benchmarks/bench_ingest.py [--rows 100000 1000000]
"""
from __future__ import annotations

import argparse
import csv
import json
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from gen_reviews import write_csv  # noqa: E402

# Peak memory: VmHWM of the ingest process (ru_maxrss would carry over the parent's peak across
# fork+exec), or, when analysis worker processes run beside it, the largest sum of VmRSS over the
# process and its children, sampled every 0.1 s.
CHILD = """
import os, sys, threading, time
from sentiment.cli import cli

def rss_kb(pid):
    try:
        with open(f"/proc/{pid}/status") as fh:
            return int(fh.read().split("VmRSS:")[1].split()[0])
    except (OSError, IndexError):
        return 0

def children(pid):
    out = []
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/children") as fh:
                out += [int(c) for c in fh.read().split()]
        except OSError:
            pass
    return out

peak_total = 0
def sample():
    global peak_total
    me = os.getpid()
    while True:
        kids = children(me)
        if kids:
            peak_total = max(peak_total, rss_kb(me) + sum(rss_kb(k) for k in kids))
        time.sleep(0.1)

threading.Thread(target=sample, daemon=True).start()
start = time.perf_counter()
try:
    cli(sys.argv[1:], standalone_mode=False)
finally:
    hwm = int(open("/proc/self/status").read().split("VmHWM:")[1].split()[0])
    print(f"__BENCH__ {time.perf_counter() - start:.3f} {max(hwm, peak_total) / 1024:.1f}", file=sys.stderr)
"""




def run_ours(csv_path: Path, db: Path, analyze: bool, jobs: int | None = None) -> tuple[float, float, dict]:
    """Seconds, peak memory (MB, with any analysis processes) and totals of `sentiment ingest`."""
    args = [sys.executable, "-c", CHILD, "--db", str(db), "ingest", str(csv_path), "--json"]
    if not analyze:
        args.append("--no-analyze")
    if jobs is not None:
        args += ["--jobs", str(jobs)]
    proc = subprocess.run(args, capture_output=True, text=True, check=True)
    line = next(ln for ln in proc.stderr.splitlines() if ln.startswith("__BENCH__"))
    _, seconds, peak = line.split()
    return float(seconds), float(peak), json.loads(proc.stdout)["totals"]


def run_baseline(csv_path: Path, db: Path) -> float:
    start = time.perf_counter()
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    with csv_path.open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader)
        conn.execute(f"CREATE TABLE raw ({', '.join(f'c{i}' for i in range(len(header)))})")
        conn.execute("BEGIN")
        conn.executemany(f"INSERT INTO raw VALUES ({', '.join('?' * len(header))})", reader)
        conn.execute("COMMIT")
    conn.close()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, nargs="+", default=[20_000, 100_000])
    parser.add_argument("--analyze", action="store_true", help="ingest with analysis (issue 3 path)")
    opts = parser.parse_args()
    print(f"{'rows':>9} {'ours s':>8} {'rows/s':>9} {'peak MB':>8} {'baseline s':>11} {'ours/baseline':>14}")
    with tempfile.TemporaryDirectory() as tmp:
        for rows in opts.rows:
            path = write_csv(Path(tmp) / f"reviews_{rows}.csv", rows)
            seconds, peak, totals = run_ours(path, Path(tmp) / f"ours_{rows}.db", opts.analyze)
            base = run_baseline(path, Path(tmp) / f"base_{rows}.db")
            assert totals["new"] >= rows, totals
            print(f"{rows:>9} {seconds:>8.2f} {rows / seconds:>9.0f} {peak:>8.1f} {base:>11.2f} {seconds / base:>13.1f}x")
    print("target: >= 20,000 rows/s without analysis; peak RSS flat across sizes")


if __name__ == "__main__":
    main()
