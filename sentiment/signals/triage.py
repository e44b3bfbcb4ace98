"""Triage: who handles which incident or document, in which state, with a history.

States: ``new -> acknowledged -> in_progress -> resolved | ignored``. An item without
a ``triage`` row is implicitly ``new``. Items are keyed ``incident:<id>`` or ``document:<id>``:
incidents are the queue (docs/incidents.md); documents are triaged inside their incident, and
on their own only in CS's reply backlog (negative reviews without a seller reply).

Transitions (action: from -> to):

- ``ack``: new -> acknowledged
- ``assign``: any open state; new becomes acknowledged (assigning someone is triaging
  it), acknowledged and in_progress keep their state
- ``start``: new | acknowledged -> in_progress
- ``resolve``: new | acknowledged | in_progress -> resolved (note optional)
- ``ignore``: new | acknowledged | in_progress -> ignored (note required)
- ``reopen``: resolved | ignored -> acknowledged (whoever reopens has seen it); assignee kept
- ``note``: any state, state unchanged

The incident engine (`sentiment.signals.incidents`) acts as ``system``: it resolves incidents
that went quiet and reopens resolved ones (to ``new``) when new evidence comes; an ignored
incident stays ignored. Every change appends one ``triage_log`` row (who, when, action, from,
to, note).
"""
from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import sqlite_utils

from sentiment.errors import SentimentError
from sentiment.reports.cells import local_time, neutralize
from sentiment.store import transaction, utcnow
from sentiment.signals.candidates import FIRST_SEEN_FRESH, FRESH_FIRST_SEEN
from sentiment.times import STORED_TZ, between, stored
from sentiment.rules.catalogue import FALLBACK_OWNERS, bundled_catalogue


class TriageError(SentimentError):
    """An unknown or ambiguous id, an illegal transition or a missing note."""


OPEN_STATES = ("new", "acknowledged", "in_progress")
CLOSED_STATES = ("resolved", "ignored")
STATES = OPEN_STATES + CLOSED_STATES
SYSTEM = "system"
MIN_PREFIX = 6
KINDS = ("incident", "document")

# action -> (states it is allowed from, target state; None = unchanged)
TRANSITIONS: dict[str, tuple[tuple[str, ...], str | None]] = {
    "ack": (("new",), "acknowledged"),
    "assign": (OPEN_STATES, None),
    "start": (("new", "acknowledged"), "in_progress"),
    "resolve": (OPEN_STATES, "resolved"),
    "ignore": (OPEN_STATES, "ignored"),
    "reopen": (CLOSED_STATES, "acknowledged"),
    "note": (STATES, None),
}

DOCUMENT_OWNERS = ("cs",)  # unanswered negative reviews and Q&A are the CS queue
SEVERITY_ORDER = ("critical", "high", "medium", "low")

EXPORT_COLUMNS = ("id", "kind", "state", "severity", "owner", "assignee", "category", "title", "item_id",
                  "item_title", "size", "first_seen", "last_seen", "due_at", "overdue", "updated_at",
                  "updated_by", "note", "resolved_at")
EXPORT_HEADERS_ZH = ("ID", "类型", "状态", "严重程度", "负责方", "处理人", "风险类别", "标题", "商品ID",
                     "商品标题", "文档数", "首次出现", "最近出现", "处理时限", "是否逾期", "更新时间",
                     "更新人", "备注", "解决时间")
EXPORT_TIMES = frozenset({"updated_at", "resolved_at", "first_seen", "last_seen", "due_at"})


@dataclass(frozen=True)
class ItemRef:
    kind: str  # incident | document
    id: str

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.id}"


def cluster_owners(category: str | None, owners: Mapping[str, Iterable[str]] | None = None) -> tuple[str, ...]:
    """The audiences owning a category: `owners` (category -> audiences) when given, else the
    bundled rule catalogue's (the union of the category's rules' owners)."""
    if owners is None:
        return bundled_catalogue().category_owners(category)
    return tuple(owners.get(category or "", ())) or FALLBACK_OWNERS


# --- ids -------------------------------------------------------------------------------------

