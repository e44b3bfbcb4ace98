"""Field value parsers: ids, dates, ratings, SKUs, nicknames (FORMATS.md §3 and §6)."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone, tzinfo
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

from sentiment.errors import RowError
from sentiment.times import STORED_TZ

SOURCE_TZ = STORED_TZ  # Tmall/Taobao timestamps are Beijing time
_SCI = re.compile(r"^[+-]?(\d+)(?:\.(\d+))?[eE]\+?(\d+)$")
_INT_DOT_ZERO = re.compile(r"^(\d+)\.0+$")
_DATE = re.compile(
    r"(?P<y>\d{4})\s*[-/.年]\s*(?P<m>\d{1,2})\s*[-/.月]\s*(?P<d>\d{1,2})\s*日?"
    r"(?:[T\s]*(?P<H>\d{1,2})[:：时](?P<M>\d{1,2})(?:[:：分](?P<S>\d{1,2})(?:\.\d+)?)?)?"
    r"\s*(?P<tz>Z|[+-]\d{2}:?\d{2})?"
)
# Patterns with a leading \s* or \s{2,} start only where a run of spaces starts, (?<!\s): a match
# may not begin inside a run, so a cell of many spaces costs linear time, not quadratic.
_RELATIVE = re.compile(r"(?<!\s)(?:收货|确认收货|购买|评价)?后?\s*(\d{1,3})\s*天")
_EXCEL_SERIAL = re.compile(r"^[2-7]\d{4}(?:\.\d+)?$")  # 1954..2119 as days since 1899-12-30
EXCEL_EPOCH = datetime(1899, 12, 30)
_EPOCH = re.compile(r"^\d{10}(?:\d{3})?(?:\.\d+)?$")

POSITIVE = {"good", "1", "11", "正面评价", "正面", "好评", "positive", "pos", "true", "满意"}
NEUTRAL = {"neutral", "0", "12", "中性评价", "中性", "中评", "一般"}
NEGATIVE = {"bad", "-1", "13", "负面评价", "负面", "差评", "negative", "neg", "false", "不满意"}
STAR_WORDS = {"一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5}
_STARS = re.compile(r"([1-5一二两三四五])(?:\.0)?\s*(?:星|分|颗星)?(?:好评|评价)?")
_SKU_TWO_SPACES = re.compile(r"(?<!\s)\s{2,}(?=[^\s:：;]+[:：])")
_SKU_SEMI = re.compile(r"[;；]")


def clean_id(value: Any) -> tuple[str | None, bool]:
    """An id as an exact string; the flag is False when Excel/JS rounding made it inexact."""
    if value is None or isinstance(value, bool):
        return None, True
    if type(value) is str and value.isdigit():
        return value, True
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 2**53:
            return str(int(value)), True
        return repr(value), False
    text = str(value).strip().lstrip("'").strip()
    if not text or text.lower() in ("none", "null", "nan"):
        return None, True
    match = _INT_DOT_ZERO.match(text)
    if match:
        return match.group(1), True
    match = _SCI.match(text)
    if match:
        whole, frac, exp = match.group(1), match.group(2) or "", int(match.group(3))
        digits = whole + frac
        try:
            number = Decimal(text)
        except InvalidOperation:
            return text, False
        exact = len(digits.lstrip("0")) <= 15 and exp >= len(frac) and len(str(int(number))) <= 15
        return str(int(number)), exact
    return text, True


def _aware(dt: datetime, tz: tzinfo) -> datetime:
    return dt.replace(tzinfo=tz) if dt.tzinfo is None else dt.astimezone(tz)


def parse_datetime(value: Any, tz: tzinfo) -> tuple[str, str] | None:
    """(ISO 8601 in `tz`, precision) for any date form real exports use; None when empty.

    Raises RowError when a value is present but is not a date.
    """
    if value is None:
        return None
    if isinstance(value, datetime):
        return _aware(value, tz).isoformat(timespec="seconds"), "second"
    text = str(value).strip()
    if not text or text in ("-", "--", "null", "None"):
        return None
    if len(text) == 19 and text[4] == "-" and text[10] == " ":  # the common "2024-05-01 10:00:00"
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            moment = None
        if moment is not None:
            if tz is SOURCE_TZ and moment.year >= 1992:  # Beijing time: +08:00 since DST ended in 1991
                return f"{text[:10]}T{text[11:]}+08:00", "second"
            return _aware(moment, tz).isoformat(timespec="seconds"), "second"
    if _EXCEL_SERIAL.match(text):  # a date cell that lost its format on the way to CSV
        moment = EXCEL_EPOCH + timedelta(days=float(text))
        return _aware(moment.replace(microsecond=0), tz).isoformat(timespec="seconds"), (
            "second" if "." in text else "day")
    if _EPOCH.match(text):
        number = float(text)
        seconds = number / 1000 if len(text.split(".")[0]) == 13 else number
        dt = datetime.fromtimestamp(seconds, timezone.utc).astimezone(tz)
        return dt.isoformat(timespec="seconds"), "second"
    match = _DATE.search(text)
    if not match:
        raise RowError(f"unparsable date {text[:40]!r}")
    g = match.groupdict()
    try:
        dt = datetime(int(g["y"]), int(g["m"]), int(g["d"]), int(g["H"] or 0), int(g["M"] or 0),
                      int(g["S"] or 0))
    except ValueError:
        raise RowError(f"unparsable date {text[:40]!r}") from None
    if g["tz"]:
        offset = g["tz"]
        if offset == "Z":
            dt = dt.replace(tzinfo=timezone.utc)
        else:
            sign = -1 if offset[0] == "-" else 1
            hh, mm = int(offset[1:3]), int(offset[-2:])
            dt = dt.replace(tzinfo=timezone(sign * timedelta(hours=hh, minutes=mm)))
    precision = "second" if g["S"] else "minute" if g["H"] else "day"
    return _aware(dt, tz).isoformat(timespec="seconds"), precision


def parse_days(value: Any) -> int | None:
    """Days after the first review: 3, "3", 3.0, "收货后5天", "确认收货后3天后追加评论"."""
    if value is None or value == "":
        return None
    if isinstance(value, (int, float)):
        return int(value)
    text = str(value).strip()
    try:
        return int(float(text))
    except ValueError:
        pass
    match = _RELATIVE.search(text)
    if match:
        return int(match.group(1))
    if "当天" in text:
        return 0
    return None


def normalize_rating(value: Any, scale: str = "code") -> str | None:
    """positive / neutral / negative / None from every vocabulary in FORMATS.md §3."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "positive" if value else "negative"
    return _rating_text(str(value), scale)


