"""The incident engine: one incident per (shop, item, category), grown by new evidence.

`update_incidents` reads the analyses written since its cursor (`engine_state`), so a cycle
costs in proportion to the new data, not to the store. It recounts `signal_days` for the local
days those documents fall on, then turns their rule hits into evidence per (shop, item,
category), adds spikes, manipulation and emergent topics (`sentiment.signals.evidence`), and
applies each piece of evidence to its incident: open, grow, raise, reopen. Open incidents
without evidence for the quiet period are resolved by `system`. Everything is one
transaction; the same data and `now` change nothing on a second run. docs/incidents.md has
the model.
"""
from __future__ import annotations

import json
import logging
import math
from bisect import bisect_right
from functools import lru_cache
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timedelta, timezone
from typing import Any, Iterable, Iterator, Mapping, Sequence

import sqlite_utils

from sentiment.config import SEVERITY_ORDER, Settings
from sentiment.rules.catalogue import FALLBACK_OWNERS
from sentiment.signals import daycounts, evidence
from sentiment.signals.candidates import ITEM_KEY_SQL, NOT_PLACEHOLDER, OWN_DATE, ClusterOptions
from sentiment.signals.clusters import cluster_options
from sentiment.signals.evidence import Doc, Evidence
from sentiment.signals.triage import CLOSED_STATES, SYSTEM, log_entry, set_state
from sentiment.store import incident_id, transaction
from sentiment.times import stored

log = logging.getLogger(__name__)

CURSOR = "incidents.cursor"
# Duplicates and topics read the whole recent window, not only the new analyses: at most once
# per CONTENT_EVERY, and only when analyses arrived since they last ran ("<rowid> <utc time>").
CONTENT, CONTENT_EVERY = "incidents.content", timedelta(hours=1)
QUIET_THROUGH = "incidents.quiet_through"  # quiet close has looked at incidents last seen before this
IMMEDIATE = ("critical", "high")  # severities that open an incident at the first document
QUIET_NOTE = "无新证据 {days} 天，自动关闭"
BACKFILL_NOTE = "证据早于静默期，自动关闭"
MANIPULATION_OWNERS = ("pr",)


def rank(severity: str | None) -> int:
    return SEVERITY_ORDER.index(severity) if severity in SEVERITY_ORDER else len(SEVERITY_ORDER)


def raised(severity: str, steps: int) -> str:
    return SEVERITY_ORDER[max(0, rank(severity) - steps)] if severity in SEVERITY_ORDER else severity


@dataclass(frozen=True)
class CategoryPolicy:
    """What one category's rules say: the widest window, the smallest min_count, the owners."""

    window: timedelta = timedelta(hours=24)
    min_count: int = 1
    owners: tuple[str, ...] = FALLBACK_OWNERS


def policies(rules: Any) -> dict[str, CategoryPolicy]:
    groups: dict[str, list[Any]] = defaultdict(list)
    for rule in getattr(rules, "rules", rules or ()):
        groups[rule.category].append(rule)
    return {c: CategoryPolicy(window=max(r.window for r in rs), min_count=max(1, min(int(r.min_count) for r in rs)),
                              owners=tuple(sorted({o for r in rs for o in r.owners})) or FALLBACK_OWNERS)
            for c, rs in groups.items()}


@dataclass
class IncidentReport:
    documents: int = 0
    opened: list[str] = field(default_factory=list)
    reopened: list[str] = field(default_factory=list)
    grown: list[str] = field(default_factory=list)
    raised: list[str] = field(default_factory=list)
    closed: list[str] = field(default_factory=list)
    backfilled: int = 0  # incidents made from evidence already older than the quiet period
    days_recounted: int = 0
    content_checked: bool = False  # duplicates and topics were looked for in this run

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        for key in ("opened", "reopened", "grown", "raised", "closed"):
            out[key] = len(out[key])
        return out


@dataclass
class _Context:
    db: sqlite_utils.Database
    settings: Settings
    now: datetime
    stamp: str  # now, UTC ISO
    policies: Mapping[str, CategoryPolicy]
    options: ClusterOptions
    report: IncidentReport
    hits: _CategoryHits | None = None  # the hit documents of the category being applied

    @property
    def quiet(self) -> timedelta:
        return timedelta(days=self.settings.incidents.quiet_days)


