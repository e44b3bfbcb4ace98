"""The "Incidents" targets on a generated shop, through the CLI, and the incremental cost.

    python benchmarks/bench_incidents.py                       # 90,000 reviews / 90 days / 200 items (~230k documents)
    python benchmarks/bench_incidents.py --reviews 6000 --days 45 --items 40
    python benchmarks/bench_incidents.py --big 1000000         # also a 1M-document store (long)
    python benchmarks/bench_incidents.py --workdir /tmp/shop --keep

Builds the shop with benchmarks/gen_shop.py in a work directory with a sentiment.toml
(file mail transport into outbox/, [audiences.cs] and [audiences.pr]), runs
`sentiment ingest FILES` and `sentiment run --once --digest`, then checks:

- the open queue (`sentiment triage list --json`) holds at most 40 items;
- every injected incident (matched by item id + category) is in its first 15, and the old
  (quiet-closed) one is not in it at all;
- at most 12 alert mails, and every recent critical incident is named (incident id, item id
  or item title) in one of them;
- the CS digest names the mould incident first among incidents.

Then one more day of data (`gen_shop.py --next-day`, the size of an average day) is
ingested and one worker cycle (`sentiment run --once`) timed: the analyze job (incident
update and alerts, from the store's `runs` table) and the whole command. With `--big N` the
same on a store of about N documents (the same shop over more days, so that one day of new
data is the same size): the cycle should cost about the same (ratio near 1), not N/230k times
more. Prints PASS/FAIL per target.
"""
from __future__ import annotations

import argparse
import email
import email.policy
import importlib.util
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, Callable

HERE = Path(__file__).resolve().parent
MAX_QUEUE = 40
MAX_POSITION = 15
MAX_ALERT_MAILS = 12


def load_generator() -> Any:
    spec = importlib.util.spec_from_file_location("gen_shop", HERE / "gen_shop.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("gen_shop", module)
    spec.loader.exec_module(module)
    return module


# ---------------------------------------------------------------------------------------------
# Running the CLI


def sentiment_command() -> list[str]:
    exe = Path(sys.executable).with_name("sentiment")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "sentiment"]


@dataclass
class Call:
    args: list[str]
    returncode: int
    stdout: str
    stderr: str
    seconds: float

    def json(self) -> Any:
        return json.loads(self.stdout)

    def failed(self) -> str | None:
        if self.returncode != 0 or "Traceback" in self.stderr:
            tail = (self.stderr.strip() or self.stdout.strip())[-800:]
            return f"`sentiment {' '.join(self.args)}` exited {self.returncode}: {tail}"
        return None


def make_runner(workdir: Path, timeout: float | None = None) -> Callable[..., Call]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SENTIMENT_")}
    base = [*sentiment_command(), "--config", str(workdir / "sentiment.toml")]

    def run(*args: str) -> Call:
        started = time.perf_counter()
        proc = subprocess.run([*base, *args], capture_output=True, text=True, env=env, cwd=workdir, timeout=timeout)
        return Call(list(args), proc.returncode, proc.stdout, proc.stderr, time.perf_counter() - started)

    return run


def setup(workdir: Path) -> None:
    load_generator().write_config(workdir, "shop.db", ["pr-owner@example.com", "pr-agency@example.com"])


# ---------------------------------------------------------------------------------------------
# Checking the targets


@dataclass
class Target:
    name: str
    ok: bool
    detail: str

    def line(self) -> str:
        return f"[{'PASS' if self.ok else 'FAIL'}] {self.name}: {self.detail}"


@dataclass
class Evaluation:
    targets: list[Target] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    queue: list[dict[str, Any]] = field(default_factory=list)
    positions: dict[str, int | None] = field(default_factory=dict)
    alerts: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.targets) and all(t.ok for t in self.targets)

    def failures(self) -> list[str]:
        return [t.line() for t in self.targets if not t.ok]

    def report(self) -> str:
        return "\n".join([*(t.line() for t in self.targets), *(f"  note: {n}" for n in self.notes)])


