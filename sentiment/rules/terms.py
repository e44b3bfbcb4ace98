"""The segmenter analysis uses: jieba with the user dictionary plus the bundled rule pack's terms.

It lives with the rules because the rule pack decides its extra words; the model trains and
scores with it, the pipeline segments with it.
"""
from __future__ import annotations

from functools import lru_cache

from sentiment.lang.segment import Segmenter, get_segmenter
from sentiment.rules.loader import bundled_ruleset


@lru_cache(maxsize=1)
def bundled_terms() -> tuple[str, ...]:
    """The bundled rule pack's terms, for the jieba user dictionary."""
    return tuple(sorted(bundled_ruleset().terms()))


def analysis_segmenter() -> Segmenter:
    """The one segmenter that models are trained with and that analysis scores and matches
    with: the user dictionary plus the bundled rule pack's terms. Only the bundled terms,
    so that rules added or edited later never change segmentation (a rules-only rescan
    matches what a fresh ingest stores); one segmenter, so that a model scores the words
    it was trained on."""
    return get_segmenter(bundled_terms())
