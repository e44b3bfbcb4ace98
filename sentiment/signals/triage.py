"""Triage: who handles which negative cluster or document, in which state, with a history.

States: ``new -> acknowledged -> in_progress -> resolved | ignored``. An item without
a ``triage`` row is implicitly ``new``. Items are keyed ``cluster:<id>`` or ``document:<id>``.

Transitions (action: from -> to):

- ``ack``: new -> acknowledged
- ``assign``: any open state; new becomes acknowledged (assigning someone is triaging
  it), acknowledged and in_progress keep their state
- ``start``: new | acknowledged -> in_progress
- ``resolve``: new | acknowledged | in_progress -> resolved (note optional)
- ``ignore``: new | acknowledged | in_progress -> ignored (note required)
- ``reopen``: resolved | ignored -> acknowledged (whoever reopens has seen it); assignee kept
- ``note``: any state, state unchanged

The system reopens a *resolved* cluster to ``new`` when documents joined it after it was
resolved (:func:`reopen_on_new_members`); an ignored cluster stays ignored.
Every change appends one ``triage_log`` row (who, when, action, from, to, note).
"""
from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any, Iterable, Mapping

import sqlite_utils

from sentiment.errors import SentimentError
from sentiment.reports.cells import local_time, neutralize
from sentiment.store import transaction, utcnow
from sentiment.times import STORED_TZ
from sentiment.rules.catalogue import FALLBACK_OWNERS, bundled_catalogue


class TriageError(SentimentError):
    """An unknown or ambiguous id, an illegal transition or a missing note."""


OPEN_STATES = ("new", "acknowledged", "in_progress")
CLOSED_STATES = ("resolved", "ignored")
STATES = OPEN_STATES + CLOSED_STATES
SYSTEM = "system"
MIN_PREFIX = 6
KINDS = ("cluster", "document")

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

EXPORT_COLUMNS = ("id", "kind", "state", "owner", "assignee", "category", "title", "updated_at",
                  "updated_by", "note", "resolved_at", "item_id", "item_title", "size", "created_at")
EXPORT_HEADERS_ZH = ("ID", "类型", "状态", "负责方", "处理人", "风险类别", "标题", "更新时间",
                     "更新人", "备注", "解决时间", "商品ID", "商品标题", "文档数", "创建时间")
EXPORT_TIMES = frozenset({"updated_at", "resolved_at", "created_at"})


@dataclass(frozen=True)
class ItemRef:
    kind: str  # cluster | document
    id: str

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.id}"


def cluster_owners(category: str | None, owners: Mapping[str, Iterable[str]] | None = None) -> tuple[str, ...]:
    """The audiences owning a cluster of this category: `owners` (category -> audiences) when
    given, else the bundled rule catalogue's (the union of the category's rules' owners)."""
    if owners is None:
        return bundled_catalogue().category_owners(category)
    return tuple(owners.get(category or "", ())) or FALLBACK_OWNERS


# --- ids -------------------------------------------------------------------------------------

def find_item(db: sqlite_utils.Database, ident: str) -> ItemRef:
    """A cluster or document id (or a unique prefix of >= 6 chars; `cluster:`/`document:` to choose)."""
    ident, kinds = ident.strip(), KINDS
    head, sep, rest = ident.partition(":")
    if sep and head in KINDS:
        ident, kinds = rest.strip(), (head,)
    if not ident:
        raise TriageError("give a cluster or document id (see `sentiment triage list`)")
    exact = [ItemRef(k, ident) for k in kinds if _ids(db, k, ident, exact=True)]
    if len(exact) > 1:
        raise TriageError(f"{ident} is both a cluster and a document id; write cluster:{ident} or document:{ident}")
    if exact:
        return exact[0]
    if len(ident) < MIN_PREFIX:
        raise TriageError(f"no cluster or document {ident!r}; give the full id or at least {MIN_PREFIX} characters")
    found = [ItemRef(k, i) for k in kinds for i in _ids(db, k, ident, exact=False)]
    if not found:
        raise TriageError(f"no cluster or document with id {ident!r} (see `sentiment triage list --state all`)")
    if len(found) > 1:
        shown = ", ".join(r.key for r in found[:4])
        raise TriageError(f"id prefix {ident!r} is ambiguous ({shown}{', ...' if len(found) > 4 else ''}); "
                          "give more characters")
    return found[0]