def _queue_items(data: Any) -> list[dict[str, Any]]:
    if isinstance(data, dict):
        for key in ("items", "queue", "incidents"):
            if isinstance(data.get(key), list):
                return data[key]
    return data if isinstance(data, list) else []


def _message_text(raw: bytes) -> str:
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    parts = [str(msg.get("Subject", ""))]
    body = msg.get_body(("plain",))
    if body is not None:
        parts.append(body.get_content())
    else:
        for part in msg.walk():
            if part.get_content_maintype() == "text":
                parts.append(part.get_content())
    return "\n".join(parts)


def _raw_message(row: dict[str, Any], db_path: Path) -> bytes | None:
    path = row.get("eml_path")
    if path and Path(path).exists():
        return Path(path).read_bytes()
    try:
        with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True) as conn:
            found = conn.execute("SELECT message FROM outbox WHERE id = ?", [row.get("id")]).fetchone()
    except sqlite3.Error:
        return None
    if not found or found[0] is None:
        return None
    return found[0].encode("utf-8") if isinstance(found[0], str) else bytes(found[0])


def first_digest_incident(text: str) -> tuple[str | None, str]:
    """The item id of the first incident the digest lists, and its header line.

    The incidents section is the first `== ... ==` section naming 事件 or 风险 (the section of
    incidents, by severity); its first entry's 商品 line (or item link) names the item."""
    lines = text.splitlines()
    start = next((n for n, line in enumerate(lines)
                  if line.strip().startswith("==") and ("事件" in line or "风险" in line)), None)
    scope = lines[start + 1:] if start is not None else lines
    header = ""
    for n, line in enumerate(scope):
        if line.strip().startswith("==") and n > 0:
            break
        if not header and line.strip().startswith("["):
            header = line.strip()
        found = re.search(r"item\.htm\?id=(\d+)", line)
        if found:
            return found.group(1), header or line.strip()
    return None, header