def update_incidents(db: sqlite_utils.Database, settings: Settings, now: datetime, *, rules: Any = None,
                     limit: int | None = None) -> IncidentReport:
    """Apply the evidence of the analyses written since the last run; close quiet incidents.

    `rules`: the rule set in use (its categories' windows, min_counts and owners); `limit`: at
    most this many new analyses (tests), else all of them."""
    if now.tzinfo is None:
        raise ValueError("update_incidents needs an aware `now`")
    report = IncidentReport()
    ctx = _Context(db, settings, now, now.astimezone(timezone.utc).isoformat(timespec="seconds"),
                   policies(rules), cluster_options(settings), report)
    with transaction(db):
        _close_quiet(ctx)  # first: evidence arriving after a pause reopens rather than grows
        low = int(_state(db, CURSOR) or 0)
        high = db.execute("SELECT coalesce(max(rowid), 0) FROM analyses").fetchone()[0]
        if limit is not None:
            high = min(high, low + limit)
        if high > low:
            report.documents = high - low
            days = daycounts.touched_days(db, low, high, ctx.options.tz)
            daycounts.recount(db, days, ctx.options.tz)
            daycounts.note_newest(db, low, high)
            report.days_recounted = len(days)
            _apply_rule_evidence(ctx, rule_evidence(db, low, high))
            for ev in evidence.spikes(db, ctx.options, days, now):
                _apply(ctx, ev)
            _set_state(db, CURSOR, str(high))
        if _content_due(db, now, high):
            start = now - timedelta(days=settings.incidents.window_days)
            for ev in evidence.manipulation(db, ctx.options, start, now):
                _apply(ctx, ev)
            for ev in evidence.topics(db, ctx.options, start, now):
                _apply(ctx, ev)
            _set_state(db, CONTENT, f"{high} {ctx.stamp}")
            report.content_checked = True
        _close_quiet(ctx)
    log.info("incidents: %d documents, opened %d, reopened %d, grown %d, raised %d, closed %d",
             report.documents, len(report.opened), len(report.reopened), len(report.grown), len(report.raised),
             len(report.closed))
    return report


def _content_due(db: sqlite_utils.Database, now: datetime, high: int) -> bool:
    last = _state(db, CONTENT)
    if last is None:
        return high > 0
    rowid, _, at = last.partition(" ")
    return int(rowid) < high and now - datetime.fromisoformat(at) >= CONTENT_EVERY


# -- rule evidence --------------------------------------------------------------------------

# a document without a date of its own or a first-seen date is placed at its ingest time
DOC_AT_SQL = "coalesce(d.created_at, strftime('%Y-%m-%dT%H:%M:%S+08:00', d.ingested_at, '+8 hours'))"


def rule_evidence(db: sqlite_utils.Database, low: int, high: int, where: str = "a.rowid > ? AND a.rowid <= ?",
                  params: Sequence[Any] | None = None) -> list[Evidence]:
    """The rule hits of documents analyzed in (low, high] (or matching `where`), per (shop, item,
    category), in time order."""
    rows = db.execute(
        f"SELECT coalesce(d.shop, ''), {ITEM_KEY_SQL}, h.category, d.id, {DOC_AT_SQL} AS at, d.item_id, d.item_title,"
        f" h.severity, h.rule_id, h.terms, {OWN_DATE} FROM analyses a JOIN rule_hits h ON h.document_id = a.document_id"
        f" JOIN documents d ON d.id = a.document_id WHERE {where} AND {NOT_PLACEHOLDER}"
        " ORDER BY at, d.id", [low, high] if params is None else list(params))
    groups: dict[tuple[str, str, str], dict[str, Doc]] = defaultdict(dict)
    for shop, key, category, doc_id, at, item_id, title, severity, rule_id, terms, dated in rows:
        docs = groups[(shop, key, category)]
        old = docs.get(doc_id)
        words = tuple(_terms(terms))
        if old is None or rank(severity) < rank(old.severity):
            docs[doc_id] = Doc(doc_id, at, severity, item_id, title, (rule_id,) + (old.rules if old else ()),
                               words + (old.terms if old else ()), bool(dated))
        else:
            docs[doc_id] = replace(old, rules=old.rules + (rule_id,), terms=old.terms + words)
    return [Evidence(shop, key, category, "rule", sorted(docs.values(), key=lambda d: (d.at, d.id)), judged=False)
            for (shop, key, category), docs in sorted(groups.items())]


