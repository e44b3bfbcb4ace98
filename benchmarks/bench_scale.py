"""Scale: the reading commands, the worker's idle cycle and the web queue on a big generated store.

    .venv/bin/python benchmarks/bench_scale.py --documents 1000000 --workdir /tmp/scale1m   # build, then measure
    .venv/bin/python benchmarks/bench_scale.py --db /tmp/scale1m/shop.db                    # measure a built store
    .venv/bin/python benchmarks/bench_scale.py --db /tmp/scale1m/shop.db --only status triage --profile

Build (--documents N): benchmarks/gen_shop.py writes a shop of about N documents (reviews, dateless
follow-ups, 问大家 questions and answers; ~2.6 documents a review) over enough days for ~1,000
reviews a day (at least 90 days, at most 2 years, so the daily volume grows beyond ~1.9M documents),
on --items items (default 300), ending yesterday; then `sentiment ingest FILES` (with analysis,
the fastest on 2 cores: --build-mode no-analyze runs `ingest --no-analyze` and lets `run --once`
analyze) and one `sentiment run --once` (the first incident update over everything, the search
index, the missed digest). Each step's time is printed; the store, its config and the exports stay
in --workdir (a temp dir that is removed unless --workdir or --keep is given).

Measured, each command in a process of its own (`sentiment --config <workdir>/sentiment.toml ...`):
wall time, and peak RSS = the larger of the process tree's summed RSS (sampled every 50 ms from
/proc) and the largest single process's ru_maxrss (wait4). Each is run once to warm up, then timed
once, or the median of 3 when the warm-up took under 5 s:

- `status --json` (target < 2 s), `triage list --json` (< 1 s),
- `digest --date <last day> --out DIR` (both audiences built and rendered; < 5 s),
- `export month.csv --since <month start> --until <next month start>` (the last full month),
- `run --once` with nothing new (the worker's idle cycle),
- `run --once` after --new-documents (1,000) new reviews dropped into the inbox, dated the store's
  last day (at most yesterday) (the cycle's cost in proportion to new data; each run adds them to the store):
  once without the hourly duplicates-and-topics pass, once with it (its last run dated back 2 h),
- the web queue: `sentiment web` on a free loopback port, a user added with `users add
  --password-stdin`, signed in through the CSRF form, GET / (redirects to the queue) median of 5
  after one warm-up (< 1 s); the server's peak RSS is its VmHWM,
- a rules-only rescan of the month after one rule file change (`--rules extra.toml` with a rule
  whose query changes on every run, so a reused store is rescanned again): `--dry-run` (warm-up,
  then timed), then the real rescan once (a second one would find nothing to do).

Every command's peak RSS must stay under 1 GB. Also printed: the store's size on disk per
document, and with --dbstat the bytes per table and index. With --profile, each command that misses
its time target runs again under cProfile (top functions) and once more with every connection's SQL
traced: its slowest SELECTs are re-run alone on a read-only connection with EXPLAIN QUERY PLAN.
"""
from __future__ import annotations

import argparse
import csv
import http.cookiejar
import json
import os
import random
import re
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from contextlib import closing
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # gen_shop, gen_reviews
TZ = ZoneInfo("Asia/Shanghai")
DOCS_PER_REVIEW = 2.6          # gen_shop: follow-ups ~0.16, questions 0.35, answers ~1.09 a review
REVIEWS_PER_DAY = 1000
MIN_DAYS, MAX_DAYS = 90, 730
GB = 1024 ** 3
TARGETS = {"digest": 5.0, "triage": 1.0, "status": 2.0, "web": 1.0}
RSS_LIMIT = 1 * GB
USER, PASSWORD = "bench", "bench scale password"


EXTRA_RULE = """# bench_scale: one added rule (the "rule file change" of a rules-only rescan)
[[rule]]
id = "quality.bench_smell"
category = "quality"
name = "异味（基准）"
description = "bench_scale: an added rule; the last term changes on every run."
severity = "low"
owners = ["cs"]
immediate = false
query = '''
有股味道 OR 味道有点大 OR 散了好几天 OR 味道太香 OR {nonce}
'''
window = "7d"
min_count = 3
cooldown = "24h"
"""


# ---------------------------------------------------------------------------------------------
# Running a command: wall time and peak RSS of its process tree


def _children_map() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as fh:
                stat = fh.read()
        except OSError:
            continue
        # pid (comm) state ppid ...: comm may hold spaces and parentheses
        ppid = int(stat[stat.rindex(b")") + 2:].split()[1])
        kids.setdefault(ppid, []).append(int(entry))
    return kids