def evaluate(run: Callable[..., Call], manifest: dict[str, Any], db_path: Path) -> Evaluation:
    """Check the targets against the store after `ingest` + `run --once --digest`."""
    ev = Evaluation()
    incidents = manifest["incidents"]
    titles = {i["item_id"]: i["title"] for i in manifest["items"]}

    # the open queue
    listed = run("triage", "list", "--json")
    problem = listed.failed()
    if problem:
        ev.targets.append(Target("open queue", False, problem))
        return ev
    queue = _queue_items(listed.json())
    ev.queue = queue
    kinds: dict[str, int] = {}
    for item in queue:
        kinds[str(item.get("kind"))] = kinds.get(str(item.get("kind")), 0) + 1
    ev.targets.append(Target(f"open queue <= {MAX_QUEUE} items", len(queue) <= MAX_QUEUE,
                             f"{len(queue)} items ({', '.join(f'{k} {v}' for k, v in sorted(kinds.items()))})"))
    missing_fields = sorted({f for item in queue[:5] for f in ("severity", "due_at", "category", "item_id")
                             if f not in item})
    if missing_fields:
        ev.notes.append(f"queue items lack fields {missing_fields}")

    # the injected incidents in the queue
    for inc in incidents:
        position = next((n + 1 for n, item in enumerate(queue)
                         if str(item.get("item_id") or "") == inc["item_id"]
                         and item.get("category") == inc["category"]),
                        None)
        ev.positions[inc["name"]] = position
        found = queue[position - 1] if position else None
        got = (f"#{position} {found.get('id')} {found.get('severity')} size {found.get('size')}"
               if found else "not in the open queue")
        expected = f"{inc['category']}/{inc['severity_min']}" + (
            f"..{inc['severity']}" if inc["severity"] != inc["severity_min"] else "")
        if inc["expect_open"]:
            ok = position is not None and position <= MAX_POSITION
            ev.targets.append(Target(f"injected {inc['name']} in the first {MAX_POSITION}", ok,
                                     f"{got} (expected {expected}, item {inc['item_id']})"))
            if found and found.get("severity") not in _severities_between(inc["severity_min"], inc["severity"]):
                ev.notes.append(f"{inc['name']}: severity {found.get('severity')}, expected {expected}")
        else:
            ev.targets.append(Target(f"old {inc['name']} not in the open queue", position is None,
                                     f"{got} (item {inc['item_id']})"))
    # what else crowds the first 15
    injected = {(i["item_id"], i["category"]) for i in incidents}
    others = [item for item in queue[:MAX_POSITION]
              if (str(item.get("item_id") or ""), item.get("category")) not in injected]
    if others:
        ev.notes.append("also in the first 15: " + "; ".join(
            f"#{queue.index(o) + 1} {o.get('kind')}/{o.get('category')}/{o.get('severity')} "
            f"{(o.get('item_title') or o.get('item_id') or '')[:24]} size {o.get('size')}" for o in others))

    # alert mails
    box = run("outbox", "--json", "--limit", "100000")
    problem = box.failed()
    rows = [] if problem else _queue_items(box.json())
    if problem:
        ev.targets.append(Target("alert mails", False, problem))
        return ev
    alerts = [r for r in rows if r.get("kind") == "alert" and r.get("status") != "held"]
    held = [r for r in rows if r.get("status") == "held"]
    ev.alerts = alerts
    ev.targets.append(Target(f"at most {MAX_ALERT_MAILS} alert mails", len(alerts) <= MAX_ALERT_MAILS,
                             f"{len(alerts)} alert mails ({len(held)} held)"))
    texts = {}
    for row in alerts:
        raw = _raw_message(row, db_path)
        texts[row.get("id")] = _message_text(raw) if raw else str(row.get("subject") or "")
    for inc in incidents:
        if not inc["expect_alert"]:
            continue
        position = ev.positions.get(inc["name"])
        inc_id = queue[position - 1].get("id") if position else None
        # by incident id when the mails name incidents; else by item (an item can have several)
        names_ids = any(re.search(r"\binc-[0-9a-f]{12}\b", t) for t in texts.values())
        needles = [inc_id] if inc_id and names_ids else [n for n in (inc_id, inc["item_id"], inc["item_title"]) if n]
        mails = [row for row in alerts if any(n in texts[row.get("id")] for n in needles)]
        ev.targets.append(Target(f"recent critical {inc['name']} in an alert mail", bool(mails),
                                 f"{len(mails)} mails: " + "; ".join(
                                     f"{m.get('audience')} {str(m.get('subject'))[:60]}" for m in mails[:3])
                                 if mails else f"no alert names {inc_id or inc['item_id']} / {inc['item_title']}"))
    ev.notes.append("alert mails: " + "; ".join(f"{r.get('audience')} {str(r.get('subject'))[:70]}"
                                                 for r in alerts))

    # the CS digest
    digests = [r for r in rows if r.get("kind") == "digest" and r.get("audience") == "cs"]
    if not digests:
        ev.targets.append(Target("CS digest names the mould incident first", False,
                                 f"no CS digest in the outbox (kinds: {sorted({str(r.get('kind')) for r in rows})})"))
        return ev
    digest = max(digests, key=lambda r: r.get("id") or 0)
    raw = _raw_message(digest, db_path)
    text = _message_text(raw) if raw else ""
    first_id, header = first_digest_incident(text)
    mould = next(i for i in incidents if i["name"] == "mould")
    ev.targets.append(Target("CS digest names the mould incident first", first_id == mould["item_id"],
                             f"first: {header[:60]} item {first_id} {titles.get(first_id or '', '')[:30]}"
                             f" (mould: {mould['item_id']})"))
    return ev


SEVERITIES = ("low", "medium", "high", "critical")


def _severities_between(low: str, high: str) -> set[str]:
    return set(SEVERITIES[SEVERITIES.index(low):SEVERITIES.index(high) + 1]) | {high}


# ---------------------------------------------------------------------------------------------
# Building a store and timing a cycle


