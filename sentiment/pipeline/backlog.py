"""The analysis backlog: documents stored without analysis (`ingest --no-analyze`, a crash)."""
from __future__ import annotations

import threading

import sqlite_utils

from sentiment import store
from sentiment.pipeline.analysis import Pipeline
from sentiment.pipeline.files import Analyzer, AsyncAnalyzer
from sentiment.pipeline.pool import AnalysisProcessDied
from sentiment.pipeline.writer import in_process

PENDING_CHUNK = 2000

_PENDING = "FROM documents d LEFT JOIN analyses a ON a.document_id = d.id WHERE a.document_id IS NULL"


def count_pending(db: sqlite_utils.Database, limit: int) -> int:
    """How many documents wait for analysis, counted up to `limit` (a bounded scan)."""
    return db.execute(f"SELECT count(*) FROM (SELECT 1 {_PENDING} LIMIT ?)", [limit]).fetchone()[0]


def analyze_pending(db: sqlite_utils.Database, pipeline: Pipeline, stop: threading.Event | None = None,
                    analyzer: Analyzer | None = None) -> int:
    """Analyze documents stored without analysis (e.g. `ingest --no-analyze`), chunk by chunk.

    `analyzer` (default: in-process) may be an `AsyncAnalyzer` that writes a chunk's rows
    later: the scan goes on past the chunks in flight by rowid, and what is in flight when
    `stop` is set is written before returning. Each write is its own transaction; a crash
    loses no more than the chunks not yet written, which stay pending for the next run.
    If an analysis process dies, the AnalysisProcessDied raised says in `written` how many
    documents the processes had analyzed in transactions committed before that.
    """
    analyze = analyzer or in_process(pipeline)
    total, after, committed = 0, 0, 0
    try:
        while not (stop and stop.is_set()):
            rows = [dict(r) for r in db.query(
                f"SELECT d.rowid AS _rowid, d.* {_PENDING} AND d.rowid > ? ORDER BY d.rowid LIMIT ?",
                [after, PENDING_CHUNK])]
            if not rows:
                break
            after = rows[-1]["_rowid"]
            for row in rows:
                del row["_rowid"]
            with store.transaction(db):
                analyze(db, rows)
            committed = getattr(analyzer, "written", 0)
            total += len(rows)
        if isinstance(analyzer, AsyncAnalyzer):
            with store.transaction(db):
                analyzer.drain(db)
    except AnalysisProcessDied as exc:
        exc.written = committed
        raise
    return total
