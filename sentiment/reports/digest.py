"""Daily risk digests: `build_digest` (read-only queries -> plain data) and `render_digest` (Jinja).

The data `build_digest` returns is JSON-serialisable (`sentiment digest --json`
prints it); `render_digest` only applies `reports/templates/` with autoescape
and `StrictUndefined`, then inlines the CSS. Display helpers (names, links,
excerpts, the Jinja environment) live in `sentiment.reports.render`.

Triage decides what a digest shows: clusters and documents that triage resolved
or ignored are left out, every cluster shown carries its state and assignee, and
a line names what was resolved during the day. The triage table is read once per
build (`triage.states`).
"""
from __future__ import annotations

import json
import logging
from datetime import date, datetime, timedelta, timezone
from typing import Any, Iterable, Mapping, Sequence
from zoneinfo import ZoneInfo

import sqlite_utils

from sentiment.signals import triage
from sentiment.config import DIGEST_SECTIONS, Settings
from sentiment.reports import outbox as mailer
from sentiment.rules.catalogue import bundled_catalogue, catalogue_of
from sentiment.rules.loader import load_ruleset
from sentiment.rules.records import Rule
from sentiment.times import between, day_bounds, utc_key
from sentiment.errors import ConfigError
from sentiment.reports.render import (CLUSTER_KIND_NAMES, KIND_NAMES, SEVERITY_RANK, RenderedMessage,
                                  audience_name, category_name, cluster_title, digest_subject, doc_view, fit,
                                  highlight, item_link, make_env, render_pair, short, state_name)

log = logging.getLogger(__name__)

PR_CATEGORIES = ("escalation", "counterfeit")  # the escalation section's categories
SECTIONS = DIGEST_SECTIONS  # the sections [digest.sections] may name
DEFAULT_SECTIONS: dict[str, tuple[str, ...]] = {
    "cs": ("clusters", "items", "unanswered", "qa"),
    "pr": ("clusters", "escalation", "qa"),
}
OTHER_SECTIONS = ("clusters", "items", "qa")
HIDDEN_STATUSES = frozenset({"closed"})  # clusters.status (clustering's own, not triage): emptied, size 0
LIMITS = {"clusters": 12, "items": 10, "unanswered": 20, "escalation": 10, "qa": 10, "resolved": 5}
EXAMPLES = 3
TREND_DAYS = 14
Triage = Mapping[str, tuple[str, str | None]]  # item key -> (state, assignee), from triage.states()


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


# ---------------------------------------------------------------- time ranges

# ---------------------------------------------------------------- options

def digest_options(settings: Settings, audience: str) -> dict[str, Any]:
    """[digest] for `audience` (validated when the settings load): unanswered thresholds and its sections."""
    options = settings.digest
    sections = options.sections.get(audience, DEFAULT_SECTIONS.get(audience, OTHER_SECTIONS))
    return {"unanswered_hours": options.unanswered_hours, "unanswered_days": options.unanswered_days,
            "sections": tuple(sections)}


# ---------------------------------------------------------------- build

def latest_day(db: sqlite_utils.Database, tz: ZoneInfo) -> date | None:
    """The local day of the newest document (for demos and back-filled stores)."""
    row = db.execute("SELECT max(datetime(created_at)) FROM documents").fetchone()
    if not row or not row[0]:
        return None
    return datetime.fromisoformat(row[0]).replace(tzinfo=timezone.utc).astimezone(tz).date()


def day_stats(db: sqlite_utils.Database, day: date, tz: ZoneInfo) -> dict[str, Any]:
    where, params = between("d.created_at", *day_bounds(day, tz))
    row = db.execute(
        "SELECT count(*), sum(a.label IS NOT NULL), sum(a.label = 'negative'),"
        " sum(d.kind IN ('question', 'answer'))"
        f" FROM documents d LEFT JOIN analyses a ON a.document_id = d.id WHERE {where}", params).fetchone()
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


def triage_of(states: Triage, item_key: str) -> tuple[str, str | None]:
    """(state, assignee) from one `triage.states()` read; an untriaged item is `new`, unassigned."""
    return states.get(item_key, ("new", None))


def closed(states: Triage, item_key: str) -> bool:
    """`triage.is_hidden` without a query per item: resolved or ignored items leave the digest."""
    return triage_of(states, item_key)[0] in triage.CLOSED_STATES


def _hits(db: sqlite_utils.Database, doc_id: str, rule_id: str | None = None,
          categories: Iterable[str] | None = None) -> list[list[Any]]:
    terms: list[list[Any]] = []
    cats = set(categories or ())
    for rid, category, raw in db.execute(
            "SELECT rule_id, category, terms FROM rule_hits WHERE document_id = ?", [doc_id]):
        if (rule_id and rid != rule_id) or (cats and category not in cats):
            continue
        try:
            terms.extend(json.loads(raw or "[]"))
        except ValueError:
            continue
    return terms


