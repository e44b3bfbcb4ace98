"""Small helpers shared by the JSON source parsers (tmall, taobao, top, qianniu, wdj, canonical).

Documents arrive from `json.loads(..., parse_int=str, parse_float=str)`, so every
number is a str. These helpers only look values up; they never clean them
(that is `normalize.py`'s job), except media URLs, which get their `https:`.
"""
from __future__ import annotations

import json
import re
from typing import Any, Callable, Iterable, Iterator

from sentiment.errors import IngestError
from sentiment.ingest.jsonfile import TooDeep, load_json
from sentiment.ingest.records import BadRow, RawRecord

_MISSING = object()
_LOW_INFO = re.compile(
    r"^(?:我也?|暂时|目前|还|都)?(?:"
    r"不知道|不清楚|不太清楚|不晓得|不了解|不确定|没注意|没留意|没看|忘了"
    r"|还?没(?:有)?(?:用|用过|使用|试|试过|开始用|拆|收到|到货?|吃|穿|戴|装)"
    r"|没用过|刚买|刚到|刚收到|没买|不好说|看个人|因人而异|自己试试"
    r")(?:呢|呀|啊|哦|喔|耶|吧|的)*$"
)
_LOW_INFO_NOISE = re.compile(r"<[^<>]{0,200}>|&[a-z]+;?|[\s\W_]+", re.I)


def dig(obj: Any, path: str, default: Any = None) -> Any:
    """`dig(doc, "data.rateList")`: follow dict keys (and list indexes) or return `default`."""
    current = obj
    for part in path.split("."):
        if isinstance(current, dict):
            current = current.get(part, _MISSING)
        elif isinstance(current, list) and part.isdigit() and int(part) < len(current):
            current = current[int(part)]
        else:
            return default
        if current is _MISSING:
            return default
    return current


def is_empty(value: Any) -> bool:
    """None, "" (or only spaces), {} and [] are all 'absent' in these payloads."""
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, (dict, list)):
        return not value
    return False


def first_present(obj: Any, *keys: str) -> Any:
    """The first value among dotted `keys` that is present and not empty; else None."""
    for key in keys:
        value = dig(obj, key)
        if not is_empty(value):
            return value
    return None


def sample_matches(items: Any, predicate: Callable[[Any], bool], limit: int = 5) -> bool | None:
    """Whether one of the first `limit` objects of a list satisfies `predicate`; None: no objects at all.

    Looking past the first object keeps one malformed row from hiding a whole page's shape.
    """
    if not isinstance(items, list):
        return None
    objects = [e for e in items[: limit * 4] if isinstance(e, dict)][:limit]
    if not objects:
        return None
    return any(predicate(obj) for obj in objects)


def has_any(obj: Any, *keys: str) -> bool:
    """Whether a dict carries at least one of `keys` (present, whatever its value)."""
    return isinstance(obj, dict) and any(key in obj for key in keys)


def truthy(value: Any) -> bool | None:
    """Lenient boolean: True/"true"/"1"/1 -> True, False/"false"/"0" -> False, else None."""
    if isinstance(value, bool):
        return value
    if value is None:
        return None
    text = str(value).strip().lower()
    if text in ("true", "1", "y", "yes"):
        return True
    if text in ("false", "0", "n", "no"):
        return False
    return None


def https_url(value: Any) -> str | None:
    """`//img.alicdn.com/x.jpg` -> `https://img.alicdn.com/x.jpg`; http(s) URLs as they are."""
    if not isinstance(value, str):
        return None
    url = value.strip()
    if not url:
        return None
    if url.startswith("//"):
        return "https:" + url
    if url.startswith(("http://", "https://")):
        return url
    if url.startswith(("img.", "gw.", "cloud.video", "tbm-auth")) or ".alicdn.com/" in url:
        return "https://" + url
    return url


URL_KEYS = ("url", "thumbnail", "picUrl", "fullPicUrl", "mp4Url", "videoUrl", "cloudVideoUrl", "path")


def media_urls(*values: Any) -> list[str]:
    """Every media URL in `""`, a URL string, lists of URLs or lists of {url|thumbnail|...} objects."""
    found: list[str] = []
    for value in values:
        for url in _urls(value):
            if url not in found:
                found.append(url)
    return found