def _terms(raw: str | None) -> list[str]:
    try:
        values = json.loads(raw or "[]")
    except ValueError:
        return []
    words = [str(v[0] if isinstance(v, list) and v else v) for v in values]
    return [w for w in words if len(w) > 1]  # one-character parts of a NEAR query name nothing


_HITS_SQL = (
    f"SELECT coalesce(d.shop, ''), {ITEM_KEY_SQL}, d.id, d.created_at, d.item_id, d.item_title,"
    " min(CASE h.severity WHEN 'critical' THEN 0 WHEN 'high' THEN 1 WHEN 'medium' THEN 2 ELSE 3 END),"
    " group_concat(h.rule_id), group_concat(h.terms, char(31))"
    " FROM rule_hits h JOIN documents d ON d.id = h.document_id"
    " WHERE h.category = ? AND h.created_at >= ? AND h.created_at <= ?{more}"
    f" AND {NOT_PLACEHOLDER} AND {OWN_DATE} GROUP BY d.id ORDER BY d.created_at, d.id")


def _hit_docs(rows: Iterable[Sequence[Any]]) -> Iterator[tuple[tuple[str, str], Doc]]:
    for shop, key, i, at, item, title, s, rules, terms in rows:
        yield (shop, key), Doc(i, at, SEVERITY_ORDER[min(s, 3)], item, title, tuple((rules or "").split(",")),
                               tuple(t for raw in (terms or "").split("\x1f") for t in _terms(raw)))


def _window_hits(db: sqlite_utils.Database, ev: Evidence, start: str, end: str) -> list[Doc]:
    """Every hit document of the evidence's (shop, item, category) in [start, end], in time order."""
    rows = db.execute(_HITS_SQL.format(more=f" AND {ITEM_KEY_SQL} = ? AND coalesce(d.shop, '') = ?"),
                      [ev.category, start, end, ev.item_key, ev.shop])
    return [doc for _, doc in _hit_docs(rows)]


class _CategoryHits:
    """Every hit document of one category in [start, end], by (shop, item key), read in one query:
    the rule evidence of a back-fill spans hundreds of items, and a query per item would read the
    category's whole history for each of them."""

    def __init__(self, db: sqlite_utils.Database, category: str, start: str, end: str) -> None:
        self.category, self.start, self.end = category, start, end
        self.by_key: dict[tuple[str, str], list[Doc]] = defaultdict(list)
        for key, doc in _hit_docs(db.execute(_HITS_SQL.format(more=""), [category, start, end])):
            self.by_key[key].append(doc)

    def get(self, ev: Evidence, start: str, end: str) -> list[Doc] | None:
        """The evidence's item's hits, in time order, when [start, end] is inside what was read
        (hits outside [start, end] may be among them), else None."""
        if ev.category != self.category or start < self.start or end > self.end:
            return None
        return self.by_key.get((ev.shop, ev.item_key), [])


def _apply_rule_evidence(ctx: _Context, found: Sequence[Evidence]) -> None:
    """`_apply` each piece of rule evidence, category by category, with the category's hits over
    the evidence's windows read once (`_CategoryHits`); only one category's are held at a time."""
    by_category: dict[str, list[Evidence]] = defaultdict(list)
    for ev in found:
        by_category[ev.category].append(ev)
    for category, group in sorted(by_category.items()):
        window = ctx.policies.get(category, CategoryPolicy()).window
        start = min(stored(datetime.fromisoformat(ev.docs[0].at) - window) for ev in group)
        end = max(stored(datetime.fromisoformat(ev.docs[-1].at)) for ev in group)
        ctx.hits = _CategoryHits(ctx.db, category, start, end) if len(group) > 1 else None
        try:
            for ev in group:
                _apply(ctx, ev)
        finally:
            ctx.hits = None


# -- applying evidence -------------------------------------------------------------------------

@dataclass
class _Incident:
    id: str
    exists: bool
    state: str  # triage state: new | acknowledged | in_progress | resolved | ignored
    last_seen: str | None
    members: set[str]  # those of the evidence's documents that are members already


