"""Clusters of negative signals, stored in `clusters` / `cluster_members`.

Four kinds, all recomputed by `update_clusters` inside one transaction:

- ``rule``: documents with a rule hit of one category on one item (item_id,
  else item_title, else "unknown"). A cluster opens once `min_count` hit
  documents fall within `window`; it grows while the next hit comes within
  `window` of its last member. Id = hash(kind, item, category, first member time).
- ``spike``: per item and local day (configured timezone), the negative count
  and share against the trailing `baseline_days` (days without documents count
  as zero). Flagged when count >= spike_min_count and count > mean + k*max(std,
  floor), or share > mean + k*max(std, floor). Id = hash(kind, item, day).
  Days before the store holds a full baseline (earliest document + baseline
  days) are not judged, so a first import does not flag every busy item.
- ``topic`` and ``duplicate``: see `sentiment.signals.topics`.

Times are compared as ISO strings, so bounds are written as stored times are
(`sentiment.times.stored`: Beijing time); local days are those of the configured zone. Documents after `now` are
ignored, so a fixed `now` gives a fixed result.

A cluster that no longer qualifies after a recomputation is not deleted: its
row stays (alerts and triage key on the id) with status "closed", size 0 and
no members; it reopens under the same id if it qualifies again. Only clusters
whose last member lies inside the recomputed range are ever closed.
"""
from __future__ import annotations

import json
import logging
import math
import re
from collections import Counter, defaultdict, deque
from dataclasses import asdict, dataclass, field, replace
from datetime import date, datetime, timedelta, tzinfo
from typing import Any, Iterable, Mapping, Sequence
from zoneinfo import ZoneInfo

import sqlite_utils

from sentiment.signals import topics
from sentiment.signals.candidates import (CLOSED, ITEM_KEY_SQL, NOT_PLACEHOLDER, OPEN, Candidate, ClusterOptions,
                                          ClusterSettings, cluster_id)
from sentiment.store import transaction
from sentiment.times import day_start, stored

log = logging.getLogger(__name__)



def cluster_settings_from_rules(rules: Any) -> dict[str, ClusterSettings]:
    """category -> settings from Rule-like objects (a RuleSet or an iterable of rules).

    Per category: the widest window and the smallest min_count of its rules.
    """
    by_category: dict[str, list[Any]] = defaultdict(list)
    for rule in getattr(rules, "rules", rules):
        by_category[rule.category].append(rule)
    return {
        category: ClusterSettings(window=max(r.window for r in group),
                                  min_count=max(1, min(int(r.min_count) for r in group)))
        for category, group in sorted(by_category.items())
    }


def cluster_options(settings: Any) -> ClusterOptions:
    """The ClusterOptions `[clusters]` configures: built and validated when the settings load
    (`sentiment.config`), here in the configured time zone."""
    return replace(settings.clusters, tz=settings.tz)


@dataclass
class ClusterReport:
    opened: int = 0
    updated: int = 0
    closed: int = 0
    unchanged: int = 0
    members_added: int = 0
    members_removed: int = 0
    opened_ids: list[str] = field(default_factory=list)
    closed_ids: list[str] = field(default_factory=list)
    by_kind: dict[str, dict[str, int]] = field(default_factory=dict)

    def count(self, kind: str, what: str, n: int = 1) -> None:
        setattr(self, what, getattr(self, what) + n)
        counts = self.by_kind.setdefault(kind, {"opened": 0, "updated": 0, "closed": 0, "unchanged": 0})
        if what in counts:
            counts[what] += n

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