def _section(rows: list[dict[str, Any]], total: int) -> dict[str, Any]:
    return {"items": rows, "more": max(0, total - len(rows)), "total": total}


def _clusters(db: sqlite_utils.Database, start: datetime, end: datetime, rules: Any,
              audience: str, states: Triage) -> dict[str, Any]:
    categories = audience_scope(rules, audience)[0]
    rows = _rows(db, "SELECT * FROM clusters WHERE datetime(last_seen) >= ? AND datetime(first_seen) < ?",
                 [utc_key(start), utc_key(end)])
    picked = []
    for c in rows:
        if closed(states, f"cluster:{c['id']}") or c["status"] in HIDDEN_STATUSES or not c["size"]:
            continue
        if c["category"] and c["category"] not in categories:
            continue  # uncategorised clusters (spikes, topics, duplicates) go to every audience
        c["state"], c["assignee"] = triage_of(states, f"cluster:{c['id']}")
        picked.append(c)
    picked.sort(key=lambda c: (SEVERITY_RANK.get(c["severity"], 9), -(c["size"] or 0), c["id"]))
    return _section([_cluster(db, c, start, end) for c in picked[:LIMITS["clusters"]]], len(picked))


def _cluster(db: sqlite_utils.Database, c: dict[str, Any], start: datetime, end: datetime) -> dict[str, Any]:
    where, params = between("d.created_at", start, end)
    examples = db.execute(
        f"SELECT d.*, ({where}) AS in_day FROM cluster_members m JOIN documents d ON d.id = m.document_id"
        " LEFT JOIN analyses a ON a.document_id = d.id WHERE m.cluster_id = ?"
        " ORDER BY in_day DESC, a.label = 'negative' DESC, d.created_at DESC, d.id LIMIT ?",
        [*params, c["id"], EXAMPLES])
    names = [x[0] for x in examples.description]
    docs = [dict(zip(names, v)) for v in examples.fetchall()]
    new = db.execute(f"SELECT count(*) FROM cluster_members m JOIN documents d ON d.id = m.document_id"
                     f" WHERE m.cluster_id = ? AND {where}", [c["id"], *params]).fetchone()[0]
    cats = [c["category"]] if c["category"] else None
    return {
        "id": c["id"], "kind": c["kind"], "kind_name": CLUSTER_KIND_NAMES.get(c["kind"], c["kind"]),
        "title": cluster_title(c), "item_id": c["item_id"],
        "item_title": c["item_title"] or c["item_id"] or "（多个商品）", "link": item_link(c["item_id"]),
        "category": c["category"],
        "category_name": category_name(c["category"]) if c["category"] else CLUSTER_KIND_NAMES.get(c["kind"], c["kind"]),
        "severity": c["severity"], "size": c["size"] or 0, "new": new,
        "state": c["state"], "state_name": state_name(c["state"]), "assignee": c["assignee"],
        "first_seen": (c["first_seen"] or "")[:10], "last_seen": (c["last_seen"] or "")[:10],
        "examples": [doc_view(d, _hits(db, d["id"], c["rule_id"], cats)) for d in docs],
    }


def _rows(db: sqlite_utils.Database, sql: str, params: Sequence[Any]) -> list[dict[str, Any]]:
    cur = db.execute(sql, list(params))
    names = [x[0] for x in cur.description]
    return [dict(zip(names, v)) for v in cur.fetchall()]


def _items(db: sqlite_utils.Database, start: datetime, end: datetime) -> dict[str, Any]:
    where, params = between("d.created_at", start, end)
    rows = _rows(db, "SELECT d.item_id, max(d.item_title) AS item_title, count(*) AS negatives"
                 " FROM documents d JOIN analyses a ON a.document_id = d.id"
                 f" WHERE a.label = 'negative' AND {where} GROUP BY d.item_id ORDER BY negatives DESC, d.item_id",
                 params)
    shown = [{**r, "item_title": r["item_title"] or r["item_id"] or "（未知商品）", "link": item_link(r["item_id"])}
             for r in rows[:LIMITS["items"]]]
    return _section(shown, len(rows))


