"""RawRecord -> canonical document rows (DESIGN.md "Canonical document")."""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from functools import lru_cache
from datetime import datetime, timedelta, tzinfo
from typing import Any

from sentiment.lang import text as textmod
from sentiment.errors import RowError
from sentiment.times import stored
from sentiment.ingest.records import KINDS, RawRecord
from sentiment.ingest import limits, values
from sentiment.ingest.values import (
    clean_id, mask_nick, normalize_rating, normalize_sku, parse_datetime, parse_days,
)

_NO_PARENT: dict[str, Any] = {}
_PHONE = re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)")


# Tmall and Taobao stamp times in Beijing time: naive source times are read in it,
# whatever time zone the digests are configured for.
SOURCE_TZ = values.SOURCE_TZ


@dataclass(frozen=True)
class Context:
    tz: tzinfo
    batch_id: int | None
    ingested_at: str
    shop: str | None = None


def doc_id(*parts: Any) -> str:
    """Stable document id: a hash of identifying parts."""
    key = "\x1f".join("" if p is None else str(p) for p in parts)
    return hashlib.blake2b(key.encode("utf-8"), digest_size=10).hexdigest()


def _meta_json(meta: dict[str, Any]) -> str:
    """json.dumps(meta, ensure_ascii=False, default=str, sort_keys=True), without the encoder
    for the common meta of printable strings with no quote or backslash (nothing to escape)."""
    parts = []
    keys = list(meta)
    if not all(type(key) is str for key in keys):
        return json.dumps(meta, ensure_ascii=False, default=str, sort_keys=True)
    keys.sort()
    for key in keys:
        value = meta[key]
        if (type(value) is not str or not key.isprintable() or not value.isprintable()
                or '"' in key or "\\" in key or '"' in value or "\\" in value):
            return json.dumps(meta, ensure_ascii=False, default=str, sort_keys=True)
        parts.append(f'"{key}": "{value}"')
    return "{" + ", ".join(parts) + "}"


def _str(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, dict):
        value = value.get("content") or value.get("text")
        if value is None:
            return None
    text = str(value).strip()
    return text or None


@lru_cache(maxsize=8192)
def _title(value: str | None) -> str | None:
    """Item titles repeat on every review of the item: normalize each once."""
    return textmod.normalize(value) or None if value else None


def clean_reply(value: Any) -> str | None:
    reply = _str(value)
    return _reply(reply) if reply else None


@lru_cache(maxsize=8192)
def _reply(reply: str) -> str | None:
    """Shops answer with a few stock replies: normalize each once."""
    return textmod.normalize(reply) or None


def _created(rec: RawRecord, ctx: Context, parent: dict | None) -> tuple[str | None, str | None]:
    try:
        parsed = parse_datetime(rec.created, ctx.tz)
    except RowError:
        # follow-ups often carry a relative date (收货后5天) where a date column is expected
        if parent is None or parse_days(rec.created) is None:
            raise
        parsed = None
    if parsed:
        return parsed
    days = parse_days(rec.days_after_parent)
    if days is None and isinstance(rec.created, str):
        days = parse_days(rec.created)
    if days is not None and parent and parent.get("created_at"):
        base = datetime.fromisoformat(parent["created_at"])
        return (base + timedelta(days=days)).isoformat(timespec="seconds"), "relative"
    if rec.date_required:
        raise RowError("missing date")
    return None, None


def first_seen(ctx: Context, parent: dict | None, meta: dict[str, Any]) -> tuple[str | None, str | None]:
    """A follow-up without its own date (追加评论 with no 追评时间) is dated when it was first seen,
    marked `first_seen`, with its review's date kept in meta: undated, it would reach no digest,
    cluster or alert."""
    if parent and parent.get("created_at"):
        meta["parent_created_at"] = parent["created_at"]
    if not ctx.ingested_at:
        return None, None
    return stored(datetime.fromisoformat(ctx.ingested_at)), "first_seen"