# -- update ------------------------------------------------------------------
def update_clusters(db: sqlite_utils.Database, settings_by_category: Mapping[str, ClusterSettings],
                    now: datetime, *, since: datetime | None = None,
                    options: ClusterOptions | None = None) -> ClusterReport:
    """Recompute the clusters touched by documents since `since` (default now - lookback), in one transaction.

    Idempotent: the same data and `now` change nothing on a second run.
    """
    opts = options or ClusterOptions()
    horizon = now - timedelta(days=opts.lookback_days)
    since = horizon if since is None else since
    horizon = min(horizon, since)
    report = ClusterReport()
    with transaction(db):
        if "rule" in opts.kinds:
            cands, scope = rule_candidates(db, settings_by_category, opts, horizon, since, now)
            apply_candidates(db, "rule", cands, scope, now, report)
        if "spike" in opts.kinds:
            cands, scope = spike_candidates(db, opts, since, now)
            apply_candidates(db, "spike", cands, scope, now, report)
        for kind, compute in (("topic", topics.topic_candidates), ("duplicate", topics.duplicate_candidates)):
            if kind in opts.kinds:
                start, end = stored(horizon), stored(now)
                scope = stored_scope(db, kind, start)
                cands = adopt_ids(db, compute(db, opts, start, end), scope)
                apply_candidates(db, kind, cands, scope, now, report)
    log.info("clusters: opened %d, updated %d, closed %d, members +%d/-%d", report.opened, report.updated,
             report.closed, report.members_added, report.members_removed)
    return report


def _m006_cluster_indexes(db: sqlite_utils.Database) -> None:
    """Proposed migration ("006_cluster_indexes"): range scans of hits by time, live clusters by kind."""
    db.execute("CREATE INDEX IF NOT EXISTS idx_rule_hits_created_at ON rule_hits (created_at)")
    db.execute("CREATE INDEX IF NOT EXISTS idx_clusters_status_kind ON clusters (status, kind, last_seen)")


def stored_scope(db: sqlite_utils.Database, kind: str, last_seen_from: str) -> set[str]:
    """Ids of live clusters of `kind` whose last member is at or after the bound."""
    rows = db.execute("SELECT id FROM clusters WHERE kind = ? AND status != ? AND last_seen >= ?",
                      [kind, CLOSED, last_seen_from])
    return {r[0] for r in rows}


# -- rule clusters -------------------------------------------------------------
def rule_candidates(db: sqlite_utils.Database, settings_by_category: Mapping[str, ClusterSettings],
                    opts: ClusterOptions, horizon: datetime, since: datetime,
                    now: datetime) -> tuple[list[Candidate], set[str]]:
    """Rule clusters of the (item, category) groups with hits since `since` or live clusters there.

    Each group is scanned from the horizon, or from the first member of a live
    cluster straddling it, so that a chain keeps its first member (and its id).
    """
    h_s, since_s, now_s = stored(horizon), stored(since), stored(now)
    touched = {tuple(r) for r in db.execute(
        f"SELECT DISTINCT {ITEM_KEY_SQL}, h.category FROM rule_hits h JOIN documents d ON d.id = h.document_id"
        " WHERE h.created_at >= ? AND h.created_at <= ?", [since_s, now_s])}
    scan_from: dict[tuple[str, str], str] = {}
    scope: set[str] = set()
    for cid, key, category, first in db.execute(
            "SELECT id, coalesce(nullif(item_id, ''), nullif(item_title, ''), 'unknown'), category, first_seen"
            " FROM clusters WHERE kind = 'rule' AND status != ? AND last_seen >= ?", [CLOSED, h_s]):
        scope.add(cid)
        touched.add((key, category))
        scan_from[(key, category)] = min(first, scan_from.get((key, category), h_s))
    lowest = min([h_s, *scan_from.values()])
    rows = db.execute(
        f"SELECT {ITEM_KEY_SQL} AS k, h.category, d.id, d.created_at, d.item_id, d.item_title, h.rule_id,"
        " h.severity, h.terms FROM rule_hits h JOIN documents d ON d.id = h.document_id"
        f" WHERE h.created_at >= ? AND h.created_at <= ? AND {NOT_PLACEHOLDER}"
        " ORDER BY k, h.category, d.created_at, d.id, h.rule_id", [lowest, now_s])
    groups: dict[tuple[str, str], list[tuple]] = defaultdict(list)
    for row in rows:
        group = (row[0], row[1])
        if group in touched and row[3] >= scan_from.get(group, h_s):
            groups[group].append(row[2:])
    candidates: list[Candidate] = []
    for (key, category), hits in groups.items():
        conf = settings_by_category.get(category, opts.default_rule)
        for chain in chain_documents(merge_hits(hits), conf):
            candidates.append(rule_candidate(key, category, chain, conf))
    return candidates, scope


