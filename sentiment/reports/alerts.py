"""Immediate alerts for rules marked `immediate`: one mail per rule cluster (rule x item) and window.

Only documents created within `[alerts] recent_hours` (default 48) of `now`
alert, so back-filling history never sets off a storm. A cluster alerts at
most once per cooldown (the rule's own, else `[alerts] cooldown`, default 1h);
documents that arrive during the cooldown wait and go out together in the next
alert. During `[alerts] quiet_hours` (e.g. "22:00-08:00", local time) only
`critical` rules alert; the others wait until the quiet hours end. A document
listed in `alerted` never alerts again, whichever rule it hit.
"""
from __future__ import annotations

import json
import logging
from datetime import datetime, time, timedelta, timezone
from typing import Any, Mapping, Sequence

import sqlite_utils

from sentiment.reports import outbox as mailer
from sentiment.config import Settings
from sentiment.reports.digest import between, load_default_rules, rget, rule_list
from sentiment.reports.render import (SEVERITY_NAMES, SEVERITY_RANK, RenderedMessage, audience_name, category_name,
                                  doc_view, fit, header_text, item_link, make_env, render_pair)
from sentiment.store import transaction

log = logging.getLogger(__name__)

FUTURE_SKEW = timedelta(hours=1)
MAX_LISTED = 20
EPOCH = datetime(2000, 1, 1, tzinfo=timezone.utc)


def alert_options(settings: Settings) -> dict[str, Any]:
    """[alerts] (validated when the settings load): the recent window, quiet hours and default cooldown."""
    options = settings.alerts
    return {"recent": timedelta(hours=options.recent_hours), "quiet": options.quiet_hours,
            "cooldown": options.cooldown}


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
        " ORDER BY datetime(d.created_at), d.id", [*rule_ids, *params])
    names = [c[0] for c in cur.description]
    return [dict(zip(names, row)) for row in cur.fetchall()]


def _groups(rows: list[dict[str, Any]], rules: Mapping[str, Any]) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """Each document goes to the cluster of its most severe immediate rule; its other hits come along."""
    by_doc: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_doc.setdefault(row["id"], []).append(row)
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for hits in by_doc.values():
        best = min(hits, key=lambda h: (SEVERITY_RANK.get(rget(rules[h["rule_id"]], "severity"), 9), h["rule_id"]))
        doc = {**best, "rule_ids": sorted({h["rule_id"] for h in hits}),
               "terms": json.loads(best["terms"] or "[]")}
        groups.setdefault((best["rule_id"], best["item_id"] or "-"), []).append(doc)
    return groups


def _last_alert(db: sqlite_utils.Database, prefix: str) -> datetime | None:
    row = db.execute("SELECT max(created_at) FROM outbox WHERE kind = 'alert' AND substr(key, 1, ?) = ?",
                     [len(prefix), prefix]).fetchone()
    return datetime.fromisoformat(row[0]) if row and row[0] else None


def window_start(now: datetime, cooldown: timedelta) -> datetime:
    steps = (now.astimezone(timezone.utc) - EPOCH) // cooldown
    return EPOCH + steps * cooldown


def build_alert(rule: Any, item_id: str, docs: list[dict[str, Any]], settings: Settings, start: datetime,
                cooldown: timedelta, recent: timedelta) -> dict[str, Any]:
    """Plain data of one alert mail (what `render_alert` shows)."""
    tz = settings.tz
    item = None if item_id == "-" else item_id
    title = next((d["item_title"] for d in docs if d["item_title"]), None) or item or "（未知商品）"
    listed = [{**doc_view(d, d["terms"]), "other_rules": [r for r in d["rule_ids"] if r != rget(rule, "id")]}
              for d in docs[-MAX_LISTED:][::-1]]
    owners = tuple(rget(rule, "owners", ()) or ())
    return {
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
    return header_text(f"【{sev}·{data['category_name']}】{data['item_title']}：{data['rule_name']}"
                       f"（{data['count']} 条）", limit=150)


def render_alert(data: Mapping[str, Any]) -> RenderedMessage:
    env = make_env()

    def render(d: Mapping[str, Any]) -> RenderedMessage:
        text, html = render_pair(env, "alert", {"a": d, "subject": alert_subject(d)})
        return RenderedMessage(alert_subject(d), text, html)

    return fit(render, dict(data), ["documents"])


def _recipients(settings: Settings, rule: Any) -> list[str]:
    out: list[str] = []
    for owner in tuple(rget(rule, "owners", ()) or ()):
        out.extend(a for a in mailer.audiences(settings).get(owner, ()) if a not in out)
    return out


def queue_alerts(db: sqlite_utils.Database, settings: Settings, now: datetime, rules: Any = None) -> list[int]:
    """Queue one alert per due rule cluster; marks its documents in `alerted`. Returns new outbox ids."""
    if now.tzinfo is None:
        raise ValueError("queue_alerts needs an aware `now`")
    options = alert_options(settings)
    if rules is None:
        rules = load_default_rules(settings)
    immediate = {rget(r, "id"): r for r in rule_list(rules) if rget(r, "immediate", False)}
    if not immediate:
        return []
    quiet = in_quiet_hours(now, settings.tz, options["quiet"])
    queued: list[int] = []
    with transaction(db):
        groups = _groups(_candidates(db, sorted(immediate), now, options["recent"]), immediate)
        for (rule_id, item_id), docs in sorted(groups.items()):
            outbox_id = _queue_group(db, settings, now, immediate[rule_id], item_id, docs, options, quiet)
            if outbox_id is not None:
                queued.append(outbox_id)
    return queued


def _queue_group(db: sqlite_utils.Database, settings: Settings, now: datetime, rule: Any, item_id: str,
                 docs: list[dict[str, Any]], options: Mapping[str, Any], quiet: bool) -> int | None:
    rule_id = rget(rule, "id")
    if quiet and rget(rule, "severity") != "critical":
        log.info("alert %s/%s held: quiet hours", rule_id, item_id)
        return None
    cooldown = rget(rule, "cooldown") or options["cooldown"]
    prefix = f"alert:{rule_id}:{item_id}:"
    last = _last_alert(db, prefix)
    if last is not None and now - last < cooldown:
        log.info("alert %s/%s held: cooldown until %s", rule_id, item_id, last + cooldown)
        return None
    recipients = _recipients(settings, rule)
    if not recipients:
        log.warning("alert %s/%s not sent: no recipients for owners %s (configure [audiences.<name>])",
                    rule_id, item_id, rget(rule, "owners", ()))
        return None
    start = window_start(now, cooldown)
    key = f"{prefix}{start.strftime('%Y%m%dT%H%MZ')}"
    if mailer.find(db, key) is not None:
        return None
    data = build_alert(rule, item_id, docs, settings, start, cooldown, options["recent"])
    outbox_id = mailer.enqueue(db, settings, key=key, kind="alert", audience=",".join(rget(rule, "owners", ())),
                               recipients=recipients, message=render_alert(data), now=now,
                               meta={"rule_id": rule_id, "item_id": item_id, "documents": len(docs)})
    db.conn.executemany("INSERT OR IGNORE INTO alerted (document_id, rule_id, outbox_id, created_at)"
                        " VALUES (?, ?, ?, ?)",
                        [[d["id"], r, outbox_id, mailer.iso(now)] for d in docs for r in d["rule_ids"]])
    return outbox_id
