"""千牛 评价管理 (seller back-office) JSON (FORMATS.md §1C and §3).

Two forms of the same rows, found as a bare list or under a `data`/`list`/`result`... key:
- nested: `rateContent.mainRate{feedId, content, expression[], mediaList[], date (epoch ms)}`,
  `rateContent.appendRate{..., days}`, `emotionType.status/appendRateStatus` (11/12/13),
  `userInfo{userName, userStar}`, `orderInfo{mainOrderId, orderId}`, `itemInfo{itemId, title, link}`;
- flattened (RPA connector output): `feedId, feedContent, feedEmotion, feedDate, appendId,
  appendContent, appendEmotion, appendDays, buyerName, orderId, itemTitle, itemId, itemUrl, ...`.
"""
from __future__ import annotations

from typing import Any

from sentiment.ingest.jsonutil import (
    check_object, dig, elements, first_present, has_any, id_str, media_urls, put, sample_matches,
    with_followups,
)
from sentiment.ingest.records import JsonShape, ParsedStream, RawRecord

SOURCE = "qianniu"
CONTAINER_KEYS = ("data", "result", "list", "dataSource", "rows", "items", "records", "rateList", "module")
FLAT_TEXT_KEYS = ("feedContent",)
NESTED_TEXT_KEYS = ("rateContent.mainRate.content",)


def _is_row(obj: Any) -> bool:
    if not isinstance(obj, dict):
        return False
    if isinstance(dig(obj, "rateContent.mainRate"), dict):
        return True
    return has_any(obj, "feedId") and has_any(obj, "feedContent", "feedEmotion", "appendContent")


def _rows(doc: Any, locator: str = "", depth: int = 3) -> tuple[str, list[Any]] | None:
    """(locator, rows) of the first list whose first object is a 千牛 row."""
    if isinstance(doc, list):
        return (locator, doc) if sample_matches(doc, _is_row) else None
    if not isinstance(doc, dict) or depth == 0:
        return None
    for key in CONTAINER_KEYS:
        if key in doc:
            found = _rows(doc[key], f"{locator}.{key}" if locator else key, depth - 1)
            if found:
                return found
    return None


def detect(doc: Any) -> bool:
    return _rows(doc) is not None


def parse(doc: Any, where: str) -> ParsedStream:
    found = _rows(doc)
    if found is None:
        return
    locator, rows = found
    for row, item in elements(rows, where + locator):
        nested = isinstance(dig(item, "rateContent.mainRate"), dict)
        bad = check_object(item, row, NESTED_TEXT_KEYS if nested else FLAT_TEXT_KEYS)
        if bad:
            yield bad
            continue
        yield _nested(item, row) if nested else _flat(item, row)


def _flat(item: dict[str, Any], row: str) -> RawRecord:
    meta: dict[str, Any] = {}
    put(meta, "order_id", id_str(first_present(item, "orderId", "mainOrderId")))
    put(meta, "rating_name", item.get("feedEmotionName"))
    put(meta, "tags", item.get("feedExpression"))
    put(meta, "pics", media_urls(item.get("feedMediaList")))
    put(meta, "language", item.get("feedLanguage"))
    put(meta, "buyer_star", item.get("buyerStar"))
    put(meta, "item_url", item.get("itemUrl"))
    rec = RawRecord(
        kind="review", text=item.get("feedContent"), row=row, raw=item, source=SOURCE,
        external_id=item.get("feedId"), item_id=item.get("itemId"), item_title=item.get("itemTitle"),
        author=item.get("buyerName"), rating=first_present(item, "feedEmotion", "feedEmotionName"),
        created=first_present(item, "feedDate", "feedDateStr"), meta=meta,
    )
    if first_present(item, "appendContent") is not None:
        child_meta: dict[str, Any] = {}
        put(child_meta, "rating_name", item.get("appendEmotionName"))
        put(child_meta, "tags", item.get("appendExpression"))
        put(child_meta, "pics", media_urls(item.get("appendMediaList")))
        put(child_meta, "language", item.get("appendLanguage"))
        put(child_meta, "days_text", item.get("appendDaysStr"))
        with_followups(rec, RawRecord(
            kind="followup", text=item.get("appendContent"), row=row + ".append", source=SOURCE,
            external_id=item.get("appendId"), rating=first_present(item, "appendEmotion", "appendEmotionName"),
            created=first_present(item, "appendDate", "appendDateStr"),
            days_after_parent=first_present(item, "appendDays", "appendDaysStr"), meta=child_meta,
        ))
    return rec


def _rate_meta(rate: dict[str, Any]) -> dict[str, Any]:
    media = rate.get("mediaList") if isinstance(rate.get("mediaList"), list) else []
    videos = [m for m in media
              if isinstance(m, dict) and (m.get("mp4Url") or "video" in str(m.get("uiType", "")).lower())]
    meta: dict[str, Any] = {}
    put(meta, "tags", rate.get("expression"))
    put(meta, "pics", media_urls([m for m in media if m not in videos]))
    put(meta, "video", media_urls([v.get("mp4Url") or v for v in videos]))
    put(meta, "language", rate.get("language"))
    return meta


def _nested(item: dict[str, Any], row: str) -> RawRecord:
    main = dig(item, "rateContent.mainRate")
    meta = _rate_meta(main)
    put(meta, "order_id", id_str(first_present(item, "orderInfo.orderId", "orderInfo.mainOrderId")))
    put(meta, "main_order_id", id_str(dig(item, "orderInfo.mainOrderId")))
    put(meta, "buyer_star", dig(item, "userInfo.userStar"))
    put(meta, "is_foreigner", dig(item, "userInfo.isForeigner"))
    put(meta, "item_url", dig(item, "itemInfo.link"))
    rec = RawRecord(
        kind="review", text=main.get("content"), row=row, raw=item, source=SOURCE,
        external_id=main.get("feedId"), item_id=dig(item, "itemInfo.itemId"), item_title=dig(item, "itemInfo.title"),
        author=dig(item, "userInfo.userName"), rating=dig(item, "emotionType.status"),
        created=first_present(main, "date", "dateStr"), seller_reply=first_present(main, "reply", "replyContent"),
        meta=meta,
    )
    append = dig(item, "rateContent.appendRate")
    if isinstance(append, dict) and first_present(append, "content") is not None:
        child_meta = _rate_meta(append)
        with_followups(rec, RawRecord(
            kind="followup", text=append.get("content"), row=row + ".rateContent.appendRate", raw=append,
            source=SOURCE, external_id=append.get("feedId"), rating=dig(item, "emotionType.appendRateStatus"),
            created=first_present(append, "date", "dateStr"), days_after_parent=append.get("days"),
            seller_reply=first_present(append, "reply", "replyContent"), meta=child_meta,
        ))
    return rec


SHAPES = [JsonShape("qianniu", SOURCE, detect, parse)]