def _unanswered(db: sqlite_utils.Database, end: datetime, hours: float, days: float,
                states: Triage) -> dict[str, Any]:
    """Negative reviews older than `hours` (up to `days`) without a seller reply and not closed in
    triage: the rule of `triage.document_hidden`, with the triage table read once per build."""
    where, params = between("d.created_at", end - timedelta(days=days), end - timedelta(hours=hours))
    rows = _rows(db, "SELECT d.id, d.kind, d.created_at, d.rating, d.text, d.item_id, d.item_title"
                 " FROM documents d JOIN analyses a ON a.document_id = d.id"
                 " WHERE d.kind IN ('review', 'followup') AND d.is_placeholder = 0"
                 " AND (a.label = 'negative' OR d.rating = 'negative') AND coalesce(trim(d.seller_reply), '') = ''"
                 f" AND {where} ORDER BY datetime(d.created_at), d.id", params)
    rows = [r for r in rows if not closed(states, f"document:{r['id']}")]
    shown = []
    for r in rows[:LIMITS["unanswered"]]:
        waited = end - datetime.fromisoformat(r["created_at"])
        shown.append({**doc_view(r, _hits(db, r["id"])), "item_id": r["item_id"],
                      "item_title": r["item_title"] or r["item_id"] or "（未知商品）", "link": item_link(r["item_id"]),
                      "hours": int(waited.total_seconds() // 3600)})
    return {**_section(shown, len(rows)), "hours": hours}


def _escalation(db: sqlite_utils.Database, start: datetime, end: datetime) -> dict[str, Any]:
    where, params = between("d.created_at", start, end)
    marks = ", ".join("?" for _ in PR_CATEGORIES)
    groups = _rows(db, "SELECT d.item_id, max(d.item_title) AS item_title, h.category, count(DISTINCT d.id) AS n,"
                   " group_concat(DISTINCT d.id) AS ids FROM rule_hits h JOIN documents d ON d.id = h.document_id"
                   f" WHERE h.category IN ({marks}) AND {where} GROUP BY d.item_id, h.category"
                   " ORDER BY n DESC, h.category, d.item_id", [*PR_CATEGORIES, *params])
    shown = []
    for g in groups[:LIMITS["escalation"]]:
        ids = sorted(g["ids"].split(","))[:2]
        docs = _rows(db, f"SELECT * FROM documents WHERE id IN ({', '.join('?' for _ in ids)})"
                     " ORDER BY created_at DESC", ids)
        shown.append({"item_id": g["item_id"], "item_title": g["item_title"] or g["item_id"] or "（未知商品）",
                      "link": item_link(g["item_id"]), "category": g["category"],
                      "category_name": category_name(g["category"]), "count": g["n"],
                      "examples": [doc_view(d, _hits(db, d["id"], categories=[g["category"]])) for d in docs]})
    return _section(shown, len(groups))


def _qa(db: sqlite_utils.Database, start: datetime, end: datetime) -> dict[str, Any]:
    where, params = between("d.created_at", start, end)
    base = ("FROM documents d JOIN analyses a ON a.document_id = d.id LEFT JOIN documents q ON q.id = d.parent_id"
            f" WHERE d.kind IN ('question', 'answer') AND a.label = 'negative' AND {where}")
    total = db.execute(f"SELECT count(*) {base}", params).fetchone()[0]
    rows = _rows(db, f"SELECT d.*, q.text AS question {base} ORDER BY a.score, d.created_at, d.id LIMIT ?",
                 [*params, LIMITS["qa"]])
    shown = [{**doc_view(r, _hits(db, r["id"])), "item_id": r["item_id"], "link": item_link(r["item_id"]),
              "item_title": r["item_title"] or r["item_id"] or "（未知商品）",
              "question": highlight(r["question"]) if r["kind"] == "answer" and r["question"] else None}
             for r in rows]
    return _section(shown, total)


def _resolved(db: sqlite_utils.Database, start: datetime, end: datetime, audience: str) -> dict[str, Any]:
    """Items triage resolved during the day and still resolved, owned by `audience` (the
    "昨日已解决" line): clusters by `triage.cluster_owners` of their category, documents are CS's."""
    found = [r for r in triage.resolved_between(db, start, end) if audience in r["owner"].split(",")]
    listed = found[:LIMITS["resolved"]]
    ids = [r["id"] for r in listed if r["kind"] == "cluster"]
    marks = ", ".join("?" for _ in ids)
    rows = {c["id"]: c for c in _rows(db, f"SELECT * FROM clusters WHERE id IN ({marks})", ids)} if ids else {}
    shown = [{"kind": r["kind"], "id": r["id"], "assignee": r["assignee"], "title": _resolved_title(r, rows)}
             for r in listed]
    return _section(shown, len(found))


def _resolved_title(item: Mapping[str, Any], clusters: Mapping[str, Any]) -> str:
    """A cluster by the title digests gave it; a document as 评价「excerpt」."""
    if item["kind"] == "cluster":
        return short(cluster_title(clusters[item["id"]]) if item["id"] in clusters else item["title"])
    return f"{KIND_NAMES.get(item['subkind'], '评价')}「{short(item['text'], 30)}」"


def build_digest(db: sqlite_utils.Database, settings: Settings, audience: str, day: date,
                 rules: Any = None) -> dict[str, Any]:
    """Everything the digest of `audience` for local `day` shows, as plain JSON-ready data (read-only)."""
    options = digest_options(settings, audience)
    tz = settings.tz
    states = triage.states(db)
    if rules is None:
        rules = load_default_rules(settings)
    start, end = day_bounds(day, tz)
    days = [day_stats(db, day - timedelta(days=n), tz) for n in range(TREND_DAYS - 1, -1, -1)]
    sections = options["sections"]
    data: dict[str, Any] = {
        "kind": "digest", "audience": audience, "audience_name": audience_name(audience),
        "day": day.isoformat(), "timezone": settings.timezone, "sections": list(sections),
        "headline": _headline(days), "trend": _trend(days),
        "resolved": _resolved(db, start, end, audience),
        "clusters": _clusters(db, start, end, rules, audience, states) if "clusters" in sections else None,
        "items": _items(db, start, end) if "items" in sections else None,
        "unanswered": (_unanswered(db, end, options["unanswered_hours"], options["unanswered_days"], states)
                       if "unanswered" in sections else None),
        "escalation": _escalation(db, start, end) if "escalation" in sections else None,
        "qa": _qa(db, start, end) if "qa" in sections else None,
    }
    data["freshness"] = freshness(db, start, end, tz)
    data["quiet"] = data["freshness"]["covered"] and data["headline"]["negatives"] == 0 and not any(
        data[s]["total"] for s in SECTIONS if data[s] is not None)
    data["correction"] = False
    return data


def freshness(db: sqlite_utils.Database, start: datetime, end: datetime, tz: ZoneInfo) -> dict[str, Any]:
    """How fresh the data is: the newest document time per source, and whether the store holds
    data for the day at all (documents on it, or a source whose newest document is past it).
    A day without data is not a calm day: the digest says the data has not arrived."""
    where, params = between("created_at", start, end)
    on_day = db.execute(f"SELECT count(*) FROM documents WHERE {where}", params).fetchone()[0]
    newest = db.execute("SELECT source, max(created_at) FROM documents WHERE coalesce(date_precision, '') != 'first_seen'"
                        " GROUP BY source ORDER BY source").fetchall()  # own dates: not when a follow-up was first seen
    sources = [{"source": s, "newest": datetime.fromisoformat(t).astimezone(tz).strftime("%Y-%m-%d %H:%M"),
                "past_day": datetime.fromisoformat(t) >= end} for s, t in newest if t]
    return {"sources": sources, "day_documents": on_day,
            "covered": on_day > 0 or any(s["past_day"] for s in sources)}


def _correction_key(db: sqlite_utils.Database, key: str) -> str:
    n = 1
    while mailer.find(db, f"{key}:r{n}") is not None:
        n += 1
    return f"{key}:r{n}"


# ---------------------------------------------------------------- render

def render_digest(data: Mapping[str, Any]) -> RenderedMessage:
    """Subject, plain text and inlined HTML of a digest built by `build_digest` (under ~100 KB)."""
    env = make_env()

    def render(d: Mapping[str, Any]) -> RenderedMessage:
        text, html = render_pair(env, "digest", {"d": d, "subject": digest_subject(d)})
        return RenderedMessage(digest_subject(d), text, html)

    return fit(render, dict(data), ["clusters", "items", "unanswered", "escalation", "qa"])


def queue_digests(db: sqlite_utils.Database, settings: Settings, day: date,
                  audiences: Iterable[str] | None = None, rules: Any = None,
                  now: datetime | None = None, resend: bool = False) -> list[int]:
    """Build, render and enqueue one digest per audience for `day` (once: key digest:<audience>:<day>).

    `resend`: queue a corrected digest even where one was queued (key digest:<audience>:<day>:r<N>),
    marked 【更正】 in its subject and body."""
    configured = mailer.audiences(settings)
    names = list(audiences) if audiences is not None else sorted(configured)
    if rules is None:
        rules = load_default_rules(settings)
    ids = []
    for name in names:
        recipients = configured.get(name)
        if not recipients:
            raise ConfigError(f"audience {name!r} has no recipients: add [audiences.{name}] to = [...]")
        key = f"digest:{name}:{day.isoformat()}"
        existing = mailer.find(db, key)
        if existing is not None and not resend:
            ids.append(existing)
            continue
        data = build_digest(db, settings, name, day, rules)
        if existing is not None:
            key, data["correction"] = _correction_key(db, key), True
        rendered = render_digest(data)
        ids.append(mailer.enqueue(db, settings, key=key, kind="digest", audience=name, recipients=recipients,
                                  message=rendered, now=now, meta={"day": day.isoformat()}))
    return ids