def _ids(db: sqlite_utils.Database, kind: str, ident: str, *, exact: bool) -> list[str]:
    table = "clusters" if kind == "cluster" else "documents"
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
    if action not in TRANSITIONS:
        raise TriageError(f"unknown action {action!r}; one of {', '.join(TRANSITIONS)}")
    by, note, assignee = _clean(by, "--by"), _optional(note), _optional(assignee)
    _require_inputs(action, note, assignee)
    now = now or utcnow()
    ref = ident if isinstance(ident, ItemRef) else find_item(db, ident)
    with transaction(db):
        row = _triage_row(db, ref.key)
        old = row["state"] if row else "new"
        new = _next_state(action, old, ref)
        if action == "assign" and row and row["assignee"] == assignee:
            raise TriageError(f"{ref.key} is already assigned to {assignee}")
        _save_row(db, ref, row, old, new, by=by, now=now, note=note,
                  assignee=assignee if action == "assign" else None, owners=owners)
        log_note = note if action != "assign" else f"assigned to {assignee}" + (
            f" (was {row['assignee']})" if row and row["assignee"] else "")
        entry = _log(db, ref.key, now, by, action, old, new, log_note)
    return entry


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
    row = dict(row or {})
    resolved_at = row.get("resolved_at")
    if new in CLOSED_STATES and old not in CLOSED_STATES:
        resolved_at = now
    elif new not in CLOSED_STATES:
        resolved_at = None
    db.execute(
        "INSERT OR REPLACE INTO triage (item_key, kind, state, owner, assignee, note, resolved_at,"
        " updated_at, updated_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [ref.key, ref.kind, new, ",".join(_owners_of(db, ref, owners)), assignee or row.get("assignee"),
         note or row.get("note"), resolved_at, now, by],
    )


def _owners_of(db: sqlite_utils.Database, ref: ItemRef,
               owners: Mapping[str, Iterable[str]] | None) -> tuple[str, ...]:
    if ref.kind == "document":
        return DOCUMENT_OWNERS
    found = db.execute("SELECT category FROM clusters WHERE id = ?", [ref.id]).fetchone()
    return cluster_owners(found[0] if found else None, owners)


def _log(db: sqlite_utils.Database, key: str, at: str, by: str, action: str, old: str, new: str,
         note: str | None) -> dict[str, Any]:
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


def reopen_on_new_members(db: sqlite_utils.Database, now: str | datetime | None = None) -> list[str]:
    """Reopen (to `new`, by "system") resolved clusters that got members after they were resolved.

    A member counts when its `added_at` (or, if missing, its document's `created_at`) is later
    than the cluster's `resolved_at`. Returns the ids of the clusters reopened.
    """
    stamp = now.isoformat(timespec="seconds") if isinstance(now, datetime) else (now or utcnow())
    sql = (
        "SELECT t.item_key, count(*) AS n FROM triage t"
        " JOIN cluster_members m ON m.cluster_id = substr(t.item_key, 9)"
        " LEFT JOIN documents d ON d.id = m.document_id"
        " WHERE t.item_key LIKE 'cluster:%' AND t.state = 'resolved'"
        " AND julianday(coalesce(m.added_at, d.created_at)) > julianday(t.resolved_at)"
        " GROUP BY t.item_key ORDER BY t.item_key"
    )
    reopened: list[str] = []
    if not db.execute(sql).fetchall():  # the usual case: a read, never waiting for a writer
        return reopened
    with transaction(db):
        for key, n in db.execute(sql).fetchall():
            db.execute("UPDATE triage SET state = 'new', resolved_at = NULL, updated_at = ?, updated_by = ?"
                       " WHERE item_key = ?", [stamp, SYSTEM, key])
            _log(db, key, stamp, SYSTEM, "reopen", "resolved", "new",
                 f"{n} new document{'s' if n != 1 else ''} joined after it was resolved")
            reopened.append(key.split(":", 1)[1])
    return reopened


# --- reading -----------------------------------------------------------------------------------

