"""Per local day and item counts in `signal_days`: every document (`~all`), negative documents
(`~negative`) and documents with a hit of each rule category, of documents with their own date
(a dateless follow-up's first-seen day says nothing about when it was written). The incident engine recounts the
days its new documents fall on (cost in proportion to those days), and reads item baselines
from here instead of scanning documents; the digest's per-category numbers come from here too."""
from __future__ import annotations

import math
from collections import defaultdict
from datetime import date, datetime, timedelta, tzinfo
from typing import Iterable, Sequence

import sqlite_utils

from sentiment.signals.candidates import ITEM_KEY_SQL, NOT_PLACEHOLDER, OWN_DATE
from sentiment.times import day_start, stored

ALL, NEGATIVE = "~all", "~negative"
NEGATIVE_SQL = "(a.label = 'negative' OR d.rating = 'negative')"


def local_days(stamps: Iterable[str], tz: tzinfo) -> set[date]:
    """The local days of stored times (ISO strings with an offset)."""
    return {datetime.fromisoformat(s).astimezone(tz).date() for s in stamps if s}


def touched_days(db: sqlite_utils.Database, low: int, high: int, tz: tzinfo) -> set[date]:
    """Local days of the documents with their own date whose analyses have rowids in (low, high]
    (a follow-up dated when first seen counts nowhere, so its day needs no recount)."""
    hours = db.execute(
        "SELECT DISTINCT substr(d.created_at, 1, 13) || substr(d.created_at, 20) FROM analyses a"
        f" JOIN documents d ON d.id = a.document_id WHERE a.rowid > ? AND a.rowid <= ? AND {OWN_DATE}", [low, high])
    days: set[date] = set()
    for (stamp,) in hours:
        if stamp:
            head, tail = stamp[:13], stamp[13:] or "+08:00"
            days.add(datetime.fromisoformat(f"{head}:00:00{tail}").astimezone(tz).date())
    return days


def recount(db: sqlite_utils.Database, days: Iterable[date], tz: tzinfo) -> None:
    """Replace the counts of these local days with what the store holds now."""
    for day in sorted(days):
        start, end = stored(day_start(day, tz)), stored(day_start(day + timedelta(days=1), tz))
        key = day.isoformat()
        db.execute("DELETE FROM signal_days WHERE day = ?", [key])
        where = f"d.created_at >= ? AND d.created_at < ? AND {NOT_PLACEHOLDER} AND {OWN_DATE}"
        db.execute(
            f"INSERT INTO signal_days (day, item_key, category, n) SELECT ?, k, c, n FROM ("
            f" SELECT {ITEM_KEY_SQL} AS k, '{ALL}' AS c, count(*) AS n FROM documents d WHERE {where} GROUP BY k"
            f" UNION ALL SELECT {ITEM_KEY_SQL}, '{NEGATIVE}', count(*) FROM documents d"
            f" JOIN analyses a ON a.document_id = d.id WHERE {where} AND {NEGATIVE_SQL} GROUP BY 1"
            f" UNION ALL SELECT {ITEM_KEY_SQL}, h.category, count(DISTINCT d.id) FROM rule_hits h"
            f" JOIN documents d ON d.id = h.document_id WHERE {where} GROUP BY 1, 2)",
            [key, start, end, start, end, start, end])


def series(db: sqlite_utils.Database, item_key: str, category: str, first: date, last: date) -> dict[date, int]:
    """Counts of one item and category per day in [first, last] (days without a row are absent: 0)."""
    rows = db.execute("SELECT day, n FROM signal_days WHERE item_key = ? AND category = ? AND day >= ? AND day <= ?",
                      [item_key, category, first.isoformat(), last.isoformat()])
    return {date.fromisoformat(d): n for d, n in rows}


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    if not values:
        return 0.0, 0.0
    mean = sum(values) / len(values)
    return mean, math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))


def baseline(counts: dict[date, int], before: date, days: int) -> tuple[float, float]:
    """(mean, std) per day over the `days` days before `before`; days without a row count 0."""
    return mean_std([counts.get(before - timedelta(days=i), 0) for i in range(1, days + 1)])


def category_days(db: sqlite_utils.Database, first: date, last: date) -> dict[str, dict[date, int]]:
    """category -> day -> documents with a hit, summed over items (the digest's per-category numbers)."""
    out: dict[str, dict[date, int]] = defaultdict(dict)
    for day, category, n in db.execute(
            "SELECT day, category, sum(n) FROM signal_days WHERE day >= ? AND day <= ? AND category NOT LIKE '~%'"
            " GROUP BY day, category", [first.isoformat(), last.isoformat()]):
        out[category][date.fromisoformat(day)] = n
    return out


NEWEST = "newest."  # engine_state key prefix: the newest own date per source


def note_newest(db: sqlite_utils.Database, low: int, high: int) -> None:
    """Remember, per source, the newest own date among documents analyzed in (low, high]."""
    for source, newest in db.execute(
            f"SELECT coalesce(d.source, ''), max(d.created_at) FROM analyses a JOIN documents d ON d.id = a.document_id"
            f" WHERE a.rowid > ? AND a.rowid <= ? AND {OWN_DATE} AND d.created_at IS NOT NULL GROUP BY 1",
            [low, high]).fetchall():
        db.execute("INSERT INTO engine_state (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE"
                   " SET value = max(value, excluded.value)", [NEWEST + source, newest])


def newest_by_source(db: sqlite_utils.Database) -> list[tuple[str, str]]:
    """(source, newest own date) per source, oldest source name first: what the incident engine
    noted, without a scan of documents; while the engine has analyses left to read (a store it
    has not caught up with), a scan of documents."""
    from_engine = db.execute("SELECT value FROM engine_state WHERE key = 'incidents.cursor'").fetchone()
    latest = db.execute("SELECT coalesce(max(rowid), 0) FROM analyses").fetchone()[0]
    if from_engine is not None and int(from_engine[0]) >= latest:
        return [(k[len(NEWEST):], v) for k, v in db.execute(
            "SELECT key, value FROM engine_state WHERE key >= ? AND key < ? ORDER BY key", [NEWEST, NEWEST + "\uffff"])]
    return db.execute(f"SELECT source, max(created_at) FROM documents d WHERE {OWN_DATE}"
                      " GROUP BY source ORDER BY source").fetchall()
