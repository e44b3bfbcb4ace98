"""The worker's jobs. Each opens its own database connection (jobs run on pool threads)
and takes the time as an argument, so tests drive them with fixed clocks."""
from __future__ import annotations

import json
import logging
import threading
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Callable

import sqlite_utils

from sentiment import store
from sentiment.config import ScheduleSettings, Settings
from sentiment.pipeline.analysis import Pipeline
from sentiment.pipeline.backlog import analyze_pending, count_pending
from sentiment.pipeline import pool
from sentiment.pipeline.pool import AnalysisProcessDied, analyzer_of, backlog_jobs, open_analyzer
from sentiment.pipeline.writer import in_process
from sentiment.reports.alerts import queue_alerts
from sentiment.reports.digest import queue_digests
from sentiment.reports.outbox import send_pending
from sentiment.signals.incidents import update_incidents
from sentiment.reports.search import update_index
from sentiment.worker.inbox import InboxState, poll_inbox

log = logging.getLogger(__name__)

JOB_IDS = ("inbox", "analyze", "digest", "outbox")


@dataclass(frozen=True)
class Schedule(ScheduleSettings):
    """`[schedule]` in sentiment.toml, as the worker runs it."""

    @classmethod
    def from_settings(cls, settings: Settings) -> "Schedule":
        """`settings.schedule` (validated when the settings load)."""
        return cls(**asdict(settings.schedule))


@dataclass
class Jobs:
    """Job bodies sharing one loaded pipeline; each run opens the store itself."""

    settings: Settings
    pipeline_factory: Callable[[], Pipeline]
    schedule: Schedule = field(default_factory=Schedule)
    stop: threading.Event = field(default_factory=threading.Event)
    inbox_state: InboxState = field(default_factory=InboxState)
    _pipeline: Pipeline | None = None

    @property
    def pipeline(self) -> Pipeline:
        if self._pipeline is None:
            self._pipeline = self.pipeline_factory()
        return self._pipeline

    def db(self) -> sqlite_utils.Database:
        return store.open_db(self.settings.db)

    # -- jobs -------------------------------------------------------------------------------

    def inbox(self, now: datetime, wait_settling: bool = False) -> dict[str, Any]:
        """Ingest complete inbox files; a large drop (over 2 MB, 2+ CPUs) is analyzed in
        processes beside this one, like `sentiment ingest` does, else in this process.

        `wait_settling` (one cycle, `run --once`): first wait, up to the settle time, for files
        still being written. A stop request abandons the file being ingested (rolled back, left
        in the inbox). `skipped` names what was left in the inbox, and why."""
        db = self.db()
        processes = 0
        with ExitStack() as stack:
            def analyzer_for(paths: list[Path]) -> Any:
                nonlocal processes
                analyzer = stack.enter_context(
                    open_analyzer(self.settings, paths, None, lambda: in_process(self.pipeline),
                                  "the file goes to failed/; `sentiment ingest --jobs 0` analyzes it in one process"))
                processes = getattr(analyzer, "jobs", 0)
                return analyzer

            results = poll_inbox(db, self.settings, self.inbox_state, None, analyzer_for=analyzer_for,
                                 settle_seconds=self.schedule.inbox_settle_seconds, should_stop=self.stop.is_set,
                                 wait_settling=wait_settling)
        return {"files": len(results), "new": sum(r.new for r in results),
                "failed": [r.path for r in results if r.error], "analysis_processes": processes,
                "skipped": self.inbox_state.left_lines()}

    def analyze(self, now: datetime) -> dict[str, Any]:
        """Analyze what was stored without analysis, update incidents, queue alerts.

        A large backlog (`ingest --no-analyze` of a big export) is analyzed in processes
        beside this one, as `sentiment ingest` analyzes large files; a small one in-process."""
        db = self.db()
        pending = count_pending(db, pool.AUTO_JOBS_MIN_PENDING)  # with none, the only scan of documents
        processes = backlog_jobs(pending)
        detail: dict[str, Any] = {"analyzed": 0, "analysis_processes": processes}
        try:
            if pending:
                with analyzer_of(self.settings, processes, lambda: in_process(self.pipeline),
                                 "the rest is analyzed in the worker process") as analyzer:
                    detail["analyzed"] = analyze_pending(db, self.pipeline, self.stop, analyzer)
        except AnalysisProcessDied as exc:
            # what the processes wrote in committed transactions is kept; the rest, in this process
            log.warning("%s", exc)
            detail["process_died"] = str(exc)
            detail["analyzed_before_death"] = exc.written
            detail["analyzed"] = exc.written + analyze_pending(db, self.pipeline, self.stop)
        if self.pipeline.rules is not None:
            detail["incidents"] = update_incidents(db, self.settings, now, rules=self.pipeline.rules).to_json()
        detail["alerts"] = len(queue_alerts(db, self.settings, now, rules=self.pipeline.rules))
        detail["search_indexed"] = update_index(db)  # the console's full-text index, by its cursor
        return detail

    def digest(self, now: datetime, day: date | None = None) -> dict[str, Any]:
        day = day or digest_day(now, self.settings)
        db = self.db()
        last = db.execute("SELECT coalesce(max(id), 0) FROM outbox").fetchone()[0]
        ids = queue_digests(db, self.settings, day, rules=self.pipeline.rules, now=now)
        return {"day": day.isoformat(), "queued": sum(1 for i in ids if i > last)}

    def outbox(self, now: datetime) -> dict[str, Any]:
        return dict(send_pending(self.db(), self.settings, now))


def digest_day(now: datetime, settings: Settings) -> date:
    """The day a digest sent at `now` reports on: yesterday in the configured time zone."""
    return (now.astimezone(settings.tz) - timedelta(days=1)).date()


def digest_due(now: datetime, settings: Settings, schedule: Schedule) -> bool:
    local = now.astimezone(settings.tz)
    return local.time() >= schedule.digest_at


def record_run(db: sqlite_utils.Database, job: str, started: str, outcome: str, error: str | None = None,
               detail: Any = None) -> None:
    with store.transaction(db):  # waits for a CLI rescan's transaction, saying so, rather than failing
        db.execute(
            "INSERT INTO runs (job, started_at, finished_at, outcome, error, detail) VALUES (?, ?, ?, ?, ?, ?)",
            [job, started, store.utcnow(), outcome, error,
             json.dumps(detail, ensure_ascii=False, default=str) if detail is not None else None],
        )
