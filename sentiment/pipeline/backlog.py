"""The analysis backlog: documents stored without analysis (`ingest --no-analyze`, a crash)."""
from __future__ import annotations

import sqlite3
import threading

import sqlite_utils

from sentiment import store
from sentiment.pipeline.analysis import Pipeline
from sentiment.pipeline.files import Analyzer, AsyncAnalyzer
from sentiment.pipeline.pool import AnalysisProcessDied
from sentiment.pipeline.writer import in_process

PENDING_CHUNK = 2000

_PENDING = "FROM documents d LEFT JOIN analyses a ON a.document_id = d.id WHERE a.document_id IS NULL"


# engine_state: every document with a rowid at or below this has an analysis (documents are
# never deleted and an analysis is only ever replaced), so counting starts above it
ANALYZED_THROUGH = "backlog.analyzed_through"


def count_pending(db: sqlite_utils.Database, limit: int, *, remember: bool = True) -> int:
    """How many documents wait for analysis, counted up to `limit`.

    Reads only documents above the stored watermark, and (`remember`, the worker) moves the
    watermark up to just below the first one still pending: with nothing pending, a cycle
    reads no old documents. Readers (`status`) pass remember=False and never write."""
    row = db.execute("SELECT value FROM engine_state WHERE key = ?", [ANALYZED_THROUGH]).fetchone()
    low = int(row[0]) if row else 0
    count = db.execute(f"SELECT count(*) FROM (SELECT 1 {_PENDING} AND d.rowid > ? LIMIT ?)", [low, limit]).fetchone()[0]
    first = db.execute(f"SELECT min(d.rowid) {_PENDING} AND d.rowid > ?", [low]).fetchone()[0] if count else None
    through = first - 1 if first is not None else db.execute("SELECT coalesce(max(rowid), 0) FROM documents").fetchone()[0]
    if remember and through > low:
        try:
            db.execute("INSERT INTO engine_state (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE"
                       " SET value = excluded.value", [ANALYZED_THROUGH, str(through)])
        except sqlite3.OperationalError:  # a writer holds the store: the next count moves it
            pass
    return count


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
