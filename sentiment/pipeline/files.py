"""Ingest files into the store: one file = one transaction = one `batches` row."""
from __future__ import annotations

import logging
import sqlite3
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import sqlite_utils

from sentiment import store
from sentiment.config import Settings
from sentiment.errors import ConfigError, IngestError, ModelError, RowError, RuleError, StoreError
from sentiment.ingest.limits import shorten
from sentiment.ingest.normalize import Context, doc_id, to_documents
from sentiment.ingest.normalize import SOURCE_TZ
from sentiment.ingest.reader import expand_paths, file_digest, open_records
from sentiment.ingest.records import BadRow, Parsed

log = logging.getLogger(__name__)

CHUNK = 2000

# Called inside the file's transaction with the documents that were new.
Analyzer = Callable[[sqlite_utils.Database, list[dict[str, Any]]], None]


class IngestStopped(BaseException):
    """A stop was requested (the worker got SIGTERM) while a file was being ingested.

    Raised between chunks when `ingest_file(..., should_stop=...)` says so: the file's
    transaction is rolled back, nothing is recorded (not even a failed batch), and the
    caller leaves the file where it is to ingest it whole next time. A BaseException, like
    KeyboardInterrupt, so that no `except Exception` turns a stop into a failed file."""


class AsyncAnalyzer:
    """An analyzer that may still be working on documents when its call returns.

    `drain` writes everything it was given, inside the file's transaction, before
    the file is finished; `discard` forgets it when the file is rolled back.
    """

    def __call__(self, db: sqlite_utils.Database, docs: list[dict[str, Any]]) -> None:
        raise NotImplementedError

    def drain(self, db: sqlite_utils.Database) -> None:
        """Write the rows of every document handed over so far."""

    def discard(self) -> None:
        """Forget documents handed over and not yet written."""


@dataclass(frozen=True)
class IngestOptions:
    """How files are read and what they are stamped with: one builder serves the CLI and the inbox."""

    shop: str | None = None
    aliases: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    forced: str | None = None


def ingest_options(settings: Settings, *, shop: str | None = None, forced: str | None = None) -> IngestOptions:
    """The options of `sentiment ingest` and of the worker's inbox: `[ingest]` settings, a flag wins."""
    return IngestOptions(shop=shop or settings.ingest.shop, aliases=settings.ingest.aliases, forced=forced)


@dataclass
class FileResult:
    path: str
    format: str | None = None
    shape: str | None = None
    read: int = 0
    new: int = 0
    duplicates: int = 0
    quarantined: int = 0
    placeholders: int = 0
    error: str | None = None
    batch_id: int | None = None

    def to_json(self) -> dict[str, Any]:
        """The documented per-file keys of `ingest --json` (batch_id stays internal)."""
        data = asdict(self)
        data.pop("batch_id")
        return data


class _FileIngest:
    """State of one file's ingestion inside its transaction."""

    def __init__(self, db: sqlite_utils.Database, path: Path, sha: str, ctx: Context,
                 analyzer: Analyzer | None, should_stop: Callable[[], bool] | None = None,
                 progress: Callable[[int], None] | None = None) -> None:
        self.db, self.path, self.sha, self.ctx, self.analyzer = db, path, sha, ctx, analyzer
        self.progress = progress
        self.result = FileResult(path=str(path), batch_id=ctx.batch_id)
        self.pending: list[dict[str, Any]] = []
        self.newest: str | None = None  # the newest own date in the file (back-fill or fresh news?)
        self.should_stop, self.items = should_stop, 0

    def check_stop(self) -> None:
        """Between chunks: abandon the file if a stop was requested (see IngestStopped)."""
        if self.should_stop is not None and self.should_stop():
            if isinstance(self.analyzer, AsyncAnalyzer):
                self.analyzer.discard()
            raise IngestStopped(f"{self.path}: stopped after {self.result.read} rows; rolled back")

    def quarantine(self, row: str, reason: str, raw: Any) -> None:
        self.result.read += 1
        self.result.quarantined += 1
        store.quarantine_row(self.db, key=doc_id(self.sha, row, reason), batch_id=self.ctx.batch_id or 0,
                             path=str(self.path), row=row, reason=reason, raw=raw)

    def add(self, item: Parsed) -> None:
        self.items += 1
        if self.items % CHUNK == 0:  # rows that only quarantine never flush
            self.check_stop()
        if isinstance(item, BadRow):
            self.quarantine(item.row, item.reason, item.raw)
            return
        try:
            docs, failed = to_documents(item, self.ctx)
        except RowError as exc:
            self.quarantine(item.row, str(exc), item.raw)
            return
        for child, reason in failed:
            self.quarantine(child.row, reason, child.raw if child.raw is not None else child.text)
        self.result.read += len(docs)
        self.result.placeholders += sum(d["is_placeholder"] for d in docs)
        self.pending.extend(docs)
        if len(self.pending) >= CHUNK:
            self.flush()

    def flush(self) -> None:
        self.check_stop()
        if not self.pending:
            return
        untitled = [d for d in self.pending if d["item_id"] and not d["item_title"]]
        if untitled:
            titles = store.item_titles(self.db, (d["item_id"] for d in untitled))
            for doc in untitled:
                doc["item_title"] = titles.get(doc["item_id"])
        dated = [d["created_at"] for d in self.pending if d["created_at"] and d["date_precision"] != "first_seen"]
        self.newest = max([*dated, *([self.newest] if self.newest else [])], default=None)
        fresh = store.insert_documents(self.db, self.pending)
        self.result.new += len(fresh)
        self.result.duplicates += len(self.pending) - len(fresh)
        if self.analyzer and fresh:
            self.analyzer(self.db, fresh)
        if self.progress is not None:
            self.progress(len(self.pending))
        self.pending = []