def _rss_kb(pid: int, key: bytes = b"VmRSS:") -> int:
    try:
        with open(f"/proc/{pid}/status", "rb") as fh:
            for line in fh:
                if line.startswith(key):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def tree_rss(pid: int) -> int:
    """Summed RSS (bytes) of pid and all its descendants now."""
    kids = _children_map()
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        total += _rss_kb(p)
        todo.extend(kids.get(p, []))
    return total * 1024


@dataclass
class Measured:
    args: list[str]
    returncode: int
    seconds: float
    peak_rss: int            # bytes: max(tree sum sampled, largest single process)
    maxrss_single: int       # bytes: ru_maxrss from wait4
    stdout: str
    stderr: str

    def failed(self) -> str | None:
        if self.returncode != 0 or "Traceback" in self.stderr:
            tail = (self.stderr.strip() or self.stdout.strip())[-800:]
            return f"`sentiment {' '.join(self.args)}` exited {self.returncode}: {tail}"
        return None

    def json(self) -> Any:
        return json.loads(self.stdout)


class Runner:
    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.config = workdir / "sentiment.toml"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("SENTIMENT_")}
        exe = Path(sys.executable).with_name("sentiment")
        self.base = [str(exe)] if exe.exists() else [sys.executable, "-m", "sentiment"]

    def command(self, args: list[str]) -> list[str]:
        return [*self.base, "--config", str(self.config), *args]

    def run(self, *args: str, stdin: str | None = None, interval: float = 0.05) -> Measured:
        out = tempfile.TemporaryFile(mode="w+", encoding="utf-8")
        err = tempfile.TemporaryFile(mode="w+", encoding="utf-8")
        started = time.perf_counter()
        proc = subprocess.Popen(self.command(list(args)), stdout=out, stderr=err, env=self.env, cwd=self.workdir,
                                stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL, text=True)
        if stdin is not None:
            proc.stdin.write(stdin)
            proc.stdin.close()
        peak = 0
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid == proc.pid:
                break
            peak = max(peak, tree_rss(proc.pid))
            time.sleep(interval)
        seconds = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        single = usage.ru_maxrss * 1024
        out.seek(0)
        err.seek(0)
        return Measured(list(args), proc.returncode, seconds, max(peak, single), single, out.read(), err.read())

    def profile(self, *args: str, top: int = 25) -> str:
        """The command under cProfile in one process: its top functions by cumulative time."""
        script = ("import cProfile, pstats, sys, io\n"
                  "sys.argv = ['sentiment'] + sys.argv[1:]\n"
                  "from sentiment.__main__ import main\n"
                  "prof = cProfile.Profile()\n"
                  "try:\n    prof.runcall(main)\n"
                  "except SystemExit:\n    pass\n"
                  "buf = io.StringIO()\n"
                  f"pstats.Stats(prof, stream=buf).sort_stats('cumulative').print_stats({top})\n"
                  "sys.stderr.write(buf.getvalue())\n")
        proc = subprocess.run([sys.executable, "-c", script, "--config", str(self.config), *args], capture_output=True,
                              text=True, env=self.env, cwd=self.workdir)
        text = proc.stderr
        start = text.find("Ordered by")
        return text[start:] if start >= 0 else text[-4000:]

    def statements(self, *args: str) -> list[str]:
        """The SQL statements the command runs (every connection's trace callback, values expanded)."""
        with tempfile.NamedTemporaryFile("r", suffix=".json", delete=False) as fh:
            out = fh.name
        script = ("import atexit, json, sqlite3, sys\n"
                  "seen = []\n"
                  "_connect = sqlite3.connect\n"
                  "def connect(*a, **k):\n"
                  "    conn = _connect(*a, **k)\n"
                  "    conn.set_trace_callback(seen.append)\n"
                  "    return conn\n"
                  "sqlite3.connect = connect\n"
                  f"atexit.register(lambda: open({out!r}, 'w').write(json.dumps(seen)))\n"
                  "sys.argv = ['sentiment'] + sys.argv[1:]\n"
                  "from sentiment.__main__ import main\n"
                  "main()\n")
        subprocess.run([sys.executable, "-c", script, "--config", str(self.config), *args], capture_output=True,
                       text=True, env=self.env, cwd=self.workdir)
        try:
            return json.loads(Path(out).read_text() or "[]")
        finally:
            Path(out).unlink(missing_ok=True)


