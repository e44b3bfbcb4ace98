"""Stored token spans: orjson's text must be the standard library's compact JSON, byte for byte."""
import json

import pytest

from sentiment.lang.jsontext import compact


def stdlib(value):
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


@pytest.mark.parametrize("spans", [
    [],
    [("质量", 0, 2), ("太差", 2, 4), ("了", 4, 5)],
    [('说"好"', 0, 4), ("a\\b", 4, 7), ("\t\x01", 7, 9)],    # quotes, backslash, control characters
    [("👍🏻", 0, 2), ("😡", 2, 3), ("\u2028", 3, 4), ("ｆｕｌｌ", 4, 8)],  # emoji, line separator, wide
])
def test_compact_is_the_standard_librarys_text(spans):
    assert compact(spans) == stdlib(spans)
    assert [tuple(t) for t in json.loads(compact(spans))] == spans


def test_lone_surrogate_falls_back_to_the_standard_library():
    spans = [("\ud800好", 0, 2)]
    assert compact(spans) == stdlib(spans)
