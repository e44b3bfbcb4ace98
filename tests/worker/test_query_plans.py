"""No full scan of the big tables on the worker's path: every statement a worker cycle runs
(inbox ingest, analysis, incidents, alerts, digest, outbox), on a first cycle and on a quiet
second one, is explained with EXPLAIN QUERY PLAN; a SCAN of documents, analyses or rule_hits
(with or without an index: a full index scan reads every row too) fails the test, and so does a
search of analyses by label or of rule hits by category alone: it reads every negative, or every
hit of a category, in the store (a 10M-document store's 问大家 digest section, alert evidence and
topic pass took seconds each that way).

The statements are caught with sqlite3's trace callback on every connection the jobs open."""
from __future__ import annotations

import re
import shutil
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from sentiment import store
from sentiment.config import load_settings
from sentiment.pipeline.analysis import Pipeline
from sentiment.worker import jobs as jobs_module
from sentiment.worker.jobs import Jobs, Schedule
from sentiment.worker.runner import run_once

EXPORTS = Path(__file__).resolve().parents[2] / "examples" / "exports"
BIG = ("documents", "analyses", "rule_hits")
# table aliases the queries use for the big tables
ALIASES = {"d": "documents", "a": "analyses", "h": "rule_hits", "q": "documents", "x": "documents"}
SCAN = re.compile(r"^SCAN (\w+)")
# an equality on one low-cardinality column, no range: a share of the whole store
WHOLE_SHARE = re.compile(r"USING (COVERING )?INDEX (idx_analyses_label|idx_rule_hits_category\w*) \(\w+=\?\)$")


def full_scans(db: Any, sql: str) -> list[str]:
    try:
        plan = db.execute("EXPLAIN QUERY PLAN " + sql).fetchall()
    except Exception:  # statements with parameters bound by the caller: explain with NULLs
        marks = sql.count("?")
        try:
            plan = db.execute("EXPLAIN QUERY PLAN " + sql, [None] * marks).fetchall()
        except Exception:
            return []
    bad = []
    for row in plan:
        match = SCAN.match(row[3])
        if match and ALIASES.get(match.group(1), match.group(1)) in BIG or WHOLE_SHARE.search(row[3]):
            bad.append(row[3])
    return bad


@pytest.fixture
def traced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    statements: list[str] = []
    real = store.open_db

    def open_db(*args: Any, **kwargs: Any) -> Any:
        db = real(*args, **kwargs)
        db.conn.set_trace_callback(statements.append)
        return db

    monkeypatch.setattr(jobs_module.store, "open_db", open_db)
    return statements


def test_a_worker_cycle_scans_no_big_table(tmp_path: Path, traced: list[str]) -> None:
    (tmp_path / "sentiment.toml").write_text(
        '[store]\ndb = "s.db"\n[schedule]\ninbox_settle_seconds = 0.01\n', encoding="utf-8")
    settings = load_settings(tmp_path / "sentiment.toml")
    inbox = settings.paths["inbox"]
    inbox.mkdir(parents=True, exist_ok=True)
    for path in EXPORTS.iterdir():
        shutil.copy(path, inbox / path.name)
    jobs = Jobs(settings, lambda: Pipeline.from_settings(settings), Schedule.from_settings(settings))
    now = datetime(2026, 11, 25, 9, 5, tzinfo=ZoneInfo("Asia/Shanghai"))
    first = run_once(jobs, now, digest=True)
    assert first["inbox"]["new"] > 400 and first["analyze"]["incidents"]["opened"] > 0
    run_once(jobs, now.replace(minute=10), digest=True)  # the usual cycle: nothing new
    db = store.open_db(settings.db)
    seen: dict[str, list[str]] = {}
    for sql in traced:
        text = sql.strip()
        if text.split(None, 1)[0].upper() in ("SELECT", "WITH", "UPDATE", "DELETE", "INSERT") and text not in seen:
            seen[text] = full_scans(db, text)
    assert len(seen) > 50  # the trace caught the cycle's statements
    offending = {sql[:200]: plan for sql, plan in seen.items() if plan}
    assert offending == {}