_TRIAGE_COLS = ("t.state, t.assignee, t.note, t.resolved_at, t.updated_by,"
                " t.updated_at AS triage_updated_at, t.item_key IS NOT NULL AS triaged")
_CLUSTER_SQL = (
    "SELECT 'cluster' AS kind, c.id, c.kind AS subkind, c.item_id, c.item_title, c.category, c.rule_id,"
    " c.severity, c.title, NULL AS text, c.size, c.first_seen AS created_at, c.last_seen,"
    " coalesce(c.updated_at, c.last_seen, c.created_at) AS item_updated_at, NULL AS seller_reply,"
    f" NULL AS label, NULL AS rating, {_TRIAGE_COLS}"
    " FROM clusters c LEFT JOIN triage t ON t.item_key = 'cluster:' || c.id"
)
_DOCUMENT_SQL = (
    "SELECT 'document' AS kind, d.id, d.kind AS subkind, d.item_id, d.item_title,"
    " (SELECT group_concat(category, ',') FROM (SELECT DISTINCT h.category FROM rule_hits h"
    "   WHERE h.document_id = d.id ORDER BY h.category)) AS category, NULL AS rule_id, NULL AS severity,"
    " NULL AS title, d.text, NULL AS size, d.created_at, NULL AS last_seen,"
    " coalesce(d.created_at, d.ingested_at) AS item_updated_at, d.seller_reply, a.label, d.rating,"
    f" {_TRIAGE_COLS}"
    " FROM documents d LEFT JOIN analyses a ON a.document_id = d.id"
    " LEFT JOIN triage t ON t.item_key = 'document:' || d.id"
)
# the CS queue: negative by the model or by the buyer's rating, and not a platform placeholder
_NEGATIVE = "(a.label = 'negative' OR d.rating = 'negative') AND coalesce(d.is_placeholder, 0) = 0"


def _item(row: dict[str, Any], owners: Mapping[str, Iterable[str]] | None) -> dict[str, Any]:
    is_cluster = row["kind"] == "cluster"
    text = row["text"] or ""
    title = row["title"] if is_cluster else (text[:60] + ("…" if len(text) > 60 else ""))
    if is_cluster and not title:
        title = " · ".join(v for v in (row["item_title"] or row["item_id"], row["category"]) if v)
    own = cluster_owners(row["category"], owners) if is_cluster else DOCUMENT_OWNERS
    return {
        "id": row["id"], "item_key": f"{row['kind']}:{row['id']}", "kind": row["kind"],
        "subkind": row["subkind"], "state": row["state"] or "new", "owner": ",".join(own),
        "assignee": row["assignee"], "category": row["category"], "title": title,
        "text": row["text"], "updated_at": row["triage_updated_at"] or row["item_updated_at"],
        "updated_by": row["updated_by"], "note": row["note"], "resolved_at": row["resolved_at"],
        "item_id": row["item_id"], "item_title": row["item_title"], "severity": row["severity"],
        "rule_id": row["rule_id"], "size": row["size"], "created_at": row["created_at"],
        "last_seen": row["last_seen"], "label": row["label"], "rating": row["rating"],
        "answered": bool((row["seller_reply"] or "").strip()) if not is_cluster else None,
    }


def list_items(db: sqlite_utils.Database, *, states: Iterable[str] | None = OPEN_STATES,
               owner: str | None = None, assignee: str | None = None, kind: str | None = None,
               owners: Mapping[str, Iterable[str]] | None = None) -> list[dict[str, Any]]:
    """Triage-visible items: every cluster, and negative documents (all kinds) that are unanswered
    or were already triaged. Clusters first (latest activity first), then documents (newest first).
    `states=None` means every state."""
    wanted = set(STATES if states is None else states)
    rows = []
    if kind in (None, "cluster"):
        rows += db.query(_CLUSTER_SQL + " ORDER BY julianday(coalesce(c.last_seen, c.updated_at)) DESC, c.id")
    if kind in (None, "document"):
        rows += db.query(_DOCUMENT_SQL + f" WHERE ({_NEGATIVE}) OR t.item_key IS NOT NULL"
                         " ORDER BY julianday(d.created_at) DESC, d.id")
    items = []
    for row in rows:
        item = _item(row, owners)
        if item["answered"] and not row["triaged"]:
            continue  # a seller reply took it off the CS queue before anyone triaged it
        if item["state"] in wanted and (owner is None or owner in item["owner"].split(",")) \
                and (assignee is None or item["assignee"] == assignee):
            items.append(item)
    return items


