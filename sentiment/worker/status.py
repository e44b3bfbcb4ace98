"""`sentiment status`: what the store holds and what the worker has done."""
from __future__ import annotations

import fcntl
from datetime import datetime, timedelta
from typing import Any

import sqlite_utils

from sentiment import store
from sentiment.config import SEVERITY_ORDER, Settings
from sentiment.pipeline.backlog import count_pending
from sentiment.signals.incidents import pending
from sentiment.times import stored
from sentiment.worker.jobs import Schedule
from sentiment.reports.alerts import held_rows

JOB_ORDER = ("inbox", "analyze", "digest", "outbox")


def worker_pid(settings: Settings) -> int | None:
    """The pid of the worker holding the store's lock, or None when no worker runs."""
    path = settings.db.with_name(settings.db.name + ".lock")
    if not path.exists():
        return None
    with open(path, "a+", encoding="utf-8") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            fh.seek(0)
            text = fh.read().strip()
            return int(text) if text.isdigit() else -1
        fcntl.flock(fh, fcntl.LOCK_UN)
    return None


def _next_runs(settings: Settings, last: dict[str, dict[str, Any]], now: datetime) -> dict[str, str | None]:
    schedule = Schedule.from_settings(settings)
    local = now.astimezone(settings.tz)
    digest = local.replace(hour=schedule.digest_at.hour, minute=schedule.digest_at.minute, second=0, microsecond=0)
    if digest <= local:
        digest += timedelta(days=1)
    result: dict[str, str | None] = {"digest": digest.isoformat()}
    for job, minutes in (("inbox", schedule.inbox_minutes), ("analyze", schedule.analyze_minutes),
                         ("outbox", schedule.outbox_minutes)):
        started = last.get(job, {}).get("started_at")
        result[job] = ((datetime.fromisoformat(started) + timedelta(minutes=minutes)).astimezone(settings.tz)
                       .isoformat() if started else None)
    return result


def job_status(db: sqlite_utils.Database, settings: Settings, now: datetime) -> dict[str, Any]:
    last = {r["job"]: r for r in db.query(
        "SELECT job, started_at, finished_at, outcome, error FROM runs r WHERE id = "
        "(SELECT max(id) FROM runs WHERE job = r.job) ORDER BY job")}
    error = next(iter(db.query(
        "SELECT job, finished_at, error FROM runs WHERE error IS NOT NULL ORDER BY id DESC LIMIT 1")), None)
    backlog = {
        "documents_not_analyzed": count_pending(db, 10**12, remember=False),
        "messages_pending": db.execute(
            "SELECT count(*) FROM outbox WHERE status NOT IN ('sent')").fetchone()[0],
    }
    return {"worker_pid": worker_pid(settings), "jobs": {j: last.get(j) for j in JOB_ORDER if j in last},
            "next_runs": _next_runs(settings, last, now), "backlog": backlog, "last_error": error}


def collect_status(db: sqlite_utils.Database, settings: Settings, now: datetime | None = None) -> dict[str, Any]:
    report: dict[str, Any] = {"db": str(settings.db), "timezone": settings.timezone}
    report.update(store.status_summary(db))
    report["analyses"] = store.label_counts(db)
    now = now or datetime.now(settings.tz)
    report["worker"] = job_status(db, settings, now)
    report["worker"]["held_alerts"] = [{k: h[k] for k in ("subject", "reason", "due_at")}
                                       for h in held_rows(db, settings, now)]
    report["incidents"] = incident_summary(db, now)
    return report


def incident_summary(db: sqlite_utils.Database, now: datetime) -> dict[str, Any]:
    """Open incidents by severity, how many are overdue, and analyses the engine has not read yet."""
    rows = db.execute(
        "SELECT i.severity, count(*), sum(i.due_at < ?) FROM incidents i LEFT JOIN triage t"
        " ON t.item_key = 'incident:' || i.id WHERE coalesce(t.state, 'new') IN ('new', 'acknowledged',"
        " 'in_progress') GROUP BY i.severity", [stored(now)]).fetchall()
    order = {s: n for n, s in enumerate(SEVERITY_ORDER)}
    return {"open": sum(r[1] for r in rows), "overdue": sum(r[2] or 0 for r in rows),
            "by_severity": {s: n for s, n, _ in sorted(rows, key=lambda r: order.get(r[0], 9))},
            "pending_analyses": pending(db)}


def format_status(report: dict[str, Any]) -> str:
    lines = [f"store: {report['db']}", f"documents: {report['documents']} "
             f"(placeholders {report['placeholders']})"]
    for title, key in (("by source", "by_source"), ("by kind", "by_kind"), ("by day (latest 14)", "by_day"),
                       ("labels", "analyses")):
        pairs = report[key]
        lines.append(f"{title}: " + (", ".join(f"{k} {v}" for k, v in pairs.items()) or "-"))
    batches = report["batches"]
    lines.append(f"batches: {batches['total']} ({batches['failed']} failed)")
    for b in batches["last"]:
        lines.append(f"  #{b['id']} {b['status']} {b['path']}: read {b['read'] or 0}, new {b['new'] or 0},"
                     f" duplicates {b['duplicates'] or 0}, quarantined {b['quarantined'] or 0}")
    quarantine = report["quarantine"]
    lines.append(f"quarantine: {quarantine['total']} rows")
    for reason, count in quarantine["by_reason"].items():
        lines.append(f"  {count} x {reason}")
    worker = report["worker"]
    pid = worker["worker_pid"]
    lines.append(f"worker: {'running (pid %s)' % pid if pid else 'not running'}")
    for job, run in worker["jobs"].items():
        lines.append(f"  {job}: last {run['outcome']} at {run['finished_at']}"
                     + (f" ({run['error']})" if run["error"] else ""))
    lines.append("  next: " + ", ".join(f"{k} {v or '-'}" for k, v in worker["next_runs"].items()))
    backlog = worker["backlog"]
    lines.append(f"backlog: {backlog['documents_not_analyzed']} documents not analyzed, "
                 f"{backlog['messages_pending']} messages not sent")
    for h in worker["held_alerts"]:
        lines.append(f"held alert: {h['subject']}: {h['reason']}, goes {h['due_at'] or 'once recipients are configured'}")
    inc = report["incidents"]
    lines.append(f"incidents: {inc['open']} open ({inc['overdue']} overdue)"
                 + (": " + ", ".join(f"{k} {v}" for k, v in inc["by_severity"].items()) if inc["by_severity"] else "")
                 + (f"; {inc['pending_analyses']} analyses not yet read by the incident engine"
                    if inc["pending_analyses"] else ""))
    if worker["last_error"]:
        e = worker["last_error"]
        lines.append(f"last error: {e['job']} at {e['finished_at']}: {e['error']}")
    return "\n".join(lines)
