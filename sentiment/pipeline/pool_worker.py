"""What runs inside an analysis worker process of `sentiment ingest --jobs N`.

Kept apart from `analysis_pool` so that a worker imports only the analysis path
(jieba, the model, the rules): not sqlite_utils, numpy or the ingestion code,
about 40 MB less in each worker (nor pkg_resources: `sentiment.lang.segment` keeps
jieba from importing it).
"""
from __future__ import annotations

import os
import signal
import sys
import threading
import time
from typing import Any

from sentiment.config import Settings
from sentiment.errors import SentimentError

# fields of a stored document that analysis reads
DOC_FIELDS = ("id", "text", "kind", "rating", "item_id", "sku", "created_at")

_pipeline: Any = None  # this worker's Pipeline
_load_error: SentimentError | None = None

WATCH_SECONDS = 0.5  # how often a worker checks that its parent is alive
_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def start_worker(settings: Settings, parent: int | None = None) -> None:
    """Process initializer: end with `parent` (the pool's process id), then load the model,
    jieba and the rules once."""
    global _pipeline, _load_error
    if parent is not None:
        follow_parent(parent)
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


def follow_parent(parent: int) -> None:
    """End this process when `parent` dies, however it dies: after a `kill -9` of `sentiment
    ingest` or of the worker, a worker would otherwise wait on its task queue for ever, holding
    its model and dictionary (~130 MB), since the queue's other end is held by itself too.

    On Linux the kernel kills it at once (PR_SET_PDEATHSIG; the signal comes when the thread
    that started the process ends, so a pool is started and used in one thread). Everywhere,
    a daemon thread checks every WATCH_SECONDS that `parent` is still the parent: an orphan
    is re-parented to init or a subreaper. Checked once right away too, for a parent that died
    before the death signal was armed.
    """
    _arm_death_signal()
    if os.getppid() != parent:
        os._exit(1)
    threading.Thread(target=_watch_parent, args=(parent,), name="sentiment-watch-parent", daemon=True).start()


def _arm_death_signal() -> None:
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    except (OSError, AttributeError):  # no prctl here: the watch thread alone
        pass


def _watch_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(WATCH_SECONDS)
    os._exit(1)  # no cleanup to do: a worker writes nothing, its parent is gone


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
