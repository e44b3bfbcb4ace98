"""The dashboard's data and its charts as SVG geometry (drawn by the template, no chart service):
negative share per day against its baseline, open incidents by category and by item, and the
top complaint terms of this week's negative documents against last week's."""
from __future__ import annotations

from collections import Counter
from datetime import date, datetime, timedelta
from typing import Any, Sequence

import sqlite_utils

from sentiment.reports.digest import day_stats
from sentiment.reports.render import category_name, pct, short
from sentiment.signals import triage
from sentiment.signals.topics import topic_words
from sentiment.times import between

DAYS = 30
BASELINE_DAYS = 7  # a day's baseline: the mean share of the 7 days before it (the digest's 7-day average)
TOP_TERMS = 15
TERM_DOCS = 20_000  # newest negative documents read per week for the terms
BARS = 10
# chart geometry (SVG user units)
WIDTH, HEIGHT, LEFT, RIGHT, TOP, BOTTOM = 760, 240, 48, 16, 16, 36
NEGATIVE_SQL = "(a.label = 'negative' OR d.rating = 'negative') AND coalesce(d.is_placeholder, 0) = 0"


def share_series(db: sqlite_utils.Database, tz: Any, today: date, days: int = DAYS) -> list[dict[str, Any]]:
    """Per local day up to `today`: documents, negatives, share and its baseline (None without data)."""
    stats = [day_stats(db, today - timedelta(days=n), tz) for n in range(days + BASELINE_DAYS - 1, -1, -1)]
    out = []
    for i in range(BASELINE_DAYS, len(stats)):
        before = [s["share"] for s in stats[i - BASELINE_DAYS:i] if s["share"] is not None]
        out.append({**stats[i], "baseline": sum(before) / len(before) if before else None})
    return out


def _nice_top(value: float) -> float:
    for top in (0.05, 0.1, 0.2, 0.25, 0.4, 0.5, 0.6, 0.8, 1.0):
        if value <= top:
            return top
    return 1.0


def share_chart(series: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Polylines, points, gridlines and labels of the share chart."""
    top = _nice_top(max([s["share"] or 0 for s in series] + [s["baseline"] or 0 for s in series] + [0.01]))
    inner_w, inner_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    step = inner_w / max(len(series) - 1, 1)

    def xy(i: int, value: float) -> tuple[float, float]:
        return round(LEFT + i * step, 1), round(TOP + inner_h * (1 - value / top), 1)

    points = [{"x": xy(i, s["share"])[0], "y": xy(i, s["share"])[1], "date": s["date"], "share": pct(s["share"]),
               "baseline": pct(s["baseline"]), "negatives": s["negatives"], "documents": s["documents"],
               "above": s["baseline"] is not None and s["share"] > s["baseline"] * 1.5 and s["negatives"] >= 3}
              for i, s in enumerate(series) if s["share"] is not None]
    baseline = [xy(i, s["baseline"]) for i, s in enumerate(series) if s["baseline"] is not None]
    grid = [{"y": xy(0, top * k / 4)[1], "label": f"{top * k / 4 * 100:.0f}%"} for k in range(5)]
    labels = [{"x": xy(i, 0)[0], "label": s["date"][5:]} for i, s in enumerate(series)
              if i % 5 == (len(series) - 1) % 5]
    return {"width": WIDTH, "height": HEIGHT, "left": LEFT, "right": WIDTH - RIGHT, "bottom": HEIGHT - BOTTOM,
            "share_line": " ".join(f"{p['x']},{p['y']}" for p in points),
            "baseline_line": " ".join(f"{x},{y}" for x, y in baseline), "points": points, "grid": grid,
            "labels": labels, "has_data": bool(points)}


def _bars(rows: Sequence[tuple[str, int, int]]) -> dict[str, Any]:
    """Horizontal bars [(label, open, overdue)]: widths in percent of the largest."""
    most = max([n for _, n, _ in rows] + [1])
    return {"items": [{"label": label, "n": n, "overdue": late, "width": round(100 * n / most, 1),
                       "late_width": round(100 * late / most, 1)} for label, n, late in rows]}


def open_incidents(db: sqlite_utils.Database, now: datetime) -> list[dict[str, Any]]:
    return triage.list_incidents(db, now=now)


def by_category(items: Sequence[dict[str, Any]]) -> dict[str, Any]:
    counts: Counter[str] = Counter()
    late: Counter[str] = Counter()
    for it in items:
        name = category_name(it["category"])
        counts[name] += 1
        late[name] += bool(it["overdue"])
    return _bars([(name, n, late[name]) for name, n in counts.most_common(BARS)])


def by_item(items: Sequence[dict[str, Any]]) -> dict[str, Any]:
    counts: Counter[str] = Counter()
    late: Counter[str] = Counter()
    for it in items:
        name = short(it["item_title"] or it["item_id"] or "（未知商品）", 11)  # fits beside its bar
        counts[name] += 1
        late[name] += bool(it["overdue"])
    return _bars([(name, n, late[name]) for name, n in counts.most_common(BARS)])


def _week_terms(db: sqlite_utils.Database, start: datetime, end: datetime) -> tuple[Counter[str], int]:
    where, params = between("d.created_at", start, end)
    rows = db.execute(f"SELECT a.tokens FROM documents d JOIN analyses a ON a.document_id = d.id WHERE {where}"
                      f" AND {NEGATIVE_SQL} ORDER BY d.created_at DESC LIMIT ?", [*params, TERM_DOCS]).fetchall()
    counts: Counter[str] = Counter()
    for (tokens,) in rows:
        counts.update(topic_words(tokens, frozenset()))
    return counts, len(rows)


def complaint_terms(db: sqlite_utils.Database, now: datetime) -> dict[str, Any]:
    """The words of most negative documents in the last 7 days, with last week's count of each
    (documents that contain the word; common function words left out)."""
    week = timedelta(days=7)
    this, n_this = _week_terms(db, now - week, now)
    last, n_last = _week_terms(db, now - 2 * week, now - week)
    top = this.most_common(TOP_TERMS)
    most = max([n for _, n in top] + [1])
    terms = [{"term": t, "this": n, "last": last.get(t, 0), "delta": n - last.get(t, 0),
              "new": last.get(t, 0) == 0, "width": round(100 * n / most, 1)} for t, n in top]
    rising = [t for t in terms if t["delta"] > 0]
    return {"items": terms, "documents": n_this, "documents_last": n_last, "rising": len(rising)}


def dashboard(db: sqlite_utils.Database, tz: Any, now: datetime) -> dict[str, Any]:
    series = share_series(db, tz, now.astimezone(tz).date())
    items = open_incidents(db, now)
    latest = series[-1] if series else None
    return {"series": series, "chart": share_chart(series), "latest": latest,
            "open": len(items), "overdue": sum(1 for i in items if i["overdue"]),
            "by_category": by_category(items), "by_item": by_item(items), "terms": complaint_terms(db, now)}
