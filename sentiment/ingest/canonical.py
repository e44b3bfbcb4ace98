"""Our own JSON-lines export: one canonical document per line (DESIGN.md "Canonical document").

Fields: kind, text (or text_raw), source, external_id, parent_id, shop, item_id, item_title,
sku, author, rating, created_at, seller_reply (and optionally id, meta). Each line is a flat
document: a follow-up or answer is its own line, so `parent_id` is kept in `meta["parent_id"]`.
The row's `source` is kept (re-ingesting an export deduplicates against the original rows);
rows without one get source "canonical".
"""
from __future__ import annotations

import json
from typing import Any

from sentiment.ingest.jsonfile import TooDeep, load_json
from sentiment.ingest.jsonutil import is_empty, put
from sentiment.ingest.records import BadRow, JsonShape, KINDS, ParsedStream, RawRecord

SOURCE = "canonical"
TEXT_KEYS = ("text_raw", "text")


def _is_document(obj: Any) -> bool:
    return (isinstance(obj, dict) and isinstance(obj.get("kind"), str) and obj["kind"] in KINDS
            and any(key in obj for key in TEXT_KEYS))


def detect(doc: Any) -> bool:
    """Conservative: one object with a known `kind` and a `text`/`text_raw` field."""
    return _is_document(doc)


def _meta(obj: dict[str, Any]) -> dict[str, Any]:
    meta: dict[str, Any] = {}
    stored = obj.get("meta")
    if isinstance(stored, str) and stored.strip().startswith("{"):
        try:
            stored = load_json(stored, parse_int=str, parse_float=str)
        except (json.JSONDecodeError, TooDeep):
            stored = {"meta": stored}
    if isinstance(stored, dict):
        meta.update(stored)
    put(meta, "parent_id", obj.get("parent_id"))
    put(meta, "canonical_id", obj.get("id"))
    return meta


def parse(doc: Any, where: str) -> ParsedStream:
    row = where.rstrip(": ") or "document"
    if not _is_document(doc):
        yield BadRow(row, "not a canonical document (needs kind and text)", doc)
        return
    text = doc.get("text_raw")
    if is_empty(text):
        text = doc.get("text")
    source = doc.get("source")
    yield RawRecord(
        kind=doc["kind"], text=text, row=row, raw=doc,
        source=source.strip() if isinstance(source, str) and source.strip() else SOURCE,
        external_id=doc.get("external_id"), item_id=doc.get("item_id"), item_title=doc.get("item_title"),
        sku=doc.get("sku"), author=doc.get("author"), rating=doc.get("rating"), created=doc.get("created_at"),
        seller_reply=doc.get("seller_reply"), shop=doc.get("shop"), meta=_meta(doc),
    )


SHAPES = [JsonShape("canonical", SOURCE, detect, parse)]
