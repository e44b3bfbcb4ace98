"""What the console shows in Chinese: names of states, actions, severities; local times; highlighted
text; the triage library's messages translated (the JSON API keeps them as the CLI prints them)."""
from __future__ import annotations

import re
from datetime import tzinfo
from typing import Any, Iterable, Sequence

from sentiment.reports.render import (AUDIENCE_NAMES, KIND_NAMES, RATING_LABELS, SEVERITY_NAMES, STATE_NAMES,
                                      category_name, local_minute)

ACTION_NAMES = {"ack": "确认", "assign": "指派", "start": "开始处理", "resolve": "解决", "ignore": "忽略",
                "reopen": "重新打开", "note": "备注"}
# what the incident engine writes in the history besides the actions above
HISTORY_NAMES = {**ACTION_NAMES, "opened": "新建", "severity": "严重程度变化", "reopen": "重新打开",
                 "resolve": "解决"}
LABEL_NAMES = {"negative": "负面", "neutral": "中性", "positive": "正面"}
ALL_AUDIENCE_NAMES = {**AUDIENCE_NAMES, "admin": "管理员"}
SYSTEM_NAME = "系统"


def names() -> dict[str, Any]:
    """The lookup tables templates use."""
    return {"severity": SEVERITY_NAMES, "state": STATE_NAMES, "action": ACTION_NAMES, "history": HISTORY_NAMES,
            "kind": KIND_NAMES, "rating": RATING_LABELS, "label": LABEL_NAMES, "audience": ALL_AUDIENCE_NAMES}


def local(value: str | None, tz: tzinfo, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A stored ISO time in the configured zone (naive values are UTC); "—" when absent."""
    return local_minute(value, tz, fmt) if value else "—"


def hours(value: float | None) -> str:
    """An age in hours as people say it: 5 小时, 3 天."""
    if value is None:
        return "—"
    return f"{value:.0f} 小时" if value < 48 else f"{value / 24:.0f} 天"


def who(name: str | None) -> str:
    return SYSTEM_NAME if name == "system" else (name or "—")


def marked(text: str | None, terms: Iterable[Sequence[Any]] = ()) -> list[dict[str, Any]]:
    """`text` as parts [{"t": str, "hit": bool}] with every occurrence of each term marked (terms:
    [term, start, end] as rule hits store them, or [term]); the template escapes every part."""
    text = text or ""
    spans: list[tuple[int, int]] = []
    for entry in terms:
        term = str(entry[0]) if entry else ""
        if not term:
            continue
        start = entry[1] if len(entry) > 2 else None
        end = entry[2] if len(entry) > 2 else None
        if isinstance(start, int) and isinstance(end, int) and 0 <= start < end <= len(text) \
                and text[start:end] == term:
            spans.append((start, end))
        lowered, needle = text.lower(), term.lower()
        at = lowered.find(needle)
        while at >= 0:
            spans.append((at, at + len(term)))
            at = lowered.find(needle, at + len(term))
    parts: list[dict[str, Any]] = []
    pos = 0
    for start, end in _merged(spans):
        if start > pos:
            parts.append({"t": text[pos:start], "hit": False})
        parts.append({"t": text[start:end], "hit": True})
        pos = end
    if pos < len(text):
        parts.append({"t": text[pos:], "hit": False})
    return parts


def _merged(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(end, out[-1][1]))
        else:
            out.append((start, end))
    return out


# --- the triage library's messages in Chinese ---------------------------------------------------------

_PATTERNS: tuple[tuple[re.Pattern[str], Any], ...] = (
    (re.compile(r"cannot (\w+) (\S+): it is (\w+).*"),
     lambda m: f"无法{ACTION_NAMES.get(m[1], m[1])} {_ref(m[2])}：当前状态为「{STATE_NAMES.get(m[3], m[3])}」"
               + ("，请先重新打开" if m[3] in ("resolved", "ignored") and m[1] != "reopen" else "")),
    (re.compile(r"(\S+) is already assigned to (.+)"), lambda m: f"{_ref(m[1])} 已指派给 {m[2]}"),
    (re.compile(r"ignore needs a note.*"), lambda m: "忽略需要填写原因"),
    (re.compile(r"note needs a text"), lambda m: "请填写备注内容"),
    (re.compile(r"assign needs a person"), lambda m: "请选择指派给谁"),
    (re.compile(r"give at least one id"), lambda m: "请至少选择一项"),
    (re.compile(r"no active user '(.+)' to assign to.*"), lambda m: f"没有可指派的用户 {m[1]}"),
    (re.compile(r"unknown action '(.+)'.*"), lambda m: f"未知操作 {m[1]}"),
    (re.compile(r"no incident or document with id '?([^' ]+)'?.*"), lambda m: f"找不到 {m[1]}"),
    (re.compile(r"no incident or document '?([^' ]+)'?.*"), lambda m: f"找不到 {m[1]}"),
)


def _ref(key: str) -> str:
    kind, _, ident = key.partition(":")
    return {"incident": "事件 ", "document": "评价 "}.get(kind, "") + (ident or key)


def history_note(action: str, note: str | None) -> str | None:
    """The triage history's notes in Chinese where the library wrote them (assignments)."""
    if action == "assign" and note:
        found = re.fullmatch(r"assigned to (.+?)(?: \(was (.+)\))?", note)
        if found:
            return f"指派给 {found[1]}" + (f"（原为 {found[2]}）" if found[2] else "")
    return note


def translate(message: str) -> str:
    """A TriageError message in Chinese (the original when no pattern knows it)."""
    head = re.match(r"nothing changed \((\d+) of (\d+) refused\): (.*)", message)
    if head:
        parts = [translate(p) for p in head[3].split("; ")]
        return f"未做任何更改（{head[2]} 项中 {head[1]} 项被拒绝）：" + "；".join(parts)
    for pattern, say in _PATTERNS:
        found = pattern.fullmatch(message.strip())
        if found:
            return str(say(found))
    return message


__all__ = ["ACTION_NAMES", "HISTORY_NAMES", "LABEL_NAMES", "category_name", "local", "hours", "who", "marked",
           "translate", "history_note", "names", "KIND_NAMES", "RATING_LABELS", "SEVERITY_NAMES", "STATE_NAMES"]
