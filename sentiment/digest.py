"""Daily risk digests: `build_digest` (read-only queries -> plain data) and `render_digest` (Jinja).

The data `build_digest` returns is JSON-serialisable (`sentiment digest --json`
prints it); `render_digest` only applies `reports/templates/` with autoescape
and `StrictUndefined`, then inlines the CSS. Shared display helpers (category
names, item links, term highlighting, the Jinja environment) live here and are
used by `sentiment.alerts` too.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Any, Iterable, Mapping, Sequence
from zoneinfo import ZoneInfo

import css_inline
import jinja2
import sqlite_utils

from sentiment.config import Settings
from sentiment.errors import ConfigError

log = logging.getLogger(__name__)

CATEGORY_NAMES = {
    "food_safety": "食品安全", "health_safety": "健康安全", "counterfeit": "假货质疑",
    "quality": "质量问题", "logistics": "物流问题", "service": "服务问题",
    "misleading": "描述不符", "escalation": "投诉升级", "review_manipulation": "评价操纵",
}
SEVERITY_NAMES = {"critical": "紧急", "high": "高", "medium": "中", "low": "低"}
SEVERITY_RANK = {"critical": 0, "high": 1, "medium": 2, "low": 3}
KIND_NAMES = {"review": "评价", "followup": "追评", "question": "问大家·提问", "answer": "问大家·回答"}
AUDIENCE_NAMES = {"cs": "客服", "pr": "公关"}
CLUSTER_KIND_NAMES = {"rule": "规则", "spike": "差评激增", "topic": "新话题", "duplicate": "重复文本"}
# Who sees which category when no rule pack is available (rules name their owners otherwise).
DEFAULT_OWNERS: dict[str, tuple[str, ...]] = {
    "food_safety": ("cs", "pr"), "health_safety": ("cs", "pr"), "counterfeit": ("cs", "pr"),
    "quality": ("cs",), "logistics": ("cs",), "service": ("cs",), "misleading": ("cs",),
    "escalation": ("pr", "cs"), "review_manipulation": ("pr",),
}
PR_CATEGORIES = ("escalation", "counterfeit")
SECTIONS = ("clusters", "items", "unanswered", "escalation", "qa")
DEFAULT_SECTIONS: dict[str, tuple[str, ...]] = {
    "cs": ("clusters", "items", "unanswered", "qa"),
    "pr": ("clusters", "escalation", "qa"),
}
OTHER_SECTIONS = ("clusters", "items", "qa")
# Triage (a later issue): a cluster or document in one of these states is left out of digests.
HIDDEN_TRIAGE_STATES = frozenset({"resolved", "ignored"})
HIDDEN_STATUSES = frozenset({"closed", "resolved", "ignored"})  # clusters.status
ITEM_URL = "https://detail.tmall.com/item.htm?id={}"
LIMITS = {"clusters": 12, "items": 10, "unanswered": 20, "escalation": 10, "qa": 10}
EXAMPLES = 3
EXCERPT_CHARS = 140
# Mail clients clip at ~100 KB; base64 grows bodies by 4/3, so keep text + html under this.
BODY_BUDGET = 70_000
TREND_DAYS = 14


@dataclass(frozen=True)
class RenderedMessage:
    subject: str
    text: str
    html: str


# ---------------------------------------------------------------- shared helpers

def category_name(category: str | None) -> str:
    return CATEGORY_NAMES.get(category or "", category or "未分类")


def audience_name(audience: str) -> str:
    return AUDIENCE_NAMES.get(audience, audience)


def item_link(item_id: str | None) -> str | None:
    return ITEM_URL.format(item_id) if item_id and str(item_id).isdigit() else None


def header_text(value: str, limit: int = 120) -> str:
    """One header line: control characters (CR, LF, TAB...) become spaces, length is capped."""
    clean = " ".join("".join(c if c.isprintable() else " " for c in str(value)).split())
    return clean if len(clean) <= limit else clean[: limit - 1] + "…"


def _spans(text: str, terms: Iterable[Sequence[Any]]) -> list[tuple[int, int]]:
    spans = []
    for entry in terms:
        term, start, end = str(entry[0]), entry[1], entry[2]
        if isinstance(start, int) and isinstance(end, int) and 0 <= start < end <= len(text) \
                and text[start:end] == term:
            spans.append((start, end))
        elif term and term in text:  # the text was re-normalized since: find the term again
            at = text.find(term)
            spans.append((at, at + len(term)))
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def highlight(text: str | None, terms: Iterable[Sequence[Any]] = (), width: int = EXCERPT_CHARS) -> list[dict]:
    """An excerpt of `text` as parts [{"t": str, "hit": bool}], cut around the first matched term."""
    text = " ".join((text or "").split())
    spans = _spans(text, terms)
    lo, hi = 0, len(text)
    if len(text) > width:
        lo = max(0, min(spans[0][0] - width // 4 if spans else 0, len(text) - width))
        hi = lo + width
    parts: list[dict] = [{"t": "…", "hit": False}] if lo > 0 else []
    at = lo
    for start, end in spans:
        start, end = max(start, lo), min(end, hi)
        if start >= end:
            continue
        if start > at:
            parts.append({"t": text[at:start], "hit": False})
        parts.append({"t": text[start:end], "hit": True})
        at = end
    if at < hi:
        parts.append({"t": text[at:hi], "hit": False})
    if hi < len(text):
        parts.append({"t": "…", "hit": False})
    return parts


def rule_list(rules: Any) -> list[Any]:
    """Rules from a RuleSet (`.rules`), a list of rules, or None (load the configured pack)."""
    if rules is None:
        return []
    return list(getattr(rules, "rules", rules))


def load_default_rules(settings: Settings) -> Any:
    """The configured rule pack, or None while `sentiment.rules` is not available."""
    try:
        from sentiment.pipeline import load_ruleset
        return load_ruleset(settings.rules_paths)
    except ImportError:
        log.warning("rule engine not available; using the built-in category owners")
        return None


def rget(rule: Any, name: str, default: Any = None) -> Any:
    return rule.get(name, default) if isinstance(rule, Mapping) else getattr(rule, name, default)


def audience_scope(rules: Any, audience: str) -> tuple[set[str], set[str]]:
    """(categories, rule ids) owned by `audience`."""
    listed = rule_list(rules)
    if not listed:
        return {c for c, owners in DEFAULT_OWNERS.items() if audience in owners}, set()
    mine = [r for r in listed if audience in tuple(rget(r, "owners", ()) or ())]
    return {rget(r, "category") for r in mine}, {rget(r, "id") for r in mine}


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def _pp(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{'+' if value >= 0 else '−'}{abs(value) * 100:.1f} 个百分点"


def make_env() -> jinja2.Environment:
    """A fresh Jinja environment over the bundled templates (HTML autoescaped, strict undefined)."""
    from sentiment.resources import templates_dir

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir())),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html", "htm"), default=False),
        undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
    )
    env.filters.update(pct=_pct, pp=_pp, category=category_name,
                       severity=lambda s: SEVERITY_NAMES.get(s or "", s or "—"))
    return env


def render_pair(env: jinja2.Environment, name: str, context: Mapping[str, Any]) -> tuple[str, str]:
    """Render `name`.txt and `name`.html; the HTML gets its CSS inlined."""
    text = env.get_template(f"{name}.txt").render(**context)
    html = env.get_template(f"{name}.html").render(**context)
    return text, css_inline.inline(html)


def fit(render: Any, data: dict, lists: Sequence[str]) -> RenderedMessage:
    """Render; while over BODY_BUDGET, shorten the lists (their `more` counts grow)."""
    for keep in (None, 8, 4, 2, 1, 0):
        trimmed = dict(data)
        for key in lists:
            section = data.get(key)
            if keep is not None and section and len(section["items"]) > keep:
                dropped = len(section["items"]) - keep
                trimmed[key] = {**section, "items": section["items"][:keep], "more": section["more"] + dropped}
        message = render(trimmed)
        if len(message.text.encode()) + len(message.html.encode()) <= BODY_BUDGET:
            return message
    return message


# ---------------------------------------------------------------- time ranges

def day_bounds(day: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    return datetime.combine(day, time(0), tzinfo=tz), datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz)


def utc_key(moment: datetime) -> str:
    """The form SQLite's datetime() gives for an ISO timestamp with offset: UTC, space-separated."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def between(column: str, start: datetime, end: datetime) -> tuple[str, list[str]]:
    """SQL for start <= column < end on ISO strings with any offset (string prefilter uses the index)."""
    lo = (start.astimezone(timezone.utc) - timedelta(days=1)).date().isoformat()
    hi = (end.astimezone(timezone.utc) + timedelta(days=2)).date().isoformat()
    sql = (f"{column} >= ? AND {column} < ? AND datetime({column}) >= ? AND datetime({column}) < ?")
    return sql, [lo, hi, utc_key(start), utc_key(end)]