@dataclass
class HitDoc:
    """One document's hits within one category."""

    doc_id: str
    at: str
    item_id: str | None
    item_title: str | None
    rules: list[str]
    severities: list[str]
    terms: list[str]


def merge_hits(rows: Iterable[tuple]) -> list[HitDoc]:
    docs: dict[str, HitDoc] = {}
    for doc_id, at, item_id, item_title, rule_id, severity, terms in rows:
        doc = docs.get(doc_id)
        if doc is None:
            doc = docs[doc_id] = HitDoc(doc_id, at, item_id, item_title, [], [], [])
        doc.rules.append(rule_id)
        doc.severities.append(severity)
        doc.terms.extend(_terms(terms))
    return list(docs.values())  # rows arrive sorted by time, then id


def _terms(raw: str | None) -> list[str]:
    try:
        values = json.loads(raw or "[]")
    except ValueError:
        return []
    return [str(v[0] if isinstance(v, list) and v else v.get("term") if isinstance(v, dict) else v)
            for v in values]


def chain_documents(docs: Sequence[HitDoc], conf: ClusterSettings) -> list[list[HitDoc]]:
    """Open a chain once min_count docs fall within the window; extend it while gaps stay within it."""
    chains: list[list[HitDoc]] = []
    current: list[HitDoc] | None = None
    pending: deque[tuple[datetime, HitDoc]] = deque()
    last_at: datetime | None = None
    for doc in docs:
        at = datetime.fromisoformat(doc.at)
        if current is not None and last_at is not None and at - last_at <= conf.window:
            current.append(doc)
            last_at = at
            continue
        current = None
        pending.append((at, doc))
        while at - pending[0][0] > conf.window:
            pending.popleft()
        if len(pending) >= conf.min_count:
            current = [d for _, d in pending]
            chains.append(current)
            pending.clear()
            last_at = at
    return chains


def rule_candidate(key: str, category: str, chain: list[HitDoc], conf: ClusterSettings) -> Candidate:
    rules = Counter(r for d in chain for r in d.rules)
    rule_id = min(rules, key=lambda r: (-rules[r], r))
    severity = min((s for d in chain for s in d.severities), key=conf.rank)
    latest = chain[-1]
    title_item = latest.item_title or latest.item_id or key
    terms = Counter(t for d in chain for t in d.terms)
    return Candidate(
        id=cluster_id("rule", key, category, chain[0].at), kind="rule",
        members=[(d.doc_id, d.at) for d in chain],
        item_id=latest.item_id or None, item_title=latest.item_title or None,
        category=category, rule_id=rule_id, severity=severity, title=f"{category} · {title_item}",
        meta={"rules": dict(sorted(rules.items())), "terms": [t for t, _ in terms.most_common(5)],
              "window_seconds": int(conf.window.total_seconds()), "min_count": conf.min_count},
    )


# -- spikes --------------------------------------------------------------------
def spike_candidates(db: sqlite_utils.Database, opts: ClusterOptions, since: datetime,
                     now: datetime) -> tuple[list[Candidate], set[str]]:
    """Spike clusters for each local day from since's day to now's day."""
    tz = opts.tz
    first, last = since.astimezone(tz).date(), now.astimezone(tz).date()
    scope = stored_scope(db, "spike", stored(day_start(first, tz)))
    earliest = db.execute("SELECT min(created_at) FROM documents").fetchone()[0]
    if earliest is None:
        return [], scope
    # a day is judged only once the store holds a full baseline before it
    first = max(first, datetime.fromisoformat(earliest).astimezone(tz).date() + timedelta(days=opts.baseline_days))
    counts, names = daily_counts(db, tz, day_start(first - timedelta(days=opts.baseline_days), tz), now)
    candidates = []
    for key in sorted(counts):
        days = counts[key]
        for offset in range((last - first).days + 1):
            day = first + timedelta(days=offset)
            stats = spike_stats(days, day, opts)
            if stats is not None:
                members = day_negatives(db, key, day, tz, now)
                if members:
                    candidates.append(spike_candidate(key, day, stats, members, names[key]))
    return candidates, scope