def last_run(db_path: Path, job: str) -> tuple[float | None, dict[str, Any]]:
    try:
        with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True) as conn:
            row = conn.execute("SELECT started_at, finished_at, detail FROM runs WHERE job = ?"
                               " ORDER BY id DESC LIMIT 1", [job]).fetchone()
    except sqlite3.Error:
        return None, {}
    if not row or not row[0] or not row[1]:
        return None, {}
    seconds = (datetime.fromisoformat(row[1]) - datetime.fromisoformat(row[0])).total_seconds()
    try:
        detail = json.loads(row[2] or "{}")
    except json.JSONDecodeError:
        detail = {}
    return seconds, detail


ANALYZE_JOB = """
import json, sys, time
from datetime import datetime
from pathlib import Path
from sentiment.config import load_settings
from sentiment.pipeline.analysis import Pipeline
from sentiment.worker.jobs import Jobs, Schedule
settings = load_settings(config=Path(sys.argv[1]), env={})
jobs = Jobs(settings, lambda: Pipeline.from_settings(settings), Schedule.from_settings(settings))
jobs.pipeline  # the model and rules load outside the timing
started = time.perf_counter()
detail = jobs.analyze(datetime.now(settings.tz))
print(json.dumps({"seconds": time.perf_counter() - started, "detail": detail}, ensure_ascii=False, default=str))
"""


CONTENT_PASS = """
import json, sys, time
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from sentiment import store
from sentiment.config import load_settings
from sentiment.signals import evidence
settings = load_settings(config=Path(sys.argv[1]), env={})
db = store.open_db(settings.db)
opts = replace(settings.clusters, tz=settings.tz)
now = datetime.now(settings.tz)
start = now - timedelta(days=settings.incidents.window_days)
started = time.perf_counter()
found = len(evidence.manipulation(db, opts, start, now)) + len(evidence.topics(db, opts, start, now))
print(json.dumps({"seconds": time.perf_counter() - started, "evidence": found}))
"""


def time_content_pass(workdir: Path) -> float | None:
    """The hourly part of the incident update: duplicates and topics over the recent window."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SENTIMENT_")}
    proc = subprocess.run([sys.executable, "-c", CONTENT_PASS, str(workdir / "sentiment.toml")], capture_output=True,
                          text=True, env=env, cwd=workdir)
    try:
        return json.loads(proc.stdout.strip().splitlines()[-1])["seconds"]
    except (json.JSONDecodeError, IndexError, KeyError):
        return None


def time_analyze_job(workdir: Path) -> tuple[float | None, dict[str, Any], str | None]:
    """The worker's analyze job (analysis of what is pending, incident update, alerts), timed in a
    process of its own with the model and rules already loaded. The `runs` table keeps whole
    seconds only, so the job is timed here."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SENTIMENT_")}
    proc = subprocess.run([sys.executable, "-c", ANALYZE_JOB, str(workdir / "sentiment.toml")], capture_output=True,
                          text=True, env=env, cwd=workdir)
    if proc.returncode != 0:
        return None, {}, proc.stderr.strip()[-800:]
    try:
        out = json.loads(proc.stdout.strip().splitlines()[-1])
    except (json.JSONDecodeError, IndexError):
        return None, {}, proc.stdout[-800:]
    return out["seconds"], out.get("detail") or {}, None


def documents_on(db_path: Path, day: date) -> tuple[int, int]:
    """Documents stored on a local day, and how many of them are dated when first seen."""
    start, end = f"{day.isoformat()}T00:00:00+08:00", f"{day.isoformat()}T23:59:59+08:00"
    with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True) as conn:
        row = conn.execute("SELECT count(*), sum(coalesce(date_precision, '') = 'first_seen') FROM documents"
                           " WHERE created_at >= ? AND created_at <= ?", [start, end]).fetchone()
    return row[0] or 0, row[1] or 0


def documents_in(db_path: Path) -> int:
    with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True) as conn:
        return conn.execute("SELECT count(*) FROM documents").fetchone()[0]


