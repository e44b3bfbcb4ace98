"""Taobao C-shop reviews: rate.taobao.com/feedRateList.htm (FORMATS.md §1B.3 and §3).

`{"comments": [...], "maxPage": .., "currentPageNum": ..}`; each comment carries
`rateId, content, date ("2014年03月25日 12:59"), rate ("1"/"0"/"-1"/"-2"),
auction{aucNumId, sku, title}, user{nick, vipLevel, rank, anony}, reply (null | {content}),
append{content, dayAfterConfirm, photos, reply}, appendList[], photos[], useful`.
"""
from __future__ import annotations

from typing import Any

from sentiment.ingest.jsonutil import (
    dig, elements, first_present, has_any, is_empty, media_urls, put, records, sample_matches,
    with_followups,
)
from sentiment.ingest.records import JsonShape, ParsedStream, RawRecord

SOURCE = "taobao"
TEXT_KEYS = ("content",)
PAGE_KEYS = ("maxPage", "currentPageNum", "watershed", "qnaDisabled")
COMMENT_KEYS = ("rateId", "auction", "user", "appendList", "dayAfterConfirm")


def _comments(doc: Any) -> tuple[str, Any] | None:
    if not isinstance(doc, dict):
        return None
    if isinstance(doc.get("comments"), list):
        return "comments", doc["comments"]
    data = doc.get("data")
    if isinstance(data, dict) and isinstance(data.get("comments"), list):
        return "data.comments", data["comments"]
    return None


def detect(doc: Any) -> bool:
    found = _comments(doc)
    if found is None:
        return False
    locator, comments = found
    holder = doc if locator == "comments" else doc["data"]
    found = sample_matches(comments, lambda c: has_any(c, "content") and has_any(c, *COMMENT_KEYS))
    return has_any(holder, *PAGE_KEYS) if found is None else found


def parse(doc: Any, where: str) -> ParsedStream:
    found = _comments(doc)
    if found is None:
        return
    locator, comments = found
    yield from records(comments, where + locator, TEXT_KEYS, _record)


def _reply(value: Any) -> Any:
    if isinstance(value, dict):
        return value.get("content")
    return value


def _record(comment: dict[str, Any], row: str) -> RawRecord:
    rec = RawRecord(
        kind="review", text=comment.get("content"), row=row, raw=comment, source=SOURCE,
        external_id=first_present(comment, "rateId", "id"),
        item_id=first_present(comment, "auction.aucNumId", "auction.auctionNumId", "aucNumId"),
        item_title=dig(comment, "auction.title"), sku=dig(comment, "auction.sku"),
        author=dig(comment, "user.nick"), rating=comment.get("rate"), created=comment.get("date"),
        seller_reply=_reply(comment.get("reply")), meta=_meta(comment),
    )
    return with_followups(rec, *_followups(comment, row))


def _meta(comment: dict[str, Any]) -> dict[str, Any]:
    meta: dict[str, Any] = {}
    put(meta, "pics", media_urls(comment.get("photos")))
    put(meta, "video", media_urls(comment.get("video")))
    put(meta, "useful", comment.get("useful"))
    put(meta, "anony", dig(comment, "user.anony"))
    put(meta, "buyer_level", dig(comment, "user.vipLevel"))
    put(meta, "buyer_rank", dig(comment, "user.rank"))
    put(meta, "buy_amount", comment.get("buyAmount"))
    put(meta, "pay_time", dig(comment, "payTime.time"))
    put(meta, "days_after_confirm", comment.get("dayAfterConfirm"))
    put(meta, "tags", comment.get("tag"))
    return meta


def _followups(comment: dict[str, Any], row: str) -> list[RawRecord]:
    """`append` (the follow-up) and `appendList[]` (which may repeat it): one child per distinct text."""
    found: list[RawRecord] = []
    seen: set[str] = set()
    candidates = [(row + ".append", comment.get("append"))]
    candidates += list(elements(comment.get("appendList"), row + ".appendList"))
    for locator, append in candidates:
        if not isinstance(append, dict) or is_empty(append.get("content")):
            continue
        key = str(append.get("content")).strip()
        if key in seen:
            continue
        seen.add(key)
        meta: dict[str, Any] = {}
        put(meta, "pics", media_urls(append.get("photos")))
        found.append(RawRecord(
            kind="followup", text=append.get("content"), row=locator, raw=append, source=SOURCE,
            external_id=first_present(append, "appendId", "id"), created=first_present(append, "date", "time"),
            days_after_parent=append.get("dayAfterConfirm"), seller_reply=_reply(append.get("reply")), meta=meta,
        ))
    return found


SHAPES = [JsonShape("taobao-feed", SOURCE, detect, parse)]