def _load(db: sqlite_utils.Database, iid: str, docs: Sequence[Doc]) -> _Incident:
    row = db.execute("SELECT last_seen FROM incidents WHERE id = ?", [iid]).fetchone()
    if row is None:
        return _Incident(iid, False, "new", None, set())
    state = db.execute("SELECT state FROM triage WHERE item_key = ?", [f"incident:{iid}"]).fetchone()
    members: set[str] = set()
    ids = [d.id for d in docs]
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        members |= {r[0] for r in db.execute(
            f"SELECT document_id FROM incident_members WHERE incident_id = ? AND document_id IN"
            f" ({', '.join('?' * len(chunk))})", [iid, *chunk])}
    return _Incident(iid, True, state[0] if state else "new", row[0], members)


@dataclass
class _Walk:
    """What applying one piece of evidence found: the documents that join, whether the incident
    (re)opened on the way, and when its latest open period began (due times count from it)."""

    joined: list[Doc] = field(default_factory=list)
    opened: bool = False
    period_start: str | None = None


def _apply(ctx: _Context, ev: Evidence) -> None:
    """Walk the evidence in time order: join an open incident, or open (reopen) it when the
    evidence qualifies. An incident whose evidence pauses longer than the quiet period (inside a
    back-fill) closed in between: the later evidence must qualify again."""
    iid = incident_id(ev.shop, ev.item_key, ev.category)
    inc = _load(ctx.db, iid, ev.docs)
    accepting = inc.exists and inc.state != "resolved"
    last = datetime.fromisoformat(inc.last_seen) if inc.last_seen else None
    walk = _Walk()
    seen: set[str] = set(inc.members)
    check = _Threshold(ctx, ev) if not ev.judged else None
    for doc in ev.docs:
        at = datetime.fromisoformat(doc.at)
        if doc.id in seen:
            continue
        if accepting and inc.state != "ignored" and last is not None and at - last > ctx.quiet:
            accepting = False
        if accepting and check is not None and not check.grows(doc):
            continue  # at or below the item's own baseline again: background, not this incident
        if not accepting:
            trigger = check.opens(doc) if check else [doc]
            if not trigger:
                continue
            accepting, walk.opened = True, True
            walk.period_start = min(d.at for d in trigger)
            for d in trigger:
                if d.id not in seen:
                    walk.joined.append(d)
                    seen.add(d.id)
        else:
            walk.joined.append(doc)
            seen.add(doc.id)
        last = max(last, at) if last else at
    if walk.joined:
        _store(ctx, ev, inc, walk)


RULE_P = 1e-3  # a medium or low rule's window count this improbable for the item's baseline opens an incident


@lru_cache(maxsize=4096)
def _rare_count(expected: float) -> int:
    """The smallest count with a Poisson tail below RULE_P for this expectation (1 for none): for a
    small baseline, mean + 3 standard deviations is far less rare than it looks. Above 50 the
    normal approximation (z = 3.09) serves."""
    if expected <= 0:
        return 1
    if expected > 50:
        return math.ceil(expected + 3.09 * math.sqrt(expected)) + 1
    count = max(1, math.floor(expected))
    while evidence.poisson_tail(count, expected, floor=0.0) >= RULE_P:
        count += 1
    return count