def daily_counts(db: sqlite_utils.Database, tz: tzinfo, start: datetime, now: datetime
                 ) -> tuple[dict[str, dict[date, tuple[int, int]]], dict[str, tuple[str | None, str | None]]]:
    """item key -> local day -> (negatives, labeled documents); item key -> (item_id, latest title)."""
    offset_start, offset_end = start.astimezone(tz).utcoffset(), now.astimezone(tz).utcoffset()
    fixed = offset_start == offset_end and offset_start is not None
    params: list[Any] = []
    if fixed:  # stored in that offset: the date is the prefix; otherwise let SQLite shift it
        minutes = int(offset_start.total_seconds() // 60)
        suffix = "Z" if minutes == 0 else f"{'+' if minutes > 0 else '-'}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
        bucket = "CASE WHEN substr(d.created_at, 20) = ? THEN substr(d.created_at, 1, 10) ELSE date(d.created_at, ?) END"
        params = [suffix, f"{minutes:+d} minutes"]
    else:
        bucket = "strftime('%Y-%m-%dT%H:%M', d.created_at)"
    rows = db.execute(
        f"SELECT {ITEM_KEY_SQL} AS k, {bucket} AS b, sum(a.label = 'negative'), count(*),"
        " max(d.item_id), max(d.item_title) FROM documents d JOIN analyses a ON a.document_id = d.id"
        f" WHERE d.created_at >= ? AND d.created_at <= ? AND a.label IS NOT NULL AND {NOT_PLACEHOLDER}"
        " GROUP BY k, b", [*params, stored(start), stored(now)])
    counts: dict[str, dict[date, tuple[int, int]]] = defaultdict(dict)
    names: dict[str, tuple[str | None, str | None]] = {}
    for key, b, neg, total, item_id, title in rows:
        day = date.fromisoformat(b) if fixed else datetime.fromisoformat(b + "+00:00").astimezone(tz).date()
        old = counts[key].get(day, (0, 0))
        counts[key][day] = (old[0] + neg, old[1] + total)
        names[key] = (item_id, title)
    return counts, names


def _mean_std(values: Sequence[float]) -> tuple[float, float]:
    if not values:
        return 0.0, 0.0
    mean = sum(values) / len(values)
    return mean, math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))


def spike_stats(days: Mapping[date, tuple[int, int]], day: date, opts: ClusterOptions) -> dict[str, Any] | None:
    """The numbers behind a flagged day, or None when the day is not a spike."""
    neg, total = days.get(day, (0, 0))
    if neg < opts.spike_min_count:
        return None
    base = [days.get(day - timedelta(days=i), (0, 0)) for i in range(1, opts.baseline_days + 1)]
    mean, std = _mean_std([n for n, _ in base])
    share_mean, share_std = _mean_std([n / t for n, t in base if t])
    share = neg / total
    count_limit = mean + opts.spike_k * max(std, opts.spike_count_floor)
    share_limit = share_mean + opts.spike_k * max(share_std, opts.spike_share_floor)
    reasons = [name for name, hit in (("count", neg > count_limit), ("share", share > share_limit)) if hit]
    if not reasons:
        return None
    return {"day": day.isoformat(), "count": neg, "total": total, "share": round(share, 4),
            "baseline_days": opts.baseline_days, "baseline_mean": round(mean, 4), "baseline_std": round(std, 4),
            "baseline_share_mean": round(share_mean, 4), "baseline_share_std": round(share_std, 4),
            "count_limit": round(count_limit, 4), "share_limit": round(share_limit, 4), "reasons": reasons,
            "strong": neg > mean + 2 * opts.spike_k * max(std, opts.spike_count_floor)}


