"""sentiment: review and public-sentiment monitoring for Tmall brands.

>>> from sentiment import analyze
>>> analyze("质量太差了，用了两天就坏了").label
'negative'
"""
from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from sentiment.pipeline.analysis import Analysis, Pipeline

__all__ = ["analyze", "__version__"]


@lru_cache(maxsize=1)
def _default_pipeline() -> "Pipeline":
    from sentiment.config import load_settings
    from sentiment.pipeline.analysis import Pipeline

    return Pipeline.from_settings(load_settings())


def analyze(text: str, **fields: Any) -> "Analysis":
    """Score one review text: `.score` (p(positive)), `.label`, `.tokens`, `.hits`.

    Uses the configuration found as the CLI would (./sentiment.toml, SENTIMENT_*
    env), loaded once per process. Optional fields: kind, rating, item_id, sku.
    """
    return _default_pipeline().analyze(text, **fields)