def find_item(db: sqlite_utils.Database, ident: str) -> ItemRef:
    """An incident or document id (or a unique prefix of >= 6 chars; `incident:`/`document:` to choose)."""
    ident, kinds = ident.strip(), KINDS
    head, sep, rest = ident.partition(":")
    if sep and head == "cluster":
        raise TriageError("clusters became incidents: find the item with `sentiment triage list --state all`")
    if sep and head in KINDS:
        ident, kinds = rest.strip(), (head,)
    if not ident:
        raise TriageError("give an incident or document id (see `sentiment triage list`)")
    exact = [ItemRef(k, ident) for k in kinds if _ids(db, k, ident, exact=True)]
    if len(exact) > 1:
        raise TriageError(f"{ident} is both an incident and a document id; write incident:{ident} or document:{ident}")
    if exact:
        return exact[0]
    if len(ident) < MIN_PREFIX:
        raise TriageError(f"no incident or document {ident!r}; give the full id or at least {MIN_PREFIX} characters")
    found = [ItemRef(k, i) for k in kinds for i in _ids(db, k, ident, exact=False)]
    if not found:
        raise TriageError(f"no incident or document with id {ident!r} (see `sentiment triage list --state all`)")
    if len(found) > 1:
        shown = ", ".join(r.key for r in found[:4])
        raise TriageError(f"id prefix {ident!r} is ambiguous ({shown}{', ...' if len(found) > 4 else ''}); "
                          "give more characters")
    return found[0]


def _ids(db: sqlite_utils.Database, kind: str, ident: str, *, exact: bool) -> list[str]:
    table = "incidents" if kind == "incident" else "documents"
    if exact:
        return [r[0] for r in db.execute(f"SELECT id FROM {table} WHERE id = ?", [ident])]
    # a range scan on the primary key: every id that starts with `ident`
    sql = f"SELECT id FROM {table} WHERE id >= ? AND id < ? ORDER BY id LIMIT 5"
    return [r[0] for r in db.execute(sql, [ident, ident + "\U0010ffff"])]


# --- transitions -----------------------------------------------------------------------------

def apply(db: sqlite_utils.Database, ident: str | ItemRef, action: str, *, by: str,
          note: str | None = None, assignee: str | None = None, now: str | None = None,
          owners: Mapping[str, Iterable[str]] | None = None) -> dict[str, Any]:
    """Perform one action on an item; returns the log entry. Raises TriageError when illegal."""
    return apply_many(db, [ident], action, by=by, note=note, assignee=assignee, now=now, owners=owners)[0]


def apply_many(db: sqlite_utils.Database, idents: Sequence[str | ItemRef], action: str, *, by: str,
               note: str | None = None, assignee: str | None = None, now: str | None = None,
               owners: Mapping[str, Iterable[str]] | None = None) -> list[dict[str, Any]]:
    """Perform one action on several items, all or none: when any is refused (unknown id, illegal
    transition), nothing changes and the TriageError names every refusal."""
    if action not in TRANSITIONS:
        raise TriageError(f"unknown action {action!r}; one of {', '.join(TRANSITIONS)}")
    by, note, assignee = _clean(by, "--by"), _optional(note), _optional(assignee)
    _require_inputs(action, note, assignee)
    if not idents:
        raise TriageError("give at least one id")
    now = now or utcnow()
    entries: list[dict[str, Any]] = []
    with transaction(db):
        refs, errors = [], []
        for ident in idents:
            try:
                ref = ident if isinstance(ident, ItemRef) else find_item(db, ident)
            except TriageError as exc:
                errors.append(str(exc))
                continue
            if ref in refs:
                continue
            row = _triage_row(db, ref.key)
            old = row["state"] if row else "new"
            try:
                new = _next_state(action, old, ref)
                if action == "assign" and row and row["assignee"] == assignee:
                    raise TriageError(f"{ref.key} is already assigned to {assignee}")
            except TriageError as exc:
                errors.append(str(exc))
                continue
            refs.append(ref)
            entries.append({"ref": ref, "row": row, "old": old, "new": new})
        if errors:
            head = "" if len(idents) == 1 else f"nothing changed ({len(errors)} of {len(idents)} refused): "
            raise TriageError(head + "; ".join(errors))
        out = []
        for e in entries:
            ref, row, old, new = e["ref"], e["row"], e["old"], e["new"]
            _save_row(db, ref, row, old, new, by=by, now=now, note=note,
                      assignee=assignee if action == "assign" else None, owners=owners)
            log_note = note if action != "assign" else f"assigned to {assignee}" + (
                f" (was {row['assignee']})" if row and row["assignee"] else "")
            out.append(log_entry(db, ref.key, now, by, action, old, new, log_note))
    return out