@lru_cache(maxsize=1024)
def _rating_text(value: str, scale: str) -> str | None:
    text = value.strip().lower()
    if not text:
        return None
    if text.endswith(".0"):
        text = text[:-2]
    stars = _stars(text)
    if stars is not None and (scale == "stars" or not text.lstrip("-").isdigit()):
        return "negative" if stars <= 2 else "neutral" if stars == 3 else "positive"
    if text in POSITIVE:
        return "positive"
    if text in NEUTRAL:
        return "neutral"
    if text in NEGATIVE:
        return "negative"
    return None


def _stars(text: str) -> int | None:
    if "★" in text:
        return text.count("★") or None
    match = _STARS.fullmatch(text)
    if not match:
        return None
    digit = match.group(1)
    return STAR_WORDS.get(digit) or int(digit)


def normalize_sku(value: Any) -> str | None:
    """SKUs as "k:v;k:v" (Tmall), from the Taobao two-space form, dicts and lists."""
    if value is None:
        return None
    if isinstance(value, dict):
        parts = [f"{k}:{v}" for k, v in value.items() if v not in (None, "")]
        return ";".join(parts) or None
    if isinstance(value, list):
        parts = [p for p in (normalize_sku(v) for v in value) if p]
        return "|".join(parts) or None
    return _sku_text(str(value))


@lru_cache(maxsize=8192)
def _sku_text(value: str) -> str | None:
    text = value.replace("&nbsp;", " ").replace("&nbsp", " ").replace("\u00a0", " ").strip()
    if not text:
        return None
    text = _SKU_TWO_SPACES.sub(";", text)
    # spaces around each ; go (the text's own ends are stripped): split, not a \s*;\s* regex,
    # which is quadratic on a long run of spaces
    return ";".join(part.strip() for part in _SKU_SEMI.split(text)).replace("：", ":")


def mask_nick(value: Any) -> str | None:
    """Masked nicknames pass through; unmasked ones (old data) are masked like the platform does."""
    if value is None:
        return None
    text = str(value).strip()
    if not text or "*" in text:
        return text or None
    if len(text) <= 2:
        return text[0] + "**"
    return f"{text[0]}***{text[-1]}"