def _urls(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        url = https_url(value)
        if url:
            yield url
    elif isinstance(value, list):
        for element in value:
            yield from _urls(element)
    elif isinstance(value, dict):
        for key in URL_KEYS:
            url = https_url(value.get(key))
            if url:
                yield url
                break


def as_list(value: Any, *wrapper_keys: str) -> list[Any]:
    """A JSON list, possibly wrapped the TOP way (`{"trade_rate": [...]}`) or as a single object."""
    if isinstance(value, list):
        return value
    if isinstance(value, dict):
        for key in wrapper_keys:
            if key in value:
                return as_list(value[key])
        return [value] if value else []
    return []


def put(meta: dict[str, Any], key: str, value: Any) -> None:
    """Set `meta[key]` only when the value is not empty."""
    if not is_empty(value):
        meta[key] = value


def id_str(value: Any) -> str | None:
    """An id kept verbatim as a string (it is one already with parse_int=str)."""
    if is_empty(value) or isinstance(value, (dict, list, bool)):
        return None
    return str(value).strip()


def elements(items: Any, locator: str) -> Iterator[tuple[str, Any]]:
    """(row locator, element) for each element of a list; a non-list gives nothing."""
    if not isinstance(items, list):
        return
    for index, element in enumerate(items):
        yield f"{locator}[{index}]", element


def check_object(element: Any, row: str, text_keys: Iterable[str]) -> BadRow | None:
    """A BadRow when the element is not an object or carries none of the text fields at all."""
    keys = tuple(text_keys)
    if not isinstance(element, dict):
        return BadRow(row, f"not an object: {type(element).__name__}", element)
    if not any(dig(element, key, _MISSING) is not _MISSING for key in keys):
        return BadRow(row, f"no text field ({' / '.join(keys)})", element)
    return None


def records(items: Any, locator: str, text_keys: Iterable[str],
            make: Callable[[dict[str, Any], str], RawRecord]) -> Iterator[BadRow | RawRecord]:
    """`make(element, row)` for each usable element of a list; a BadRow for the others."""
    for row, element in elements(items, locator):
        bad = check_object(element, row, text_keys)
        yield bad if bad else make(element, row)


def maybe_json(value: Any) -> Any:
    """A JSON object stored as a string by a scraper (`"{\\"content\\": ...}"`) parsed; else as is."""
    if isinstance(value, str) and value.strip().startswith("{") and value.strip().endswith("}"):
        try:
            return load_json(value, parse_int=str, parse_float=str)
        except (json.JSONDecodeError, TooDeep):
            return value
    return value


def mtop_failure(doc: Any) -> str | None:
    """The `ret` codes of a failed mtop response ("FAIL_SYS_TOKEN_EXOIRED::令牌过期"), else None."""
    if not isinstance(doc, dict):
        return None
    ret = doc.get("ret")
    if isinstance(ret, str):
        ret = [ret]
    if not isinstance(ret, list) or not ret:
        return None
    codes = [str(r) for r in ret if not is_empty(r)]
    if not codes or any(code.upper().startswith("SUCCESS") for code in codes):
        return None
    return "; ".join(codes)


def raise_if_mtop_failed(doc: Any, where: str) -> None:
    """A failed mtop call is not an empty page: refuse it so the capture is redone."""
    failure = mtop_failure(doc)
    if failure is None:
        return
    api = doc.get("api") if isinstance(doc, dict) else None
    context = ", ".join(p for p in (f"api {api}" if api else "", where.rstrip(": ")) if p)
    raise IngestError(
        f"mtop response failed: {failure}" + (f" ({context})" if context else "")
        + ": the capture holds an error, not data; log in again and re-capture this page"
    )


def mtop_api(doc: Any) -> str:
    """The `api` name of an mtop response, lower-cased ("" when absent)."""
    api = doc.get("api") if isinstance(doc, dict) else None
    return api.strip().lower() if isinstance(api, str) else ""


def with_followups(rec: RawRecord, *followups: RawRecord | None) -> RawRecord:
    """Attach follow-ups (None = none) to a review; a follow-up is written by the review's author."""
    for child in followups:
        if child is not None:
            if child.author is None:
                child.author = rec.author
            rec.children.append(child)
    return rec


def is_low_info(text: Any) -> bool:
    """Answers such as 不知道 / 还没用 / 不清楚 that carry (almost) no information."""
    if not isinstance(text, str):
        return False
    core = _LOW_INFO_NOISE.sub("", text)
    return bool(core) and len(core) <= 12 and _LOW_INFO.match(core) is not None