# ---------------------------------------------------------------- options

def digest_options(settings: Settings, audience: str) -> dict[str, Any]:
    table = settings.raw.get("digest", {})
    if not isinstance(table, Mapping):
        raise ConfigError("[digest] must be a table")
    hours = table.get("unanswered_hours", 24)
    days = table.get("unanswered_days", 7)
    for key, value in (("unanswered_hours", hours), ("unanswered_days", days)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
            raise ConfigError(f"[digest] {key}: expected a positive number, got {value!r}")
    if hours >= days * 24:
        raise ConfigError("[digest] unanswered_hours must be shorter than unanswered_days")
    sections = table.get("sections", {}).get(audience) if isinstance(table.get("sections", {}), Mapping) else None
    if sections is None:
        sections = DEFAULT_SECTIONS.get(audience, OTHER_SECTIONS)
    bad = [s for s in sections if s not in SECTIONS] if isinstance(sections, (list, tuple)) else [sections]
    if bad:
        raise ConfigError(f"[digest.sections] {audience}: unknown section {bad[0]!r} (allowed: {', '.join(SECTIONS)})")
    return {"unanswered_hours": hours, "unanswered_days": days, "sections": tuple(sections)}


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


def triage_state(db: sqlite_utils.Database, item_key: str) -> str | None:
    """Triage state of "cluster:<id>" or "document:<id>" (None while untriaged)."""
    row = db.execute("SELECT state FROM triage WHERE item_key = ?", [item_key]).fetchone()
    return row[0] if row else None


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


def _doc(row: Mapping[str, Any], terms: list[list[Any]]) -> dict[str, Any]:
    return {"id": row["id"], "kind": row["kind"], "kind_name": KIND_NAMES.get(row["kind"], row["kind"]),
            "created_at": (row["created_at"] or "")[:16].replace("T", " "), "rating": row["rating"],
            "parts": highlight(row["text"], terms)}


def _section(rows: list[dict[str, Any]], total: int) -> dict[str, Any]:
    return {"items": rows, "more": max(0, total - len(rows)), "total": total}


def _clusters(db: sqlite_utils.Database, start: datetime, end: datetime, rules: Any,
              audience: str) -> dict[str, Any]:
    categories = audience_scope(rules, audience)[0]
    rows = db.execute(
        "SELECT c.*, t.state AS triage FROM clusters c LEFT JOIN triage t ON t.item_key = 'cluster:' || c.id"
        " WHERE datetime(c.last_seen) >= ? AND datetime(c.first_seen) < ?", [utc_key(start), utc_key(end)])
    names = [c[0] for c in rows.description]
    picked = []
    for values in rows.fetchall():
        c = dict(zip(names, values))
        if c["triage"] in HIDDEN_TRIAGE_STATES or c["status"] in HIDDEN_STATUSES or not c["size"]:
            continue
        if c["category"] and c["category"] not in categories:
            continue  # uncategorised clusters (spikes, topics, duplicates) go to every audience
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
        "title": _cluster_title(c), "item_id": c["item_id"],
        "item_title": c["item_title"] or c["item_id"] or "（多个商品）", "link": item_link(c["item_id"]),
        "category": c["category"],
        "category_name": category_name(c["category"]) if c["category"] else CLUSTER_KIND_NAMES.get(c["kind"], c["kind"]),
        "severity": c["severity"], "size": c["size"] or 0, "new": new, "triage": c["triage"],
        "first_seen": (c["first_seen"] or "")[:10], "last_seen": (c["last_seen"] or "")[:10],
        "examples": [_doc(d, _hits(db, d["id"], c["rule_id"], cats)) for d in docs],
    }