def slowest_statements(db: Path, statements: list[str], top: int = 5, width: int = 600) -> str:
    """Each SELECT the command ran, again on a read-only connection: the slowest (summed over
    repeats of the same statement with other values), with SQLite's query plan."""
    conn = ro(db)
    found: dict[str, list[Any]] = {}
    for sql in statements:
        text = sql.strip()
        if not text.upper().startswith(("SELECT", "WITH")):
            continue
        key = re.sub(r"'[^']*'|\b\d+\b", "?", text)
        try:
            t = time.perf_counter()
            conn.execute(text).fetchall()
            seconds = time.perf_counter() - t
        except sqlite3.Error:
            continue
        entry = found.setdefault(key, [0, 0.0, text])
        entry[0] += 1
        entry[1] += seconds
    lines = [f"  {len(statements)} statements; the slowest SELECTs re-run alone (total over repeats):"]
    for n, seconds, text in sorted(found.values(), key=lambda e: -e[1])[:top]:
        lines.append(f"  {seconds * 1000:8.0f} ms  x{n:<3} {text[:width]}{' ...' if len(text) > width else ''}")
        try:
            for row in conn.execute("EXPLAIN QUERY PLAN " + text):
                lines.append(f"              plan: {row[3]}")
        except sqlite3.Error:
            pass
    conn.close()
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# Results


@dataclass
class Row:
    name: str
    command: str
    seconds: float | None
    peak_rss: int | None
    target_s: float | None = None
    runs: int = 1
    note: str = ""
    error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def time_ok(self) -> bool | None:
        if self.error:
            return False
        if self.target_s is None or self.seconds is None:
            return None
        return self.seconds < self.target_s

    @property
    def rss_ok(self) -> bool | None:
        if self.error:
            return False
        return None if self.peak_rss is None else self.peak_rss < RSS_LIMIT


def _mb(n: int | None) -> str:
    return "n/a" if n is None else f"{n / 1024 ** 2:,.0f} MB"


def _verdict(ok: bool | None) -> str:
    return "-" if ok is None else ("PASS" if ok else "FAIL")


def print_table(rows: list[Row]) -> bool:
    print(f"\n{'what':<34} {'time':>9} {'target':>8} {'':>5} {'peak RSS':>10} {'< 1 GB':>6}  runs  note")
    ok = True
    for r in rows:
        t = "error" if r.error else ("n/a" if r.seconds is None else f"{r.seconds:.2f} s")
        target = f"< {r.target_s:g} s" if r.target_s is not None else ""
        print(f"{r.name:<34} {t:>9} {target:>8} {_verdict(r.time_ok):>5} {_mb(r.peak_rss):>10} "
              f"{_verdict(r.rss_ok):>6}  {r.runs:>4}  {r.note}")
        ok = ok and r.time_ok is not False and r.rss_ok is not False
    for r in rows:
        if r.error:
            print(f"  {r.name}: {r.error}")
    return ok


# ---------------------------------------------------------------------------------------------
# Building a store


def plan(documents: int, days: int | None) -> tuple[int, int]:
    reviews = max(1000, round(documents / DOCS_PER_REVIEW))
    if days is None:
        days = min(MAX_DAYS, max(MIN_DAYS, round(reviews / REVIEWS_PER_DAY)))
    return reviews, days


def write_config(workdir: Path, db: Path) -> None:
    from gen_shop import write_config as shop_config

    shop_config(workdir, str(db.resolve()))


