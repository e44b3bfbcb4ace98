"""Immediate alerts for rules marked `immediate`: per rule cluster (rule x item) and window,
one mail to each audience that owns any rule the documents fired.

Only documents created within `[alerts] recent_hours` (default 48) of `now`
alert, so back-filling history never sets off a storm. A cluster alerts at
most once per cooldown (the rule's own, else `[alerts] cooldown`, default 1h);
documents that arrive during the cooldown wait and go out together in the next
alert, marked as an update. New evidence on a *critical* cluster is never held
longer than one alert interval (`[schedule] analyze_minutes`). During
`[alerts] quiet_hours` (e.g. "22:00-08:00", local time) only `critical` rules
alert; the others wait until the quiet hours end. What is held is listed by
`held_alerts` (shown by `sentiment outbox` and `sentiment status`) with when it
goes. A document listed in `alerted` never alerts again, whichever rule it hit.
"""
from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from datetime import datetime, time, timedelta, timezone
from typing import Any, Mapping, Sequence

import sqlite_utils

from sentiment.reports import outbox as mailer
from sentiment.config import Settings
from sentiment.reports.digest import load_default_rules, rget, rule_list
from sentiment.reports.render import (SEVERITY_NAMES, SEVERITY_RANK, RenderedMessage, audience_name, category_name,
                                  doc_view, fit, header_text, item_link, make_env, render_pair)
from sentiment.store import transaction
from sentiment.times import between, stored

log = logging.getLogger(__name__)

FUTURE_SKEW = timedelta(hours=1)
# A follow-up dated when first seen (it had no date of its own) alerts only when its file also
# brought dated documents inside the recent window: back-filling an old export stays quiet.
FRESH_FIRST_SEEN = ("(coalesce(d.date_precision, '') != 'first_seen' OR EXISTS (SELECT 1 FROM batches b"
                    " WHERE b.id = d.batch_id AND b.newest_at >= ?))")
MAX_LISTED = 20
EPOCH = datetime(2000, 1, 1, tzinfo=timezone.utc)


@dataclass(frozen=True)
class Held:
    """An alert that waits: its rule cluster, how many documents, why, and when it goes."""

    rule_id: str
    item_id: str
    documents: int
    reason: str  # cooldown | quiet_hours | no_recipients
    due_at: str | None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def alert_options(settings: Settings) -> dict[str, Any]:
    """[alerts] (validated when the settings load): the recent window, quiet hours and default cooldown."""
    options = settings.alerts
    return {"recent": timedelta(hours=options.recent_hours), "quiet": options.quiet_hours,
            "cooldown": options.cooldown, "interval": timedelta(minutes=settings.schedule.analyze_minutes)}


def in_quiet_hours(now: datetime, tz: Any, window: tuple[time, time] | None) -> bool:
    if window is None:
        return False
    local = now.astimezone(tz).time()
    start, end = window
    return start <= local < end if start <= end else (local >= start or local < end)


def _candidates(db: sqlite_utils.Database, rule_ids: Sequence[str], now: datetime,
                recent: timedelta) -> list[dict[str, Any]]:
    where, params = between("d.created_at", now - recent, now + FUTURE_SKEW)
    marks = ", ".join("?" for _ in rule_ids)
    cur = db.execute(
        "SELECT d.id, d.kind, d.item_id, d.item_title, d.text, d.created_at, d.rating, h.rule_id, h.terms"
        f" FROM rule_hits h JOIN documents d ON d.id = h.document_id WHERE h.rule_id IN ({marks})"
        f" AND d.is_placeholder = 0 AND {where}"
        " AND NOT EXISTS (SELECT 1 FROM alerted x WHERE x.document_id = d.id)"
        f" AND {FRESH_FIRST_SEEN}"
        " ORDER BY datetime(d.created_at), d.id", [*rule_ids, *params, stored(now - recent)])
    names = [c[0] for c in cur.description]
    return [dict(zip(names, row)) for row in cur.fetchall()]


def _groups(rows: list[dict[str, Any]], rules: Mapping[str, Any]) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """Each document goes to the cluster of its most severe immediate rule; its other hits come along,
    and the owners of all of them."""
    by_doc: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_doc.setdefault(row["id"], []).append(row)
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for hits in by_doc.values():
        best = min(hits, key=lambda h: (SEVERITY_RANK.get(rget(rules[h["rule_id"]], "severity"), 9), h["rule_id"]))
        doc = {**best, "rule_ids": sorted({h["rule_id"] for h in hits}),
               "owners": sorted({o for h in hits for o in _owners(rules[h["rule_id"]])}),
               "terms": json.loads(best["terms"] or "[]")}
        groups.setdefault((best["rule_id"], best["item_id"] or "-"), []).append(doc)
    return groups


