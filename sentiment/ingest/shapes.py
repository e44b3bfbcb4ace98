"""The registry of source shapes: how a parsed JSON document is recognised and mapped."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from sentiment.ingest.records import ParsedStream


@dataclass(frozen=True)
class JsonShape:
    """One JSON source shape.

    `detect(doc)` says whether a parsed document (dict or list; every JSON
    number arrives as a str because files are parsed with parse_int=str and
    parse_float=str) has this shape. `parse(doc, where)` yields RawRecord or
    BadRow objects; `where` prefixes row locators (e.g. "line 3: ").
    """

    name: str
    source: str
    detect: Callable[[Any], bool]
    parse: Callable[[Any, str], ParsedStream]


def json_shapes() -> list[JsonShape]:
    """All JSON shapes, most specific first (canonical JSONL last)."""
    from sentiment.ingest import canonical, qianniu, taobao, tmall, top, wdj

    return [
        *tmall.SHAPES,
        *taobao.SHAPES,
        *top.SHAPES,
        *qianniu.SHAPES,
        *wdj.SHAPES,
        *canonical.SHAPES,
    ]


def shape_by_name(name: str) -> JsonShape | None:
    return next((s for s in json_shapes() if s.name == name), None)


def detect_shape(doc: Any) -> JsonShape | None:
    return next((s for s in json_shapes() if s.detect(doc)), None)