def build(gen: Any, workdir: Path, reviews: int, days: int, items: int, end: date, seed: int,
          log: Callable[[str], None]) -> tuple[dict[str, Any], Callable[..., Call]]:
    setup(workdir)
    t = time.perf_counter()
    manifest = gen.write_shop(workdir / "exports", reviews, days, items, end, seed)
    c = manifest["counts"]
    log(f"generated {c['reviews']} reviews, {c['followups']} follow-ups, {c['questions']} questions, "
        f"{c['answers']} answers (~{c['documents']} documents) over {days} days, {items} items "
        f"in {time.perf_counter() - t:.1f}s")
    run = make_runner(workdir)
    files = [str(workdir / "exports" / f["path"]) for f in manifest["files"]]
    ingested = run("ingest", *files, "--json")
    if ingested.failed():
        raise SystemExit(ingested.failed())
    log(f"ingest: {ingested.json()['totals']['new']} new documents in {ingested.seconds:.1f}s")
    return manifest, run


def run_cycle(run: Callable[..., Call], db_path: Path, *args: str) -> tuple[Call, float | None, dict[str, Any]]:
    call = run("run", "--once", *args, "--json")
    seconds, detail = last_run(db_path, "analyze")
    return call, seconds, detail


def incremental(gen: Any, run: Callable[..., Call], workdir: Path, db_path: Path, reviews: int, days: int,
                items: int, end: date, seed: int, day_reviews: int, log: Callable[[str], None]) -> dict[str, Any]:
    """One more day: ingest it, time one worker cycle; then a cycle with nothing new."""
    info = gen.write_next_day(workdir / "next", reviews, days, items, end, seed, day_reviews)
    files = [str(workdir / "next" / f) for f in info["files"]]
    store_docs = documents_in(db_path)
    same_day, first_seen = documents_on(db_path, date.fromisoformat(info["day"]))
    ingested = run("ingest", *files, "--json")
    if ingested.failed():
        raise SystemExit(ingested.failed())
    new = ingested.json()["totals"]["new"]
    analyze_s, detail, problem = time_analyze_job(workdir)
    if problem:
        log(f"timing the analyze job in-process failed ({problem}); timing `run --once` instead")
    call, _, run_detail = run_cycle(run, db_path)
    if call.failed():
        raise SystemExit(call.failed())
    detail = detail or run_detail
    idle_s, _, _ = time_analyze_job(workdir)
    idle, _, _ = run_cycle(run, db_path)
    content_s = time_content_pass(workdir)
    log(f"the new day {info['day']} already held {same_day} documents ({first_seen} of them follow-ups without a "
        f"date of their own, dated when first seen)")
    result = {"store_documents": store_docs, "new_documents": new, "ingest_s": ingested.seconds,
              "same_day_documents": same_day, "same_day_first_seen": first_seen,
              "cycle_s": call.seconds, "analyze_s": analyze_s, "idle_cycle_s": idle.seconds, "idle_analyze_s": idle_s,
              "content_s": content_s, "incidents": detail.get("incidents")}
    log(f"store {store_docs} documents + one day ({new} new documents): ingest+analyze {ingested.seconds:.2f}s; "
        f"analyze job (incident update, alerts) {_fmt(analyze_s)}, then `run --once` {call.seconds:.2f}s; "
        f"nothing new: analyze job {_fmt(idle_s)}, `run --once` {idle.seconds:.2f}s; "
        f"hourly duplicates and topics pass {_fmt(content_s)}")
    if detail.get("incidents") is not None:
        log(f"  incident update: {json.dumps(detail.get('incidents'), ensure_ascii=False)[:300]}")
    return result