def _require_inputs(action: str, note: str | None, assignee: str | None) -> None:
    if action in ("ignore", "note") and not note:
        raise TriageError(f"{action} needs a note saying why (--note TEXT)" if action == "ignore"
                          else "note needs a text")
    if action == "assign" and not assignee:
        raise TriageError("assign needs a person")


def _next_state(action: str, state: str, ref: ItemRef) -> str:
    allowed, target = TRANSITIONS[action]
    if state not in allowed:
        if state in CLOSED_STATES:
            hint = f"; reopen it first: sentiment triage reopen {ref.id}"
        elif action == "reopen":
            hint = "; only resolved or ignored items can be reopened"
        else:
            hint = f"; {action} is allowed from {' or '.join(allowed)}"
        raise TriageError(f"cannot {action} {ref.key}: it is {state}{hint}")
    if action == "assign":
        return "acknowledged" if state == "new" else state
    return target or state


def _save_row(db: sqlite_utils.Database, ref: ItemRef, row: dict[str, Any] | None, old: str, new: str, *,
              by: str, now: str, note: str | None, assignee: str | None,
              owners: Mapping[str, Iterable[str]] | None) -> None:
    _write_row(db, ref.key, ref.kind, row or {}, new, now, by, owner=",".join(_owners_of(db, ref, owners)),
               assignee=assignee, note=note)


def set_state(db: sqlite_utils.Database, key: str, kind: str, state: str, at: str, by: str, *,
              owners: str | None = None) -> None:
    """Set an item's state as the engine does (quiet close, reopen), keeping assignee and note.
    Log it with `log_entry`."""
    row = _triage_row(db, key) or {}
    _write_row(db, key, kind, row, state, at, by, owner=owners if owners is not None else row.get("owner"))


