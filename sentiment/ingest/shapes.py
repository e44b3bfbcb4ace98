"""The registry of source shapes: how a parsed JSON document is recognised and mapped."""
from __future__ import annotations

from typing import Any

from sentiment.ingest import canonical, qianniu, taobao, tmall, top, wdj
from sentiment.ingest.records import JsonShape

__all__ = ["JsonShape", "json_shapes", "shape_by_name", "detect_shape"]


def json_shapes() -> list[JsonShape]:
    """All JSON shapes, most specific first (canonical JSONL last)."""
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
