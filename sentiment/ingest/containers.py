"""Reading files: encoding detection, CSV/TSV/XLSX tables, JSON/JSONL/JSONP documents."""
from __future__ import annotations

import codecs
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

from sentiment.errors import IngestError
from sentiment.ingest import limits
from sentiment.ingest.limits import _mb
from sentiment.ingest.encodings import SAMPLE_BYTES, sniff_encoding
from sentiment.ingest.csvfile import _csv_rows
from sentiment.ingest.xlsx import _xlsx_rows, check_workbook
from sentiment.ingest.jsonfile import _CALLBACK, _FRAGMENT, _json_docs

CONTAINERS = ("csv", "tsv", "xlsx", "json", "jsonl", "jsonp")


@dataclass
class Table:
    container: str
    encoding: str | None
    rows: Iterator[tuple[int, list[Any]]]   # (1-based line or row number, cells)


@dataclass
class JsonDocs:
    container: str
    encoding: str | None
    docs: Iterator[tuple[str, Any]]         # (locator prefix, parsed document)


def _kind_from_content(head: str) -> str:
    stripped = head.lstrip()
    if stripped.startswith(("{", "[")):
        return "json"
    if _CALLBACK.match(stripped):
        return "jsonp"
    if _FRAGMENT.match(stripped):
        return "json"
    first = stripped.split("\n", 1)[0]
    return "tsv" if first.count("\t") > first.count(",") else "csv"


def detect_container(path: Path, head_bytes: bytes, forced: str | None = None) -> str:
    if forced in CONTAINERS:
        return forced
    if head_bytes.startswith(b"PK\x03\x04"):
        return "xlsx"
    if head_bytes.startswith(b"\xd0\xcf\x11\xe0"):
        raise IngestError(f"{path}: legacy .xls workbook: save it as .xlsx or CSV first")
    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        raise IngestError(f"{path}: not a valid .xlsx workbook")
    encoding = sniff_encoding(head_bytes, path)
    head = head_bytes.decode(encoding, errors="replace")
    content = _kind_from_content(head)
    if suffix == ".tsv" and content in ("csv", "tsv"):
        return "tsv"
    if suffix == ".jsonl" and content == "json":
        return "jsonl"
    return content


def open_container(path: Path, forced: str | None = None,
                   header_ok: Callable[[list[Any]], bool] | None = None) -> Table | JsonDocs:
    """Open a file as a table or as JSON documents. Raises IngestError for unreadable files."""
    try:
        size = path.stat().st_size
        with path.open("rb") as fh:
            head = fh.read(SAMPLE_BYTES)
    except OSError as exc:
        raise IngestError(f"{path}: cannot read: {exc.strerror}") from None
    if size > limits.MAX_FILE_BYTES:
        raise IngestError(f"{path}: {_mb(size)} is more than the {_mb(limits.MAX_FILE_BYTES)} limit for one file: "
                          "split the export")
    if not head.strip().strip(codecs.BOM_UTF8).strip():
        raise IngestError(f"{path}: empty file")
    container = detect_container(path, head, forced)
    if container == "xlsx":
        check_workbook(path)
        return Table("xlsx", None, _xlsx_rows(path, header_ok))
    encoding = sniff_encoding(head, path)
    if container in ("csv", "tsv"):
        return Table(container, encoding, _csv_rows(path, encoding, "\t" if container == "tsv" else ","))
    text = _read_text(path, encoding)
    return JsonDocs(container, encoding, _json_docs(path, text, container))


def _read_text(path: Path, encoding: str) -> str:
    return path.read_text(encoding=encoding, errors="replace")