def _write_row(db: sqlite_utils.Database, key: str, kind: str, row: Mapping[str, Any], state: str, at: str,
               by: str, *, owner: str | None, assignee: str | None = None, note: str | None = None) -> None:
    """The item's triage row in `state`: resolved_at set on closing, cleared on reopening; the
    assignee and note kept unless given."""
    old = row.get("state", "new")
    resolved_at = row.get("resolved_at")
    if state in CLOSED_STATES and old not in CLOSED_STATES:
        resolved_at = at
    elif state not in CLOSED_STATES:
        resolved_at = None
    db.execute(
        "INSERT OR REPLACE INTO triage (item_key, kind, state, owner, assignee, note, resolved_at,"
        " updated_at, updated_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [key, kind, state, owner, assignee or row.get("assignee"), note or row.get("note"), resolved_at, at, by])


def _owners_of(db: sqlite_utils.Database, ref: ItemRef,
               owners: Mapping[str, Iterable[str]] | None) -> tuple[str, ...]:
    if ref.kind == "document":
        return DOCUMENT_OWNERS
    found = db.execute("SELECT owners, category FROM incidents WHERE id = ?", [ref.id]).fetchone()
    if found and found[0]:
        return tuple(o for o in found[0].split(",") if o)
    return cluster_owners(found[1] if found else None, owners)


def log_entry(db: sqlite_utils.Database, key: str, at: str, by: str, action: str, old: str, new: str,
              note: str | None) -> dict[str, Any]:
    """Append one history row."""
    entry = {"item_key": key, "at": at, "by": by, "action": action, "from_state": old, "to_state": new,
             "note": note}
    db.execute("INSERT INTO triage_log (item_key, at, by, action, from_state, to_state, note)"
               " VALUES (?, ?, ?, ?, ?, ?, ?)", list(entry.values()))
    return entry


def _triage_row(db: sqlite_utils.Database, key: str) -> dict[str, Any] | None:
    rows = list(db.query("SELECT * FROM triage WHERE item_key = ?", [key]))
    return rows[0] if rows else None


def _clean(value: str | None, what: str) -> str:
    text = _optional(value)
    if not text:
        raise TriageError(f"{what} must not be empty")
    return text


def _optional(value: str | None) -> str | None:
    if value is None:
        return None
    text = " ".join(value.split())  # no line breaks or tabs in names and notes
    return text or None


# --- reading -----------------------------------------------------------------------------------

_INCIDENT_SQL = (
    "SELECT i.*, t.state, t.assignee, t.note, t.resolved_at, t.updated_by,"
    " t.updated_at AS triage_updated_at FROM incidents i LEFT JOIN triage t ON t.item_key = 'incident:' || i.id"
)
_DOCUMENT_SQL = (
    "SELECT d.id, d.kind, d.item_id, d.item_title, d.text, d.created_at, d.author, d.rating, d.seller_reply,"
    " a.label, a.score, t.state, t.assignee, t.note, t.resolved_at, t.updated_by,"
    " t.updated_at AS triage_updated_at,"
    " (SELECT group_concat(category, ',') FROM (SELECT DISTINCT h.category FROM rule_hits h"
    "   WHERE h.document_id = d.id ORDER BY h.category)) AS category,"
    " (SELECT group_concat(incident_id, ',') FROM incident_members m WHERE m.document_id = d.id) AS incidents"
    " FROM documents d LEFT JOIN analyses a ON a.document_id = d.id"
    " LEFT JOIN triage t ON t.item_key = 'document:' || d.id"
)
# CS's reply backlog: negative by the model or by the buyer's rating, not a placeholder, no seller reply
_UNANSWERED = ("d.kind IN ('review', 'followup') AND coalesce(d.is_placeholder, 0) = 0"
               " AND (a.label = 'negative' OR d.rating = 'negative') AND coalesce(trim(d.seller_reply), '') = ''")


def severity_rank(severity: str | None) -> int:
    return SEVERITY_ORDER.index(severity) if severity in SEVERITY_ORDER else len(SEVERITY_ORDER)


def _now(now: datetime | None) -> datetime:
    return now if now is not None else datetime.now(STORED_TZ)


def _incident(row: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    state = row["state"] or "new"
    due = datetime.fromisoformat(row["due_at"]) if row["due_at"] else None
    overdue = bool(due and state in OPEN_STATES and due < now)
    start = row["due_from"] or row["first_seen"]
    age = (now - datetime.fromisoformat(start)).total_seconds() / 3600 if start else None
    title = row["title"] or ""
    return {
        "id": row["id"], "item_key": f"incident:{row['id']}", "type": "incident", "kind": row["kind"],
        "state": state, "severity": row["severity"], "category": row["category"],
        "item_id": row["item_id"], "item_title": row["item_title"], "title": title, "size": row["size"],
        "owners": [o for o in (row["owners"] or "").split(",") if o], "owner": row["owners"] or "",
        "assignee": row["assignee"], "first_seen": row["first_seen"], "last_seen": row["last_seen"],
        "due_from": row["due_from"], "due_at": row["due_at"], "overdue": overdue,
        "age_hours": round(age, 1) if age is not None else None, "opened_at": row["opened_at"],
        "note": row["note"], "resolved_at": row["resolved_at"], "updated_by": row["updated_by"],
        "updated_at": row["triage_updated_at"] or row["updated_at"], "shop": row["shop"],
        "rules": json.loads(row["rules"] or "{}"),
    }


def queue_key(item: Mapping[str, Any]) -> tuple:
    """Queue order: severity, then overdue first, then size (larger first), then latest evidence."""
    last = item["last_seen"] or ""
    return (severity_rank(item["severity"]), not item["overdue"], -(item["size"] or 0),
            tuple(-ord(c) for c in last), item["id"])


def list_incidents(db: sqlite_utils.Database, *, states: Iterable[str] | None = OPEN_STATES,
                   owner: str | None = None, assignee: str | None = None, severity: str | None = None,
                   item: str | None = None, category: str | None = None, overdue: bool = False,
                   now: datetime | None = None) -> list[dict[str, Any]]:
    """Incidents in queue order (`queue_key`). `states=None` means every state; `item` matches
    the item id or title, `category` the category (`topic` matches every `topic:...`)."""
    now = _now(now)
    where, params = [], []
    if states is not None:
        wanted = list(states)
        where.append(f"coalesce(t.state, 'new') IN ({', '.join('?' * len(wanted))})")
        params += wanted
    if assignee is not None:
        where.append("t.assignee = ?")
        params.append(assignee)
    if severity is not None:
        where.append("i.severity = ?")
        params.append(severity)
    if item is not None:
        where.append("(i.item_id = ? OR i.item_title = ? OR i.item_key = ?)")
        params += [item, item, item]
    if category is not None:
        where.append("(i.category = ? OR i.category LIKE ?)")
        params += [category, category.rstrip(":") + ":%"]
    sql = _INCIDENT_SQL + (" WHERE " + " AND ".join(where) if where else "")
    items = [_incident(r, now) for r in db.query(sql, params)]
    if owner is not None:
        items = [i for i in items if owner in i["owners"]]
    if overdue:
        items = [i for i in items if i["overdue"]]
    return sorted(items, key=queue_key)


def _document(row: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    text = row["text"] or ""
    waited = (now - datetime.fromisoformat(row["created_at"])).total_seconds() / 3600 if row["created_at"] else None
    return {
        "id": row["id"], "item_key": f"document:{row['id']}", "type": "document", "kind": row["kind"],
        "state": row["state"] or "new", "severity": None, "category": row["category"],
        "item_id": row["item_id"], "item_title": row["item_title"],
        "title": text[:60] + ("…" if len(text) > 60 else ""), "text": row["text"], "size": None,
        "owners": list(DOCUMENT_OWNERS), "owner": ",".join(DOCUMENT_OWNERS), "assignee": row["assignee"],
        "first_seen": row["created_at"], "last_seen": row["created_at"], "created_at": row["created_at"],
        "due_at": None, "overdue": False, "age_hours": round(waited, 1) if waited is not None else None,
        "author": row["author"], "rating": row["rating"], "label": row["label"],
        "answered": bool((row["seller_reply"] or "").strip()),
        "incidents": [i for i in (row["incidents"] or "").split(",") if i],
        "note": row["note"], "resolved_at": row["resolved_at"], "updated_by": row["updated_by"],
        "updated_at": row["triage_updated_at"] or row["created_at"],
    }


def unanswered(db: sqlite_utils.Database, *, hours: float, days: float, now: datetime | None = None,
               states: Iterable[str] | None = OPEN_STATES, assignee: str | None = None,
               item: str | None = None) -> list[dict[str, Any]]:
    """CS's reply backlog: negative reviews and follow-ups without a seller reply created between
    `days` and `hours` ago, oldest first (not the incident queue)."""
    now = _now(now)
    where, params = between("d.created_at", now - timedelta(days=days), now - timedelta(hours=hours))
    sql = f"{_DOCUMENT_SQL} WHERE {_UNANSWERED} AND {where} AND {FRESH_FIRST_SEEN}"  # not a back-fill's
    params.append(stored(now - timedelta(days=days) - FIRST_SEEN_FRESH))
    if item is not None:
        sql += " AND (d.item_id = ? OR d.item_title = ?)"
        params += [item, item]
    wanted = set(STATES if states is None else states)
    rows = [_document(r, now) for r in db.query(sql + " ORDER BY d.created_at, d.id", params)]
    return [r for r in rows if r["state"] in wanted and (assignee is None or r["assignee"] == assignee)]


def get_item(db: sqlite_utils.Database, ident: str | ItemRef, *, now: datetime | None = None,
             members: int = 20) -> dict[str, Any]:
    """One item with its `history` (oldest first) and, for incidents, its newest `members`."""
    ref = ident if isinstance(ident, ItemRef) else find_item(db, ident)
    now = _now(now)
    if ref.kind == "incident":
        rows = list(db.query(_INCIDENT_SQL + " WHERE i.id = ?", [ref.id]))
        if not rows:
            raise TriageError(f"no incident {ref.id}")
        item = _incident(rows[0], now)
        item["members"] = list(db.query(
            "SELECT d.id, d.kind, d.created_at, d.author, d.rating, d.text, d.seller_reply, m.severity,"
            " m.added_at FROM incident_members m JOIN documents d ON d.id = m.document_id"
            " WHERE m.incident_id = ? ORDER BY m.created_at DESC, d.id LIMIT ?", [ref.id, members]))
        item["member_count"] = item["size"]
        item["meta"] = json.loads(rows[0]["meta"] or "{}")
    else:
        rows = list(db.query(_DOCUMENT_SQL + " WHERE d.id = ?", [ref.id]))
        if not rows:
            raise TriageError(f"no document {ref.id}")
        item = _document(rows[0], now)
    item["history"] = history(db, ref.key)
    return item


def history(db: sqlite_utils.Database, key: str) -> list[dict[str, Any]]:
    return list(db.query("SELECT at, by, action, from_state, to_state, note FROM triage_log"
                         " WHERE item_key = ? ORDER BY id", [key]))


def states(db: sqlite_utils.Database) -> dict[str, tuple[str, str | None]]:
    """Every triaged item's (state, assignee) by item key; items missing here are `new`, unassigned."""
    return {k: (s, a) for k, s, a in db.execute("SELECT item_key, state, assignee FROM triage")}


def open_state(db: sqlite_utils.Database, item_key: str) -> tuple[str, str | None]:
    """(state, assignee) of `incident:<id>` / `document:<id>`."""
    row = db.execute("SELECT state, assignee FROM triage WHERE item_key = ?", [item_key]).fetchone()
    return (row[0], row[1]) if row else ("new", None)


def is_hidden(db: sqlite_utils.Database, item_key: str) -> bool:
    """True when the item is resolved or ignored."""
    return open_state(db, item_key)[0] in CLOSED_STATES


def document_hidden(db: sqlite_utils.Database, document_id: str) -> bool:
    """True when a document leaves the reply backlog: it has a seller reply, or triage closed it."""
    row = db.execute("SELECT seller_reply FROM documents WHERE id = ?", [document_id]).fetchone()
    return bool(row and (row[0] or "").strip()) or is_hidden(db, f"document:{document_id}")


def resolved_between(db: sqlite_utils.Database, start: datetime | str, end: datetime | str, *,
                     now: datetime | None = None) -> list[dict[str, Any]]:
    """Items resolved in [start, end) and still resolved, by a person or by the engine (quiet close).

    `start`/`end` are aware datetimes or ISO strings with an offset; each dict is an item as
    `get_item` gives it, without history and members."""
    bounds = []
    for value in (start, end):
        if isinstance(value, datetime):
            if value.tzinfo is None:
                raise TriageError("resolved_between needs aware datetimes")
            value = value.isoformat()
        bounds.append(value)
    keys = [r[0] for r in db.execute(
        "SELECT item_key FROM triage WHERE state = 'resolved' AND julianday(resolved_at) >= julianday(?)"
        " AND julianday(resolved_at) < julianday(?) ORDER BY julianday(resolved_at), item_key", bounds)]
    found = []
    for key in keys:
        kind, _, ident = key.partition(":")
        if kind not in KINDS:
            continue
        try:
            item = get_item(db, ItemRef(kind, ident), now=now, members=0)
        except TriageError:
            continue
        found.append({k: v for k, v in item.items() if k not in ("history", "members")})
    return found


# --- export ----------------------------------------------------------------------------------------

def export_csv(items: Iterable[dict[str, Any]], path: str | Path, *, headers: str = "zh",
               tz: tzinfo = STORED_TZ) -> int:
    """Write items as UTF-8 CSV with a BOM (Excel), formulas neutralized; returns the row count.

    `headers` zh (default) or en; times as `YYYY-MM-DD HH:MM:SS` in `tz`, without offset."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    count = 0
    try:
        with open(tmp, "w", encoding="utf-8-sig", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(EXPORT_HEADERS_ZH if headers == "zh" else EXPORT_COLUMNS)
            for item in items:
                row = dict(item, title=item["title"] if item["type"] == "incident" else item["text"],
                           overdue="是" if item.get("overdue") else "")
                writer.writerow([neutralize(local_time(row.get(c), tz) if c in EXPORT_TIMES else row.get(c))
                                 for c in EXPORT_COLUMNS])
                count += 1
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise TriageError(f"cannot write {path}: {exc.strerror or exc}") from None
    return count