def _owners(rule: Any) -> tuple[str, ...]:
    return tuple(rget(rule, "owners", ()) or ())


def _last_alert(db: sqlite_utils.Database, prefix: str) -> datetime | None:
    row = db.execute("SELECT max(created_at) FROM outbox WHERE kind = 'alert' AND substr(key, 1, ?) = ?",
                     [len(prefix), prefix]).fetchone()
    return datetime.fromisoformat(row[0]) if row and row[0] else None


def window_start(now: datetime, cooldown: timedelta) -> datetime:
    steps = (now.astimezone(timezone.utc) - EPOCH) // cooldown
    return EPOCH + steps * cooldown


def build_alert(rule: Any, item_id: str, docs: list[dict[str, Any]], settings: Settings, start: datetime,
                cooldown: timedelta, recent: timedelta, *, update: bool = False,
                owners: Sequence[str] = ()) -> dict[str, Any]:
    """Plain data of one alert mail (what `render_alert` shows)."""
    tz = settings.tz
    item = None if item_id == "-" else item_id
    title = next((d["item_title"] for d in docs if d["item_title"]), None) or item or "（未知商品）"
    listed = [{**doc_view(d, d["terms"]), "other_rules": [r for r in d["rule_ids"] if r != rget(rule, "id")]}
              for d in docs[-MAX_LISTED:][::-1]]
    owners = tuple(owners) or _owners(rule)
    return {"update": update,
        "kind": "alert", "rule_id": rget(rule, "id"), "rule_name": rget(rule, "name") or rget(rule, "id"),
        "category": rget(rule, "category"), "category_name": category_name(rget(rule, "category")),
        "severity": rget(rule, "severity"), "item_id": item, "item_title": title, "link": item_link(item),
        "count": len(docs), "documents": {"items": listed, "more": len(docs) - len(listed), "total": len(docs)},
        "first": docs[0]["created_at"][:16].replace("T", " "), "last": docs[-1]["created_at"][:16].replace("T", " "),
        "window_start": start.astimezone(tz).strftime("%Y-%m-%d %H:%M"), "timezone": settings.timezone,
        "cooldown_minutes": int(cooldown.total_seconds() // 60), "recent_hours": int(recent.total_seconds() // 3600),
        "owners": [audience_name(o) for o in owners],
    }


def alert_subject(data: Mapping[str, Any]) -> str:
    sev = SEVERITY_NAMES.get(data["severity"] or "", "")
    head = "【更新】" if data.get("update") else ""
    return header_text(f"{head}【{sev}·{data['category_name']}】{data['item_title']}：{data['rule_name']}"
                       f"（{data['count']} 条）", limit=150)


def render_alert(data: Mapping[str, Any]) -> RenderedMessage:
    env = make_env()

    def render(d: Mapping[str, Any]) -> RenderedMessage:
        text, html = render_pair(env, "alert", {"a": d, "subject": alert_subject(d)})
        return RenderedMessage(alert_subject(d), text, html)

    return fit(render, dict(data), ["documents"])




def queue_alerts(db: sqlite_utils.Database, settings: Settings, now: datetime, rules: Any = None) -> list[int]:
    """Queue the alerts that are due; marks their documents in `alerted`. Returns new outbox ids."""
    queued: list[int] = []
    with transaction(db):
        for group, decision in _decisions(db, settings, now, rules):
            if not isinstance(decision, Held):
                queued.extend(_queue_group(db, settings, now, group, decision))
    return queued


def held_alerts(db: sqlite_utils.Database, settings: Settings, now: datetime, rules: Any = None) -> list[Held]:
    """The alerts that wait (cooldown, quiet hours, no recipients), with when they go."""
    return [d for _, d in _decisions(db, settings, now, rules) if isinstance(d, Held)]


def held_rows(db: sqlite_utils.Database, settings: Settings, now: datetime) -> list[dict[str, Any]]:
    """Held alerts as outbox-like rows (status "held", no id yet), for `sentiment outbox` and `status`."""
    return [{"id": None, "status": "held", "kind": "alert", "audience": None, "attempts": 0,
             "subject": f"{h.rule_id} · {h.item_id}（{h.documents} 条）", "reason": h.reason, "due_at": h.due_at,
             "last_error": None} for h in held_alerts(db, settings, now)]


@dataclass
class _Group:
    rule: Any
    item_id: str
    docs: list[dict[str, Any]]
    options: Mapping[str, Any]

    @property
    def prefix(self) -> str:
        return f"alert:{rget(self.rule, 'id')}:{self.item_id}:"

    @property
    def owners(self) -> list[str]:
        return sorted({o for d in self.docs for o in d["owners"]})


@dataclass(frozen=True)
class _Due:
    start: datetime
    cooldown: timedelta
    update: bool


def _decisions(db: sqlite_utils.Database, settings: Settings, now: datetime,
               rules: Any) -> list[tuple[_Group, _Due | Held]]:
    if now.tzinfo is None:
        raise ValueError("alerts need an aware `now`")
    options = alert_options(settings)
    if rules is None:
        rules = load_default_rules(settings)
    immediate = {rget(r, "id"): r for r in rule_list(rules) if rget(r, "immediate", False)}
    if not immediate:
        return []
    quiet = in_quiet_hours(now, settings.tz, options["quiet"])
    groups = _groups(_candidates(db, sorted(immediate), now, options["recent"]), immediate)
    out = []
    for (rule_id, item_id), docs in sorted(groups.items()):
        group = _Group(immediate[rule_id], item_id, docs, options)
        out.append((group, _decide(db, settings, now, group, quiet)))
    return out


def _decide(db: sqlite_utils.Database, settings: Settings, now: datetime, group: _Group,
            quiet: bool) -> _Due | Held:
    rule, options = group.rule, group.options
    rule_id, critical = rget(rule, "id"), rget(rule, "severity") == "critical"

    def held(reason: str, due: datetime | None) -> Held:
        log.info("alert %s/%s held: %s until %s", rule_id, group.item_id, reason, due)
        return Held(rule_id, group.item_id, len(group.docs), reason, mailer.iso(due) if due else None)

    if quiet and not critical:
        return held("quiet_hours", _quiet_end(now, settings.tz, options["quiet"]))
    cooldown = rget(rule, "cooldown") or options["cooldown"]
    last = _last_alert(db, group.prefix)
    wait = min(cooldown, options["interval"]) if critical else cooldown  # critical news: one interval at most
    if last is not None and now - last < wait:
        return held("cooldown", last + wait)
    if not any(mailer.audiences(settings).get(o) for o in group.owners):
        log.warning("alert %s/%s not sent: no recipients for owners %s (configure [audiences.<name>])",
                    rule_id, group.item_id, group.owners)
        return held("no_recipients", None)
    step = wait if last is not None else cooldown
    return _Due(window_start(now, step), cooldown, update=last is not None)


def _quiet_end(now: datetime, tz: Any, window: tuple[time, time] | None) -> datetime | None:
    if window is None:
        return None
    local = now.astimezone(tz)
    end = local.replace(hour=window[1].hour, minute=window[1].minute, second=0, microsecond=0)
    return end if end > local else end + timedelta(days=1)


def _queue_group(db: sqlite_utils.Database, settings: Settings, now: datetime, group: _Group,
                 due: _Due) -> list[int]:
    """One message per owning audience, under keys that make each go once."""
    rule_id = rget(group.rule, "id")
    data = build_alert(group.rule, group.item_id, group.docs, settings, due.start, due.cooldown,
                       group.options["recent"], update=due.update, owners=group.owners)
    message = render_alert(data)
    ids: list[int] = []
    for audience in group.owners:
        recipients = list(mailer.audiences(settings).get(audience, ()))
        key = f"{group.prefix}{due.start.strftime('%Y%m%dT%H%MZ')}:{audience}"
        if not recipients or mailer.find(db, key) is not None:
            continue
        ids.append(mailer.enqueue(db, settings, key=key, kind="alert", audience=audience, recipients=recipients,
                                  message=message, now=now,
                                  meta={"rule_id": rule_id, "item_id": group.item_id,
                                        "documents": len(group.docs), "update": due.update}))
    if ids:
        db.conn.executemany("INSERT OR IGNORE INTO alerted (document_id, rule_id, outbox_id, created_at)"
                            " VALUES (?, ?, ?, ?)",
                            [[d["id"], r, ids[0], mailer.iso(now)] for d in group.docs for r in d["rule_ids"]])
    return ids