def _cluster_title(c: Mapping[str, Any]) -> str:
    """Rule clusters: category and their top terms; others keep the title clustering gave them."""
    if c["kind"] != "rule" or not c["category"]:
        return c["title"] or CLUSTER_KIND_NAMES.get(c["kind"], c["kind"])
    try:
        terms = [str(t) for t in json.loads(c["meta"] or "{}").get("terms", [])][:3]
    except (ValueError, AttributeError):
        terms = []
    return category_name(c["category"]) + (f"：{'、'.join(terms)}" if terms else "")


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


def _unanswered(db: sqlite_utils.Database, end: datetime, hours: float, days: float) -> dict[str, Any]:
    where, params = between("d.created_at", end - timedelta(days=days), end - timedelta(hours=hours))
    base = ("FROM documents d JOIN analyses a ON a.document_id = d.id"
            " LEFT JOIN triage t ON t.item_key = 'document:' || d.id"
            " WHERE d.kind IN ('review', 'followup') AND d.is_placeholder = 0"
            " AND (a.label = 'negative' OR d.rating = 'negative') AND coalesce(trim(d.seller_reply), '') = ''"
            f" AND coalesce(t.state, '') NOT IN ('resolved', 'ignored') AND {where}")
    total = db.execute(f"SELECT count(*) {base}", params).fetchone()[0]
    rows = _rows(db, f"SELECT d.* {base} ORDER BY datetime(d.created_at), d.id LIMIT ?",
                 [*params, LIMITS["unanswered"]])
    shown = []
    for r in rows:
        waited = end - datetime.fromisoformat(r["created_at"])
        shown.append({**_doc(r, _hits(db, r["id"])), "item_id": r["item_id"],
                      "item_title": r["item_title"] or r["item_id"] or "（未知商品）", "link": item_link(r["item_id"]),
                      "hours": int(waited.total_seconds() // 3600)})
    return {**_section(shown, total), "hours": hours}


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
                      "examples": [_doc(d, _hits(db, d["id"], categories=[g["category"]])) for d in docs]})
    return _section(shown, len(groups))


def _qa(db: sqlite_utils.Database, start: datetime, end: datetime) -> dict[str, Any]:
    where, params = between("d.created_at", start, end)
    base = ("FROM documents d JOIN analyses a ON a.document_id = d.id LEFT JOIN documents q ON q.id = d.parent_id"
            f" WHERE d.kind IN ('question', 'answer') AND a.label = 'negative' AND {where}")
    total = db.execute(f"SELECT count(*) {base}", params).fetchone()[0]
    rows = _rows(db, f"SELECT d.*, q.text AS question {base} ORDER BY a.score, d.created_at, d.id LIMIT ?",
                 [*params, LIMITS["qa"]])
    shown = [{**_doc(r, _hits(db, r["id"])), "item_id": r["item_id"], "link": item_link(r["item_id"]),
              "item_title": r["item_title"] or r["item_id"] or "（未知商品）",
              "question": highlight(r["question"]) if r["kind"] == "answer" and r["question"] else None}
             for r in rows]
    return _section(shown, total)


def build_digest(db: sqlite_utils.Database, settings: Settings, audience: str, day: date,
                 rules: Any = None) -> dict[str, Any]:
    """Everything the digest of `audience` for local `day` shows, as plain JSON-ready data (read-only)."""
    options = digest_options(settings, audience)
    tz = settings.tz
    if rules is None:
        rules = load_default_rules(settings)
    start, end = day_bounds(day, tz)
    days = [day_stats(db, day - timedelta(days=n), tz) for n in range(TREND_DAYS - 1, -1, -1)]
    sections = options["sections"]
    data: dict[str, Any] = {
        "kind": "digest", "audience": audience, "audience_name": audience_name(audience),
        "day": day.isoformat(), "timezone": settings.timezone, "sections": list(sections),
        "headline": _headline(days), "trend": _trend(days),
        "clusters": _clusters(db, start, end, rules, audience) if "clusters" in sections else None,
        "items": _items(db, start, end) if "items" in sections else None,
        "unanswered": (_unanswered(db, end, options["unanswered_hours"], options["unanswered_days"])
                       if "unanswered" in sections else None),
        "escalation": _escalation(db, start, end) if "escalation" in sections else None,
        "qa": _qa(db, start, end) if "qa" in sections else None,
    }
    data["quiet"] = data["headline"]["negatives"] == 0 and not any(
        data[s]["total"] for s in SECTIONS if data[s] is not None)
    return data


# ---------------------------------------------------------------- render

def digest_subject(data: Mapping[str, Any]) -> str:
    head = f"【舆情日报】{data['day']} {data['audience_name']}"
    if data["quiet"]:
        return header_text(f"{head}：平稳，无需处理")
    h = data["headline"]
    risks = data["clusters"]["total"] if data["clusters"] else 0
    extra = f"，{risks} 个风险簇" if risks else ""
    return header_text(f"{head}：差评 {h['negatives']} 条（{_pct(h['share'])}）{extra}")


def render_digest(data: Mapping[str, Any]) -> RenderedMessage:
    """Subject, plain text and inlined HTML of a digest built by `build_digest` (under ~100 KB)."""
    env = make_env()

    def render(d: Mapping[str, Any]) -> RenderedMessage:
        text, html = render_pair(env, "digest", {"d": d, "subject": digest_subject(d)})
        return RenderedMessage(digest_subject(d), text, html)

    return fit(render, dict(data), ["clusters", "items", "unanswered", "escalation", "qa"])


def queue_digests(db: sqlite_utils.Database, settings: Settings, day: date,
                  audiences: Iterable[str] | None = None, rules: Any = None,
                  now: datetime | None = None) -> list[int]:
    """Build, render and enqueue one digest per audience for `day` (once: key digest:<audience>:<day>)."""
    from sentiment import mailer

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
        if existing is not None:
            ids.append(existing)
            continue
        rendered = render_digest(build_digest(db, settings, name, day, rules))
        ids.append(mailer.enqueue(db, settings, key=key, kind="digest", audience=name, recipients=recipients,
                                  message=rendered, now=now, meta={"day": day.isoformat()}))
    return ids
