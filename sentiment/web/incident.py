"""What the incident page and the search results show of a document: local date, kind, order id,
buyer, rating, the text with its rule terms marked, the seller's reply or how long it has waited
for one, links to the review and the item."""
from __future__ import annotations

import json
from collections import defaultdict
from datetime import datetime
from typing import Any, Iterable, Mapping, Sequence

import sqlite_utils

from sentiment.reports.export import _ORDER_SQL
from sentiment.reports.render import item_link, review_link
from sentiment.signals import triage
from sentiment.web.text import history_note, marked

PER_PAGE = 50
ANSWERABLE = ("review", "followup")  # a negative one without a reply waits (Q&A is answered, not replied)

MEMBERS_SQL = (
    "SELECT d.id, d.kind, d.created_at, d.author, d.rating, d.text, d.seller_reply, d.meta, d.item_id,"
    f" d.item_title, {_ORDER_SQL} AS order_id, a.label, a.score, m.severity"
    " FROM incident_members m JOIN documents d ON d.id = m.document_id"
    " LEFT JOIN analyses a ON a.document_id = d.id"
    " WHERE m.incident_id = ? ORDER BY m.created_at DESC, d.id LIMIT ? OFFSET ?"
)


def hits_of(db: sqlite_utils.Database, doc_ids: Sequence[str]) -> dict[str, list[tuple[str, list[Any]]]]:
    """document id -> [(category, terms [[term, start, end], ...])] of its rule hits."""
    out: dict[str, list[tuple[str, list[Any]]]] = defaultdict(list)
    for start in range(0, len(doc_ids), 500):
        chunk = list(doc_ids[start:start + 500])
        marks = ", ".join("?" * len(chunk))
        for doc_id, category, terms in db.execute(
                f"SELECT document_id, category, terms FROM rule_hits WHERE document_id IN ({marks})"
                " ORDER BY document_id, rule_id", chunk):
            try:
                parsed = json.loads(terms or "[]")
            except ValueError:
                parsed = []
            out[doc_id].append((category, [t for t in parsed if isinstance(t, list) and t]))
    return out


def incident_terms(incident: Mapping[str, Any]) -> list[list[Any]]:
    """A topic incident's keywords (its documents have no rule hits to mark)."""
    if incident.get("kind") != "topic":
        return []
    return [[str(t)] for t in (incident.get("meta") or {}).get("terms", []) if t]


def document_view(row: Mapping[str, Any], terms: Iterable[Sequence[Any]], now: datetime) -> dict[str, Any]:
    reply = (row.get("seller_reply") or "").strip()
    waited = None
    negative = row.get("label") == "negative" or row.get("rating") == "negative"
    if not reply and negative and row.get("kind") in ANSWERABLE and row.get("created_at"):
        waited = max(0.0, (now - datetime.fromisoformat(row["created_at"])).total_seconds() / 3600)
    order = row.get("order_id")
    return {
        "id": row["id"], "kind": row.get("kind"), "created_at": row.get("created_at"),
        "author": row.get("author"), "rating": row.get("rating"), "label": row.get("label"),
        "score": row.get("score"), "order_id": None if order in (None, "") else str(order),
        "parts": marked(row.get("text"), terms), "reply": reply or None, "waited_hours": waited,
        "review_link": review_link(row.get("meta")), "item_link": item_link(row.get("item_id")),
        "item_id": row.get("item_id"), "item_title": row.get("item_title"),
        "incidents": [i for i in (row.get("incidents") or "").split("\x1f") if i],
        "categories": [c for c in (row.get("categories") or "").split("\x1f") if c],
    }


def members(db: sqlite_utils.Database, incident: Mapping[str, Any], now: datetime, page: int = 1,
            per_page: int = PER_PAGE) -> list[dict[str, Any]]:
    """One page of the incident's documents, newest first, with its category's terms marked."""
    rows = [dict(r) for r in db.query(MEMBERS_SQL, [incident["id"], per_page, (page - 1) * per_page])]
    hits = hits_of(db, [r["id"] for r in rows])
    extra = incident_terms(incident)
    category = incident.get("category")
    out = []
    for row in rows:
        terms = [t for cat, ts in hits.get(row["id"], []) if category in (None, "spike") or cat == category
                 or incident.get("kind") != "rule" for t in ts]
        out.append(document_view(row, terms + extra, now))
    return out


def load(db: sqlite_utils.Database, ident: str, now: datetime, page: int) -> dict[str, Any]:
    """The incident (state, history) and one page of its documents; TriageError when unknown."""
    ref = triage.find_item(db, ident)
    if ref.kind != "incident":
        raise triage.TriageError(f"no incident {ident!r}")
    item = triage.get_item(db, ref, now=now, members=0)
    pages = max(1, -(-(item["size"] or 0) // PER_PAGE))
    page = min(max(page, 1), pages)
    item["documents"] = members(db, item, now, page)
    item["page"], item["pages"] = page, pages
    item["item_link"] = item_link(item["item_id"])
    item["history"] = [{**h, "note": history_note(h["action"], h["note"])} for h in item["history"]]
    return item


def with_orders(db: sqlite_utils.Database, items: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Backlog documents (`triage.unanswered`) with their order id and meta (review link)."""
    ids = [i["id"] for i in items]
    found: dict[str, tuple[Any, Any]] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        for doc_id, meta, order in db.execute(
                f"SELECT d.id, d.meta, {_ORDER_SQL} FROM documents d WHERE d.id IN ({', '.join('?' * len(chunk))})",
                chunk):
            found[doc_id] = (meta, order)
    return [{**i, "meta": found.get(i["id"], (None, None))[0], "order_id": found.get(i["id"], (None, None))[1],
             "incidents": "\x1f".join(i.get("incidents") or [])} for i in items]
