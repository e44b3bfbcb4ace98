"""Daily digests: `build_digest` (read-only queries -> plain data) and `render_digest` (Jinja).

A digest reads, for one audience and one local day (docs/incidents.md):

1. **headline**: documents, negatives and the negative share against the day before and the
   7-day average; the incident counts (new, growing, overdue, open, closed);
2. **incidents** the audience owns (`incidents.owners`; empty owners: every audience), open in
   triage or resolved during the day or since, in four lists: 新增 (first seen on the day, or
   opened since the day began on evidence from before its end), 增长 (new evidence on the day),
   逾期 (past `due_at` at the end of the day, in neither of those) and 昨日关闭 (resolved during
   the day or since, by a person or by the engine's quiet close). Each list is ordered severity
   first, then overdue first, then size, then the newest evidence, and the open lists follow the
   rank of their first incident, so the most urgent incident is named first. Each incident shows
   up to `EXAMPLES` documents with order id, buyer, date and highlighted excerpt;
3. **categories**: per rule category of the audience, the day's documents against the mean of the
   previous `BASELINE_DAYS` days (`signal_days`; `rule_hits` when the engine has not counted the
   day), flagged 高于基线 above mean + 3 * max(std, 1);
4. **unanswered** (CS's reply backlog, oldest first), **qa**, and the optional **items** and
   **escalation** lists; the 14-day trend and data freshness.

Identical praise never reaches an audience outside `PRAISE_AUDIENCES`: the engine files praise
bursts as PR's `review_manipulation` incidents, and where such an incident is shared (a cash-back
rule of CS's joins the same id) other audiences see it only with its non-positive documents.

The data is JSON-serialisable (`sentiment digest --json` prints it); `render_digest` applies
`digest.html` / `digest.txt` (autoescaped, `StrictUndefined`) and keeps the body under the mail
budget (`render.BODY_BUDGET`): lists are capped by `LIMITS` when built, and shortened further (their
"另有 N 个" grows) when the rendered body is still too large.
"""
from __future__ import annotations

import json
import logging
import math
from datetime import date, datetime, timedelta, timezone
from email.message import EmailMessage
from typing import Any, Iterable, Mapping, Sequence
from zoneinfo import ZoneInfo

import sqlite_utils

from sentiment.config import DIGEST_SECTIONS, Settings
from sentiment.errors import ConfigError
from sentiment.reports import outbox as mailer
from sentiment.reports.channels.queue import channels_of, chat_key, queue_chat
from sentiment.reports.channels.render import chat_digest
from sentiment.reports.export import _ORDER_SQL
from sentiment.reports.render import (BODY_BUDGET, KIND_NAMES, SEVERITY_NAMES, SEVERITY_RANK, RenderedMessage,
                                      alert_doc_view, audience_name, category_name, digest_subject, highlight,
                                      item_link, local_minute, make_env, render_pair, short, state_name)
from sentiment.rules.catalogue import bundled_catalogue, catalogue_of
from sentiment.rules.loader import load_ruleset
from sentiment.rules.records import Rule
from sentiment.signals import triage
from sentiment.signals.candidates import FIRST_SEEN_FRESH, FRESH_FIRST_SEEN
from sentiment.signals.daycounts import newest_by_source
from sentiment.times import between, day_bounds, parse_moment, stored

log = logging.getLogger(__name__)

PR_CATEGORIES = ("escalation", "counterfeit")  # the escalation section's categories
SECTIONS = DIGEST_SECTIONS  # the sections [digest.sections] may name
DEFAULT_SECTIONS: dict[str, tuple[str, ...]] = {
    "cs": ("incidents", "categories", "unanswered", "qa"),
    "pr": ("incidents", "categories", "qa"),
}
OTHER_SECTIONS = ("incidents", "categories", "qa")
# incident lists, in the order the digest shows them, with their headings
GROUPS: tuple[tuple[str, str], ...] = (("new", "新增"), ("growing", "增长"), ("overdue", "逾期"),
                                       ("closed", "昨日关闭"))
OPEN_GROUPS = ("new", "growing", "overdue")
LIMITS = {"new": 15, "growing": 10, "overdue": 10, "closed": 10, "categories": 20, "items": 10,
          "unanswered": 20, "escalation": 10, "qa": 10, "resolved": 5}