class _Threshold:
    """For medium/low rule evidence: when it opens an incident, and when it still grows one.

    Critical and high documents open it at once. Others open it when the hit documents in the
    category's window reach max(min_count, the count whose Poisson tail is below 1e-3), `expected`
    being the item's daily baseline for the category times the window's days; an open incident takes them
    while the window stays at that level, so a rate that became the item's normal stops feeding
    it and it closes after the quiet period."""

    def __init__(self, ctx: _Context, ev: Evidence) -> None:
        self.policy = policy = ctx.policies.get(ev.category, CategoryPolicy())
        self.opts, self.tz = ctx.options, ctx.options.tz
        first = datetime.fromisoformat(ev.docs[0].at)
        last = datetime.fromisoformat(ev.docs[-1].at)
        start, end = stored(first - policy.window), stored(last)
        cached = ctx.hits.get(ev, start, end) if ctx.hits is not None else None
        self.hits = cached if cached is not None else _window_hits(ctx.db, ev, start, end)
        self.times = [datetime.fromisoformat(h.at) for h in self.hits]  # in time order, as the hits
        self.position = {h.id: i for i, h in enumerate(self.hits)}
        self.days = max(1.0, policy.window.total_seconds() / 86400)
        first_day = (first - policy.window).astimezone(self.tz).date() - timedelta(days=self.opts.baseline_days + 1)
        self.counts = daycounts.series(ctx.db, ev.item_key, ev.category, first_day, last.astimezone(self.tz).date())
        self.means: dict[Any, float] = {}

    def window(self, doc: Doc) -> tuple[list[Doc], float]:
        """The hit documents in the window ending at `doc`, and how many the baseline expects: two
        binary searches in the hits' times (a back-fill walks thousands of documents of one item)."""
        at = datetime.fromisoformat(doc.at)
        lo, hi = bisect_right(self.times, at - self.policy.window), bisect_right(self.times, at)
        inside = self.hits[lo:hi]
        if not lo <= self.position.get(doc.id, -1) < hi:
            inside.append(doc)
        before = (at - self.policy.window).astimezone(self.tz).date()
        if before not in self.means:
            self.means[before] = daycounts.baseline(self.counts, before, self.opts.baseline_days)[0]
        return inside, self.means[before] * self.days

    def _above(self, doc: Doc) -> list[Doc]:
        inside, expected = self.window(doc)
        return inside if len(inside) >= max(self.policy.min_count, _rare_count(round(expected, 3))) else []

    def opens(self, doc: Doc) -> list[Doc]:
        """The documents that open the incident at `doc`, or []."""
        if doc.severity in IMMEDIATE:
            return [doc]
        if not doc.dated:
            return []  # dated when first seen: no place in a window
        return self._above(doc)

    def grows(self, doc: Doc) -> bool:
        """Whether an open incident takes `doc`: while its window stays above the threshold. A
        medium or low follow-up dated when first seen has no place in a window: a back-fill
        would pour every old complaint into whatever incident is open today."""
        if doc.severity in IMMEDIATE:
            return True
        return doc.dated and bool(self._above(doc))


def _store(ctx: _Context, ev: Evidence, inc: _Incident, walk: _Walk) -> None:
    db, report, joined = ctx.db, ctx.report, walk.joined
    db.conn.executemany(
        "INSERT OR IGNORE INTO incident_members (incident_id, document_id, created_at, severity, added_at)"
        " VALUES (?, ?, ?, ?, ?)", [(inc.id, d.id, d.at, d.severity, ctx.stamp) for d in joined])
    size, first, last, base = db.execute(
        "SELECT count(*), min(created_at), max(created_at), min(CASE severity WHEN 'critical' THEN 0"
        " WHEN 'high' THEN 1 WHEN 'medium' THEN 2 ELSE 3 END) FROM incident_members WHERE incident_id = ?",
        [inc.id]).fetchone()
    base_severity = SEVERITY_ORDER[min(base if base is not None else 3, 3)]
    if ev.severity and rank(ev.severity) < rank(base_severity):
        base_severity = ev.severity
    recent, active = db.execute(
        "SELECT sum(created_at >= ?), count(*) FROM incident_members WHERE incident_id = ? AND created_at >= ?",
        [stored(ctx.now - timedelta(hours=24)), inc.id,
         stored(ctx.now - timedelta(days=ctx.settings.incidents.window_days))]).fetchone()
    # size and speed raise rule incidents; spikes, topics and manipulation carry their own strength
    steps = _growth_steps(ctx, active or 0, recent or 0)
    severity = raised(base_severity, steps) if ev.kind == "rule" else base_severity
    latest = joined[-1]
    old = db.execute("SELECT severity, rules, meta, due_from, owners FROM incidents WHERE id = ?",
                     [inc.id]).fetchone()
    rules = Counter(json.loads(old[1] or "{}")) if old else Counter()
    for d in joined:
        rules.update(r for r in d.rules if r)
    meta = json.loads(old[2] or "{}") if old else {}
    meta.update(ev.meta)
    terms = Counter(meta.get("term_counts", {}))
    for d in joined:
        terms.update(d.terms)
    if terms:
        meta["term_counts"] = dict(terms.most_common(10))
    owners = sorted(set((old[4] or "").split(",") if old and old[4] else ()) | set(_owners(ctx, ev)))
    reopen = inc.exists and walk.opened and inc.state not in ("ignored",)
    due_from = walk.period_start if walk.opened and walk.period_start else (old[3] if old and old[3] else first)
    values = {
        "kind": ev.kind, "shop": ev.shop, "item_key": ev.item_key, "item_id": latest.item_id or None,
        "item_title": latest.item_title or None, "category": ev.category,
        "title": ev.title or "、".join(t for t, _ in terms.most_common(3)),
        "severity": severity, "base_severity": base_severity, "size": size, "first_seen": first,
        "last_seen": last, "due_from": due_from, "due_at": _due(ctx, due_from, severity),
        "owners": ",".join(owners), "rules": json.dumps(dict(sorted(rules.items())), ensure_ascii=False),
        "meta": json.dumps(meta, ensure_ascii=False, sort_keys=True), "updated_at": ctx.stamp,
    }
    key = f"incident:{inc.id}"
    backfill = datetime.fromisoformat(last) < ctx.now - ctx.quiet
    if not inc.exists:
        db["incidents"].insert({"id": inc.id, **values, "opened_at": ctx.stamp, "created_at": ctx.stamp,
                                "alerted_severity": None})
        log_entry(db, key, ctx.stamp, SYSTEM, "opened", "new", "new",
                  f"{_severity_name(severity)} · {size} 条证据")
        if backfill:
            set_state(db, key, "incident", "resolved", ctx.stamp, SYSTEM, owners=values["owners"])
            log_entry(db, key, ctx.stamp, SYSTEM, "resolve", "new", "resolved", BACKFILL_NOTE)
            report.backfilled += 1
        else:
            report.opened.append(inc.id)
        return
    db["incidents"].update(inc.id, {**values, **({"opened_at": ctx.stamp} if reopen else {})})
    if reopen and not backfill:
        set_state(db, key, "incident", "new", ctx.stamp, SYSTEM, owners=values["owners"])
        log_entry(db, key, ctx.stamp, SYSTEM, "reopen", inc.state, "new",
                  f"{len(joined)} 条新证据（最新 {latest.at[:16].replace('T', ' ')}）")
        report.reopened.append(inc.id)
    else:
        report.grown.append(inc.id)
    if old and rank(severity) < rank(old[0]):
        log_entry(db, key, ctx.stamp, SYSTEM, "severity", inc.state, inc.state if not reopen else "new",
                  f"{_severity_name(old[0])} → {_severity_name(severity)}（{size} 条）")
        report.raised.append(inc.id)