def day_negatives(db: sqlite_utils.Database, key: str, day: date, tz: tzinfo, now: datetime
                  ) -> list[tuple[str, str]]:
    end = min(day_start(day + timedelta(days=1), tz) - timedelta(seconds=1), now)
    rows = db.execute(
        f"SELECT d.id, d.created_at FROM documents d JOIN analyses a ON a.document_id = d.id"
        f" WHERE d.created_at >= ? AND d.created_at <= ? AND +a.label = 'negative' AND {NOT_PLACEHOLDER}"
        f" AND {ITEM_KEY_SQL} = ? ORDER BY d.created_at, d.id",
        [stored(day_start(day, tz)), stored(end), key])
    return [(r[0], r[1]) for r in rows]


def spike_candidate(key: str, day: date, stats: dict[str, Any], members: list[tuple[str, str]],
                    name: tuple[str | None, str | None]) -> Candidate:
    item_id, item_title = name
    strong = stats.pop("strong")
    return Candidate(
        id=cluster_id("spike", key, day.isoformat()), kind="spike", members=members,
        item_id=item_id or None, item_title=item_title or None, severity="high" if strong else "medium",
        title=f"差评激增 {day.isoformat()} · {item_title or key}: {stats['count']} 条"
              f" (近{stats['baseline_days']}天日均 {stats['baseline_mean']:.1f})",
        meta=stats,
    )


# -- storing -------------------------------------------------------------------
def adopt_ids(db: sqlite_utils.Database, candidates: list[Candidate], scope: set[str]) -> list[Candidate]:
    """Give each candidate the id of the live stored cluster it shares most members with (one-to-one)."""
    if not scope:
        return candidates
    owner: dict[str, str] = {}
    for cid in sorted(scope):
        for (doc_id,) in db.execute("SELECT document_id FROM cluster_members WHERE cluster_id = ?", [cid]):
            owner.setdefault(doc_id, cid)
    claimed: set[str] = set()
    result = []
    for cand in candidates:
        overlap = Counter(owner[d] for d, _ in cand.members if d in owner and owner[d] not in claimed)
        if overlap:
            best = min(overlap, key=lambda c: (-overlap[c], c))
            claimed.add(best)
            cand = replace(cand, id=best)
        result.append(cand)
    return result


FIELDS = ("kind", "item_id", "item_title", "category", "rule_id", "severity", "title", "size",
          "first_seen", "last_seen", "meta")


def _row(cand: Candidate) -> dict[str, Any]:
    return {"kind": cand.kind, "item_id": cand.item_id, "item_title": cand.item_title,
            "category": cand.category, "rule_id": cand.rule_id, "severity": cand.severity,
            "title": cand.title, "size": len(cand.members), "first_seen": cand.first_seen,
            "last_seen": cand.last_seen, "meta": json.dumps(cand.meta, ensure_ascii=False, sort_keys=True)}


def apply_candidates(db: sqlite_utils.Database, kind: str, candidates: Sequence[Candidate], scope: set[str],
                     now: datetime, report: ClusterReport) -> None:
    """Insert, update or close clusters so the store matches `candidates`; writes only what changed."""
    now_s = now.astimezone(ZoneInfo("UTC")).isoformat(timespec="seconds")
    seen: set[str] = set()
    for cand in candidates:
        if cand.id in seen or not cand.members:
            continue
        seen.add(cand.id)
        _apply_one(db, cand, now_s, report)
    for cid in sorted(scope - seen):
        removed = db.execute("DELETE FROM cluster_members WHERE cluster_id = ?", [cid]).rowcount
        db.execute("UPDATE clusters SET status = ?, size = 0, updated_at = ? WHERE id = ?", [CLOSED, now_s, cid])
        report.count(kind, "closed")
        report.count(kind, "members_removed", removed)
        report.closed_ids.append(cid)


