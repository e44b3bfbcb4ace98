"""Immediate alerts per incident (see docs/incidents.md): the first alert when an incident opens,
updates when it gets worse, a summary instead of a storm.

The evidence an alert can carry is an incident's *pending* members: documents created within
`[alerts] recent_hours` (48 by default) of `now` (and at most an hour ahead), not placeholders, a
follow-up dated when first seen only when its file also brought fresh dated documents
(`FRESH_FIRST_SEEN`), and not yet alerted for this incident (`alerted` rows keyed
(document, incident id); rows of the earlier per-rule alerts count too, so nothing alerts twice
across the upgrade). Old evidence alerts nobody: back-filling history sets off no storm.

- **First alert**: an incident never alerted (`incidents.alerted_severity` is null), or reopened
  since its last alert (`opened_at` after it), with pending evidence that hit an `immediate` rule of
  its category, or whose severity is critical or high (it grew there).
- **Update**: an incident alerted before whose severity now ranks above the one alerted, or whose
  pending evidence includes a critical member. At most one alert per cooldown per incident (the
  shortest of its rules' own cooldowns, else `[alerts] cooldown`); critical news waits at most one
  alert interval (`[schedule] analyze_minutes`). Pending evidence that warrants no update waits and
  is listed in the next alert.
- **Quiet hours** (`[alerts] quiet_hours`, local time): only critical incidents alert; the others
  wait until the quiet hours end.
- **Recipients**: the incident's `owners` (else its rules' owners) that have recipients.
- **Summary**: when more than `[alerts] summary_over` incidents are due for a first alert for one
  audience in one cycle (a back-fill, a bad day), that audience gets ONE summary mail listing them
  all (critical first, then size) instead of one mail each; updates join the summary when they too
  are more than `summary_over`, else they go one by one. At most one summary per audience per alert
  interval.
- Ignored incidents never alert; resolved ones only when new evidence reopened them (the engine
  sets their state back to new).

Keys: `alert:<incident id>:<window start>:<audience>` and `alert-summary:<audience>:<window start>`
(UTC, `%Y%m%dT%H%MZ`), so running `queue_alerts` twice at the same `now` queues nothing new. After
queueing, the pending documents are recorded in `alerted` and `incidents.alerted_severity` is set.
What waits (cooldown, quiet hours, no recipients) is listed by `held_alerts` (shown by `sentiment
outbox` and `sentiment status`) with when it goes.
"""
from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field
from datetime import datetime, time, timedelta, timezone
from typing import Any, Iterable, Mapping, Sequence

import sqlite_utils

from sentiment.config import Settings
from sentiment.reports import outbox as mailer
from sentiment.reports.channels.queue import queue_chat
from sentiment.reports.channels.render import chat_alert, chat_summary
from sentiment.reports.digest import incident_url, load_default_rules, rget, rule_list
from sentiment.reports.export import _ORDER_SQL
from sentiment.reports.render import (SEVERITY_NAMES, SEVERITY_RANK, RenderedMessage, alert_doc_view,
                                      audience_name, encoded_size, header_text, incident_category_name, item_link,
                                      local_minute, make_env, render_pair, short, state_name, MAIL_BUDGET)
from sentiment.signals import triage
# a follow-up dated when first seen alerts only when its file also brought dated documents inside
# the recent window: back-filling an old export stays quiet
from sentiment.signals.candidates import FRESH_FIRST_SEEN
from sentiment.store import transaction
from sentiment.times import between, parse_moment, stored

log = logging.getLogger(__name__)

FUTURE_SKEW = timedelta(hours=1)
MAX_LISTED = 20          # documents listed in one incident alert (newest first; "另有 N 条")
SUMMARY_INDEX = 100      # incidents named in a summary's list
SUMMARY_DETAILED = 30    # incidents shown with their evidence in a summary
SUMMARY_DOCS = 3         # documents shown per incident in a summary
EPOCH = datetime(2000, 1, 1, tzinfo=timezone.utc)
ALERTING = ("critical", "high")  # severities that alert when an incident first reaches them
CHUNK = 500