def _growth_steps(ctx: _Context, size: int, recent: int) -> int:
    opts = ctx.settings.incidents
    if size >= 5 * opts.grow_count or recent >= 5 * opts.grow_day_count:
        return 2
    return 1 if size >= opts.grow_count or recent >= opts.grow_day_count else 0


def _owners(ctx: _Context, ev: Evidence) -> tuple[str, ...]:
    if ev.owners:
        return ev.owners
    policy = ctx.policies.get(ev.category)
    return policy.owners if policy else FALLBACK_OWNERS


def _due(ctx: _Context, due_from: str, severity: str) -> str:
    sla = ctx.settings.incidents.sla.get(severity, timedelta(hours=72))
    return stored(datetime.fromisoformat(due_from) + sla)


SEVERITY_NAMES = {"critical": "紧急", "high": "高", "medium": "中", "low": "低"}


def _severity_name(severity: str | None) -> str:
    return SEVERITY_NAMES.get(severity or "", severity or "")


# -- lifecycle ---------------------------------------------------------------------------------

def _close_quiet(ctx: _Context) -> None:
    """Resolve (as `system`) the open incidents without evidence for the quiet period."""
    db = ctx.db
    cutoff = stored(ctx.now - ctx.quiet)
    # only incidents that went quiet since the last run: the older ones were closed then (or
    # reopened by a person since, who then decides), so a cycle does not read all history
    since = _state(db, QUIET_THROUGH) or ""
    rows = db.execute(
        "SELECT i.id, coalesce(t.state, 'new'), i.owners FROM incidents i"
        " LEFT JOIN triage t ON t.item_key = 'incident:' || i.id WHERE i.last_seen < ? AND i.last_seen >= ?"
        " AND coalesce(t.state, 'new') NOT IN ('resolved', 'ignored') ORDER BY i.id", [cutoff, since]).fetchall()
    if cutoff > since:
        _set_state(db, QUIET_THROUGH, cutoff)
    note = QUIET_NOTE.format(days=_days(ctx.settings.incidents.quiet_days))
    for iid, state, owners in rows:
        key = f"incident:{iid}"
        set_state(db, key, "incident", "resolved", ctx.stamp, SYSTEM, owners=owners)
        log_entry(db, key, ctx.stamp, SYSTEM, "resolve", state, "resolved", note)
        ctx.report.closed.append(iid)


