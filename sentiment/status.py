"""`sentiment status`: what the store holds and what the worker has done."""
from __future__ import annotations

from typing import Any

import sqlite_utils

from sentiment import store
from sentiment.config import Settings


def collect_status(db: sqlite_utils.Database, settings: Settings) -> dict[str, Any]:
    report: dict[str, Any] = {"db": str(settings.db), "timezone": settings.timezone}
    report.update(store.status_summary(db))
    return report


def format_status(report: dict[str, Any]) -> str:
    lines = [f"store: {report['db']}", f"documents: {report['documents']} "
             f"(placeholders {report['placeholders']})"]
    for title, key in (("by source", "by_source"), ("by kind", "by_kind"), ("by day (latest 14)", "by_day")):
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
    return "\n".join(lines)