def _document(rec: RawRecord, ctx: Context, parent: dict | None) -> dict[str, Any]:
    if rec.kind not in KINDS:
        raise RowError(f"unknown kind {rec.kind!r}")
    raw = rec.text if isinstance(rec.text, str) else (None if rec.text is None else str(rec.text))
    text = textmod.normalize(raw)
    if not text:
        raise RowError("no text")
    if "1" in text:
        text = _PHONE.sub("1**********", text)
    created_at, precision = _created(rec, ctx, parent)
    ext_id, exact = clean_id(rec.external_id)
    inherited = parent or _NO_PARENT
    item_id = clean_id(rec.item_id)[0] or inherited.get("item_id")
    meta = dict(rec.meta)
    if ext_id and not exact:
        meta["external_id_inexact"] = ext_id
    parent_id = parent["id"] if parent else None
    if ext_id and exact:
        ident = doc_id(rec.source, rec.kind, ext_id)
    else:
        ident = doc_id(rec.source, rec.kind, parent_id, item_id, text, created_at)
    if created_at is None and rec.kind == "followup":  # after the id: re-ingesting gives the same id
        created_at, precision = first_seen(ctx, parent, meta)
    placeholder = textmod.is_placeholder(text)
    return {
        "id": ident,
        "source": rec.source,
        "kind": rec.kind,
        "external_id": ext_id if exact else None,
        "parent_id": parent_id,
        "shop": _str(rec.shop) or ctx.shop or inherited.get("shop"),
        "item_id": item_id,
        "item_title": _title(_str(rec.item_title)) or inherited.get("item_title"),
        "sku": normalize_sku(rec.sku) or inherited.get("sku"),
        "author": mask_nick(_str(rec.author)),
        "rating": normalize_rating(rec.rating, rec.rating_scale),
        "text_raw": raw,
        "text": text,
        "is_placeholder": int(placeholder),
        "created_at": created_at,
        "date_precision": precision,
        "seller_reply": clean_reply(rec.seller_reply),
        "meta": _meta_json(meta) if meta else None,
        "ingested_at": ctx.ingested_at,
        "batch_id": ctx.batch_id,
    }


def _split_merged(rec: RawRecord) -> RawRecord:
    """A review whose follow-up was merged into its text ('...买家追评:...') gets it as a child."""
    if rec.kind != "review" or not isinstance(rec.text, str):
        return rec
    if any(c.kind == "followup" for c in rec.children):
        return rec
    head, tail = textmod.split_followup(rec.text)
    if tail is None:
        return rec
    child = RawRecord(kind="followup", text=tail, row=rec.row, raw=None, source=rec.source,
                      meta={"split_from_merged_text": True})
    rec.text = head or tail
    if head:
        rec.children = [*rec.children, child]
    return rec


def _check_length(rec: RawRecord) -> None:
    """RowError for a text over MAX_TEXT_CHARS; the record's raw becomes a short excerpt (what the
    quarantine keeps), never the whole cell."""
    text = rec.text
    if type(text) is str and len(text) > limits.MAX_TEXT_CHARS:
        rec.raw = limits.excerpt(text)
        raise RowError(f"text too long ({len(text)} characters)")


def to_documents(rec: RawRecord, ctx: Context, parent: dict | None = None,
                 ) -> tuple[list[dict[str, Any]], list[tuple[RawRecord, str]]]:
    """The record and its children as document rows (parent first), plus children that failed.

    Raises RowError when the record itself cannot be used; a failing child is
    returned with its reason so that the caller quarantines just that child.
    """
    _check_length(rec)
    rec = _split_merged(rec)
    if rec.kind == "review" and rec.children and not textmod.normalize(_str(rec.text)):
        # only a follow-up was written: keep it, and store the empty first review as a placeholder
        rec.text = "此用户没有填写评价。"
        rec.meta = {**rec.meta, "empty_first_review": True}
    doc = _document(rec, ctx, parent)
    docs, failed = [doc], []
    for child in rec.children:
        if child.kind == "followup" and not textmod.normalize(_str(child.text)):
            continue  # an empty follow-up slot ("" in appendComment) is not a follow-up
        try:
            child_docs, child_failed = to_documents(child, ctx, doc)
        except RowError as exc:
            failed.append((child, f"{child.kind}: {exc}"))
            continue
        docs.extend(child_docs)
        failed.extend(child_failed)
    return docs, failed