# What `render_digest` shortens while the body is over the mail budget (dotted: a list inside
# `incidents`); each stage caps these lists in this order, closed incidents shrinking first.
FIT_LISTS = (*(f"incidents.{g}" for g, _ in GROUPS), "unanswered", "qa", "categories", "items", "escalation")
FIT_STAGES: tuple[tuple[int, ...], ...] = (
    (12, 8, 8, 5, 12, 6, 12, 6, 6), (10, 6, 6, 4, 10, 5, 10, 5, 5), (8, 5, 5, 3, 8, 4, 8, 4, 4),
    (6, 4, 4, 2, 6, 3, 6, 3, 3), (5, 3, 3, 2, 5, 2, 5, 2, 2), (4, 2, 2, 1, 4, 2, 4, 2, 2),
    (3, 2, 2, 1, 3, 1, 3, 1, 1), (2, 1, 1, 0, 2, 1, 2, 1, 1), (1, 1, 1, 0, 1, 0, 1, 0, 0), (0,) * 9,
)
TITLE_CHARS = 40  # item titles in lists
MAIL_BUDGET = 95_000  # encoded bytes of both parts: mail clients clip messages over ~100 KB
EXAMPLES = 3  # documents shown per incident
EXAMPLE_POOL = 30  # the newest members (up to the day's end) examples are picked from
TREND_DAYS = 14
BASELINE_DAYS = 14  # a category's day against the mean of this many days before it
BASELINE_K = 3.0  # 高于基线: count > mean + BASELINE_K * max(std, 1)
PRAISE_AUDIENCES = frozenset({"pr"})  # who sees praise (a burst of identical praise is 刷单 risk for PR)
MANIPULATION = "review_manipulation"
NEGATIVE_SQL = "(a.label = 'negative' OR d.rating = 'negative')"
POSITIVE_SQL = "(d.rating = 'positive' OR (a.label = 'positive' AND coalesce(d.rating, '') != 'negative'))"
# the columns a document is shown with (order id: reports.export's expression)
DOC_COLUMNS = (f"d.id, d.kind, d.created_at, d.rating, d.text, d.author, d.meta, d.item_id, d.item_title,"
               f" {_ORDER_SQL} AS order_id")
SYSTEM, SYSTEM_NAME = "system", "系统"  # who the engine writes in triage (quiet close), as shown
UNKNOWN_ITEM = "（未知商品）"
SHOP_WIDE = "（全店）"


# ---------------------------------------------------------------- rules

def rule_list(rules: Any) -> list[Any]:
    """Rules from a RuleSet (`.rules`), a list of rules, or None (load the configured pack)."""
    if rules is None:
        return []
    return list(getattr(rules, "rules", rules))


def load_default_rules(settings: Settings) -> Any:
    """The configured rule pack."""
    return load_ruleset(settings.rules_paths)


def rget(rule: Any, name: str, default: Any = None) -> Any:
    return rule.get(name, default) if isinstance(rule, Mapping) else getattr(rule, name, default)


def audience_scope(rules: Any, audience: str) -> tuple[set[str], set[str]]:
    """(categories, rule ids) owned by `audience`."""
    listed = rule_list(rules)
    cat = catalogue_of(listed) if listed and all(isinstance(r, Rule) for r in listed) else None
    if not listed:
        cat = bundled_catalogue()
    if cat is not None:
        return cat.categories_for(audience), cat.rule_ids_for(audience)
    mine = [r for r in listed if audience in tuple(rget(r, "owners", ()) or ())]
    return {rget(r, "category") for r in mine}, {rget(r, "id") for r in mine}


# ---------------------------------------------------------------- options

def digest_options(settings: Settings, audience: str) -> dict[str, Any]:
    """[digest] for `audience` (validated when the settings load): unanswered thresholds and its sections."""
    options = settings.digest
    sections = options.sections.get(audience, DEFAULT_SECTIONS.get(audience, OTHER_SECTIONS))
    return {"unanswered_hours": options.unanswered_hours, "unanswered_days": options.unanswered_days,
            "sections": tuple(sections)}


# ---------------------------------------------------------------- small helpers

def _rows(db: sqlite_utils.Database, sql: str, params: Sequence[Any]) -> list[dict[str, Any]]:
    cur = db.execute(sql, list(params))
    names = [x[0] for x in cur.description]
    return [dict(zip(names, v)) for v in cur.fetchall()]


def _section(rows: list[dict[str, Any]], total: int, **extra: Any) -> dict[str, Any]:
    return {"items": rows, "more": max(0, total - len(rows)), "total": total, **extra}


def _marks(values: Sequence[Any]) -> str:
    return ", ".join("?" for _ in values)


def _owned(owners: str | None, audience: str) -> bool:
    """`owners` is a comma list of audiences; an incident naming none goes to every audience."""
    names = {o.strip() for o in (owners or "").split(",") if o.strip()}
    return not names or audience in names


def _json(value: str | None) -> dict[str, Any]:
    try:
        parsed = json.loads(value or "{}")
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def _item_title(row: Mapping[str, Any]) -> str:
    if row.get("item_key") == "*":
        return SHOP_WIDE
    return row.get("item_title") or row.get("item_id") or UNKNOWN_ITEM


def _hits(db: sqlite_utils.Database, doc_ids: Iterable[str]) -> dict[str, list[tuple[str, str, list[Any]]]]:
    """Rule hits of these documents: id -> [(rule id, category, terms)] (one query per 500 ids)."""
    ids = sorted(set(doc_ids))
    found: dict[str, list[tuple[str, str, list[Any]]]] = {}
    for at in range(0, len(ids), 500):
        chunk = ids[at:at + 500]
        for doc, rule_id, category, raw in db.execute(
                f"SELECT document_id, rule_id, category, terms FROM rule_hits WHERE document_id IN ({_marks(chunk)})"
                " ORDER BY document_id, rule_id", chunk):
            try:
                terms = [t for t in json.loads(raw or "[]") if isinstance(t, list) and t]
            except ValueError:
                terms = []
            found.setdefault(doc, []).append((rule_id, category, terms))
    return found


