"""Reading a file: its bytes -> canonical records or bad rows. No store access.

`open_records` recognises the container and the shape and yields what the file holds;
`sentiment.pipeline.files` stores it, one file in one transaction.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping

from sentiment.errors import IngestError
from sentiment.ingest import containers, shapes, tabular
from sentiment.ingest.jsonfile import JsonLineError
from sentiment.ingest.records import BadRow, Parsed

EXPORT_SUFFIXES = {".csv", ".tsv", ".txt", ".xlsx", ".xlsm", ".xls", ".json", ".jsonl", ".jsonp", ".js"}
TABLE_SHAPES = ("review-table", "wdj-table", "legacy-tsv")


@dataclass
class Reading:
    """What was recognised in a file: its container and its shape (set while reading)."""

    container: str | None = None
    shape: str | None = None


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
    """sha256 and size of a file, read in blocks."""
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


def open_records(path: Path, forced: str | None, aliases: Mapping[str, Any] | None,
                 ) -> tuple[Reading, Iterator[Parsed]]:
    """Open a file and return what was recognised and its records (raises IngestError)."""
    index = tabular.build_alias_index(aliases)
    opened = containers.open_container(path, forced if forced in containers.CONTAINERS else None,
                                       header_ok=lambda cells: tabular.is_header(cells, index))
    reading = Reading(container=opened.container)
    return reading, _records(opened, forced, index, reading)


def _records(opened: containers.Table | containers.JsonDocs, forced: str | None,
             index: tabular.AliasIndex, reading: Reading) -> Iterator[Parsed]:
    if isinstance(opened, containers.Table):
        table_forced = forced if forced in TABLE_SHAPES else None
        reading.shape, stream = tabular.parse_table(opened.rows, index, table_forced,
                                                    fixed_width=opened.container != "xlsx")
        yield from stream
        return
    yield from _json_records(opened, forced, reading)


def _json_records(opened: containers.JsonDocs, forced: str | None, reading: Reading) -> Iterator[Parsed]:
    forced_shape = shapes.shape_by_name(forced) if forced else None
    seen: list[str] = []
    for where, doc in opened.docs:
        if isinstance(doc, JsonLineError):
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
    reading.shape = seen[0] if len(seen) == 1 else "mixed:" + ",".join(seen)


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