def build(args: argparse.Namespace, workdir: Path, runner: Runner, log: Any) -> tuple[Path, dict[str, Any]]:
    reviews, days = plan(args.documents, args.days)
    end = args.end or (datetime.now(TZ).date() - timedelta(days=1))
    db = workdir / "shop.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    write_config(workdir, db)
    exports = workdir / "exports"
    if exports.exists():
        shutil.rmtree(exports)
    log(f"build: {reviews:,} reviews over {days} days ({reviews / days:,.0f} a day), {args.items} items, "
        f"end {end}, seed {args.seed} (~{args.documents:,} documents)")
    t = time.perf_counter()
    gen = subprocess.run([sys.executable, str(HERE / "gen_shop.py"), "--reviews", str(reviews), "--days", str(days),
                          "--items", str(args.items), "--end", end.isoformat(), "--seed", str(args.seed),
                          "--out", str(exports)], capture_output=True, text=True)
    if gen.returncode != 0:
        raise SystemExit(f"gen_shop.py failed: {gen.stderr[-2000:]}")
    generate_s = time.perf_counter() - t
    manifest = json.loads((exports / "manifest.json").read_text(encoding="utf-8"))
    c = manifest["counts"]
    size = sum((exports / f["path"]).stat().st_size for f in manifest["files"])
    log(f"  generated {c['reviews']:,} reviews, {c['followups']:,} follow-ups, {c['questions']:,} questions, "
        f"{c['answers']:,} answers = {c['documents']:,} documents in {len(manifest['files'])} files "
        f"({size / 1024 ** 2:,.0f} MB) in {generate_s:.1f} s")
    files = [str(exports / f["path"]) for f in manifest["files"]]
    steps: dict[str, Any] = {"generate_s": generate_s, "documents": c["documents"], "reviews": c["reviews"],
                             "days": days, "items": args.items, "end": end.isoformat(), "mode": args.build_mode}
    if args.build_mode == "ingest":
        ingest = runner.run("ingest", *files, "--json", interval=0.5)
    else:
        ingest = runner.run("ingest", *files, "--no-analyze", "--json", interval=0.5)
    if ingest.failed():
        raise SystemExit(ingest.failed())
    new = ingest.json().get("totals", {}).get("new")
    log(f"  `ingest{'' if args.build_mode == 'ingest' else ' --no-analyze'}`: {new:,} new documents in "
        f"{ingest.seconds:.1f} s ({(new or 0) / ingest.seconds:,.0f}/s), peak RSS {_mb(ingest.peak_rss)}")
    first = runner.run("run", "--once", "--json", interval=0.5)
    if first.failed():
        raise SystemExit(first.failed())
    log(f"  first `run --once` (incidents over everything, search index, the missed digest): {first.seconds:.1f} s, "
        f"peak RSS {_mb(first.peak_rss)}")
    total = generate_s + ingest.seconds + first.seconds
    steps.update(ingest_s=ingest.seconds, ingest_peak_rss=ingest.peak_rss, first_cycle_s=first.seconds,
                 first_cycle_peak_rss=first.peak_rss, total_s=total,
                 store_s=ingest.seconds + first.seconds)
    log(f"  build took {total:.0f} s ({total / 60:.1f} min): generate {generate_s:.0f} s, ingest {ingest.seconds:.0f} s, "
        f"first cycle {first.seconds:.0f} s; {c['documents'] / (ingest.seconds + first.seconds):,.0f} documents/s "
        f"into the store")
    (workdir / "scale_build.json").write_text(json.dumps(steps, indent=1), encoding="utf-8")
    if not args.keep_exports:
        shutil.rmtree(exports, ignore_errors=True)
    return db, steps


# ---------------------------------------------------------------------------------------------
# The store


