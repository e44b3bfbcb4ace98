"""The scheduled worker: APScheduler jobs, single-instance lock, catch-up, warm shutdown."""
from __future__ import annotations

import fcntl
import logging
import os
import signal
import traceback
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, Callable, TextIO

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_MISSED, JobExecutionEvent
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from sentiment import store
from sentiment.errors import SentimentError
from sentiment.worker.jobs import Jobs, digest_due, record_run

log = logging.getLogger(__name__)


class WorkerLockedError(SentimentError):
    """Another worker holds the store's lock."""


@dataclass
class WorkerLock:
    """An flock on `<db>.lock`: released by the kernel when the holder dies, so a stale lock
    left by a killed worker never blocks a new one."""

    path: Path
    _fh: TextIO | None = None

    def acquire(self, db: Path) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fh = open(self.path, "a+", encoding="utf-8")
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            fh.seek(0)
            pid = fh.read().strip() or "?"
            fh.close()
            raise WorkerLockedError(f"another worker (pid {pid}) is running on {db}") from None
        fh.seek(0)
        fh.truncate()
        fh.write(str(os.getpid()))
        fh.flush()
        self._fh = fh

    def release(self) -> None:
        if self._fh is not None:
            fcntl.flock(self._fh, fcntl.LOCK_UN)
            self._fh.close()
            self._fh = None


def lock_for(db: Path) -> WorkerLock:
    return WorkerLock(db.with_name(db.name + ".lock"))


def run_job(jobs: Jobs, job_id: str, now: datetime | None = None, **kwargs: Any) -> dict[str, Any]:
    """Run one job body and record it in `runs`; re-raises so APScheduler emits EVENT_JOB_ERROR."""
    started = store.utcnow()
    moment = now or datetime.now(jobs.settings.tz)
    try:
        detail = getattr(jobs, job_id)(moment, **kwargs)
    except Exception as exc:
        record_run(store.open_db(jobs.settings.db), job_id, started, "error", f"{type(exc).__name__}: {exc}",
                   {"traceback": traceback.format_exc(limit=5)})
        raise
    record_run(store.open_db(jobs.settings.db), job_id, started, "ok", None, detail)
    log.info("job %s: %s", job_id, detail)
    return detail


def build_scheduler(jobs: Jobs, scheduler_cls: Callable[..., BaseScheduler] = BlockingScheduler,
                    executor: ThreadPoolExecutor | None = None) -> BaseScheduler:
    """The scheduler with fixed job ids, the configured time zone and real misfire handling."""
    schedule, tz = jobs.schedule, jobs.settings.tz
    scheduler = scheduler_cls(
        timezone=tz,
        # one worker thread: jobs take turns, so SQLite sees one writer at a time
        executors={"default": executor or ThreadPoolExecutor(max_workers=1)},
        job_defaults={"coalesce": True, "max_instances": 1,
                      "misfire_grace_time": schedule.misfire_grace_seconds},
    )

    def add(job_id: str, trigger: Any, name: str) -> None:
        scheduler.add_job(run_job, trigger, args=[jobs, job_id], id=job_id, name=name, replace_existing=True)

    add("inbox", IntervalTrigger(minutes=schedule.inbox_minutes, timezone=tz), "poll the inbox")
    add("analyze", IntervalTrigger(minutes=schedule.analyze_minutes, timezone=tz),
        "analyze pending, update incidents, queue immediate alerts")
    add("digest", CronTrigger(hour=schedule.digest_at.hour, minute=schedule.digest_at.minute, timezone=tz),
        "queue the daily digest")
    add("outbox", IntervalTrigger(minutes=schedule.outbox_minutes, timezone=tz), "send pending mail")
    scheduler.add_listener(_listener(jobs), EVENT_JOB_ERROR | EVENT_JOB_MISSED)
    return scheduler


def _listener(jobs: Jobs) -> Callable[[JobExecutionEvent], None]:
    def on_event(event: JobExecutionEvent) -> None:
        if event.code == EVENT_JOB_MISSED:
            log.warning("job %s missed its run at %s", event.job_id, event.scheduled_run_time)
            record_run(store.open_db(jobs.settings.db), event.job_id, store.utcnow(), "missed",
                       f"missed run scheduled at {event.scheduled_run_time}")
        else:
            log.error("job %s failed: %r", event.job_id, event.exception)
    return on_event


def run_once(jobs: Jobs, now: datetime, *, digest: bool = False, day: date | None = None) -> dict[str, Any]:
    """One full cycle: inbox, analyze (incidents, alerts), digest when due or forced, outbox.

    The inbox first waits, up to the settle time, for files still being written, so a file
    copied in just before is in this cycle's digest. `day` picks the digest's day (default:
    yesterday) and implies `digest`.
    """
    report: dict[str, Any] = {}
    if jobs.stop.is_set():
        return report
    report["inbox"] = run_job(jobs, "inbox", now, wait_settling=True)
    if jobs.stop.is_set():
        return report
    report["analyze"] = run_job(jobs, "analyze", now)
    if jobs.stop.is_set():
        return report
    if digest or day is not None or digest_due(now, jobs.settings, jobs.schedule):
        report["digest"] = run_job(jobs, "digest", now, day=day)
    # what the cycle queued is stamped with the wall clock: send it in this cycle too
    report["outbox"] = run_job(jobs, "outbox", max(now, datetime.now(jobs.settings.tz)))
    return report


def catch_up(jobs: Jobs, now: datetime) -> dict[str, Any] | None:
    """A worker started after the digest hour queues the missed digest (once: queueing is idempotent)."""
    if digest_due(now, jobs.settings, jobs.schedule):
        return run_job(jobs, "digest", now)
    return None


def serve(jobs: Jobs) -> None:
    """Run the scheduler until SIGTERM/SIGINT; then end the running job and return.

    A file being ingested is abandoned between two chunks: its transaction is rolled back and
    it stays in the inbox, so the next start ingests it whole (a 300k-row file would otherwise
    hold the shutdown for a minute). Other jobs stop at their next check or finish."""
    executor = ThreadPoolExecutor(max_workers=1)
    scheduler = build_scheduler(jobs, executor=executor)

    def stop(signum: int, _frame: Any) -> None:
        log.info("received signal %d: stopping (a file being ingested is rolled back and stays in the inbox),"
                 " then exiting", signum)
        jobs.stop.set()
        scheduler.shutdown(wait=False)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    # at start: one cycle in order (inbox, analyze, the missed digest if past the hour, outbox)
    now = datetime.now(jobs.settings.tz)
    scheduler.add_job(run_once, args=[jobs, now], id="startup", name="startup cycle and catch-up",
                      next_run_time=now)
    log.info("worker started on %s (pid %d)", jobs.settings.db, os.getpid())
    scheduler.start()
    # start() returns after shutdown(wait=False) from the signal handler: let the running job end
    executor.shutdown(wait=True)
    log.info("worker stopped")