def get_item(db: sqlite_utils.Database, ident: str | ItemRef, *,
             owners: Mapping[str, Iterable[str]] | None = None) -> dict[str, Any]:
    """One item with its `history` (oldest first) and, for clusters, `members` (up to 20)."""
    ref = ident if isinstance(ident, ItemRef) else find_item(db, ident)
    sql, alias = (_CLUSTER_SQL, "c") if ref.kind == "cluster" else (_DOCUMENT_SQL, "d")
    rows = list(db.query(f"{sql} WHERE {alias}.id = ?", [ref.id]))
    if not rows:
        raise TriageError(f"no {ref.kind} {ref.id}")
    item = _item(rows[0], owners)
    item["history"] = history(db, ref.key)
    if ref.kind == "cluster":
        item["members"] = list(db.query(
            "SELECT d.id, d.kind, d.created_at, d.text, m.added_at FROM cluster_members m"
            " JOIN documents d ON d.id = m.document_id WHERE m.cluster_id = ?"
            " ORDER BY julianday(d.created_at) DESC LIMIT 20", [ref.id]))
        item["member_count"] = db.execute("SELECT count(*) FROM cluster_members WHERE cluster_id = ?",
                                          [ref.id]).fetchone()[0]
    return item


def history(db: sqlite_utils.Database, key: str) -> list[dict[str, Any]]:
    return list(db.query("SELECT at, by, action, from_state, to_state, note FROM triage_log"
                         " WHERE item_key = ? ORDER BY id", [key]))


# --- digest helpers ------------------------------------------------------------------------------

def _key(item_key: str) -> str:
    return item_key if ":" in item_key else f"cluster:{item_key}"


def open_state(db: sqlite_utils.Database, item_key: str) -> tuple[str, str | None]:
    """(state, assignee) of `cluster:<id>` / `document:<id>` (a bare id means a cluster)."""
    row = db.execute("SELECT state, assignee FROM triage WHERE item_key = ?", [_key(item_key)]).fetchone()
    return (row[0], row[1]) if row else ("new", None)


def states(db: sqlite_utils.Database) -> dict[str, tuple[str, str | None]]:
    """Every triaged item's (state, assignee) by item key; items missing here are `new`, unassigned."""
    return {k: (s, a) for k, s, a in db.execute("SELECT item_key, state, assignee FROM triage")}


def is_hidden(db: sqlite_utils.Database, cluster_id: str) -> bool:
    """True when the cluster (or `document:<id>` key) is resolved or ignored: leave it out of digests."""
    return open_state(db, cluster_id)[0] in CLOSED_STATES


def document_hidden(db: sqlite_utils.Database, document_id: str) -> bool:
    """True when a document leaves the digest's unanswered list: it has a seller reply, or
    triage resolved/ignored it."""
    row = db.execute("SELECT seller_reply FROM documents WHERE id = ?", [document_id]).fetchone()
    return bool(row and (row[0] or "").strip()) or is_hidden(db, f"document:{document_id}")


def resolved_between(db: sqlite_utils.Database, start: datetime | str, end: datetime | str, *,
                     owners: Mapping[str, Iterable[str]] | None = None) -> list[dict[str, Any]]:
    """Items resolved in [start, end) and still resolved (the "resolved yesterday" line).

    `start`/`end` are aware datetimes or ISO strings with an offset; each dict is a list item
    (id, kind, title, owner, assignee, category, resolved_at, updated_by = who resolved, note)."""
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
        try:
            item = get_item(db, ItemRef(kind, ident), owners=owners)
        except TriageError:
            continue  # the cluster was deleted since
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
                row = dict(item, title=item["title"] if item["kind"] == "cluster" else item["text"])
                writer.writerow([neutralize(local_time(row.get(c), tz) if c in EXPORT_TIMES else row.get(c))
                                 for c in EXPORT_COLUMNS])
                count += 1
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise TriageError(f"cannot write {path}: {exc.strerror or exc}") from None
    return count