def ingest_file(db: sqlite_utils.Database, path: Path, options: IngestOptions = IngestOptions(), *,
                analyzer: Analyzer | None = None, should_stop: Callable[[], bool] | None = None,
                progress: Callable[[int], None] | None = None) -> FileResult:
    """Ingest one file in one transaction. A file-level problem rolls everything back.

    progress, if given, is called after each chunk with the number of documents read in it.

    Whatever reading the file raises (an IngestError, or RecursionError, MemoryError, csv.Error,
    a KeyError from a malformed workbook...) fails this file alone, with a short message.
    """
    try:
        sha, size = file_digest(path)
    except IngestError as exc:
        return FileResult(path=str(path), error=str(exc))
    try:
        with store.transaction(db):
            batch_id = store.start_batch(db, str(path), sha, size)
            ctx = Context(tz=SOURCE_TZ, batch_id=batch_id, ingested_at=store.utcnow(), shop=options.shop)
            work = _FileIngest(db, path, sha, ctx, analyzer, should_stop, progress)  # a stop: IngestStopped, rolled back
            reading, records = open_records(path, options.forced, options.aliases)
            work.result.format = reading.container
            for item in records:
                work.add(item)
            work.flush()
            work.result.shape = reading.shape
            if isinstance(analyzer, AsyncAnalyzer):
                analyzer.drain(db)
            result = work.result
            store.finish_batch(db, batch_id, status="ok", format=result.format, shape=result.shape,
                               newest_at=work.newest,
                               read=result.read, new=result.new, duplicates=result.duplicates,
                               quarantined=result.quarantined, placeholders=result.placeholders)
            return result
    except IngestError as exc:
        if isinstance(analyzer, AsyncAnalyzer):
            analyzer.discard()
        message = str(exc) if str(exc).startswith(str(path)) else f"{path}: {exc}"
        return _failed(db, path, sha, size, shorten(message))
    except (sqlite3.Error, StoreError, ModelError, RuleError, ConfigError):
        raise  # the store or the analysis failed, not this file: stop the run with that error
    except Exception as exc:  # anything else raised while reading this file fails this file only
        if isinstance(analyzer, AsyncAnalyzer):
            analyzer.discard()
        log.debug("cannot read %s", path, exc_info=True)
        detail = shorten(str(exc), 120)
        return _failed(db, path, sha, size, shorten(f"{path}: cannot read: {type(exc).__name__}: {detail}"))


def _failed(db: sqlite_utils.Database, path: Path, sha: str, size: int, message: str) -> FileResult:
    with store.transaction(db):
        batch_id = store.start_batch(db, str(path), sha, size)
        store.finish_batch(db, batch_id, status="error", error=message)
    log.info("ingest failed: %s", message)
    return FileResult(path=str(path), error=message, batch_id=batch_id)


def ingest_paths(db: sqlite_utils.Database, paths: Sequence[Path], options: IngestOptions = IngestOptions(), *,
                 analyzer: Analyzer | None = None, progress: Callable[[int], None] | None = None,
                 ) -> list[FileResult]:
    """Ingest every file (directories walked); failures are reported per file, others still land.
    progress: see `ingest_file`."""
    return [ingest_file(db, path, options, analyzer=analyzer, progress=progress) for path in expand_paths(paths)]


def totals(results: Sequence[FileResult]) -> dict[str, int]:
    keys = ("read", "new", "duplicates", "quarantined", "placeholders")
    summary = {k: sum(getattr(r, k) for r in results) for k in keys}
    summary["files"] = len(results)
    summary["failed"] = sum(1 for r in results if r.error)
    return summary