def _terms(hits: Mapping[str, list[tuple[str, str, list[Any]]]], doc_id: str,
           categories: Iterable[str] | None = None) -> list[list[Any]]:
    cats = set(categories or ())
    return [t for _, category, terms in hits.get(doc_id, []) if not cats or category in cats for t in terms]


def _incident_ids(db: sqlite_utils.Database, doc_ids: Sequence[str]) -> dict[str, list[str]]:
    """The incidents each document is evidence of (document id -> sorted incident ids)."""
    if not doc_ids:
        return {}
    found: dict[str, list[str]] = {}
    for doc, iid in db.execute(f"SELECT document_id, incident_id FROM incident_members"
                               f" WHERE document_id IN ({_marks(doc_ids)}) ORDER BY incident_id", list(doc_ids)):
        found.setdefault(doc, []).append(iid)
    return found


def _doc(row: Mapping[str, Any], terms: list[list[Any]], tz: ZoneInfo) -> dict[str, Any]:
    """A document as the digest shows it: local date, kind, rating, order id, buyer, excerpt, item link."""
    view = alert_doc_view(row, terms, tz)
    view.update(item_id=row.get("item_id"),
                item_title=short(row.get("item_title") or row.get("item_id") or UNKNOWN_ITEM, TITLE_CHARS),
                link=item_link(row.get("item_id")))
    return view


# ---------------------------------------------------------------- headline and trend

def latest_day(db: sqlite_utils.Database, tz: ZoneInfo) -> date | None:
    """The local day of the newest document (for demos and back-filled stores)."""
    row = db.execute("SELECT max(datetime(created_at)) FROM documents").fetchone()
    if not row or not row[0]:
        return None
    return datetime.fromisoformat(row[0]).replace(tzinfo=timezone.utc).astimezone(tz).date()


def day_stats(db: sqlite_utils.Database, day: date, tz: ZoneInfo) -> dict[str, Any]:
    start, end = day_bounds(day, tz)
    where, params = between("d.created_at", start, end)
    row = db.execute(
        "SELECT count(*), sum(a.label IS NOT NULL), sum(a.label = 'negative'),"
        " sum(d.kind IN ('question', 'answer'))"
        f" FROM documents d LEFT JOIN analyses a ON a.document_id = d.id WHERE {where} AND {FRESH_FIRST_SEEN}",
        [*params, stored(start - FIRST_SEEN_FRESH)]).fetchone()
    documents, scored, negatives, qa = (int(v or 0) for v in row)
    return {"date": day.isoformat(), "documents": documents, "scored": scored, "negatives": negatives,
            "qa": qa, "share": negatives / scored if scored else None}


def _headline(days: list[dict[str, Any]]) -> dict[str, Any]:
    today, prev, week = days[-1], days[-2], days[-8:-1]
    shares = [d["share"] for d in week if d["share"] is not None]
    avg7 = sum(shares) / len(shares) if shares else None
    avg7_neg = sum(d["negatives"] for d in week) / len(week)
    share = today["share"]
    return {
        **today,
        "prev_share": prev["share"], "prev_negatives": prev["negatives"],
        "delta_prev": share - prev["share"] if share is not None and prev["share"] is not None else None,
        "avg7_share": avg7, "avg7_negatives": round(avg7_neg, 1),
        "delta_avg7": share - avg7 if share is not None and avg7 is not None else None,
    }


def _trend(days: list[dict[str, Any]]) -> list[dict[str, Any]]:
    top = max([d["share"] or 0.0 for d in days] + [0.01])
    return [{"date": d["date"], "label": d["date"][5:], "share": d["share"], "negatives": d["negatives"],
             "documents": d["documents"], "bar": round(100 * (d["share"] or 0.0) / top)} for d in days]


# ---------------------------------------------------------------- incidents

def _candidates(db: sqlite_utils.Database, start: datetime, end: datetime) -> list[dict[str, Any]]:
    """Incidents open in triage, or resolved at or after `start`, with their state and the day's flags.

    `is_new`: first seen on the day, or opened (or reopened) since the day began on evidence from
    before its end (an incident the engine opened this morning from yesterday's late export is new
    to yesterday's digest). One query (triage joined, not read per incident); `day_new` counts
    members created on the day through the (incident_id, created_at) index."""
    where, params = between("m.created_at", start, end)
    opened = ("(julianday(i.first_seen) >= julianday(?) AND julianday(i.first_seen) < julianday(?))"
              " OR (julianday(i.opened_at) >= julianday(?) AND julianday(i.first_seen) < julianday(?))")
    bounds = [start.isoformat(), end.isoformat()]
    return _rows(db, (
        "SELECT i.id, i.kind, i.item_key, i.item_id, i.item_title, i.category, i.title, i.severity, i.size,"
        " i.first_seen, i.last_seen, i.opened_at, i.due_at, i.owners, i.meta,"
        " coalesce(t.state, 'new') AS state, t.assignee, t.resolved_at, t.updated_by, t.note,"
        f" ({opened}) AS is_new, coalesce(julianday(i.due_at) < julianday(?), 0) AS overdue,"
        f" (SELECT count(*) FROM incident_members m WHERE m.incident_id = i.id AND {where}) AS day_new"
        " FROM incidents i LEFT JOIN triage t ON t.item_key = 'incident:' || i.id"
        f" WHERE coalesce(t.state, 'new') IN ({_marks(triage.OPEN_STATES)})"
        " OR (t.state = 'resolved' AND julianday(t.resolved_at) >= julianday(?))"),
        [*bounds, *bounds, end.isoformat(), *params, *triage.OPEN_STATES, start.isoformat()])


