"""Taobao Open Platform (TOP) rate APIs (FORMATS.md §1A and §3).

- `top-traderates`: taobao.traderates.get:
  `{"traderates_get_response": {"trade_rates": {"trade_rate": [...]}, "total_results": .., "has_next": ..}}`
  or the unwrapped `{"trade_rates": ...}`. Rates written by the seller (`role` = seller: the shop
  rating its buyers) are not buyer voice: they are quarantined with that reason, not stored.
- `top-feeds`: tmall.traderate.feeds.get:
  `{"tmall_traderate_feeds_get_response": {"tmall_rate_info": {...}}}` or `{"tmall_rate_info": {...}}`.
A TOP `{"error_response": {...}}` is refused with its code and message.
"""
from __future__ import annotations

from typing import Any

from sentiment.errors import IngestError
from sentiment.ingest.jsonutil import (
    as_list, check_object, elements, first_present, id_str, put, truthy, with_followups,
)
from sentiment.ingest.records import BadRow, JsonShape, ParsedStream, RawRecord

SOURCE = "top"
RATES_RESPONSE = "traderates_get_response"
FEEDS_RESPONSE = "tmall_traderate_feeds_get_response"


def _error(doc: Any) -> dict[str, Any] | None:
    if isinstance(doc, dict):
        error = doc.get("error_response")
        if isinstance(error, dict):
            return error
        for response in (RATES_RESPONSE, FEEDS_RESPONSE):
            if isinstance(doc.get(response), dict) and isinstance(doc[response].get("error_response"), dict):
                return doc[response]["error_response"]
    return None


def raise_if_error(doc: Any, where: str) -> None:
    error = _error(doc)
    if error is None:
        return
    parts = [str(error[k]) for k in ("code", "msg", "sub_code", "sub_msg") if first_present(error, k) is not None]
    request = f", request_id {error['request_id']}" if first_present(error, "request_id") else ""
    place = f" ({where.rstrip(': ')})" if where else ""
    raise IngestError(f"TOP error_response: {' '.join(parts) or 'no message'}{request}{place}")


# ---------------------------------------------------------------- taobao.traderates.get

def _rates_body(doc: Any) -> dict[str, Any] | None:
    if not isinstance(doc, dict):
        return None
    body = doc.get(RATES_RESPONSE)
    if isinstance(body, dict):
        return body
    return doc if "trade_rates" in doc else None


def detect_rates(doc: Any) -> bool:
    if isinstance(doc, dict) and "error_response" in doc:
        return True  # the generic TOP error envelope is this module's to report
    return _rates_body(doc) is not None


def parse_rates(doc: Any, where: str) -> ParsedStream:
    raise_if_error(doc, where)
    body = _rates_body(doc)
    if body is None:
        return
    prefix = where + (RATES_RESPONSE + "." if body is not doc else "")
    for row, rate in elements(as_list(body.get("trade_rates"), "trade_rate"), prefix + "trade_rates.trade_rate"):
        bad = check_object(rate, row, ("content",))
        if bad:
            yield bad
        elif str(rate.get("role", "")).strip().lower() == "seller":
            yield BadRow(row, "rate written by the seller (role=seller), not a buyer review", rate)
        else:
            yield _rate_record(rate, row)


def _rate_record(rate: dict[str, Any], row: str) -> RawRecord:
    meta: dict[str, Any] = {}
    put(meta, "tid", id_str(rate.get("tid")))
    put(meta, "oid", id_str(rate.get("oid")))
    put(meta, "role", rate.get("role"))
    put(meta, "item_price", rate.get("item_price"))
    put(meta, "valid_score", rate.get("valid_score"))
    put(meta, "logistics_service_score", rate.get("logistics_service_score"))
    return RawRecord(
        kind="review", text=rate.get("content"), row=row, raw=rate, source=SOURCE,
        external_id=first_present(rate, "oid", "tid"), item_id=rate.get("num_iid"),
        item_title=rate.get("item_title"), author=rate.get("nick"), rating=rate.get("result"),
        created=rate.get("created"), seller_reply=rate.get("reply"), shop=rate.get("rated_nick"), meta=meta,
    )


# ---------------------------------------------------------------- tmall.traderate.feeds.get

def _feeds_info(doc: Any) -> tuple[str, Any] | None:
    if not isinstance(doc, dict):
        return None
    body = doc.get(FEEDS_RESPONSE)
    if isinstance(body, dict):
        return FEEDS_RESPONSE + ".tmall_rate_info", body.get("tmall_rate_info")
    if "tmall_rate_info" in doc:
        return "tmall_rate_info", doc["tmall_rate_info"]
    return None


def detect_feeds(doc: Any) -> bool:
    return _feeds_info(doc) is not None


def parse_feeds(doc: Any, where: str) -> ParsedStream:
    raise_if_error(doc, where)
    found = _feeds_info(doc)
    if found is None:
        return
    locator, infos = found
    for index, info in enumerate(as_list(infos, "tmall_rate_info")):
        row = where + locator + (f"[{index}]" if isinstance(infos, list) else "")
        bad = check_object(info, row, ("content",))
        if bad:
            yield bad
            continue
        yield _feed_record(info, row)


def _tags(value: Any) -> list[Any]:
    return as_list(value, "tmall_rate_tag")


def _feed_rating(has_negtv: Any, tags: list[Any]) -> str | None:
    """`has_negtv` = "the text has negative tags": true -> bad; false with only positive tags -> good."""
    negative = truthy(has_negtv)
    if negative:
        return "bad"
    posi = [truthy(t.get("posi")) for t in tags if isinstance(t, dict)]
    if negative is False and posi and all(posi):
        return "good"
    return None


def _feed_record(info: dict[str, Any], row: str) -> RawRecord:
    tags = _tags(info.get("tags"))
    meta: dict[str, Any] = {}
    put(meta, "tags", tags)
    put(meta, "has_negtv", info.get("has_negtv"))
    rec = RawRecord(
        kind="review", text=info.get("content"), row=row, raw=info, source=SOURCE,
        author=info.get("user_nick"), rating=_feed_rating(info.get("has_negtv"), tags),
        created=info.get("comment_time"), meta=meta,
    )
    if first_present(info, "append_content") is not None:
        append_tags = _tags(info.get("append_tags"))
        child_meta: dict[str, Any] = {}
        put(child_meta, "tags", append_tags)
        put(child_meta, "has_negtv", info.get("append_has_negtv"))
        with_followups(rec, RawRecord(
            kind="followup", text=info.get("append_content"), row=row + ".append_content", source=SOURCE,
            rating=_feed_rating(info.get("append_has_negtv"), append_tags), created=info.get("append_time"),
            meta=child_meta,
        ))
    return rec


SHAPES = [
    JsonShape("top-traderates", SOURCE, detect_rates, parse_rates),
    JsonShape("top-feeds", SOURCE, detect_feeds, parse_feeds),
]
