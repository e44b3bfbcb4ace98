"""Evidence for incidents besides rule hits: spikes, review manipulation, emergent topics.

Each function returns `Evidence`: documents for one (shop, item, category), already judged
(they open the incident as they are). Rule hits are turned into evidence by the engine
(`sentiment.signals.incidents.rule_evidence`), which judges medium and low ones itself.
"""
from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Iterable, Sequence

import sqlite_utils

from sentiment.signals import daycounts, topics as content
from sentiment.signals.candidates import ITEM_KEY_SQL, NOT_PLACEHOLDER, OWN_DATE, ClusterOptions
from sentiment.signals.clusters import spike_stats
from sentiment.times import day_start, stored

SPIKE, MANIPULATION, TOPIC = "spike", "review_manipulation", "topic:"
EXPLAINED_SHARE = 0.5  # a spike belongs to a category when at least this share of its negatives hit it
NEGATIVE_SHARE = 0.7  # "mostly negative" for duplicates and topics
MIN_ACCOUNTS = 3  # duplicate negative texts from this many accounts are coordinated
BURST_SIZE, BURST_WINDOW, BURST_SHARE = 5, timedelta(hours=48), 0.3  # identical praise on one item
TOPIC_MIN_SIZE = 5
# A day's negatives on one item must also be improbable for a Poisson count with the item's mean
# (at least 0.5 a day): 200 items judged daily would otherwise flag a few quiet items by chance.
SPIKE_P, SPIKE_FLOOR_MEAN = 1e-4, 0.5
COORDINATED_WINDOW, COORDINATED_SHARE = timedelta(hours=72), 0.3
EMERGING = timedelta(days=2), 2 / 3  # a topic is emerging when this share of it is this recent


@dataclass(frozen=True)
class Doc:
    id: str
    at: str  # created_at as stored
    severity: str
    item_id: str | None = None
    item_title: str | None = None
    rules: tuple[str, ...] = ()
    terms: tuple[str, ...] = ()  # the matched terms, for the incident's title
    dated: bool = True  # False: a follow-up dated when first seen (joins incidents, never opens one by count)


@dataclass
class Evidence:
    shop: str
    item_key: str
    category: str
    kind: str  # rule | spike | topic | manipulation
    docs: list[Doc]
    judged: bool = True  # False: rule hits the engine still judges (medium/low need a threshold)
    severity: str | None = None  # at least this severe
    title: str = ""
    owners: tuple[str, ...] = ()
    meta: dict[str, Any] = field(default_factory=dict)


def _rows(db: sqlite_utils.Database, sql: str, params: Sequence[Any]) -> list[dict[str, Any]]:
    cur = db.execute(sql, list(params))
    names = [c[0] for c in cur.description]
    return [dict(zip(names, r)) for r in cur.fetchall()]