@dataclass(frozen=True)
class Held:
    """An incident alert that waits: why, and when it goes."""

    incident_id: str
    item_id: str | None
    title: str  # item title · category
    severity: str | None
    documents: int
    reason: str  # cooldown | quiet_hours | no_recipients
    due_at: str | None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def alert_options(settings: Settings) -> dict[str, Any]:
    """[alerts] (validated when the settings load): the recent window, quiet hours, default cooldown,
    the summary threshold, and the alert interval ([schedule] analyze_minutes)."""
    options = settings.alerts
    return {"recent": timedelta(hours=options.recent_hours), "quiet": options.quiet_hours,
            "cooldown": options.cooldown, "interval": timedelta(minutes=settings.schedule.analyze_minutes),
            "summary_over": options.summary_over}


def in_quiet_hours(now: datetime, tz: Any, window: tuple[time, time] | None) -> bool:
    if window is None:
        return False
    local = now.astimezone(tz).time()
    start, end = window
    return start <= local < end if start <= end else (local >= start or local < end)


def window_start(now: datetime, step: timedelta) -> datetime:
    steps = (now.astimezone(timezone.utc) - EPOCH) // step
    return EPOCH + steps * step


def _stamp(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y%m%dT%H%MZ")


def _rank(severity: str | None) -> int:
    return SEVERITY_RANK.get(severity or "", 9)


def _worst(severities: Iterable[str | None]) -> str | None:
    return min((s for s in severities if s), key=_rank, default=None)


# ------------------------------------------------------------------ reading the store

def _pending(db: sqlite_utils.Database, now: datetime, recent: timedelta) -> dict[str, list[dict[str, Any]]]:
    """Pending evidence by incident: documents (oldest first) with their hits in the incident's category."""
    where, params = between("m.created_at", now - recent, now + FUTURE_SKEW)
    cur = db.execute(
        "SELECT m.incident_id, m.severity AS member_severity, d.id, d.kind, d.item_id, d.item_title, d.text,"
        f" d.created_at, d.rating, d.author, d.meta, {_ORDER_SQL} AS order_id, h.rule_id, h.terms"
        " FROM incident_members m CROSS JOIN documents d ON d.id = m.document_id"  # evidence first: small
        " JOIN incidents i ON i.id = m.incident_id"
        " LEFT JOIN rule_hits h ON h.document_id = d.id AND +h.category = i.category"  # by document, not the category index
        f" WHERE d.is_placeholder = 0 AND {where} AND {FRESH_FIRST_SEEN}"
        " AND NOT EXISTS (SELECT 1 FROM alerted x WHERE x.document_id = d.id"
        "  AND (x.rule_id = m.incident_id OR substr(x.rule_id, 1, 4) != 'inc-'))"
        " ORDER BY m.incident_id, datetime(d.created_at), d.id, h.rule_id", [*params, stored(now - recent)])
    names = [c[0] for c in cur.description]
    found: dict[str, dict[str, dict[str, Any]]] = {}
    for values in cur.fetchall():
        row = dict(zip(names, values))
        docs = found.setdefault(row["incident_id"], {})
        doc = docs.get(row["id"])
        if doc is None:
            doc = docs[row["id"]] = {**row, "rule_ids": [], "terms": []}
        if row["rule_id"]:
            doc["rule_ids"].append(row["rule_id"])
            try:
                doc["terms"].extend(t for t in json.loads(row["terms"] or "[]") if isinstance(t, list) and t)
            except ValueError:
                pass
    return {iid: list(docs.values()) for iid, docs in found.items()}


def _chunked(db: sqlite_utils.Database, sql: str, ids: Sequence[str]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for start in range(0, len(ids), CHUNK):
        part = list(ids[start:start + CHUNK])
        cur = db.execute(sql.format(marks=", ".join("?" for _ in part)), part)
        names = [c[0] for c in cur.description]
        rows.extend(dict(zip(names, r)) for r in cur.fetchall())
    return rows


def _last_alerts(db: sqlite_utils.Database, ids: Sequence[str]) -> dict[str, datetime]:
    rows = _chunked(db, "SELECT rule_id, max(created_at) AS at FROM alerted WHERE rule_id IN ({marks})"
                        " GROUP BY rule_id", ids)
    return {r["rule_id"]: moment for r in rows if (moment := parse_moment(r["at"])) is not None}


def _state(states: Mapping[str, Any], incident_id: str) -> str:
    value = states.get(f"incident:{incident_id}")
    if value is None:
        return "new"
    return str(value[0] if isinstance(value, (tuple, list)) else value)


def _rule_counts(raw: str | None) -> dict[str, int]:
    """`incidents.rules` (rule id -> documents, as a list or a count) as rule id -> count."""
    try:
        value = json.loads(raw or "{}")
    except ValueError:
        return {}
    if not isinstance(value, dict):
        return {}
    return {str(k): len(v) if isinstance(v, list) else int(v) if isinstance(v, (int, float)) else 0
            for k, v in value.items()}


# ------------------------------------------------------------------ deciding

@dataclass
class _Incident:
    row: dict[str, Any]
    state: str
    docs: list[dict[str, Any]]          # pending evidence, oldest first
    severity: str | None                # what this alert says (the incident's, or its worst new member's)
    first: bool
    reopened: bool
    rule: Any                           # the rule that names it (None for spikes, topics, ...)
    owners: list[str]
    cooldown: timedelta
    last: datetime | None

    @property
    def id(self) -> str:
        return self.row["id"]

    @property
    def item_title(self) -> str:
        title = self.row.get("item_title") or next((d["item_title"] for d in self.docs if d["item_title"]), None)
        if title:
            return title
        key = self.row.get("item_key")
        return "全店" if key == "*" else (self.row.get("item_id") or key or "（未知商品）")

    @property
    def item_id(self) -> str | None:
        return self.row.get("item_id") or next((d["item_id"] for d in self.docs if d["item_id"]), None)

    @property
    def size(self) -> int:
        return int(self.row.get("size") or 0) or len(self.docs)

    @property
    def label(self) -> str:
        """What happened: the naming rule, else the incident's title, else its kind."""
        if self.rule is not None:
            return rget(self.rule, "name") or rget(self.rule, "id")
        return self.row.get("title") or incident_category_name(self.row.get("category"))

    def held(self, reason: str, due: datetime | None) -> Held:
        log.info("alert for incident %s held: %s until %s", self.id, reason, due)
        return Held(self.id, self.item_id, header_text(f"{self.item_title} · "
                                                       f"{incident_category_name(self.row.get('category'))}", 80),
                    self.severity, len(self.docs), reason, mailer.iso(due) if due else None)


@dataclass(frozen=True)
class _Due:
    incident: _Incident
    start: datetime                     # window start of its own keys
    audiences: tuple[str, ...]          # owners with recipients


@dataclass
class _Plan:
    due: list[_Due] = field(default_factory=list)
    held: list[Held] = field(default_factory=list)
    summaries: dict[str, list[_Due]] = field(default_factory=dict)  # audience -> incidents it summarizes
    summary_start: datetime | None = None
    options: Mapping[str, Any] = field(default_factory=dict)


def _plan(db: sqlite_utils.Database, settings: Settings, now: datetime, rules: Any) -> _Plan:
    if now.tzinfo is None:
        raise ValueError("alerts need an aware `now`")
    options = alert_options(settings)
    plan = _Plan(options=options, summary_start=window_start(now, options["interval"]))
    pending = _pending(db, now, options["recent"])
    if not pending:
        return plan
    if rules is None:
        rules = load_default_rules(settings)
    by_id = {rget(r, "id"): r for r in rule_list(rules)}
    ids = sorted(pending)
    rows = {r["id"]: r for r in _chunked(db, "SELECT * FROM incidents WHERE id IN ({marks})", ids)}
    last_alerts = _last_alerts(db, ids)
    states = triage.states(db)
    quiet = in_quiet_hours(now, settings.tz, options["quiet"])
    recipients = mailer.audiences(settings)
    for iid in ids:
        row = rows.get(iid)
        state = _state(states, iid)
        if row is None or state in triage.CLOSED_STATES:
            continue  # ignored (grows silently), or resolved and not reopened by new evidence
        incident = _incident(row, state, pending[iid], by_id, last_alerts.get(iid), options)
        if incident is None:
            continue
        plan_item = _decide(incident, now, quiet, settings, options, recipients)
        (plan.held if isinstance(plan_item, Held) else plan.due).append(plan_item)  # type: ignore[arg-type]
    _plan_summaries(db, plan, options)
    return plan


def _incident(row: dict[str, Any], state: str, docs: list[dict[str, Any]], by_id: Mapping[str, Any],
              last: datetime | None, options: Mapping[str, Any]) -> _Incident | None:
    """The incident with its pending evidence, if that evidence is worth an alert now."""
    immediate_hits = {r for d in docs for r in d["rule_ids"] if r in by_id and rget(by_id[r], "immediate", False)}
    counts = _rule_counts(row.get("rules"))
    known = sorted({*(r for d in docs for r in d["rule_ids"]), *counts} & set(by_id))
    severity, alerted = row.get("severity"), row.get("alerted_severity")
    opened = parse_moment(row.get("opened_at"))
    reopened = alerted is not None and last is not None and opened is not None and opened > last
    first = alerted is None or reopened
    if first:
        worth = bool(immediate_hits) or severity in ALERTING
    else:
        worth = _rank(severity) < _rank(alerted) or any(d["member_severity"] == "critical" for d in docs)
    if not worth:
        return None
    naming = sorted(immediate_hits) or known
    rule = min((by_id[r] for r in naming), key=lambda r: (_rank(rget(r, "severity")), -counts.get(rget(r, "id"), 0),
                                                          rget(r, "id")), default=None)
    owners = [o.strip() for o in (row.get("owners") or "").split(",") if o.strip()]
    if not owners:
        owners = sorted({o for r in known for o in (rget(by_id[r], "owners", ()) or ())})
    cooldowns = [rget(by_id[r], "cooldown") or options["cooldown"] for r in known]
    return _Incident(row=row, state=state, docs=docs,
                     severity=_worst([severity, *(d["member_severity"] for d in docs)]) or rget(rule, "severity"),
                     first=first, reopened=reopened, rule=rule, owners=list(dict.fromkeys(owners)),
                     cooldown=min(cooldowns, default=options["cooldown"]), last=last)


def _decide(incident: _Incident, now: datetime, quiet: bool, settings: Settings, options: Mapping[str, Any],
            recipients: Mapping[str, Sequence[str]]) -> _Due | Held:
    critical = incident.severity == "critical"
    if quiet and not critical:
        return incident.held("quiet_hours", _quiet_end(now, settings.tz, options["quiet"]))
    wait = min(incident.cooldown, options["interval"]) if critical else incident.cooldown
    if incident.last is not None and now - incident.last < wait:
        return incident.held("cooldown", incident.last + wait)
    audiences = tuple(o for o in incident.owners if recipients.get(o) or settings.audience_channels.get(o))
    if not audiences:
        log.warning("alert for incident %s not sent: no recipients for owners %s (configure [audiences.<name>])",
                    incident.id, incident.owners)
        return incident.held("no_recipients", None)
    step = wait if incident.last is not None else incident.cooldown
    return _Due(incident, window_start(now, step), audiences)


def _plan_summaries(db: sqlite_utils.Database, plan: _Plan, options: Mapping[str, Any]) -> None:
    """Per audience: more than `summary_over` first alerts (or updates) go into one summary. When this
    window's summary of an audience was already queued, its incidents wait for the next window."""
    limit, start = options["summary_over"], plan.summary_start
    assert start is not None
    while True:
        plan.summaries = {}
        for audience in sorted({a for d in plan.due for a in d.audiences}):
            mine = [d for d in plan.due if audience in d.audiences]
            firsts = [d for d in mine if d.incident.first]
            updates = [d for d in mine if not d.incident.first]
            members = (firsts if len(firsts) > limit else []) + (updates if len(updates) > limit else [])
            if members:
                plan.summaries[audience] = sorted(members, key=_summary_order)
        blocked = {d.incident.id for a, members in plan.summaries.items()
                   if mailer.find(db, _summary_key(a, start)) is not None for d in members}
        if not blocked:
            return
        for d in plan.due:
            if d.incident.id in blocked:
                plan.held.append(d.incident.held("cooldown", start + options["interval"]))
        plan.due = [d for d in plan.due if d.incident.id not in blocked]


def _summary_order(due: _Due) -> tuple[Any, ...]:
    return (_rank(due.incident.severity), -due.incident.size, due.incident.id)


def _summary_key(audience: str, start: datetime) -> str:
    return f"alert-summary:{audience}:{_stamp(start)}"


def _quiet_end(now: datetime, tz: Any, window: tuple[time, time] | None) -> datetime | None:
    if window is None:
        return None
    local = now.astimezone(tz)
    end = local.replace(hour=window[1].hour, minute=window[1].minute, second=0, microsecond=0)
    return end if end > local else end + timedelta(days=1)


# ------------------------------------------------------------------ public API

def queue_alerts(db: sqlite_utils.Database, settings: Settings, now: datetime, rules: Any = None) -> list[int]:
    """Queue the alerts that are due; records their documents in `alerted` and the severity alerted.
    Returns the new outbox ids."""
    queued: list[int] = []
    with transaction(db):
        plan = _plan(db, settings, now, rules)
        sent: dict[str, int] = {}  # incident id -> the first outbox message that carries it
        recipients = mailer.audiences(settings)
        summarized = {a: {d.incident.id for d in members} for a, members in plan.summaries.items()}
        for due in plan.due:
            alone = [a for a in due.audiences if due.incident.id not in summarized.get(a, ())]
            if not alone:
                continue
            data = build_alert(due.incident, settings, now, due.start, plan.options)
            message = render_alert(data)
            posted: set[str] = set()  # group robots this incident went to: one post per group, not per audience
            for audience in alone:
                key = f"alert:{due.incident.id}:{_stamp(due.start)}:{audience}"
                meta = {"incident_id": due.incident.id, "item_id": due.incident.item_id,
                        "severity": due.incident.severity, "documents": len(due.incident.docs),
                        "update": not due.incident.first}
                ids = [] if mailer.find(db, key) is not None or not recipients.get(audience) else [mailer.enqueue(
                    db, settings, key=key, kind="alert", audience=audience, recipients=list(recipients[audience]),
                    message=message, now=now, meta=meta)]
                ids += queue_chat(db, settings, key=key, kind="alert", audience=audience, now=now, meta=meta,
                                  skip=posted, render=lambda ch: chat_alert(data, message.subject, settings, ch))
                queued.extend(ids)
                for outbox_id in ids:
                    sent.setdefault(due.incident.id, outbox_id)
        for audience, members in sorted(plan.summaries.items()):
            key = _summary_key(audience, plan.summary_start)  # type: ignore[arg-type]
            if mailer.find(db, key) is not None:
                continue
            data = build_summary(audience, [d.incident for d in members], settings, now, plan.options)
            summary = render_summary(data)
            meta = {"summary": True, "incidents": [d.incident.id for d in members],
                    "documents": sum(len(d.incident.docs) for d in members)}
            ids = [mailer.enqueue(db, settings, key=key, kind="alert", audience=audience,
                                  recipients=list(recipients[audience]), message=summary, now=now, meta=meta)
                   ] if recipients.get(audience) else []
            ids += queue_chat(db, settings, key=key, kind="alert", audience=audience, now=now, meta=meta,
                              render=lambda ch: chat_summary(data, summary.subject, settings, ch))
            queued.extend(ids)
            for d in members:
                for outbox_id in ids:
                    sent.setdefault(d.incident.id, outbox_id)
        _record(db, plan, sent, now)
    return queued


def _record(db: sqlite_utils.Database, plan: _Plan, sent: Mapping[str, int], now: datetime) -> None:
    at = mailer.iso(now)
    for due in plan.due:
        outbox_id = sent.get(due.incident.id)
        if outbox_id is None:
            continue
        db.conn.executemany("INSERT OR IGNORE INTO alerted (document_id, rule_id, outbox_id, created_at)"
                            " VALUES (?, ?, ?, ?)", [[d["id"], due.incident.id, outbox_id, at]
                                                     for d in due.incident.docs])
        db.execute("UPDATE incidents SET alerted_severity = ? WHERE id = ?", [due.incident.severity, due.incident.id])


def held_alerts(db: sqlite_utils.Database, settings: Settings, now: datetime, rules: Any = None) -> list[Held]:
    """The alerts that wait (cooldown, quiet hours, no recipients), with when they go."""
    return sorted(_plan(db, settings, now, rules).held, key=lambda h: h.incident_id)


def held_rows(db: sqlite_utils.Database, settings: Settings, now: datetime) -> list[dict[str, Any]]:
    """Held alerts as outbox-like rows (status "held", no id yet), for `sentiment outbox` and `status`."""
    return [{"id": None, "status": "held", "kind": "alert", "audience": None, "attempts": 0,
             "subject": f"{h.incident_id} · {h.title}（{h.documents} 条）", "reason": h.reason, "due_at": h.due_at,
             "last_error": None} for h in held_alerts(db, settings, now)]


# ------------------------------------------------------------------ mail content

def _incident_view(incident: _Incident, settings: Settings, now: datetime, listed: int) -> dict[str, Any]:
    """Plain data of one incident as alerts and summaries show it; documents newest first."""
    tz, row = settings.tz, incident.row
    due = parse_moment(row.get("due_at"))
    docs = [alert_doc_view(d, d["terms"], tz) for d in incident.docs[::-1][:listed]]
    return {
        "id": incident.id, "kind": row.get("kind"), "severity": incident.severity,
        "severity_name": SEVERITY_NAMES.get(incident.severity or "", incident.severity or "—"),
        "alerted_severity": None if incident.first else row.get("alerted_severity"),
        "first": incident.first, "is_update": not incident.first, "reopened": incident.reopened,
        "category": row.get("category"), "category_name": incident_category_name(row.get("category")),
        "label": _line(incident.label), "rule_id": rget(incident.rule, "id") if incident.rule is not None else None,
        "item_id": incident.item_id, "item_title": _line(incident.item_title), "link": item_link(incident.item_id),
        "short_title": short(_line(incident.item_title), 24), "short_label": short(_line(incident.label), 20),
        "size": incident.size, "count": len(incident.docs),
        "first_seen": local_minute(row.get("first_seen"), tz), "last_seen": local_minute(row.get("last_seen"), tz),
        "due_at": local_minute(row.get("due_at"), tz) or None, "overdue": due is not None and due < now,
        "state_name": state_name(incident.state), "owners": [audience_name(o) for o in incident.owners],
        "documents": {"items": docs, "more": len(incident.docs) - len(docs), "total": len(incident.docs)},
        "url": incident_url(settings.web.base_url, incident.id),  # its console page, with [web] base_url
    }


def _line(value: Any) -> str:
    """Untrusted one-line text (titles, labels): control characters and line breaks become spaces."""
    return " ".join("".join(c if c.isprintable() else " " for c in str(value)).split())


def build_alert(incident: _Incident, settings: Settings, now: datetime, start: datetime,
                options: Mapping[str, Any]) -> dict[str, Any]:
    """Plain data of one incident alert (what `render_alert` shows)."""
    return {**_incident_view(incident, settings, now, MAX_LISTED),
            "window_start": local_minute(start.isoformat(), settings.tz), "timezone": settings.timezone,
            "cooldown_minutes": int(incident.cooldown.total_seconds() // 60),
            "interval_minutes": int(options["interval"].total_seconds() // 60),
            "recent_hours": int(options["recent"].total_seconds() // 3600)}


def alert_subject(data: Mapping[str, Any]) -> str:
    sev = SEVERITY_NAMES.get(data["severity"] or "", "")
    if data["is_update"]:
        return header_text(f"【更新】【{sev}·{data['category_name']}】{data['item_title']}：{data['label']}"
                           f"（新增 {data['count']} 条，共 {data['size']} 条）", limit=150)
    return header_text(f"【{sev}·{data['category_name']}】{data['item_title']}：{data['label']}（{data['size']} 条）",
                       limit=150)


def render_alert(data: Mapping[str, Any]) -> RenderedMessage:
    env = make_env()

    def render(d: Mapping[str, Any]) -> RenderedMessage:
        subject = alert_subject(d)
        text, html = render_pair(env, "alert", {"a": d, "subject": subject})
        return RenderedMessage(subject, text, html)

    return _fit(render, [{**data, "documents": _keep(data["documents"], keep)} for keep in (None, 12, 8, 4, 2, 1, 0)])


def _keep(section: Mapping[str, Any], keep: int | None) -> dict[str, Any]:
    """`section` ({"items", "more"}) with at most `keep` items; the dropped ones join "more"."""
    items = list(section["items"])
    if keep is None or len(items) <= keep:
        return dict(section)
    return {**section, "items": items[:keep], "more": section["more"] + len(items) - keep}


def _fit(render: Any, variants: Sequence[Mapping[str, Any]]) -> RenderedMessage:
    """The first variant (longest first) whose mail stays under MAIL_BUDGET once encoded."""
    message = None
    for variant in variants:
        message = render(variant)
        if encoded_size(message) <= MAIL_BUDGET:
            return message
    assert message is not None
    log.warning("alert mail over %d bytes even when shortened: %s", MAIL_BUDGET, message.subject)
    return message


def build_summary(audience: str, incidents: Sequence[_Incident], settings: Settings, now: datetime,
                  options: Mapping[str, Any]) -> dict[str, Any]:
    """Plain data of one audience's summary: every incident named (up to SUMMARY_INDEX), the first
    SUMMARY_DETAILED with their newest evidence."""
    views = [_incident_view(i, settings, now, SUMMARY_DOCS) for i in incidents]
    index = views[:SUMMARY_INDEX]
    detailed = views[:SUMMARY_DETAILED]
    return {"audience": audience, "audience_name": audience_name(audience), "timezone": settings.timezone,
            "new": sum(1 for v in views if v["first"]), "updates": sum(1 for v in views if v["is_update"]),
            "critical": sum(1 for v in views if v["severity"] == "critical"), "total": len(views),
            "documents_total": sum(v["count"] for v in views),
            "index": {"items": index, "more": len(views) - len(index), "total": len(views)},
            "details": {"items": detailed, "more": len(views) - len(detailed), "total": len(views)},
            "at": local_minute(now.isoformat(), settings.tz),
            "summary_over": options["summary_over"],
            "recent_hours": int(options["recent"].total_seconds() // 3600)}


def summary_subject(data: Mapping[str, Any]) -> str:
    parts = []
    if data["new"]:
        parts.append(f"{data['new']} 个新事件")
    if data["updates"]:
        parts.append(f"{data['updates']} 个事件更新")
    critical = f"（{data['critical']} 个紧急）" if data["critical"] else ""
    return header_text(f"【风险汇总】{data['audience_name']}：{'、'.join(parts)}{critical}", limit=150)


def render_summary(data: Mapping[str, Any]) -> RenderedMessage:
    env = make_env()

    def render(d: Mapping[str, Any]) -> RenderedMessage:
        subject = summary_subject(d)
        text, html = render_pair(env, "alert_summary", {"s": d, "subject": subject})
        return RenderedMessage(subject, text, html)

    variants = [{**data, "details": _keep(data["details"], keep)} for keep in (None, 20, 10, 5, 2, 0)]
    variants += [{**data, "details": _keep(data["details"], 0), "index": _keep(data["index"], keep)}
                 for keep in (60, 40, 20, 10)]
    return _fit(render, variants)
