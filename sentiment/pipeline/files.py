"""Ingest files into the store: one file = one transaction = one `batches` row."""
from __future__ import annotations

import hashlib
import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

import sqlite_utils

from sentiment import store
from sentiment.errors import IngestError, RowError
from sentiment.ingest import containers, shapes, tabular
from sentiment.ingest.normalize import Context, doc_id, to_documents
from sentiment.ingest.records import BadRow, Parsed

log = logging.getLogger(__name__)

CHUNK = 2000
EXPORT_SUFFIXES = {".csv", ".tsv", ".txt", ".xlsx", ".xlsm", ".xls", ".json", ".jsonl", ".jsonp", ".js"}
TABLE_SHAPES = ("review-table", "wdj-table", "legacy-tsv")

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


def format_names() -> list[str]:
    """Values accepted by --format: containers and shape names."""
    return [*containers.CONTAINERS, *TABLE_SHAPES, *(s.name for s in shapes.json_shapes())]


def expand_paths(paths: Iterable[Path]) -> Iterator[Path]:
    """Files as given; directories walked for export files (hidden and .part files skipped)."""
    for path in paths:
        if path.is_dir():
            for child in sorted(p for p in path.rglob("*") if p.is_file()):
                rel = child.relative_to(path).parts
                if any(part.startswith(".") for part in rel) or child.suffix == ".part":
                    continue
                if child.suffix.lower() in EXPORT_SUFFIXES and not child.name.endswith(".error.txt"):
                    yield child
        else:
            yield path


def file_digest(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    try:
        with path.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
                size += len(block)
    except FileNotFoundError:
        raise IngestError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise IngestError(f"{path}: is a directory") from None
    except OSError as exc:
        raise IngestError(f"{path}: cannot read: {exc.strerror}") from None
    return digest.hexdigest(), size


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


def _records(path: Path, opened: containers.Table | containers.JsonDocs, forced: str | None,
             index: tabular.AliasIndex, result: FileResult) -> Iterator[Parsed]:
    if isinstance(opened, containers.Table):
        table_forced = forced if forced in TABLE_SHAPES else None
        result.shape, stream = tabular.parse_table(opened.rows, index, table_forced,
                                                   fixed_width=opened.container != "xlsx")
        yield from stream
        return
    yield from _json_records(opened, forced, result)


def _json_records(opened: containers.JsonDocs, forced: str | None, result: FileResult) -> Iterator[Parsed]:
    forced_shape = shapes.shape_by_name(forced) if forced else None
    seen: list[str] = []
    for where, doc in opened.docs:
        if isinstance(doc, containers.JsonLineError):
            yield BadRow(where.rstrip(": "), doc.reason, doc.raw)
            continue
        found = _shape_docs(doc, forced_shape, where)
        if not found:
            if where:  # a JSON-lines line nobody recognises: quarantine it, keep the rest
                yield BadRow(where.rstrip(": "), "unrecognized JSON object", doc)
                continue
            raise IngestError("unrecognized JSON: not a known review or Q&A export shape")
        for shape, part, part_where in found:
            if shape.name not in seen:
                seen.append(shape.name)
            yield from shape.parse(part, part_where)
    if not seen:
        raise IngestError("no recognizable review or Q&A records in this JSON")
    result.shape = seen[0] if len(seen) == 1 else "mixed:" + ",".join(seen)


def _shape_docs(doc: Any, forced: shapes.JsonShape | None, where: str,
                ) -> list[tuple[shapes.JsonShape, Any, str]]:
    """The shape(s) of a document: itself, each element of a list of pages, or a single record
    (a JSON-lines file of bare rate objects) read as a one-element list."""
    def find(value: Any) -> shapes.JsonShape | None:
        if forced is not None:
            return forced if forced.detect(value) else None
        return shapes.detect_shape(value)

    shape = find(doc)
    if shape:
        return [(shape, doc, where)]
    if isinstance(doc, list):
        parts = []
        for i, element in enumerate(doc):
            sub = find(element)
            if sub:
                parts.append((sub, element, f"{where}[{i}]."))
        return parts
    if isinstance(doc, dict):
        single = find([doc])
        if single:
            return [(single, [doc], where.rstrip(": ") + " " if where else "")]
    return []


def ingest_file(db: sqlite_utils.Database, path: Path, ctx_base: Context, *, forced: str | None = None,
                aliases: Mapping[str, Any] | None = None, analyzer: Analyzer | None = None) -> FileResult:
    """Ingest one file in one transaction. A file-level problem rolls everything back."""
    try:
        sha, size = file_digest(path)
    except IngestError as exc:
        return FileResult(path=str(path), error=str(exc))
    index = tabular.build_alias_index(aliases)
    try:
        with store.transaction(db):
            batch_id = store.start_batch(db, str(path), sha, size)
            ctx = Context(tz=ctx_base.tz, batch_id=batch_id, ingested_at=store.utcnow(), shop=ctx_base.shop)
            work = _FileIngest(db, path, sha, ctx, analyzer)
            opened = containers.open_container(path, forced if forced in containers.CONTAINERS else None,
                                               header_ok=lambda cells: tabular.is_header(cells, index))
            work.result.format = opened.container
            for item in _records(path, opened, forced, index, work.result):
                work.add(item)
            work.flush()
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


def ingest_paths(db: sqlite_utils.Database, paths: Sequence[Path], ctx: Context, **kwargs: Any,
                 ) -> list[FileResult]:
    """Ingest every file (directories walked); failures are reported per file, others still land."""
    return [ingest_file(db, path, ctx, **kwargs) for path in expand_paths(paths)]


def totals(results: Sequence[FileResult]) -> dict[str, int]:
    keys = ("read", "new", "duplicates", "quarantined", "placeholders")
    summary = {k: sum(getattr(r, k) for r in results) for k in keys}
    summary["files"] = len(results)
    summary["failed"] = sum(1 for r in results if r.error)
    return summary
