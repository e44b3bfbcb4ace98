"""JSON, JSON lines and JSONP documents: linear unwrapping, nesting bounded."""
from __future__ import annotations

import io
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from sentiment.errors import IngestError
from sentiment.ingest import limits
from sentiment.ingest.limits import excerpt, shorten

# `callback(` of a JSONP body: anchored, linear (the payload itself is scanned with str methods)
_CALLBACK = re.compile(r"[A-Za-z_$][\w$.]{0,255}\s*\(")


_FRAGMENT = re.compile(r'^\s*"[A-Za-z_]\w*"\s*:')


def unwrap_jsonp(text: str) -> str:
    """`callback({...})` -> `{...}`; a bare `"rateDetail":{...}` fragment -> `{"rateDetail":{...}}`."""
    stripped = text.strip().lstrip("\ufeff")
    if stripped.startswith(("{", "[")):
        return stripped
    body = _jsonp_body(stripped)
    if body is not None:
        return body
    if _FRAGMENT.match(stripped):
        return "{" + stripped.rstrip(",;") + "}"
    return stripped


def _jsonp_body(text: str) -> str | None:
    """The argument of `callback(...)` (`/**/`-prefixed, `;`-terminated or not) in a stripped text,
    else None: a bounded match for the callback, str methods for the rest, so the time is linear
    in the size of the text whatever padding or garbage it holds."""
    head = text[4:].lstrip() if text.startswith("/**/") else text
    match = _CALLBACK.match(head)
    if match is None:
        return None
    tail = head.rstrip()
    if tail.endswith(";"):
        tail = tail[:-1].rstrip()
    if not tail.endswith(")") or len(tail) <= match.end():
        return None
    return tail[match.end():-1].strip()


def _starts_json(line: str) -> bool:
    """A JSON-lines line: an object or array, possibly in a JSONP wrapper (one response per line)."""
    return line.startswith(("{", "[")) or _jsonp_body(line) is not None


class TooDeep(ValueError):
    """A JSON value nested deeper than limits.MAX_JSON_DEPTH levels."""

    def __init__(self) -> None:
        super().__init__(f"too deeply nested (more than {limits.MAX_JSON_DEPTH} levels)")


def load_json(text: str, **options: Any) -> Any:
    """json.loads with the nesting bounded: TooDeep past limits.MAX_JSON_DEPTH levels, where the parser's
    recursion gives up (RecursionError) or any code walking the document later could."""
    try:
        doc = json.loads(text, **options)
    except RecursionError:
        raise TooDeep() from None
    if isinstance(doc, (dict, list)) and _deeper_than(doc, limits.MAX_JSON_DEPTH):
        raise TooDeep()
    return doc


def _deeper_than(doc: dict[str, Any] | list[Any], limit: int) -> bool:
    """Whether a parsed document nests more than `limit` levels (walked level by level, no recursion)."""
    level: list[Any] = [doc]
    depth = 1
    while level:
        if depth > limit:
            return True
        below: list[Any] = []
        for node in level:
            for child in node.values() if type(node) is dict else node:
                if type(child) is dict or type(child) is list:
                    below.append(child)
        level = below
        depth += 1
    return False


def _loads(text: str) -> Any:
    return load_json(text, parse_int=str, parse_float=str)


def _json_error(path: Path, exc: json.JSONDecodeError, where: str = "") -> IngestError:
    near_end = exc.pos >= len(exc.doc.rstrip()) - 1
    what = "truncated JSON" if near_end else "invalid JSON"
    return IngestError(f"{path}: {where}{what} at line {exc.lineno} column {exc.colno}: {shorten(exc.msg, 80)}")


def _first_lines(text: str, count: int) -> list[str]:
    """The first `count` non-empty lines, stripped (without splitting the whole text)."""
    found: list[str] = []
    for line in io.StringIO(text):
        if line.strip():
            found.append(line.strip())
            if len(found) == count:
                break
    return found


def _json_docs(path: Path, text: str, container: str) -> Iterator[tuple[str, Any]]:
    if container != "jsonl":
        try:
            yield "", _loads(unwrap_jsonp(text))
            return
        except TooDeep as exc:
            raise IngestError(f"{path}: JSON {exc}") from None
        except json.JSONDecodeError as exc:
            lines = _first_lines(text, 2)
            if len(lines) < 2 or not all(_starts_json(ln) for ln in lines):
                raise _json_error(path, exc) from None
    yield from _json_lines(path, io.StringIO(text))


def _json_lines(path: Path, lines: io.StringIO) -> Iterator[tuple[str, Any]]:
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        raw = line if len(line) <= limits.MAX_TEXT_CHARS else excerpt(line)
        try:
            yield f"line {number}: ", _loads(unwrap_jsonp(line))
        except json.JSONDecodeError as exc:
            yield f"line {number}: ", JsonLineError(f"invalid JSON: {shorten(exc.msg, 80)}", raw)
        except TooDeep as exc:
            yield f"line {number}: ", JsonLineError(f"JSON {exc}", raw)


@dataclass
class JsonLineError:
    """A JSON-lines line that does not parse: quarantined, the other lines still land."""

    reason: str
    raw: str