def _praise_only(db: sqlite_utils.Database, ids: Sequence[str]) -> set[str]:
    """Of these incidents, those without a single document that is not praise."""
    if not ids:
        return set()
    have = {r[0] for r in db.execute(
        f"SELECT DISTINCT m.incident_id FROM incident_members m JOIN documents d ON d.id = m.document_id"
        f" LEFT JOIN analyses a ON a.document_id = d.id WHERE m.incident_id IN ({_marks(ids)})"
        f" AND NOT {POSITIVE_SQL}", list(ids))}
    return set(ids) - have


def _order_key(c: Mapping[str, Any]) -> tuple[Any, ...]:
    """Severity first (critical > high > medium > low), then overdue first, then size (larger
    first), then the newest evidence first; the id breaks ties."""
    last = parse_moment(c["last_seen"])
    return (SEVERITY_RANK.get(c["severity"] or "", 9), 0 if c["overdue"] else 1, -(c["size"] or 0),
            -(last.timestamp() if last else 0.0), c["id"])


def _incidents(db: sqlite_utils.Database, start: datetime, end: datetime, audience: str,
               tz: ZoneInfo) -> dict[str, Any]:
    praise = audience in PRAISE_AUDIENCES
    rows = [c for c in _candidates(db, start, end) if _owned(c["owners"], audience)]
    if not praise:
        hidden = _praise_only(db, [c["id"] for c in rows if c["category"] == MANIPULATION])
        rows = [c for c in rows if c["id"] not in hidden]
    groups: dict[str, list[dict[str, Any]]] = {g: [] for g, _ in GROUPS}
    open_rows = []
    for c in rows:
        c["overdue"] = bool(c["overdue"]) and c["state"] in triage.OPEN_STATES
        if c["state"] not in triage.OPEN_STATES:
            groups["closed"].append(c)
            continue
        open_rows.append(c)
        if c["is_new"]:
            groups["new"].append(c)
        elif c["day_new"]:
            groups["growing"].append(c)
        elif c["overdue"]:
            groups["overdue"].append(c)
    for key in OPEN_GROUPS:
        groups[key].sort(key=_order_key)
    groups["closed"].sort(key=lambda c: (-(parse_moment(c["resolved_at"]) or start).timestamp(), *_order_key(c)))
    listed = {key: groups[key][:LIMITS[key]] for key in groups}
    shown = [c for key in listed for c in listed[key]]
    examples = _examples(db, shown, start, end, tz, praise)
    data: dict[str, Any] = {
        key: _section([_incident(c, examples.get(c["id"], []), tz) for c in listed[key]], len(groups[key]),
                      name=name)
        for key, name in GROUPS
    }
    in_lists = sum(len(groups[key]) for key in OPEN_GROUPS)
    # the open lists follow the rank of their first incident (ties: 新增, 增长, 逾期), so the digest
    # names the most urgent incident first; 昨日关闭 comes last
    ranked = sorted(OPEN_GROUPS, key=lambda k: (_order_key(groups[k][0]) if groups[k] else (99,),
                                               OPEN_GROUPS.index(k)))
    data.update(
        order=[*ranked, "closed"],
        counts={"new": len(groups["new"]), "growing": len(groups["growing"]),
                "overdue": sum(1 for c in open_rows if c["overdue"]), "open": len(open_rows),
                "closed": len(groups["closed"])},
        unlisted=len(open_rows) - in_lists,
        total=in_lists + len(groups["closed"]),
    )
    return data


def _examples(db: sqlite_utils.Database, shown: list[dict[str, Any]], start: datetime, end: datetime,
              tz: ZoneInfo, praise: bool) -> dict[str, list[dict[str, Any]]]:
    """Up to EXAMPLES documents per incident: of its newest EXAMPLE_POOL members up to the day's end
    (an index range), those of the day first, negative ones first, newest first. Praise is left out
    of review-manipulation incidents for audiences that do not see praise."""
    picked: dict[str, list[dict[str, Any]]] = {}
    lo, hi = start.timestamp(), end.timestamp()
    for c in shown:
        pool = _rows(db, (
            f"SELECT {DOC_COLUMNS}, {NEGATIVE_SQL} AS negative, {POSITIVE_SQL} AS positive"
            " FROM (SELECT document_id FROM incident_members WHERE incident_id = ? AND created_at < ?"
            "  ORDER BY created_at DESC LIMIT ?) m"
            " JOIN documents d ON d.id = m.document_id LEFT JOIN analyses a ON a.document_id = d.id"),
            [c["id"], stored(end), EXAMPLE_POOL])
        if not praise and c["category"] == MANIPULATION:
            pool = [r for r in pool if not r["positive"]]

        def rank(r: Mapping[str, Any]) -> tuple[Any, ...]:
            at = parse_moment(r["created_at"])
            stamp = at.timestamp() if at else 0.0
            return (0 if lo <= stamp < hi else 1, 0 if r["negative"] else 1, -stamp, r["id"])

        picked[c["id"]] = sorted(pool, key=rank)[:EXAMPLES]
    hits = _hits(db, (r["id"] for rows in picked.values() for r in rows))
    out: dict[str, list[dict[str, Any]]] = {}
    for c in shown:
        meta = _json(c["meta"])
        topic_terms = [[str(t), None, None] for t in meta.get("terms", []) if t] if c["kind"] == "topic" else []
        cats = None if c["category"] == "spike" else [c["category"]]
        out[c["id"]] = [_doc(r, _terms(hits, r["id"], cats) + topic_terms, tz) for r in picked[c["id"]]]
    return out


