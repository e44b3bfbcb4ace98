"""Untrusted text (reviews, nicknames, item titles, topic words) made plain for chat markdown.

Every character that any of the three platforms' markdown, link or mention syntax is made of
(`[]()<>*_`#~|!\\@&$`) becomes its full-width twin, which reads the same in Chinese text and
means nothing to a renderer; line breaks and control or invisible characters become spaces; the
result is one line of at most `limit` characters. So `](javascript:...)` cannot make a link,
`<at user_id="all">`, `<@userid>` and `@all` cannot mention anyone, and a 10,000-character
line arrives as a short excerpt.
"""
from __future__ import annotations

from typing import Any, Iterable, Mapping

FULL_WIDTH = str.maketrans({
    "[": "［", "]": "］", "(": "（", ")": "）", "<": "＜", ">": "＞", "*": "＊", "_": "＿", "`": "｀",
    "#": "＃", "~": "～", "|": "｜", "!": "！", "\\": "＼", "@": "＠", "&": "＆", "$": "＄", "{": "｛",
    "}": "｝", "=": "＝", '"': "＂",
})
ELLIPSIS = "…"


def one_line(value: Any) -> str:
    """Control, format (zero-width, bidi) and line-break characters as spaces, runs collapsed."""
    return " ".join("".join(c if c.isprintable() else " " for c in str(value if value is not None else "")).split())


def plain(value: Any, limit: int | None = None) -> str:
    """`value` as inert chat text: one line, markup characters full-width, cut to `limit` with "…"."""
    text = one_line(value).translate(FULL_WIDTH)
    if limit is not None and len(text) > limit:
        text = text[: max(limit - 1, 0)] + ELLIPSIS
    return text


def excerpt(parts: Iterable[Mapping[str, Any]], limit: int = 80) -> str:
    """Highlighted excerpt parts ({"t": text, "hit": bool}) as plain text of at most `limit`
    characters, matched terms in bold."""
    out, used = [], 0
    for part in parts:
        text = plain(part.get("t", ""))
        if not text:
            continue
        room = limit - used
        if room <= 0:
            break
        if len(text) > room:
            text = text[: max(room - 1, 0)] + ELLIPSIS
        used += len(text)
        out.append(f"**{text}**" if part.get("hit") and text.strip(ELLIPSIS + " ") else text)
    return "".join(out)


def link_target(url: str | None) -> str | None:
    """An http(s) address we built (console, item page) as a markdown link target: characters that
    would end the link are percent-encoded."""
    if not url or not url.lower().startswith(("https://", "http://")):
        return None
    table = {"(": "%28", ")": "%29", "[": "%5B", "]": "%5D", "<": "%3C", ">": "%3E", " ": "%20", '"': "%22"}
    return "".join(table.get(c, c) for c in url if c.isprintable())
