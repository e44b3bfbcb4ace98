"""What runs inside an analysis worker process of `sentiment ingest --jobs N`.

Kept apart from `analysis_pool` so that a worker imports only the analysis path
(jieba, the model, the rules): not sqlite_utils, numpy or the ingestion code,
about 40 MB less in each worker (nor pkg_resources: `sentiment.lang.segment` keeps
jieba from importing it).
"""
from __future__ import annotations

import os
from typing import Any

from sentiment.config import Settings
from sentiment.errors import SentimentError

# fields of a stored document that analysis reads
DOC_FIELDS = ("id", "text", "kind", "rating", "item_id", "sku", "created_at")

_pipeline: Any = None  # this worker's Pipeline
_load_error: SentimentError | None = None


def start_worker(settings: Settings) -> None:
    """Process initializer: load the model, jieba and the rules once."""
    global _pipeline, _load_error
    # A model with an encoder runs NumPy matrix products here: one BLAS thread per worker, as
    # the workers already share the cores (3,431 rows on 2 cores, --jobs 2: 14.4 s instead of
    # 21.2 s with OpenBLAS's default of a thread per core in each). Set before NumPy loads.
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(name, "1")
    from sentiment.pipeline.analysis import Pipeline

    try:
        _pipeline = Pipeline.from_settings(settings)
        _pipeline.segmenter.load()
    except SentimentError as exc:  # reported by the first task, as an Error: in the main process
        _load_error = exc
    except Exception as exc:  # a bug: still no traceback from a worker
        _load_error = SentimentError(f"the analysis worker could not start: {type(exc).__name__}: {exc}")


def versions() -> tuple[str | None, dict[str, str]]:
    """The rules version and per-rule digests this worker matches with."""
    if _load_error is not None:
        raise _load_error
    return _pipeline.rules_version, _pipeline.rule_digests


def analyze_chunk(docs: list[tuple[Any, ...]], now: str) -> tuple[list[dict], list[dict]]:
    """The `analyses` and `rule_hits` rows of stored documents (DOC_FIELDS tuples)."""
    if _load_error is not None:
        raise _load_error
    return _pipeline.analysis_rows((dict(zip(DOC_FIELDS, values)) for values in docs), now)
