"""Tmall buyer-side review pages (FORMATS.md §1B.1, §1B.2 and §3).

- `tmall-rate`: rate.tmall.com/list_detail_rate.htm: `{"rateDetail": {"rateList": [...]}}`,
  a bare `{"rateList": [...]}` (with `paginator`/`rateCount`), or a bare list of rate objects.
  A blocked request (`{"rgv587_flag": "sm", "url": ...}`) is refused.
- `mtop-rate`: mtop.taobao.rate.detaillist.get / mtop.wdetail.getitemrates:
  `{"api": ..., "data": {"rateList": [...]}, "ret": [...]}` or the `data` object alone.
  A failed `ret` ("FAIL_SYS_TOKEN_EXOIRED::令牌过期") is refused, never read as an empty page.
"""
from __future__ import annotations

from typing import Any

from sentiment.errors import IngestError
from sentiment.ingest.jsonutil import (
    dig, first_present, has_any, is_empty, maybe_json, media_urls,
    mtop_api, mtop_failure, put, raise_if_mtop_failed, records, sample_matches, with_followups,
)
from sentiment.ingest.records import JsonShape, ParsedStream, RawRecord

SOURCE = "tmall"
RATE_TEXT_KEYS = ("rateContent", "rate_content")
MTOP_TEXT_KEYS = ("feedback",)
RATE_APIS = ("mtop.taobao.rate.detaillist.get", "mtop.wdetail.getitemrates", "mtop.taobao.rate.")
MTOP_LIST_KEYS = ("hasNext", "feedAllCount", "feedAppendCount", "feedPicCount", "foldCount", "imprItemVOS")
# APIs other shapes own: their failures are theirs to report
FOREIGN_APIS = ("mtop.taobao.wdj.", "mtop.taobao.social.")


# ---------------------------------------------------------------- tmall-rate (list_detail_rate)

def _is_rate_object(obj: Any) -> bool:
    return has_any(obj, *RATE_TEXT_KEYS) and not has_any(obj, "feedback", "feedId")


def _tmall_container(doc: Any) -> tuple[str, Any] | None:
    """(locator, rateList) of a list_detail_rate document, or None."""
    if isinstance(doc, dict):
        detail = doc.get("rateDetail")
        if isinstance(detail, dict) and ("rateList" in detail or "paginator" in detail or "rateCount" in detail):
            return "rateDetail.rateList", detail.get("rateList")
        rates = doc.get("rateList")
        if isinstance(rates, list) and "data" not in doc and not has_any(doc, *MTOP_LIST_KEYS):
            found = sample_matches(rates, _is_rate_object)
            if found or (found is None and has_any(doc, "paginator", "rateCount")):
                return "rateList", rates
        return None
    if isinstance(doc, list) and sample_matches(doc, _is_rate_object):
        return "", doc
    return None


def detect_tmall(doc: Any) -> bool:
    if isinstance(doc, dict) and "rgv587_flag" in doc:
        return True
    return _tmall_container(doc) is not None


def parse_tmall(doc: Any, where: str) -> ParsedStream:
    if isinstance(doc, dict) and "rgv587_flag" in doc:
        raise IngestError(
            f"rate.tmall.com refused the request (rgv587_flag={doc.get('rgv587_flag')}, anti-bot check)"
            + (f" ({where.rstrip(': ')})" if where else "") + ": the capture holds no reviews; re-capture it"
        )
    found = _tmall_container(doc)
    if found is None:
        return
    locator, rates = found
    yield from records(rates, where + locator, RATE_TEXT_KEYS, _tmall_record)


def _tmall_record(rate: dict[str, Any], row: str) -> RawRecord:
    rec = RawRecord(
        kind="review", text=first_present(rate, *RATE_TEXT_KEYS), row=row, raw=rate, source=SOURCE,
        external_id=first_present(rate, "id", "rate_id", "rateId"),
        item_id=first_present(rate, "itemId", "auctionNumId", "item_id"),
        item_title=rate.get("auctionTitle"), sku=rate.get("auctionSku"),
        author=rate.get("displayUserNick"), created=rate.get("rateDate"),
        seller_reply=_reply(rate.get("reply")), meta=_tmall_meta(rate),
    )
    return with_followups(rec, _tmall_followup(rate.get("appendComment"), row))


def _reply(value: Any) -> Any:
    """`reply` is "" / null / a string / {content}: the text as found, or None."""
    if isinstance(value, dict):
        return value.get("content")
    return value


def _tmall_meta(rate: dict[str, Any]) -> dict[str, Any]:
    meta: dict[str, Any] = {}
    put(meta, "pics", media_urls(rate.get("pics")))
    put(meta, "useful", rate.get("useful"))
    put(meta, "anony", rate.get("anony"))
    put(meta, "buyer_level", first_present(rate, "tamllSweetLevel", "tmallSweetLevel"))
    put(meta, "buyer_vip_level", rate.get("userVipLevel"))
    put(meta, "platform", rate.get("cmsSource"))
    put(meta, "from_mall", rate.get("fromMall"))
    put(meta, "seller_id", rate.get("sellerId"))
    put(meta, "order_id", first_present(rate, "tradeId", "tradeid"))
    put(meta, "buy_count", rate.get("buyCount"))
    put(meta, "trade_end_time", rate.get("tradeEndTime"))
    put(meta, "service_rate", rate.get("serviceRateContent"))
    put(meta, "tags", rate.get("structuredRateList"))
    return meta


