"""Ingest files into the store: one file = one transaction = one `batches` row."""
from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import sqlite_utils

from sentiment import store
from sentiment.config import Settings
from sentiment.errors import IngestError, RowError
from sentiment.ingest.normalize import Context, doc_id, to_documents
from sentiment.ingest.normalize import SOURCE_TZ
from sentiment.ingest.reader import expand_paths, file_digest, open_records
from sentiment.ingest.records import BadRow, Parsed

log = logging.getLogger(__name__)

CHUNK = 2000

# Called inside the file's transaction with the documents that were new.
Analyzer = Callable[[sqlite_utils.Database, list[dict[str, Any]]], None]


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
                 analyzer: Analyzer | None) -> None:
        self.db, self.path, self.sha, self.ctx, self.analyzer = db, path, sha, ctx, analyzer
        self.result = FileResult(path=str(path), batch_id=ctx.batch_id)
        self.pending: list[dict[str, Any]] = []

    def quarantine(self, row: str, reason: str, raw: Any) -> None:
        self.result.read += 1
        self.result.quarantined += 1
        store.quarantine_row(self.db, key=doc_id(self.sha, row, reason), batch_id=self.ctx.batch_id or 0,
                             path=str(self.path), row=row, reason=reason, raw=raw)

    def add(self, item: Parsed) -> None:
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
        if not self.pending:
            return
        untitled = [d for d in self.pending if d["item_id"] and not d["item_title"]]
        if untitled:
            titles = store.item_titles(self.db, (d["item_id"] for d in untitled))
            for doc in untitled:
                doc["item_title"] = titles.get(doc["item_id"])
        fresh = store.insert_documents(self.db, self.pending)
        self.result.new += len(fresh)
        self.result.duplicates += len(self.pending) - len(fresh)
        if self.analyzer and fresh:
            self.analyzer(self.db, fresh)
        self.pending = []


def ingest_file(db: sqlite_utils.Database, path: Path, options: IngestOptions = IngestOptions(), *,
                analyzer: Analyzer | None = None) -> FileResult:
    """Ingest one file in one transaction. A file-level problem rolls everything back."""
    try:
        sha, size = file_digest(path)
    except IngestError as exc:
        return FileResult(path=str(path), error=str(exc))
    try:
        with store.transaction(db):
            batch_id = store.start_batch(db, str(path), sha, size)
            ctx = Context(tz=SOURCE_TZ, batch_id=batch_id, ingested_at=store.utcnow(), shop=options.shop)
            work = _FileIngest(db, path, sha, ctx, analyzer)
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
                               read=result.read, new=result.new, duplicates=result.duplicates,
                               quarantined=result.quarantined, placeholders=result.placeholders)
            return result
    except IngestError as exc:
        if isinstance(analyzer, AsyncAnalyzer):
            analyzer.discard()
        message = str(exc) if str(exc).startswith(str(path)) else f"{path}: {exc}"
        return _failed(db, path, sha, size, message)


def _failed(db: sqlite_utils.Database, path: Path, sha: str, size: int, message: str) -> FileResult:
    with store.transaction(db):
        batch_id = store.start_batch(db, str(path), sha, size)
        store.finish_batch(db, batch_id, status="error", error=message)
    log.info("ingest failed: %s", message)
    return FileResult(path=str(path), error=message, batch_id=batch_id)


def ingest_paths(db: sqlite_utils.Database, paths: Sequence[Path], options: IngestOptions = IngestOptions(), *,
                 analyzer: Analyzer | None = None) -> list[FileResult]:
    """Ingest every file (directories walked); failures are reported per file, others still land."""
    return [ingest_file(db, path, options, analyzer=analyzer) for path in expand_paths(paths)]


def totals(results: Sequence[FileResult]) -> dict[str, int]:
    keys = ("read", "new", "duplicates", "quarantined", "placeholders")
    summary = {k: sum(getattr(r, k) for r in results) for k in keys}
    summary["files"] = len(results)
    summary["failed"] = sum(1 for r in results if r.error)
    return summary
