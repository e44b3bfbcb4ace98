"""Text normalization shared by ingestion, analysis and rules.

`normalize()` is idempotent: ingest stores its result as `text`, and analysis
calls it again on arbitrary input, so both paths see the same string.
"""
from __future__ import annotations

import html
import re
import unicodedata
from functools import lru_cache

_TAG = re.compile(r"<\s*/?\s*[a-zA-Z][^<>]{0,200}>|<!--.*?-->", re.S)
_BR = re.compile(r"<\s*br\s*/?\s*>", re.I)
# entities that real exports carry without their semicolon (&hellip, &nbsp)
_BARE_ENTITY = re.compile(r"&(hellip|nbsp|quot|ldquo|rdquo|middot|apos|amp|lt|gt|mdash|ndash)(?![;A-Za-z0-9])")
_SPACES = re.compile(r"[ \t\u00a0\u3000\u200b\ufeff]+")
_NEWLINES = re.compile(r"\s*\n\s*")
# control characters other than tab, newline and carriage return (C0, DEL, C1): an export's
# stray NUL or escape would otherwise reach the store, the tokens and the digests
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]+")
# a character repeated 3+ times collapses to 2 (好好好好 -> 好好, ！！！ -> !!);
# digits are left alone so that prices and ids survive
_RUN = re.compile(r"([^\d\w.]|[^\W\d_])\1{2,}")
_TRIPLE = re.compile(r"(.)\1\1", re.S)  # any character three times: 5-10x cheaper to look for first

PLACEHOLDER = re.compile(
    r"^(?:"
    r"此用户没有填写(?:评价|评论)[。.!！]?"
    r"|评价方未及时做出评价[,，]?系统默认好评[!！]?"
    r"|系统默认(?:评论|好评)[。.!！]?"
    r"|15天内买家未作出评价"
    r"|该用户(?:觉得商品.{0,6}(?:好|赞|不错).*|未.*(?:评价|填写).*)"
    r"|(?:用户)?未填写评价内容"
    r"|更多|暂无评价|默认好评[!！]?"
    r")$"
)

FOLLOWUP_MARKER = re.compile(
    r"\s*(?:\[追加评论\]|【追加评论】|\[追评\]|【追评】|买家追评[:：]|追加评论[:：]|追加评价[:：]|追评[:：])\s*"
)


def strip_html(raw: str) -> str:
    """Unescape entities (twice: some sources double-escape) and drop tags."""
    text = _BARE_ENTITY.sub(r"&\1;", raw)
    text = html.unescape(html.unescape(text))
    text = _BR.sub("\n", text)
    return _TAG.sub("", text)


@lru_cache(maxsize=1)
def _t2s() -> tuple[frozenset[str], object]:
    """Traditional-only characters and the zhconv converter, loaded once on first use."""
    from zhconv import zhconv

    zhconv.loaddict()
    conv = zhconv.zhcdicts["zh2Hans"]
    trad = frozenset(k for k, v in conv.items() if len(k) == 1 and k != v)
    return trad, zhconv.convert


def to_simplified(text: str) -> str:
    trad, convert = _t2s()
    if trad.isdisjoint(text):
        return text
    return convert(text, "zh-cn")  # type: ignore[operator]


def collapse_runs(text: str) -> str:
    return _RUN.sub(r"\1\1", text) if _TRIPLE.search(text) else text  # most texts have no run


def normalize(raw: str | None) -> str:
    """The canonical `text`: HTML out, NFKC, control characters out, traditional -> simplified,
    runs collapsed, spaces tidied."""
    if not raw:
        return ""
    text = strip_html(raw) if ("<" in raw or "&" in raw) else raw
    if not unicodedata.is_normalized("NFKC", text):  # the check is ~40x cheaper than normalizing
        text = unicodedata.normalize("NFKC", text)
    if not text.isprintable():  # cheap: true for most texts (no newline, tab or control)
        text = _CONTROL.sub("", text)
    text = to_simplified(text)
    text = collapse_runs(text)
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if "  " in text or "\t" in text or "\u200b" in text or "\ufeff" in text:  # NFKC made the rest " "
        text = _SPACES.sub(" ", text)
    if "\n" in text:
        text = _NEWLINES.sub("\n", text)
    return text.strip()


def is_placeholder(text: str) -> bool:
    """Platform default texts (系统默认好评, 此用户没有填写评价, ...) that carry no opinion."""
    return bool(text) and len(text) < 60 and PLACEHOLDER.match(text.strip()) is not None


def split_followup(text: str) -> tuple[str, str | None]:
    """Split a review whose follow-up was merged into it ('...买家追评:...')."""
    match = FOLLOWUP_MARKER.search(text) if "追" in text else None
    if not match:
        return text, None
    head, tail = text[: match.start()].strip(), text[match.end():].strip()
    return head, (tail or None)