def ro(db: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{db}?mode=ro", uri=True)


def store_facts(db: Path) -> dict[str, Any]:
    with ro(db) as conn:
        docs = conn.execute("SELECT count(*) FROM documents").fetchone()[0]
        last = conn.execute("SELECT max(created_at) FROM documents WHERE kind = 'review'").fetchone()[0]
        first = conn.execute("SELECT min(created_at) FROM documents WHERE kind = 'review'").fetchone()[0]
        counts = {}
        for table in ("analyses", "rule_hits", "incidents", "incident_members", "signal_days"):
            try:
                counts[table] = conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            except sqlite3.Error:
                counts[table] = None
        try:
            counts["open_incidents"] = conn.execute(
                "SELECT count(*) FROM incidents i LEFT JOIN triage t ON t.item_key = 'incident:' || i.id"
                " WHERE coalesce(t.state, 'new') IN ('new', 'acknowledged', 'in_progress')").fetchone()[0]
        except sqlite3.Error:
            counts["open_incidents"] = None
        page = conn.execute("PRAGMA page_size").fetchone()[0]
        stats = conn.execute("SELECT count(*) FROM sqlite_master WHERE name = 'sqlite_stat1'").fetchone()[0]
    files = {s: Path(f"{db}{s}").stat().st_size for s in ("", "-wal", "-shm") if Path(f"{db}{s}").exists()}
    return {"documents": docs, "first_review": first, "last_review": last, "files": files,
            "bytes": sum(files.values()), "page_size": page,
            "planner_stats": bool(stats), **counts}


def dbstat(db: Path) -> list[tuple[str, int]]:
    try:
        with ro(db) as conn:
            return conn.execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC").fetchall()
    except sqlite3.Error as exc:
        print(f"  (dbstat unavailable: {exc})")
        return []


def last_full_month(last_day: date) -> tuple[date, date]:
    """The last calendar month that ends on or before last_day: (first day, first day of the next)."""
    nxt = date(last_day.year, last_day.month, 1)
    if (last_day + timedelta(days=1)).month != last_day.month:  # last_day ends its month
        nxt = date(last_day.year + (last_day.month == 12), last_day.month % 12 + 1, 1)
    start = (nxt - timedelta(days=1)).replace(day=1)
    return start, nxt


# ---------------------------------------------------------------------------------------------
# Measurements


def measure(runner: Runner, name: str, args: list[str], target: float | None = None, *, warm: bool = True,
            repeat_under: float = 5.0, note: str = "") -> tuple[Row, Measured | None]:
    """One warm-up run, then once, or the median of 3 when the warm-up took under repeat_under seconds."""
    cmd = "sentiment " + " ".join(args)
    calls = []
    if warm:
        first = runner.run(*args)
        if first.failed():
            return Row(name, cmd, None, first.peak_rss, target, 1, note, first.failed()), first
        rounds = 3 if first.seconds < repeat_under else 1
    else:
        first, rounds = None, 1
    for _ in range(rounds):
        call = runner.run(*args)
        if call.failed():
            return Row(name, cmd, None, call.peak_rss, target, len(calls) + 1, note, call.failed()), call
        calls.append(call)
    seconds = statistics.median(c.seconds for c in calls)
    peak = max(c.peak_rss for c in calls + ([first] if first else []))
    runs = f"median of {rounds}" if rounds > 1 else "once"
    row = Row(name, cmd, seconds, peak, target, rounds, note,
              extra={"all_s": [round(c.seconds, 3) for c in calls], "warmup_s": first.seconds if first else None,
                     "timed": runs})
    return row, calls[-1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def measure_web(runner: Runner, rounds: int, log: Any) -> list[Row]:
    added = runner.run("users", "add", USER, "--audience", "admin", "--password-stdin", stdin=PASSWORD + "\n")
    if added.failed() and "exist" not in (added.stderr + added.stdout).lower():
        return [Row("web queue GET / (signed in)", "GET /", None, None, TARGETS["web"], error=added.failed())]
    port = free_port()
    log_path = runner.workdir / "web.log"
    with log_path.open("w") as logf:
        proc = subprocess.Popen(runner.command(["web", "--host", "127.0.0.1", "--port", str(port)]), stdout=logf,
                                stderr=subprocess.STDOUT, env=runner.env, cwd=runner.workdir)
    url = f"http://127.0.0.1:{port}"
    rows: list[Row] = []
    try:
        started = time.perf_counter()
        while True:
            try:
                with urllib.request.urlopen(url + "/healthz", timeout=2) as r:
                    if r.read().strip() == b"ok":
                        break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if proc.poll() is not None or time.perf_counter() - started > 120:
                raise RuntimeError(f"`sentiment web` did not answer: {log_path.read_text()[-1500:]}")
            time.sleep(0.2)
        up_s = time.perf_counter() - started
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        page = opener.open(url + "/login").read().decode()
        token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        with opener.open(url + "/login", urllib.parse.urlencode(
                {"name": USER, "password": PASSWORD, "csrf_token": token}).encode()) as r:
            landed = r.geturl()
            body = r.read().decode()
        if "/login" in landed and "csrf_token" in body and "退出" not in body:
            raise RuntimeError(f"sign-in failed (landed on {landed})")
        for name, path in (("web queue GET / (signed in)", "/"), ("web GET /api/triage", "/api/triage")):
            times, size = [], 0
            for n in range(rounds + 1):       # the first is the warm-up
                t = time.perf_counter()
                with opener.open(url + path, timeout=300) as r:
                    size = len(r.read())
                    final = r.geturl()
                if n:
                    times.append(time.perf_counter() - t)
            hwm = _rss_kb(proc.pid, b"VmHWM:") * 1024
            rows.append(Row(name, f"GET {path} -> {final.replace(url, '')}", statistics.median(times), hwm,
                            TARGETS["web"] if path == "/" else None, rounds,
                            f"{size / 1024:,.0f} KB; server up in {up_s:.1f} s; RSS = server VmHWM",
                            extra={"all_s": [round(x, 3) for x in times]}))
    except Exception as exc:  # noqa: BLE001 - reported as the row's error
        rows.append(Row("web queue GET / (signed in)", "GET /", None, None, TARGETS["web"], error=str(exc)))
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return rows


def measure_all(args: argparse.Namespace, runner: Runner, db: Path, log: Any) -> tuple[list[Row], dict[str, Any]]:
    facts = store_facts(db)
    docs = facts["documents"]
    last_day = date.fromisoformat(facts["last_review"][:10])
    m_start, m_next = last_full_month(last_day)
    print(f"\nstore {db}: {docs:,} documents, reviews {facts['first_review'][:10]} .. {last_day}; "
          f"analyses {facts['analyses']:,}, rule hits {facts['rule_hits']:,}, incidents {facts['incidents']:,} "
          f"({facts['open_incidents']} open), incident members {facts['incident_members']:,}")
    per_doc = facts["bytes"] / max(1, docs)
    print(f"size on disk: {facts['bytes'] / GB:.2f} GB "
          f"({', '.join(f'{Path(str(db) + s).name} {n / 1024 ** 2:,.0f} MB' for s, n in facts['files'].items())}) "
          f"= {per_doc:,.0f} bytes a document (page size {facts['page_size']}; planner statistics "
          f"(sqlite_stat1): {'yes' if facts['planner_stats'] else 'none, ANALYZE never ran'})")
    if args.dbstat:
        t = time.perf_counter()
        stats = dbstat(db)
        if stats:
            print(f"  by table and index (dbstat, {time.perf_counter() - t:.0f} s):")
            for name, size in stats[:24]:
                print(f"    {name:<44} {size / 1024 ** 2:9,.0f} MB  {size / max(1, docs):7,.0f} B/doc")
            facts["dbstat"] = stats
    only = set(args.only or [])

    def wanted(key: str) -> bool:
        return not only or key in only

    rows: list[Row] = []
    out_dir = runner.workdir / "measure"
    out_dir.mkdir(exist_ok=True)
    if wanted("status"):
        rows.append(measure(runner, "status --json", ["status", "--json"], TARGETS["status"])[0])
        log(f"status: {rows[-1].seconds}")
    if wanted("triage"):
        row, call = measure(runner, "triage list --json", ["triage", "list", "--json"], TARGETS["triage"])
        if call is not None and not row.error:
            try:
                data = call.json()
                items = data if isinstance(data, list) else next(
                    (data[k] for k in ("items", "queue", "incidents") if isinstance(data.get(k), list)), [])
                row.note = f"{len(items)} incidents listed"
            except (json.JSONDecodeError, AttributeError):
                pass
        rows.append(row)
        log(f"triage list: {rows[-1].seconds}")
    if wanted("digest"):
        digest_dir = out_dir / "digest"
        row, call = measure(runner, f"digest --date {last_day} --out DIR",
                            ["digest", "--date", last_day.isoformat(), "--out", str(digest_dir), "--json"],
                            TARGETS["digest"])
        if not row.error:
            row.note = f"{len(list(digest_dir.glob('*.eml')))} .eml in DIR"
        rows.append(row)
        log(f"digest: {rows[-1].seconds}")
    if wanted("export"):
        csv_path = out_dir / "month.csv"
        row, call = measure(runner, f"export month {m_start:%Y-%m}",
                            ["export", str(csv_path), "--since", m_start.isoformat(), "--until", m_next.isoformat(),
                             "--json"])
        if call is not None and not row.error:
            try:
                n = call.json().get("rows")
                row.note = f"{n:,} rows, {csv_path.stat().st_size / 1024 ** 2:,.0f} MB"
                if row.seconds and n:
                    row.note += f", {n / row.seconds:,.0f} rows/s"
            except (json.JSONDecodeError, AttributeError, TypeError):
                pass
        rows.append(row)
        log(f"export: {rows[-1].seconds}")
    if wanted("cycle"):
        row, call = measure(runner, "run --once (nothing new)", ["run", "--once", "--json"])
        rows.append(row)
        log(f"run --once: {rows[-1].seconds}")
    if wanted("newday"):
        rows.extend(measure_new_documents(runner, db, last_day, args.new_documents, log))
    if wanted("web"):
        rows.extend(measure_web(runner, args.web_rounds, log))
        log(f"web: {[r.seconds for r in rows[-2:]]}")
    if wanted("rescan"):
        extra = runner.workdir / "extra.toml"
        extra.write_text(EXTRA_RULE.format(nonce=f"zzbench{time.time_ns()}"), encoding="utf-8")
        common = ["rescan", "--since", m_start.isoformat(), "--until", m_next.isoformat(), "--rules", str(extra),
                  "--json"]
        row, call = measure(runner, f"rescan {m_start:%Y-%m} --dry-run", [*common, "--dry-run"])
        row.note = _rescan_note(call, row.seconds) if not row.error else ""
        rows.append(row)
        log(f"rescan dry run: {rows[-1].seconds}")
        row, call = measure(runner, f"rescan {m_start:%Y-%m} (writes)", common, warm=False)
        row.note = _rescan_note(call, row.seconds) if not row.error else ""
        rows.append(row)
        log(f"rescan: {rows[-1].seconds}")
    return rows, {**facts, "last_day": last_day.isoformat(), "month": [m_start.isoformat(), m_next.isoformat()],
                  "bytes_per_document": per_doc}


def write_new_day(path: Path, db: Path, day: date, count: int) -> int:
    """`count` new reviews (gen_reviews.py's texts, ids never used before) on the store's own items,
    dated `day`, as a review export; returns the first review id."""
    from gen_reviews import HEADER, review

    with closing(ro(db)) as conn:
        items = [r[0] for r in conn.execute("SELECT DISTINCT item_id FROM documents WHERE created_at >= ?"
                                            " AND item_id IS NOT NULL LIMIT 300", [(day - timedelta(days=3)).isoformat()])]
    first = 9_000_000_000_000 + time.time_ns() // 1000 % 10**9 * 1000
    rng = random.Random(first)
    with path.open("w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(HEADER)
        for i in range(count):
            row = review(rng, i)
            row[0], row[10] = str(first + i), str(first + i)
            if items:
                row[1], row[2] = rng.choice(items), ""
            row[6] = f"{day.isoformat()} {i * 9 // count:02d}:{i % 60:02d}:{(i * 7) % 60:02d}"
            writer.writerow(row)
    old = time.time() - 3600  # settled: the inbox does not wait for it
    os.utime(path, (old, old))
    return first


def measure_new_documents(runner: Runner, db: Path, last_day: date, count: int, log: Any) -> list[Row]:
    """The worker's cycle after `count` new documents: an export of new reviews dated the store's
    last day (at most yesterday), dropped into the inbox, then `run --once` (inbox, analyze with incidents
    and alerts, outbox). Each run adds `count` documents to the store (new ids every time)."""
    rows = []
    for content in (False, True):
        rows.append(_new_documents(runner, db, last_day, count, content, log))
    return rows


def _new_documents(runner: Runner, db: Path, last_day: date, count: int, content: bool, log: Any) -> Row:
    """One `measure_new_documents` round; `content`: with the hourly duplicates-and-topics pass
    (its last run is dated two hours back first), else without it (its last run dated now)."""
    inbox = runner.workdir / "inbox"
    inbox.mkdir(exist_ok=True)
    # the store's last day, at most yesterday: today may be the day of the build's back-fill, whose
    # dateless follow-ups (dated when first seen) make today hold months of them
    day = min(last_day, datetime.now(TZ).date() - timedelta(days=1))
    when = datetime.now(TZ).astimezone(ZoneInfo("UTC")) - timedelta(hours=2 if content else 0)
    with closing(sqlite3.connect(db, timeout=60)) as conn, conn:
        conn.execute("UPDATE engine_state SET value = substr(value, 1, instr(value, ' ')) || ? WHERE key = ?",
                     [when.isoformat(timespec="seconds"), "incidents.content"])
    write_new_day(inbox / f"new_day_{time.time_ns()}.csv", db, day, count)
    call = runner.run("run", "--once", "--json")
    name = f"run --once, {count:,} new reviews" + (", hourly pass" if content else "")
    if call.failed():
        return Row(name, "sentiment run --once --json", None, call.peak_rss, None, 1, "", call.failed())
    report = call.json()
    checked = report.get("analyze", {}).get("incidents", {}).get("content_checked") if isinstance(report, dict) else None
    note = f"new documents dated {day}; duplicates and topics pass {'ran' if checked else 'not due'}"
    log(f"new day: {call.seconds:.2f} s ({note})")
    return Row(name, "sentiment run --once --json", call.seconds, call.peak_rss, None, 1, note)


def _rescan_note(call: Measured | None, seconds: float | None) -> str:
    if call is None:
        return ""
    try:
        data = call.json()
    except json.JSONDecodeError:
        return ""
    keys = ("documents", "scanned", "rescanned", "rules_only", "full", "unchanged")
    parts = [f"{k} {data[k]:,}" for k in keys if isinstance(data.get(k), int)]
    for k in ("totals", "counts", "summary"):
        if isinstance(data.get(k), dict):
            parts += [f"{kk} {vv:,}" for kk, vv in data[k].items() if isinstance(vv, int)][:6]
    docs = next((data[k] for k in ("documents", "scanned", "rescanned") if isinstance(data.get(k), int)), None)
    if docs and seconds:
        parts.append(f"{docs / seconds:,.0f} documents/s")
    return ", ".join(parts)[:160]


# ---------------------------------------------------------------------------------------------


def machine() -> str:
    load = os.getloadavg()
    mem = ""
    try:
        with open("/proc/meminfo") as fh:
            info = {line.split(":")[0]: int(line.split()[1]) for line in fh if line.split()[1:2]}
        mem = f", {info['MemTotal'] / 1024 ** 2:.0f} GB RAM ({info['MemAvailable'] / 1024 ** 2:.0f} GB available)"
    except (OSError, KeyError, ValueError):
        pass
    return f"{os.cpu_count()} CPUs{mem}, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = parser.add_mutually_exclusive_group(required=True)
    src.add_argument("--documents", type=int, metavar="N", help="build a store of about N documents")
    src.add_argument("--db", type=Path, help="measure this built store (not modified except by the rescan, "
                                              "the idle cycle and the bench user)")
    parser.add_argument("--days", type=int, default=None,
                        help=f"days of history (default: reviews / {REVIEWS_PER_DAY}, within {MIN_DAYS}..{MAX_DAYS})")
    parser.add_argument("--items", type=int, default=300)
    parser.add_argument("--end", type=date.fromisoformat, default=None, help="last day of data (default: yesterday)")
    parser.add_argument("--seed", type=int, default=20261206)
    parser.add_argument("--build-mode", choices=("ingest", "no-analyze"), default="ingest",
                        help="`ingest` with analysis (default, fastest here) or `ingest --no-analyze` + `run --once`")
    parser.add_argument("--build-only", action="store_true", help="build, print the build times and stop")
    parser.add_argument("--keep-exports", action="store_true", help="keep the generated CSV files")
    parser.add_argument("--workdir", type=Path, default=None, help="keep the store here (default: a temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir")
    parser.add_argument("--only", nargs="+",
                        choices=("status", "triage", "digest", "export", "cycle", "newday", "web", "rescan"))
    parser.add_argument("--new-documents", type=int, default=1000,
                        help="newday: reviews in the new export (default 1,000)")
    parser.add_argument("--web-rounds", type=int, default=5)
    parser.add_argument("--dbstat", action="store_true", help="also print bytes per table and index (reads the file)")
    parser.add_argument("--profile", action="store_true",
                        help="for each command that misses its time target: its top functions under cProfile, "
                             "and its slowest SQL statements re-run alone with their query plans")
    parser.add_argument("--json-out", type=Path, default=None, help="write the results here as JSON")
    args = parser.parse_args()

    started = time.perf_counter()

    def log(text: str) -> None:
        print(f"[{time.perf_counter() - started:7.1f}s] {text}", flush=True)

    if args.db:
        db = args.db.resolve()
        if not db.exists():
            parser.error(f"--db {db}: no such file")
        workdir = (args.workdir or Path(tempfile.mkdtemp(prefix="bench_scale_"))).resolve()
        write_config(workdir, db)
    else:
        workdir = (args.workdir or Path(tempfile.mkdtemp(prefix="bench_scale_"))).resolve()
    runner = Runner(workdir)
    now = datetime.now(TZ)
    print(f"bench_scale: {now:%Y-%m-%d %H:%M %Z}, {machine()}, workdir {workdir}")
    print(f"python {sys.version.split()[0]}, sqlite {sqlite3.sqlite_version}")
    build_info: dict[str, Any] = {}
    try:
        if args.documents:
            db, build_info = build(args, workdir, runner, log)
            if args.build_only:
                return
        rows, facts = measure_all(args, runner, db, log)
        print(f"\nmachine after the measurements: {machine()}")
        ok = print_table(rows)
        print(f"store: {facts['documents']:,} documents, {facts['bytes'] / GB:.2f} GB, "
              f"{facts['bytes_per_document']:,.0f} bytes a document")
        if args.profile:
            for r in rows:
                if r.time_ok is False and not r.error and not r.command.startswith("GET"):
                    cmd = r.command.split()[1:]
                    print(f"\n--- profile: sentiment {' '.join(cmd)}")
                    print(runner.profile(*cmd))
                    print(f"--- SQL of: sentiment {' '.join(cmd)}")
                    print(slowest_statements(db, runner.statements(*cmd)))
        if args.json_out:
            args.json_out.write_text(json.dumps({
                "when": now.isoformat(), "machine": machine(), "build": build_info,
                "store": {k: v for k, v in facts.items() if k != "dbstat"},
                "dbstat": facts.get("dbstat"),
                "rows": [{**r.__dict__, "time_ok": r.time_ok, "rss_ok": r.rss_ok} for r in rows]},
                ensure_ascii=False, indent=1, default=str), encoding="utf-8")
        print(f"\n{'ALL PASS' if ok else 'SOME FAIL'} in {time.perf_counter() - started:.0f} s")
    finally:
        if args.workdir is None and not args.keep:  # with --db, the store is elsewhere and stays
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