def _days(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def refresh_documents(db: sqlite_utils.Database, settings: Settings, now: datetime, *, rules: Any,
                      where: str = "", params: Sequence[Any] = ()) -> IncidentReport:
    """Bring incidents in line with re-matched hits (after a rescan) of the documents matching
    `where` (SQL on `d.`, starting with " AND ", as the rescan's filters): documents that gained
    a hit join (or open) their incidents; rule incidents lose members whose hit is gone, and an
    incident left without evidence is resolved by `system`."""
    report = IncidentReport()
    ctx = _Context(db, settings, now, now.astimezone(timezone.utc).isoformat(timespec="seconds"),
                   policies(rules), cluster_options(settings), report)
    with transaction(db):
        gone = db.execute(
            "SELECT m.incident_id, m.document_id FROM incident_members m JOIN incidents i ON i.id = m.incident_id"
            " JOIN documents d ON d.id = m.document_id WHERE i.kind = 'rule' AND NOT EXISTS (SELECT 1 FROM"
            f" rule_hits h WHERE h.document_id = m.document_id AND +h.category = i.category){where}",
            list(params)).fetchall()
        db.conn.executemany("DELETE FROM incident_members WHERE incident_id = ? AND document_id = ?", gone)
        for iid in sorted({i for i, _ in gone}):
            size, first, last = db.execute("SELECT count(*), min(created_at), max(created_at) FROM incident_members"
                                           " WHERE incident_id = ?", [iid]).fetchone()
            db.execute("UPDATE incidents SET size = ?, first_seen = coalesce(?, first_seen),"
                       " last_seen = coalesce(?, last_seen), updated_at = ? WHERE id = ?",
                       [size, first, last, ctx.stamp, iid])
            state = db.execute("SELECT state FROM triage WHERE item_key = ?", [f"incident:{iid}"]).fetchone()
            if size == 0 and (state[0] if state else "new") not in CLOSED_STATES:
                key = f"incident:{iid}"
                set_state(db, key, "incident", "resolved", ctx.stamp, SYSTEM)
                log_entry(db, key, ctx.stamp, SYSTEM, "resolve", state[0] if state else "new", "resolved",
                          "重新匹配规则后已无证据，自动关闭")
                report.closed.append(iid)
        _apply_rule_evidence(ctx, rule_evidence(db, 0, 0, "1 = 1" + where, params))
    return report


# -- engine state --------------------------------------------------------------------------------

def _state(db: sqlite_utils.Database, key: str) -> str | None:
    row = db.execute("SELECT value FROM engine_state WHERE key = ?", [key]).fetchone()
    return row[0] if row else None


def _set_state(db: sqlite_utils.Database, key: str, value: str) -> None:
    db.execute("INSERT OR REPLACE INTO engine_state (key, value) VALUES (?, ?)", [key, value])


def reset_cursor(db: sqlite_utils.Database) -> None:
    """Make the next update read every analysis again (after a rescan changed hits)."""
    with transaction(db):
        db.execute("DELETE FROM engine_state WHERE key = ?", [CURSOR])


def pending(db: sqlite_utils.Database) -> int:
    """Analyses written since the engine's last run."""
    low = int(_state(db, CURSOR) or 0)
    return db.execute("SELECT coalesce(max(rowid), 0) FROM analyses").fetchone()[0] - low


def ids_by_members(db: sqlite_utils.Database, document_ids: Iterable[str]) -> dict[str, list[str]]:
    """document id -> the incidents it is evidence of."""
    ids = list(document_ids)
    out: dict[str, list[str]] = defaultdict(list)
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        for doc, iid in db.execute("SELECT document_id, incident_id FROM incident_members WHERE document_id IN"
                                   f" ({', '.join('?' * len(chunk))}) ORDER BY incident_id", chunk):
            out[doc].append(iid)
    return out


def by_ids(db: sqlite_utils.Database, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    if not ids:
        return {}
    rows = db.query(f"SELECT * FROM incidents WHERE id IN ({', '.join('?' * len(ids))})", list(ids))
    return {r["id"]: r for r in rows}