def _apply_one(db: sqlite_utils.Database, cand: Candidate, now_s: str, report: ClusterReport) -> None:
    row = _row(cand)
    old = db.execute(f"SELECT status, {', '.join(FIELDS)} FROM clusters WHERE id = ?", [cand.id]).fetchone()
    have = {r[0] for r in db.execute("SELECT document_id FROM cluster_members WHERE cluster_id = ?", [cand.id])}
    want = {d for d, _ in cand.members}
    if old is None:
        db.execute(f"INSERT INTO clusters (id, status, created_at, updated_at, {', '.join(FIELDS)})"
                   f" VALUES (?, ?, ?, ?, {', '.join('?' * len(FIELDS))})",
                   [cand.id, OPEN, now_s, now_s, *row.values()])
        what = "opened"
    else:
        reopened = old[0] == CLOSED
        if not reopened and tuple(old[1:]) == tuple(row.values()) and have == want:
            report.count(cand.kind, "unchanged")
            return
        status = OPEN if reopened else old[0]
        db.execute(f"UPDATE clusters SET status = ?, updated_at = ?, {', '.join(f + ' = ?' for f in FIELDS)}"
                   " WHERE id = ?", [status, now_s, *row.values(), cand.id])
        what = "opened" if reopened else "updated"
    if what == "opened":
        report.opened_ids.append(cand.id)
    report.count(cand.kind, what)
    gone, new = sorted(have - want), sorted(want - have)
    db.conn.executemany("DELETE FROM cluster_members WHERE cluster_id = ? AND document_id = ?",
                        [(cand.id, d) for d in gone])
    db.conn.executemany("INSERT INTO cluster_members (cluster_id, document_id, added_at) VALUES (?, ?, ?)",
                        [(cand.id, d, now_s) for d in new])
    report.count(cand.kind, "members_added", len(new))
    report.count(cand.kind, "members_removed", len(gone))


# -- listing -------------------------------------------------------------------
def list_clusters(db: sqlite_utils.Database, *, since: datetime | None = None, kind: str | None = None,
                  limit: int = 50, include_closed: bool = False, examples: int = 3,
                  tz: tzinfo | None = None) -> list[dict[str, Any]]:
    """Clusters by last_seen (newest first) with up to `examples` member texts (newest first)."""
    where, params = [], []
    if not include_closed:
        where.append("status != ?")
        params.append(CLOSED)
    if kind:
        where.append("kind = ?")
        params.append(kind)
    if since is not None:
        where.append("last_seen >= ?")
        params.append(stored(since))
    sql = "SELECT * FROM clusters" + (" WHERE " + " AND ".join(where) if where else "")
    rows = [dict(r) for r in db.query(sql + " ORDER BY last_seen DESC, id LIMIT ?", [*params, limit])]
    texts = _examples(db, [r["id"] for r in rows], examples)
    for row in rows:
        row["meta"] = json.loads(row["meta"] or "{}")
        picked = texts.get(row["id"], [])
        row["examples"] = [t for _, t in picked]
        row["example_ids"] = [d for d, _ in picked]
    return rows


def _examples(db: sqlite_utils.Database, ids: list[str], n: int) -> dict[str, list[tuple[str, str]]]:
    out: dict[str, list[tuple[str, str]]] = defaultdict(list)
    if not ids or n <= 0:
        return out
    marks = ",".join("?" * len(ids))
    for cid, doc_id, text in db.execute(
            "SELECT cluster_id, document_id, text FROM (SELECT m.cluster_id, d.id AS document_id, d.text,"
            " row_number() OVER (PARTITION BY m.cluster_id ORDER BY d.created_at DESC, d.id) AS rn"
            f" FROM cluster_members m JOIN documents d ON d.id = m.document_id WHERE m.cluster_id IN ({marks}))"
            " WHERE rn <= ? ORDER BY cluster_id, rn", [*ids, n]):
        out[cid].append((doc_id, text))
    return out


_SPAN = re.compile(r"^(\d+)\s*([hdw])$")


def parse_since(value: str, now: datetime, tz: tzinfo) -> datetime:
    """'2024-05-01' (local midnight), an ISO time, or a span back from now ('24h', '7d', '2w')."""
    value = value.strip()
    span = _SPAN.match(value)
    if span:
        unit = {"h": "hours", "d": "days", "w": "weeks"}[span.group(2)]
        return now - timedelta(**{unit: int(span.group(1))})
    try:
        if len(value) == 10:
            return day_start(date.fromisoformat(value), tz)
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{value!r} is not a date (2024-05-01), an ISO time or a span (24h, 7d)") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=tz)