def _fmt(seconds: float | None) -> str:
    return "n/a" if seconds is None else f"{seconds:.2f}s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reviews", type=int, default=90_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--items", type=int, default=200)
    parser.add_argument("--end", type=date.fromisoformat, default=None, help="last day of data (default: yesterday)")
    parser.add_argument("--seed", type=int, default=20261206)
    parser.add_argument("--big", type=int, default=0, metavar="N",
                        help="also time the cycle on a store of about N documents (e.g. 1000000; long)")
    parser.add_argument("--no-incremental", action="store_true", help="only check the targets")
    parser.add_argument("--workdir", type=Path, default=None, help="keep everything here (default: a temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir")
    args = parser.parse_args()
    gen = load_generator()
    end = args.end or gen.default_end()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bench_incidents_"))
    started = time.perf_counter()

    def log(text: str) -> None:
        print(f"[{time.perf_counter() - started:7.1f}s] {text}", flush=True)

    try:
        print(f"bench_incidents: {args.reviews} reviews / {args.days} days / {args.items} items, end {end}, "
              f"seed {args.seed}, {os.cpu_count()} CPUs, workdir {workdir}")
        base = workdir / "shop"
        if base.exists():
            shutil.rmtree(base)
        manifest, run = build(gen, base, args.reviews, args.days, args.items, end, args.seed, log)
        db_path = base / "shop.db"
        call, analyze_s, detail = run_cycle(run, db_path, "--digest")
        if call.failed():
            print(f"[FAIL] run --once --digest: {call.failed()}")
            raise SystemExit(1)
        log(f"run --once --digest: {call.seconds:.1f}s (analyze job {_fmt(analyze_s)})")
        if detail.get("incidents") is not None:
            log(f"  incident update: {json.dumps(detail.get('incidents'), ensure_ascii=False)[:300]}")
        ev = evaluate(run, manifest, db_path)
        print("\nqueue (first 20):")
        for n, item in enumerate(ev.queue[:20], 1):
            print(f"  {n:2}. {item.get('id')} {item.get('kind')}/{item.get('category')} {item.get('severity')} "
                  f"{item.get('state')} size {item.get('size')} {(item.get('item_title') or '')[:28]} "
                  f"due {str(item.get('due_at') or '')[:16]}")
        print("\ntargets:")
        print(ev.report())
        results = [ev.ok]
        if not args.no_incremental:
            print("\nincremental cost (one more day of data):")
            day_reviews = round(args.reviews / args.days)
            small = incremental(gen, run, base, db_path, args.reviews, args.days, args.items, end, args.seed,
                                day_reviews, log)
            if args.big:
                ratio_docs = manifest["counts"]["documents"] / max(1, manifest["counts"]["reviews"])
                big_reviews = round(args.big / ratio_docs)
                big_days = max(args.days, round(args.days * big_reviews / args.reviews))
                bigdir = workdir / "big"
                if bigdir.exists():
                    shutil.rmtree(bigdir)
                log(f"big store: {big_reviews} reviews over {big_days} days (same daily volume)")
                _, big_run = build(gen, bigdir, big_reviews, big_days, args.items, end, args.seed, log)
                first, first_s, _ = run_cycle(big_run, bigdir / "shop.db")
                log(f"big store first cycle: {first.seconds:.1f}s (analyze job {_fmt(first_s)})")
                large = incremental(gen, big_run, bigdir, bigdir / "shop.db", big_reviews, big_days, args.items, end,
                                    args.seed, day_reviews, log)
                store_ratio = large["store_documents"] / max(1, small["store_documents"])
                a, b = small["analyze_s"], large["analyze_s"]
                ratio = (b / a) if a and b else large["cycle_s"] / small["cycle_s"]
                ok = ratio <= 1.5
                results.append(ok)
                print(f"[{'PASS' if ok else 'FAIL'}] cycle after one more day: {_fmt(a)} at {small['store_documents']} "
                      f"documents, {_fmt(b)} at {large['store_documents']} documents: x{ratio:.2f} for a store "
                      f"x{store_ratio:.1f} larger (target: about the same, <= x1.5)")
                c1, c2 = small.get("content_s"), large.get("content_s")
                if c1 and c2:
                    print(f"  hourly duplicates and topics pass (recent window, not per cycle): {_fmt(c1)} at "
                          f"{small['store_documents']} documents, {_fmt(c2)} at {large['store_documents']}: x{c2 / c1:.2f}")
            else:
                print("  (--big N adds a store of about N documents for the ratio)")
        print(f"\n{'ALL PASS' if all(results) else 'SOME FAIL'} in {time.perf_counter() - started:.0f}s")
    finally:
        if args.workdir is None and not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