def _incident(c: Mapping[str, Any], examples: list[dict[str, Any]], tz: ZoneInfo) -> dict[str, Any]:
    closed = c["state"] not in triage.OPEN_STATES
    by = c["updated_by"] if closed else None
    return {
        "id": c["id"], "kind": c["kind"], "category": c["category"], "category_name": category_name(c["category"]),
        "title": c["title"], "severity": c["severity"], "severity_name": SEVERITY_NAMES.get(c["severity"] or "", "—"),
        "item_id": c["item_id"], "item_title": short(_item_title(c), TITLE_CHARS), "link": item_link(c["item_id"]),
        "size": c["size"] or 0, "new": c["day_new"] or 0,
        "first_seen": local_minute(c["first_seen"], tz), "last_seen": local_minute(c["last_seen"], tz),
        "opened_at": local_minute(c["opened_at"], tz), "due_at": local_minute(c["due_at"], tz),
        "overdue": bool(c["overdue"]),
        "state": c["state"], "state_name": state_name(c["state"]), "assignee": c["assignee"],
        "closed_at": local_minute(c["resolved_at"], tz) if closed else None,
        "closed_by": (SYSTEM_NAME if by == SYSTEM else by) if closed else None,
        "note": short(c["note"], 60) if closed and c["note"] else None,
        "examples": examples,
        "url": None,  # the incident's page in the web console, with [web] base_url (`link_incidents`)
    }


# ---------------------------------------------------------------- categories against their baseline

def _category_counts(db: sqlite_utils.Database, days: list[date], tz: ZoneInfo) -> tuple[str, dict[date, dict[str, int]]]:
    """Per day and rule category: documents with a hit. From `signal_days` when the engine counted
    the last day (days without rows count 0), else from `rule_hits` joined to documents."""
    last = days[-1]
    if db.execute("SELECT 1 FROM signal_days WHERE day = ? LIMIT 1", [last.isoformat()]).fetchone():
        counts: dict[date, dict[str, int]] = {d: {} for d in days}
        for day, category, n in db.execute(
                "SELECT day, category, sum(n) FROM signal_days WHERE day >= ? AND day <= ?"
                " AND substr(category, 1, 1) != '~' GROUP BY day, category",
                [days[0].isoformat(), last.isoformat()]):
            counts.setdefault(date.fromisoformat(day), {})[category] = int(n or 0)
        return "signal_days", counts
    counts = {}
    for day in days:
        where, params = between("d.created_at", *day_bounds(day, tz))
        counts[day] = {c: n for c, n in db.execute(
            "SELECT h.category, count(DISTINCT d.id) FROM rule_hits h JOIN documents d ON d.id = h.document_id"
            f" WHERE {where} AND coalesce(d.is_placeholder, 0) = 0 GROUP BY h.category", params)}
    return "rule_hits", counts


def _categories(db: sqlite_utils.Database, day: date, tz: ZoneInfo, categories: set[str]) -> dict[str, Any]:
    days = [day - timedelta(days=n) for n in range(BASELINE_DAYS, -1, -1)]
    source, counts = _category_counts(db, days, tz)
    rows = []
    for category, n in counts.get(day, {}).items():
        if n <= 0 or category not in categories:
            continue
        history = [counts.get(d, {}).get(category, 0) for d in days[:-1]]
        mean = sum(history) / len(history)
        std = math.sqrt(sum((x - mean) ** 2 for x in history) / len(history))
        threshold = mean + BASELINE_K * max(std, 1.0)
        rows.append({"category": category, "name": category_name(category), "count": n,
                     "mean": round(mean, 1), "std": round(std, 1), "threshold": round(threshold, 1),
                     "above": n > threshold})
    rows.sort(key=lambda r: (not r["above"], -r["count"], r["category"]))
    return _section(rows[:LIMITS["categories"]], len(rows), source=source, days=BASELINE_DAYS,
                    above=sum(r["above"] for r in rows))


# ---------------------------------------------------------------- documents: unanswered, Q&A, items, PR

