"""Reading files: encoding detection, CSV/TSV/XLSX tables, JSON/JSONL/JSONP documents."""
from __future__ import annotations

import codecs
import csv
import io
import itertools
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

from sentiment.errors import IngestError

SAMPLE_BYTES = 256 * 1024
CONTAINERS = ("csv", "tsv", "xlsx", "json", "jsonl", "jsonp")
_JSONP = re.compile(r"^\s*(?:/\*\*/\s*)?[A-Za-z_$][\w$.]*\s*\(\s*(.*?)\s*\)\s*;?\s*$", re.S)
_FRAGMENT = re.compile(r'^\s*"[A-Za-z_]\w*"\s*:')

csv.field_size_limit(min(sys.maxsize, 2**31 - 1))


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


def sniff_encoding(sample: bytes, path: Path) -> str:
    """utf-8-sig, utf-8, gb18030 or what charset-normalizer finds; binary files are refused."""
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if b"\x00" in sample:
        raise IngestError(f"{path}: binary file (contains NUL bytes), not a text export")
    try:
        codecs.getincrementaldecoder("utf-8")().decode(sample, final=False)
        return "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        codecs.getincrementaldecoder("gb18030")().decode(sample, final=False)
        return "gb18030"
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    best = from_bytes(sample).best()
    if best is None:
        raise IngestError(f"{path}: cannot detect the text encoding (not UTF-8 or GB18030)")
    return best.encoding


def _kind_from_content(head: str) -> str:
    stripped = head.lstrip()
    if stripped.startswith(("{", "[")):
        return "json"
    if _JSONP.match(stripped[:200] + ")") and re.match(r"^[A-Za-z_$][\w$.]*\s*\(", stripped):
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
        with path.open("rb") as fh:
            head = fh.read(SAMPLE_BYTES)
    except OSError as exc:
        raise IngestError(f"{path}: cannot read: {exc.strerror}") from None
    if not head.strip().strip(codecs.BOM_UTF8).strip():
        raise IngestError(f"{path}: empty file")
    container = detect_container(path, head, forced)
    if container == "xlsx":
        return Table("xlsx", None, _xlsx_rows(path, header_ok))
    encoding = sniff_encoding(head, path)
    if container in ("csv", "tsv"):
        return Table(container, encoding, _csv_rows(path, encoding, "\t" if container == "tsv" else ","))
    text = _read_text(path, encoding)
    return JsonDocs(container, encoding, _json_docs(path, text, container))


def _read_text(path: Path, encoding: str) -> str:
    return path.read_text(encoding=encoding, errors="replace")


def _csv_rows(path: Path, encoding: str, delimiter: str) -> Iterator[tuple[int, list[Any]]]:
    with path.open("r", encoding=encoding, errors="replace", newline="") as fh:
        reader = csv.reader(fh, delimiter=delimiter)
        start = 1
        try:
            for cells in reader:
                yield start, cells
                start = reader.line_num + 1
        except csv.Error as exc:
            raise IngestError(f"{path}: line {reader.line_num}: malformed CSV: {exc}") from None


def _sheet_rows(sheet: Any) -> Iterator[tuple[int, list[Any]]]:
    for number, values in enumerate(sheet.iter_rows(values_only=True), start=1):
        cells = ["" if v is None else v for v in values]
        while cells and cells[-1] == "":
            cells.pop()
        yield number, cells


def _pick_sheet(book: Any, header_ok: Callable[[list[Any]], bool] | None) -> Any:
    """The first sheet with a recognizable header in its first rows (a summary sheet often comes
    first), else the first non-empty sheet."""
    sheets = [ws for ws in book.worksheets if ws.max_row and ws.max_row > 0]
    if header_ok is not None:
        for sheet in sheets:
            if any(header_ok(cells) for _, cells in itertools.islice(_sheet_rows(sheet), 10)):
                return sheet
    return sheets[0] if sheets else None


def _xlsx_rows(path: Path, header_ok: Callable[[list[Any]], bool] | None = None,
               ) -> Iterator[tuple[int, list[Any]]]:
    from openpyxl import load_workbook

    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many types for broken workbooks
        raise IngestError(f"{path}: not a readable .xlsx workbook ({type(exc).__name__})") from None
    try:
        sheet = _pick_sheet(book, header_ok)
        if sheet is None:
            raise IngestError(f"{path}: the workbook has no non-empty sheet")
        yield from _sheet_rows(sheet)
    finally:
        book.close()


def unwrap_jsonp(text: str) -> str:
    """`callback({...})` -> `{...}`; a bare `"rateDetail":{...}` fragment -> `{"rateDetail":{...}}`."""
    stripped = text.strip().lstrip("\ufeff")
    match = _JSONP.match(stripped)
    if match and not stripped.startswith(("{", "[")):
        return match.group(1)
    if _FRAGMENT.match(stripped):
        return "{" + stripped.rstrip(",;") + "}"
    return stripped


def _starts_json(line: str) -> bool:
    """A JSON-lines line: an object or array, possibly in a JSONP wrapper (one response per line)."""
    return line.startswith(("{", "[")) or bool(_JSONP.match(line))


def _loads(text: str) -> Any:
    return json.loads(text, parse_int=str, parse_float=str)


def _json_error(path: Path, exc: json.JSONDecodeError, where: str = "") -> IngestError:
    near_end = exc.pos >= len(exc.doc.rstrip()) - 1
    what = "truncated JSON" if near_end else "invalid JSON"
    return IngestError(f"{path}: {where}{what} at line {exc.lineno} column {exc.colno}: {exc.msg}")


def _json_docs(path: Path, text: str, container: str) -> Iterator[tuple[str, Any]]:
    body = unwrap_jsonp(text)
    if container != "jsonl":
        try:
            yield "", _loads(body)
            return
        except json.JSONDecodeError as exc:
            lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
            if len(lines) < 2 or not all(_starts_json(ln) for ln in lines[:2]):
                raise _json_error(path, exc) from None
    yield from _json_lines(path, io.StringIO(text))


def _json_lines(path: Path, lines: io.StringIO) -> Iterator[tuple[str, Any]]:
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            yield f"line {number}: ", _loads(unwrap_jsonp(line))
        except json.JSONDecodeError as exc:
            yield f"line {number}: ", JsonLineError(f"invalid JSON: {exc.msg}", line)


@dataclass
class JsonLineError:
    """A JSON-lines line that does not parse: quarantined, the other lines still land."""

    reason: str
    raw: str