def _tmall_followup(value: Any, row: str) -> RawRecord | None:
    """`appendComment` is "" when absent, an object when present (or that object as a string)."""
    value = maybe_json(value)
    if is_empty(value):
        return None
    if isinstance(value, str):
        return RawRecord(kind="followup", text=value, row=row + ".appendComment", raw=value, source=SOURCE)
    if not isinstance(value, dict) or is_empty(value.get("content")):
        return None
    meta: dict[str, Any] = {}
    put(meta, "pics", media_urls(value.get("pics")))
    return RawRecord(
        kind="followup", text=value.get("content"), row=row + ".appendComment", raw=value, source=SOURCE,
        external_id=first_present(value, "appendId", "id"), created=value.get("commentTime"),
        days_after_parent=value.get("days"), seller_reply=_reply(value.get("reply")), meta=meta,
    )


# ---------------------------------------------------------------- mtop-rate (detaillist / getitemrates)

def _is_mtop_rate(obj: Any) -> bool:
    return has_any(obj, "feedback") and has_any(obj, "rateType", "feedbackDate", "auctionNumId", "userNick",
                                                 "reduceUserNick", "appendedFeed")


def _mtop_data(doc: Any) -> Any:
    """The object holding rateList: `data` of a full response, or the document itself."""
    data = doc.get("data") if isinstance(doc, dict) else None
    if isinstance(data, dict) and ("api" in doc or "ret" in doc or "rateList" in data):
        return data
    return doc


def detect_mtop(doc: Any) -> bool:
    if isinstance(doc, list):
        return bool(sample_matches(doc, _is_mtop_rate))
    if not isinstance(doc, dict):
        return False
    api = mtop_api(doc)
    if api.startswith(RATE_APIS):
        return True
    if mtop_failure(doc) and ("api" in doc or "data" in doc) and not api.startswith(FOREIGN_APIS):
        return True  # a failed capture of an unknown mtop api: report the failure, not "unrecognized"
    data = _mtop_data(doc)
    if not isinstance(data, dict) or not isinstance(data.get("rateList"), list):
        return False
    found = sample_matches(data["rateList"], _is_mtop_rate)
    return found if found is not None else has_any(data, *MTOP_LIST_KEYS)


def parse_mtop(doc: Any, where: str) -> ParsedStream:
    raise_if_mtop_failed(doc, where)
    if isinstance(doc, list):
        rates, locator = doc, where
    else:
        data = _mtop_data(doc)
        rates = data.get("rateList") if isinstance(data, dict) else None
        locator = where + ("data.rateList" if data is not doc else "rateList")
    yield from records(rates, locator, MTOP_TEXT_KEYS, _mtop_record)


def _mtop_record(rate: dict[str, Any], row: str) -> RawRecord:
    rec = RawRecord(
        kind="review", text=rate.get("feedback"), row=row, raw=rate, source=SOURCE,
        external_id=rate.get("id"), item_id=rate.get("auctionNumId"), item_title=rate.get("auctionTitle"),
        sku=first_present(rate, "skuValueStr", "skuMap"), author=first_present(rate, "userNick", "reduceUserNick"),
        rating=rate.get("rateType"), created=first_present(rate, "feedbackDate", "rateDate"),
        seller_reply=_reply(rate.get("reply")), meta=_mtop_meta(rate),
    )
    return with_followups(rec, _mtop_followup(rate.get("appendedFeed"), row))


def _mtop_meta(rate: dict[str, Any]) -> dict[str, Any]:
    meta: dict[str, Any] = {}
    # feedPicList[].thumbnail repeats feedPicPathList as resized copies: take it only when the paths are absent
    put(meta, "pics", media_urls(rate.get("feedPicPathList")) or media_urls(rate.get("feedPicList")))
    put(meta, "video", _video(rate.get("video")))
    put(meta, "likes", dig(rate, "interactInfo.likeCount"))
    put(meta, "anony", rate.get("annoy"))
    put(meta, "buyer_level", rate.get("userStar"))
    put(meta, "user_mark", rate.get("userMark"))
    put(meta, "tags", rate.get("rateTagList"))
    put(meta, "user_tags", rate.get("userTagList"))
    put(meta, "repeat_business", rate.get("repeatBusiness"))
    put(meta, "top_rate", rate.get("topRate"))
    return meta


def _video(value: Any) -> dict[str, str] | None:
    if not isinstance(value, dict):
        return None
    video = {key: media_urls(value.get(src)) for key, src in (("url", "cloudVideoUrl"), ("cover", "coverUrl"))}
    return {k: v[0] for k, v in video.items() if v} or None


def _mtop_followup(value: Any, row: str) -> RawRecord | None:
    if not isinstance(value, dict) or is_empty(value.get("appendedFeedback")):
        return None
    meta: dict[str, Any] = {}
    put(meta, "pics", media_urls(value.get("appendFeedPicPathList")) or media_urls(value.get("appendFeedPicList")))
    put(meta, "tags", value.get("rateTagList"))
    return RawRecord(
        kind="followup", text=value.get("appendedFeedback"), row=row + ".appendedFeed", raw=value,
        source=SOURCE, external_id=first_present(value, "appendId", "id"),
        created=first_present(value, "createTime", "appendedFeedbackDate"),
        days_after_parent=value.get("intervalDay"), seller_reply=_reply(value.get("reply")), meta=meta,
    )


SHAPES = [
    JsonShape("tmall-rate", SOURCE, detect_tmall, parse_tmall),
    JsonShape("mtop-rate", SOURCE, detect_mtop, parse_mtop),
]