def _unanswered(db: sqlite_utils.Database, end: datetime, hours: float, days: float, tz: ZoneInfo) -> dict[str, Any]:
    """Negative reviews and follow-ups older than `hours` (up to `days`) without a seller reply and
    not resolved or ignored in triage (`document:<id>`): CS's reply backlog, oldest first."""
    where, params = between("d.created_at", end - timedelta(days=days), end - timedelta(hours=hours))
    base = ("FROM documents d JOIN analyses a ON a.document_id = d.id"
            " LEFT JOIN triage t ON t.item_key = 'document:' || d.id"
            " WHERE d.kind IN ('review', 'followup') AND d.is_placeholder = 0"
            f" AND {NEGATIVE_SQL} AND coalesce(trim(d.seller_reply), '') = ''"
            f" AND coalesce(t.state, 'new') NOT IN ({_marks(triage.CLOSED_STATES)}) AND {where}"
            f" AND {FRESH_FIRST_SEEN}")
    fresh = stored(end - timedelta(days=days) - FIRST_SEEN_FRESH)
    total = db.execute(f"SELECT count(*) {base}", [*triage.CLOSED_STATES, *params, fresh]).fetchone()[0]
    rows = _rows(db, f"SELECT {DOC_COLUMNS} {base} ORDER BY datetime(d.created_at), d.id LIMIT ?",
                 [*triage.CLOSED_STATES, *params, fresh, LIMITS["unanswered"]])
    hits = _hits(db, (r["id"] for r in rows))
    incidents = _incident_ids(db, [r["id"] for r in rows])
    shown = []
    for r in rows:
        waited = end - datetime.fromisoformat(r["created_at"])
        shown.append({**_doc(r, _terms(hits, r["id"]), tz), "incidents": incidents.get(r["id"], []),
                      "hours": int(waited.total_seconds() // 3600)})
    return _section(shown, total, hours=hours)


def _qa(db: sqlite_utils.Database, start: datetime, end: datetime, tz: ZoneInfo) -> dict[str, Any]:
    where, params = between("d.created_at", start, end)
    base = ("FROM documents d JOIN analyses a ON a.document_id = d.id LEFT JOIN documents q ON q.id = d.parent_id"
            f" WHERE d.kind IN ('question', 'answer') AND +a.label = 'negative' AND {where}")  # the day by date, not every negative
    total = db.execute(f"SELECT count(*) {base}", params).fetchone()[0]
    rows = _rows(db, f"SELECT {DOC_COLUMNS}, q.text AS question {base} ORDER BY a.score, d.created_at, d.id LIMIT ?",
                 [*params, LIMITS["qa"]])
    hits = _hits(db, (r["id"] for r in rows))
    incidents = _incident_ids(db, [r["id"] for r in rows])
    shown = [{**_doc(r, _terms(hits, r["id"]), tz), "incidents": incidents.get(r["id"], []),
              "question": highlight(r["question"]) if r["kind"] == "answer" and r["question"] else None}
             for r in rows]
    return _section(shown, total)


def _items(db: sqlite_utils.Database, start: datetime, end: datetime) -> dict[str, Any]:
    """Items by the day's negatives (optional section)."""
    where, params = between("d.created_at", start, end)
    rows = _rows(db, "SELECT d.item_id, max(d.item_title) AS item_title, count(*) AS negatives"
                 " FROM documents d JOIN analyses a ON a.document_id = d.id"
                 f" WHERE +a.label = 'negative' AND {where} GROUP BY d.item_id ORDER BY negatives DESC, d.item_id",
                 params)
    shown = [{**r, "item_title": short(r["item_title"] or r["item_id"] or UNKNOWN_ITEM, TITLE_CHARS),
              "link": item_link(r["item_id"])}
             for r in rows[:LIMITS["items"]]]
    return _section(shown, len(rows))


def _escalation(db: sqlite_utils.Database, start: datetime, end: datetime, tz: ZoneInfo) -> dict[str, Any]:
    """The day's 投诉升级 and 假货质疑 documents by item (optional: PR's incidents carry them)."""
    where, params = between("d.created_at", start, end)
    groups = _rows(db, "SELECT d.item_id, max(d.item_title) AS item_title, h.category, count(DISTINCT d.id) AS n,"
                   " group_concat(DISTINCT d.id) AS ids FROM rule_hits h JOIN documents d ON d.id = h.document_id"
                   f" WHERE h.category IN ({_marks(PR_CATEGORIES)}) AND {where} GROUP BY d.item_id, h.category"
                   " ORDER BY n DESC, h.category, d.item_id", [*PR_CATEGORIES, *params])
    shown = []
    for g in groups[:LIMITS["escalation"]]:
        ids = sorted(g["ids"].split(","))[:2]
        docs = _rows(db, f"SELECT {DOC_COLUMNS} FROM documents d WHERE d.id IN ({_marks(ids)})"
                     " ORDER BY d.created_at DESC", ids)
        hits = _hits(db, ids)
        incidents = _incident_ids(db, ids)
        shown.append({"item_id": g["item_id"], "item_title": short(g["item_title"] or g["item_id"] or UNKNOWN_ITEM, TITLE_CHARS),
                      "link": item_link(g["item_id"]), "category": g["category"],
                      "category_name": category_name(g["category"]), "count": g["n"],
                      "examples": [{**_doc(d, _terms(hits, d["id"], [g["category"]]), tz),
                                    "incidents": incidents.get(d["id"], [])} for d in docs]})
    return _section(shown, len(groups))


def _resolved(db: sqlite_utils.Database, start: datetime, end: datetime, audience: str) -> dict[str, Any]:
    """Documents triage resolved during the day and still resolved, of `audience`'s queue (the
    triage row's owner; documents without one are CS's): the "昨日已处理差评" line. Incidents
    closed on the day are the incidents' 昨日关闭 list."""
    rows = _rows(db, "SELECT t.item_key, t.owner, t.assignee, d.id, d.kind, d.text FROM triage t"
                 " JOIN documents d ON d.id = substr(t.item_key, 10)"  # the key's id: a primary-key lookup
                 " WHERE t.state = 'resolved' AND t.item_key LIKE 'document:%'"
                 " AND julianday(t.resolved_at) >= julianday(?) AND julianday(t.resolved_at) < julianday(?)"
                 " ORDER BY julianday(t.resolved_at), t.item_key", [start.isoformat(), end.isoformat()])
    found = [r for r in rows if audience in ([o.strip() for o in r["owner"].split(",")] if r["owner"] else ["cs"])]
    shown = [{"id": r["id"], "assignee": r["assignee"],
              "title": f"{KIND_NAMES.get(r['kind'], '评价')}「{short(r['text'], 30)}」"}
             for r in found[:LIMITS["resolved"]]]
    return _section(shown, len(found))


# ---------------------------------------------------------------- build

def trend_days(db: sqlite_utils.Database, day: date, tz: ZoneInfo) -> list[dict[str, Any]]:
    """`day_stats` of the TREND_DAYS days ending with `day`, oldest first: the same for every
    audience, so callers building several digests of one day read them once."""
    return [day_stats(db, day - timedelta(days=n), tz) for n in range(TREND_DAYS - 1, -1, -1)]


def build_digest(db: sqlite_utils.Database, settings: Settings, audience: str, day: date,
                 rules: Any = None, trend: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Everything the digest of `audience` for local `day` shows, as plain JSON-ready data (read-only).
    `trend`: `trend_days` of the same day, when the caller has read it already."""
    options = digest_options(settings, audience)
    tz = settings.tz
    if rules is None:
        rules = load_default_rules(settings)
    start, end = day_bounds(day, tz)
    days = trend if trend is not None else trend_days(db, day, tz)
    sections = options["sections"]
    categories = audience_scope(rules, audience)[0]
    data: dict[str, Any] = {
        "kind": "digest", "audience": audience, "audience_name": audience_name(audience),
        "day": day.isoformat(), "timezone": settings.timezone, "sections": list(sections),
        "headline": _headline(days), "trend": _trend(days),
        "resolved": _resolved(db, start, end, audience),
        "incidents": _incidents(db, start, end, audience, tz) if "incidents" in sections else None,
        "categories": _categories(db, day, tz, categories) if "categories" in sections else None,
        "unanswered": (_unanswered(db, end, options["unanswered_hours"], options["unanswered_days"], tz)
                       if "unanswered" in sections else None),
        "qa": _qa(db, start, end, tz) if "qa" in sections else None,
        "items": _items(db, start, end) if "items" in sections else None,
        "escalation": _escalation(db, start, end, tz) if "escalation" in sections else None,
    }
    data["freshness"] = freshness(db, start, end, tz)
    incidents = data["incidents"]
    pending = incidents is not None and (incidents["counts"]["open"] or incidents["total"])
    data["quiet"] = bool(data["freshness"]["covered"] and data["headline"]["negatives"] == 0 and not pending
                         and not any(data[s]["total"] for s in SECTIONS if s != "incidents" and data[s] is not None))
    data["correction"] = False
    link_incidents(data["incidents"], settings.web.base_url)
    return data


def incident_url(base_url: str | None, incident_id: str) -> str | None:
    """The incident's page in the web console (`sentiment web`), when [web] base_url is set."""
    return f"{base_url.rstrip('/')}/incidents/{incident_id}" if base_url else None


def link_incidents(incidents: Mapping[str, Any] | None, base_url: str | None) -> None:
    """Give every listed incident its console link (`url`); nothing changes without a base_url."""
    if not incidents or not base_url:
        return
    for key, _ in GROUPS:
        for c in incidents[key]["items"]:
            c["url"] = incident_url(base_url, c["id"])


def freshness(db: sqlite_utils.Database, start: datetime, end: datetime, tz: ZoneInfo) -> dict[str, Any]:
    """How fresh the data is: the newest document time per source, and whether the store holds
    data for the day at all (documents on it, or a source whose newest document is past it).
    A day without data is not a calm day: the digest says the data has not arrived."""
    where, params = between("created_at", start, end)
    on_day = db.execute(f"SELECT count(*) FROM documents WHERE {where}", params).fetchone()[0]
    newest = newest_by_source(db)
    sources = [{"source": s, "newest": datetime.fromisoformat(t).astimezone(tz).strftime("%Y-%m-%d %H:%M"),
                "past_day": datetime.fromisoformat(t) >= end} for s, t in newest if t]
    return {"sources": sources, "day_documents": on_day,
            "covered": on_day > 0 or any(s["past_day"] for s in sources)}


def _correction_key(db: sqlite_utils.Database, key: str) -> str:
    n = 1
    while db.execute("SELECT 1 FROM outbox WHERE key = ? OR key LIKE ?", [f"{key}:r{n}", f"{key}:r{n}:chat:%"]
                     ).fetchone() is not None:
        n += 1
    return f"{key}:r{n}"


# ---------------------------------------------------------------- render

def _trimmed(data: Mapping[str, Any], examples: int, caps: Sequence[int] = ()) -> dict[str, Any]:
    """`data` with at most `examples` examples per incident and the FIT_LISTS capped (`more` grows)."""
    out = dict(data)
    if out.get("incidents"):
        incidents = out["incidents"] = dict(out["incidents"])
        for key, _ in GROUPS:
            incidents[key] = {**incidents[key], "items": [{**c, "examples": c["examples"][:examples]}
                                                         for c in incidents[key]["items"]]}
    for path, keep in zip(FIT_LISTS, caps):
        holder = out["incidents"] if path.startswith("incidents.") else out
        key = path.rpartition(".")[2]
        section = holder.get(key) if holder else None
        if section and len(section["items"]) > keep:
            holder[key] = {**section, "items": section["items"][:keep],
                           "more": section["more"] + len(section["items"]) - keep}
    return out


def render_digest(data: Mapping[str, Any]) -> RenderedMessage:
    """Subject, plain text and inlined HTML of a digest built by `build_digest`, under the mail
    budget (`render.BODY_BUDGET`) however large the shop: as built; else one example per incident;
    else the lists shortened stage by stage (FIT_STAGES), their "另有 N 个" growing."""
    env = make_env()

    def render(d: Mapping[str, Any]) -> RenderedMessage:
        text, html = render_pair(env, "digest", {"d": d, "subject": digest_subject(d)})
        return RenderedMessage(digest_subject(d), text, html)

    attempts = [(EXAMPLES, ()), (1, ())] + [(1, caps) for caps in FIT_STAGES]
    for examples, caps in attempts:
        message = render(_trimmed(data, examples, caps))
        if len(message.text.encode()) + len(message.html.encode()) <= BODY_BUDGET \
                and _mail_bytes(message) <= MAIL_BUDGET:
            break
    return message


def _mail_bytes(message: RenderedMessage) -> int:
    """The size of the text and HTML parts as mailed (outbox builds them the same way): the email
    package may pick quoted-printable for the HTML, which triples every byte of Chinese text."""
    mail = EmailMessage()
    mail.set_content(message.text, charset="utf-8")
    mail.add_alternative(message.html, subtype="html", charset="utf-8")
    return len(mail.as_bytes())


def queue_digests(db: sqlite_utils.Database, settings: Settings, day: date,
                  audiences: Iterable[str] | None = None, rules: Any = None,
                  now: datetime | None = None, resend: bool = False) -> list[int]:
    """Build, render and enqueue one digest per audience for `day` (once: key digest:<audience>:<day>).

    `resend`: queue a corrected digest even where one was queued (key digest:<audience>:<day>:r<N>),
    marked 【更正】 in its subject and body. The audience's channels ([audiences.<name>] channels) get it
    as a chat summary under the key + `:chat:<channel>` (also a channel configured after the mail
    went); the id returned is the mail's, or the first chat message's for an audience without mail."""
    configured = mailer.audiences(settings)
    names = list(audiences) if audiences is not None else sorted(configured)
    if rules is None:
        rules = load_default_rules(settings)
    ids = []
    trend: list[dict[str, Any]] | None = None
    for name in names:
        recipients, chats = configured.get(name), channels_of(settings, name)
        if not recipients and not chats:
            raise ConfigError(f"audience {name!r} has no recipients: add [audiences.{name}] to = [...]"
                              " (or channels = [...])")
        key = f"digest:{name}:{day.isoformat()}"
        found = [mailer.find(db, k) for k in ([key] if recipients else []) + [chat_key(key, c.name) for c in chats]]
        existing = next((i for i in found if i is not None), None)
        if existing is not None and not resend and None not in found:
            ids.append(existing)
            continue
        trend = trend or trend_days(db, day, settings.tz)
        data = build_digest(db, settings, name, day, rules, trend)
        if existing is not None and resend:
            key, data["correction"] = _correction_key(db, key), True
        rendered = render_digest(data)
        queued = [mailer.enqueue(db, settings, key=key, kind="digest", audience=name, recipients=recipients,
                                 message=rendered, now=now, meta={"day": day.isoformat()})] \
            if recipients and (resend or mailer.find(db, key) is None) else []
        queued += queue_chat(db, settings, key=key, kind="digest", audience=name, now=now or datetime.now(timezone.utc),
                             meta={"day": day.isoformat()},
                             render=lambda ch: chat_digest(data, rendered.subject, settings, ch))
        ids.append(existing if existing is not None and not resend else queued[0])
    return ids
