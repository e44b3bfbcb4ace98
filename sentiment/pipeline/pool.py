"""Analysis in worker processes during ingest, pipelined with parsing and storing.

`sentiment ingest --jobs N` (N >= 1) starts N processes that each load the
model, jieba and the rules once, then segment, score and match the chunks of
new documents the main process sends them. The main process goes on parsing
and storing the next chunk meanwhile, and writes each chunk's `analyses` and
`rule_hits` rows when they come back, inside the same per-file transaction as
before: a file still lands whole or not at all, and the rows are those
`writer.in_process` writes in-process (the same `Pipeline.rows`).

Workers are started with "spawn" (not fork), so this is safe in a process
that runs threads. The main process starts parsing while they load. A worker
that cannot load the model or the rules reports the same `Error:` the
in-process path gives, at the first chunk's write, so the first file's
transaction is rolled back and nothing is stored.

Workers end with the process that started them, even after a `kill -9` of it
(`pool_worker.follow_parent`: a death signal on Linux, a parent check elsewhere):
start and use a pool in one thread, as the Linux death signal comes when the
thread that started a worker ends.
"""
from __future__ import annotations

import multiprocessing
import os
from collections import deque
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import sqlite_utils

from sentiment import store
from sentiment.pipeline.pool_worker import DOC_FIELDS, analyze_chunk, start_worker, versions
from sentiment.config import Settings
from sentiment.errors import SentimentError
from sentiment.ingest.reader import expand_paths
from sentiment.pipeline.files import Analyzer, AsyncAnalyzer
from sentiment.pipeline.writer import write_analyses

IN_FLIGHT_PER_JOB = 2  # chunks queued per worker: enough to keep it busy, little memory

# below this much input a worker process's start-up (~1-2 s) is not paid back
AUTO_JOBS_MIN_BYTES = 2_000_000
# each analysis process holds its own model and dictionary (~150 MB)
AUTO_JOBS_MAX = 2


# a backlog of documents stored without analysis (ingest --no-analyze) this large is analyzed
# in processes by the worker's analyze job (about what 2 MB of export holds)
AUTO_JOBS_MIN_PENDING = 10_000


def _processes() -> int:
    """An analysis process per CPU, at most AUTO_JOBS_MAX; none on a single CPU."""
    cpus = os.cpu_count() or 1
    return 0 if cpus < 2 else min(cpus, AUTO_JOBS_MAX)


def auto_jobs(paths: Sequence[Path]) -> int:
    """Analysis processes when the machine has 2+ CPUs and the input is large; the ingest
    process, which parses and stores, is mostly idle beside them."""
    count = _processes()
    if not count:
        return 0
    size = 0
    for path in expand_paths(paths):
        try:
            size += path.stat().st_size
        except OSError:
            continue  # reported when the file is ingested
        if size >= AUTO_JOBS_MIN_BYTES:
            return count
    return 0


def backlog_jobs(pending: int) -> int:
    """Analysis processes for a backlog of `pending` unanalyzed documents (see auto_jobs)."""
    return _processes() if pending >= AUTO_JOBS_MIN_PENDING else 0


# what to do when an analysis process dies, as `sentiment ingest` says it
RERUN_IN_PROCESS = "rerun with --jobs 0 to analyze in this process"


@contextmanager
def open_analyzer(settings: Settings, paths: Sequence[Path], jobs: int | None,
                  in_process: Callable[[], Analyzer], died_hint: str = RERUN_IN_PROCESS) -> Iterator[Analyzer]:
    """The analyzer for ingesting `paths`: an `AnalysisPool` of `jobs` processes (None: `auto_jobs`),
    closed on exit, or `in_process()` for 0."""
    count = auto_jobs(paths) if jobs is None else jobs
    with analyzer_of(settings, count, in_process, died_hint) as analyzer:
        yield analyzer


@contextmanager
def analyzer_of(settings: Settings, jobs: int, in_process: Callable[[], Analyzer],
                died_hint: str = RERUN_IN_PROCESS) -> Iterator[Analyzer]:
    """An `AnalysisPool` of `jobs` processes, closed on exit, or `in_process()` for 0."""
    if not jobs:
        yield in_process()
        return
    with AnalysisPool(settings, jobs, died_hint) as pool:
        yield pool


class AnalysisProcessDied(SentimentError):
    """An analysis process ended without a result (killed, out of memory).

    `written`: documents whose analyses the pool had written in transactions that were
    committed before it died (set by `analyze_pending`; 0 elsewhere)."""

    written = 0


class AnalysisPool(AsyncAnalyzer):
    """Analyzer for `ingest_paths`: hands chunks to worker processes, writes what comes back."""

    def __init__(self, settings: Settings, jobs: int, died_hint: str = RERUN_IN_PROCESS) -> None:
        if jobs < 1:
            raise ValueError("jobs must be at least 1")
        self.jobs = jobs
        self.died_hint = died_hint  # the advice in the error when a process dies
        self._executor = ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn"),
                                             initializer=start_worker, initargs=(settings, os.getpid()))
        self._pending: deque[Future] = deque()
        self.written = 0  # documents whose analyses were written (committed or not: the caller knows)
        # asked now, waited for at the first write: the main process parses and stores the
        # first chunks while the workers start (an unusable model or rule pack fails there,
        # inside the first file's transaction, which then stores nothing)
        self._versions = self._executor.submit(versions)

    def __call__(self, db: sqlite_utils.Database, docs: Sequence[dict[str, Any]]) -> None:
        chunk = [tuple(doc.get(k) for k in DOC_FIELDS) for doc in docs]
        try:
            future = self._executor.submit(analyze_chunk, chunk, store.utcnow())
        except BrokenProcessPool:  # a process died since the last chunk, and the pool knows already
            raise self._died() from None
        self._pending.append(future)
        while self._pending and (self._pending[0].done() or len(self._pending) > self.jobs * IN_FLIGHT_PER_JOB):
            self._write(db, self._pending.popleft())

    def drain(self, db: sqlite_utils.Database) -> None:
        while self._pending:
            self._write(db, self._pending.popleft())

    def discard(self) -> None:
        for future in self._pending:
            future.cancel()
        self._pending.clear()

    def close(self) -> None:
        self.discard()
        self._executor.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> "AnalysisPool":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _write(self, db: sqlite_utils.Database, future: Future) -> None:
        rules_version, rule_digests = self._result(self._versions)  # done after the first write
        rows, hits = self._result(future)
        write_analyses(db, rows, hits, rules_version, rule_digests)
        self.written += len(rows)

    def _result(self, future: Future) -> Any:
        try:
            return future.result()
        except BrokenProcessPool:
            raise self._died() from None

    def _died(self) -> AnalysisProcessDied:
        return AnalysisProcessDied(f"an analysis worker process died (out of memory?); {self.died_hint}")