def _details(db: sqlite_utils.Database, ids: Sequence[str]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for start in range(0, len(ids), 500):
        chunk = list(ids[start:start + 500])
        out += _rows(db, f"SELECT d.id, d.created_at, coalesce(d.shop, '') AS shop, {ITEM_KEY_SQL} AS item_key,"
                     " d.item_id, d.item_title, d.author, d.rating, d.text, a.label,"
                     f" {OWN_DATE} AS dated FROM documents d"
                     " LEFT JOIN analyses a ON a.document_id = d.id"
                     f" WHERE d.id IN ({', '.join('?' * len(chunk))})", chunk)
    return sorted(out, key=lambda r: (r["created_at"], r["id"]))


def _negative(row: dict[str, Any]) -> bool:
    return row["rating"] == "negative" or (row["label"] == "negative" and row["rating"] != "positive")


def _doc(row: dict[str, Any], severity: str) -> Doc:
    return Doc(row["id"], row["created_at"], severity, row["item_id"], row["item_title"], dated=bool(row["dated"]))


def poisson_tail(count: int, mean: float, floor: float = SPIKE_FLOOR_MEAN) -> float:
    """P(X >= count) for X ~ Poisson(max(mean, floor))."""
    lam = max(mean, floor)
    if lam <= 0:
        return 1.0 if count <= 0 else 0.0
    below = sum(math.exp(k * math.log(lam) - lam - math.lgamma(k + 1)) for k in range(count))
    return max(0.0, 1.0 - below)


# -- spikes ------------------------------------------------------------------------------------

def spikes(db: sqlite_utils.Database, opts: ClusterOptions, days: Iterable[date], now: datetime) -> list[Evidence]:
    """An item's negatives on a day against its own baseline (`clusters.spike_stats`). Explained
    by one category (half its negatives or more hit it): evidence for that category; otherwise
    an incident of its own (category `spike`). Days before the store holds a full baseline are
    not judged, so a first import does not flag every busy item."""
    if "spike" not in opts.kinds:
        return []
    earliest = db.execute("SELECT min(created_at) FROM documents").fetchone()[0]
    if earliest is None:
        return []
    tz = opts.tz
    judged_from = datetime.fromisoformat(earliest).astimezone(tz).date() + timedelta(days=opts.baseline_days)
    today = now.astimezone(tz).date()
    found: list[Evidence] = []
    for day in sorted(d for d in days if judged_from <= d <= today):
        for item_key, _ in db.execute("SELECT item_key, n FROM signal_days WHERE day = ? AND category = ?"
                                      " AND n >= ? ORDER BY item_key",
                                      [day.isoformat(), daycounts.NEGATIVE, opts.spike_min_count]).fetchall():
            first = day - timedelta(days=opts.baseline_days)
            neg = daycounts.series(db, item_key, daycounts.NEGATIVE, first, day)
            total = daycounts.series(db, item_key, daycounts.ALL, first, day)
            stats = spike_stats({d: (neg.get(d, 0), total.get(d, 0) or 1) for d in set(neg) | set(total)}, day, opts)
            if stats is not None and "count" in stats["reasons"] \
                    and poisson_tail(stats["count"], stats["baseline_mean"]) < SPIKE_P:
                found.append(_spike(db, opts, item_key, day, stats, now))
    return [e for e in found if e.docs]


def _spike(db: sqlite_utils.Database, opts: ClusterOptions, item_key: str, day: date, stats: dict[str, Any],
           now: datetime) -> Evidence:
    start = stored(day_start(day, opts.tz))
    end = stored(min(day_start(day + timedelta(days=1), opts.tz), now + timedelta(seconds=1)))
    sql = (f"SELECT d.id FROM documents d JOIN analyses a ON a.document_id = d.id"
           f" WHERE d.created_at >= ? AND d.created_at < ? AND {ITEM_KEY_SQL} = ?{{item}} AND {NOT_PLACEHOLDER}"
           f" AND {OWN_DATE} AND {daycounts.NEGATIVE_SQL} ORDER BY d.created_at, d.id")
    # the item's documents of the day by the (item_id, created_at) index, not every document of
    # the day (a big shop's day, or a back-fill's day of dateless follow-ups); an item known only
    # by its title has no item_id: then the day's documents are read
    rows = _rows(db, sql.format(item=" AND d.item_id = ?"), [start, end, item_key, item_key]) \
        or _rows(db, sql.format(item=""), [start, end, item_key])
    details = _details(db, [r["id"] for r in rows])
    severity = "high" if stats.pop("strong") else "medium"
    shop = Counter(r["shop"] for r in details).most_common(1)[0][0] if details else ""
    hits: dict[str, set[str]] = {}
    ids = [r["id"] for r in details]
    for start_i in range(0, len(ids), 500):
        chunk = ids[start_i:start_i + 500]
        for doc_id, category in db.execute(f"SELECT document_id, category FROM rule_hits WHERE document_id IN"
                                           f" ({', '.join('?' * len(chunk))})", chunk):
            hits.setdefault(category, set()).add(doc_id)
    meta = {"spike": stats}
    if hits:
        category = min(hits, key=lambda c: (-len(hits[c]), c))
        if len(hits[category]) >= EXPLAINED_SHARE * len(details):
            docs = [_doc(r, severity) for r in details if r["id"] in hits[category]]
            return Evidence(shop, item_key, category, "rule", docs, severity=severity, meta=meta)
    title = f"差评激增 {day.isoformat()}：{stats['count']} 条（近{stats['baseline_days']}天日均 {stats['baseline_mean']:.1f}）"
    return Evidence(shop, item_key, SPIKE, "spike", [_doc(r, severity) for r in details], severity=severity,
                    title=title, owners=("cs",), meta=meta)


# -- review manipulation -------------------------------------------------------------------------

def manipulation(db: sqlite_utils.Database, opts: ClusterOptions, start: datetime, now: datetime) -> list[Evidence]:
    """Duplicate texts in [start, now] (`topics.duplicate_candidates`) that are a risk: negative
    ones from several accounts (coordinated 差评), or a burst of identical praise on one item
    (刷单, a risk to the shop's rating). Other duplicates, praise above all, are no incident."""
    if "duplicate" not in opts.kinds:
        return []
    found: list[Evidence] = []
    for cand in content.duplicate_candidates(db, opts, stored(start), stored(now)):
        rows = _details(db, [d for d, _ in cand.members])
        if not rows:
            continue
        negative = sum(map(_negative, rows))
        sample = rows[-1]["text"] or ""
        if negative >= NEGATIVE_SHARE * len(rows):
            found += _coordinated(db, opts, [r for r in rows if _negative(r)], sample)
        elif len(rows) - negative >= NEGATIVE_SHARE * len(rows):
            found += _praise_bursts(db, opts, rows, sample)
    return found


def _bursts(rows: list[dict[str, Any]], window: timedelta) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """Per (shop, item): the largest run of `rows` (time-sorted) within `window`."""
    by_item: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in rows:
        by_item.setdefault((r["shop"], r["item_key"]), []).append(r)
    out = {}
    for key, group in sorted(by_item.items()):
        best: list[dict[str, Any]] = []
        for i, r in enumerate(group):
            at = datetime.fromisoformat(r["created_at"])
            inside = [x for x in group[i:] if datetime.fromisoformat(x["created_at"]) - at <= window]
            if len(inside) > len(best):
                best = inside
        out[key] = best
    return out


def _share_of_item(db: sqlite_utils.Database, opts: ClusterOptions, item_key: str, rows: list[dict[str, Any]],
                   category: str) -> float:
    days = daycounts.local_days([r["created_at"] for r in rows], opts.tz)
    total = sum(daycounts.series(db, item_key, category, min(days), max(days)).values())
    return len(rows) / total if total else 1.0


def _coordinated(db: sqlite_utils.Database, opts: ClusterOptions, rows: list[dict[str, Any]],
                 sample: str) -> list[Evidence]:
    """The same negative text from several accounts on one item within 72 hours, making up a good
    part of the item's negatives then: a coordinated 差评 attack, not a common phrase."""
    found = []
    for (shop, item_key), best in _bursts([r for r in rows if r["dated"]], COORDINATED_WINDOW).items():
        accounts = {r["author"] for r in best if r["author"]}
        if len(accounts) < MIN_ACCOUNTS:
            continue
        if _share_of_item(db, opts, item_key, best, daycounts.NEGATIVE) < COORDINATED_SHARE:
            continue
        found.append(Evidence(shop, item_key, MANIPULATION, "manipulation", [_doc(r, "high") for r in best],
                              severity="high", title=f"重复差评：{sample[:30]}", owners=("pr",),
                              meta={"manipulation": "coordinated_negative", "accounts": len(accounts)}))
    return found


def _praise_bursts(db: sqlite_utils.Database, opts: ClusterOptions, rows: list[dict[str, Any]],
                   sample: str) -> list[Evidence]:
    """Five or more identical positive texts on one item within 48 hours, at least 30% of the
    item's documents then: 刷单, a risk to the shop's rating."""
    found = []
    positive = [r for r in rows if not _negative(r) and r["dated"]]
    for (shop, item_key), best in _bursts(positive, BURST_WINDOW).items():
        if len(best) < BURST_SIZE or _share_of_item(db, opts, item_key, best, daycounts.ALL) < BURST_SHARE:
            continue
        found.append(Evidence(shop, item_key, MANIPULATION, "manipulation", [_doc(r, "medium") for r in best],
                              severity="medium", title=f"集中好评：{sample[:30]}", owners=("pr",),
                              meta={"manipulation": "praise_burst"}))
    return found


# -- emergent topics -------------------------------------------------------------------------------

def topics(db: sqlite_utils.Database, opts: ClusterOptions, start: datetime, now: datetime) -> list[Evidence]:
    """Negative documents no rule caught, grouped by content (`topics.topic_candidates`), offered
    as incidents only when mostly negative by the buyers' own ratings and scores, and emerging:
    two thirds of the topic from the last two days."""
    if "topic" not in opts.kinds:
        return []
    found = []
    recent = stored(now - EMERGING[0])
    for cand in content.topic_candidates(db, opts, stored(start), stored(now), own_dates=True):
        rows = [r for r in _details(db, [d for d, _ in cand.members]) if r["dated"]]
        if len(rows) < max(opts.topic_min_size, TOPIC_MIN_SIZE):
            continue
        if sum(r["created_at"] >= recent for r in rows) < EMERGING[1] * len(rows):
            continue  # spread over the window: a steady complaint, counted, not an incident
        if sum(map(_negative, rows)) < NEGATIVE_SHARE * len(rows):
            continue
        items = Counter(r["item_key"] for r in rows)
        item_key = items.most_common(1)[0][0] if len(items) == 1 else "*"
        shop = Counter(r["shop"] for r in rows).most_common(1)[0][0]
        words = cand.meta.get("keywords") or [cand.title]
        found.append(Evidence(shop, item_key, TOPIC + "、".join(words), "topic", [_doc(r, "medium") for r in rows],
                              severity="medium", title="、".join(words), owners=("cs",),
                              meta={"keywords": words, "items": dict(items.most_common(5))}))
    return found
