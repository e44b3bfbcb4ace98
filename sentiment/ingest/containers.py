"""Reading files: encoding detection, CSV/TSV/XLSX tables, JSON/JSONL/JSONP documents."""
from __future__ import annotations

import codecs
import csv
import io
import itertools
import json
import re
import zipfile
import zlib
from collections import deque
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Iterator, TextIO

from sentiment.errors import IngestError
from sentiment.ingest.records import UnreadableRow

SAMPLE_BYTES = 256 * 1024
CONTAINERS = ("csv", "tsv", "xlsx", "json", "jsonl", "jsonp")

# ---- Limits: every read is bounded, so no file can hang a run or exhaust memory. ----
MAX_FILE_BYTES = 512 * 2**20           # a bigger file is refused (split the export)
MAX_RECORD_CHARS = 2**20               # one CSV/TSV row, all its lines; one XLSX cell's XML (bytes)
MAX_RECORD_LINES = 1000                # a quoted field running over more lines: an unterminated quote
MAX_TEXT_CHARS = 20_000                # a review / follow-up / question / answer text; longer: quarantined
MAX_XLSX_PART_BYTES = 256 * 2**20      # one part of an .xlsx, unpacked (sheet XML, shared strings)
MAX_XLSX_UNPACKED_BYTES = 2**30        # all its parts together (a zip bomb is refused before opening)
MAX_JSON_DEPTH = 200                   # nesting of a JSON document (or of JSON inside a cell)
MAX_MESSAGE_CHARS = 300                # an error message (shown and stored in `batches`)
EXCERPT_CHARS = 200                    # what an over-long row keeps as its quarantined raw

# csv.field_size_limit is process-global: set here, deliberately, just above the row limit. Rows are
# bounded by _CsvLines before the csv module sees them; this is the backstop, caught per row.
csv.field_size_limit(MAX_RECORD_CHARS + 1)

# `callback(` of a JSONP body: anchored, linear (the payload itself is scanned with str methods)
_CALLBACK = re.compile(r"[A-Za-z_$][\w$.]{0,255}\s*\(")
_FRAGMENT = re.compile(r'^\s*"[A-Za-z_]\w*"\s*:')


def shorten(text: str, limit: int | None = None) -> str:
    """A message cut to `limit` (default MAX_MESSAGE_CHARS) characters: never echo a huge cell."""
    limit = limit or MAX_MESSAGE_CHARS
    return text if len(text) <= limit else text[: limit - 1] + "…"


def excerpt(text: str) -> str:
    """The first EXCERPT_CHARS characters of an over-long text, kept as a quarantined row's raw."""
    return text[:EXCERPT_CHARS]


def _mb(size: int) -> str:
    return f"{size / 2**20:,.0f} MB" if size >= 2**20 else f"{size:,} bytes"


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
    """utf-8-sig, utf-8, gb18030, Big5 (cp950) or what charset-normalizer finds; binary files are refused."""
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
    except UnicodeDecodeError:
        pass
    else:
        return _gb_or_big5(sample[:PROBE_BYTES])
    from charset_normalizer import from_bytes

    best = from_bytes(sample).best()
    if best is None:
        raise IngestError(f"{path}: cannot detect the text encoding (not UTF-8 or GB18030)")
    return best.encoding


PROBE_BYTES = 32 * 1024
BIG5_CODECS = ("cp950", "big5hkscs")   # Windows Big5 (TW), then the HK superset


def _gb_or_big5(probe: bytes) -> str:
    """GB18030 decodes almost any Big5 byte pair without error, as mojibake: a traditional export
    from a HK/TW seller would pass as GB18030. Keep the decoding whose text is plausible Chinese,
    judged by its share of common characters (GBK text scores about 0.95, Big5 read as GBK about 0.4)."""
    gb_score = _plausibility(codecs.getincrementaldecoder("gb18030")().decode(probe, final=False))
    if gb_score >= 0.9:
        return "gb18030"
    for encoding in BIG5_CODECS:
        try:
            text = codecs.getincrementaldecoder(encoding)().decode(probe, final=False)
        except UnicodeDecodeError:
            continue
        if _plausibility(text) >= gb_score + 0.2:
            return encoding
    return "gb18030"


def _plausibility(text: str) -> float:
    """Share of common CJK characters and punctuation among the non-ASCII characters (emoji aside)."""
    common = _common_chars()
    chars = [c for c in text if "\x7f" < c < "\U0001f000"]
    if not chars:
        return 1.0
    return sum(1 for c in chars if c in common) / len(chars)


@lru_cache(maxsize=1)
def _common_chars() -> frozenset[str]:
    """GB2312 level 1 (the 3,755 most used simplified characters), Big5 常用字 (the 5,401 most used
    traditional ones), CJK punctuation and full-width forms."""
    chars: set[str] = set()
    pairs = [(lead, trail, "gb2312") for lead in range(0xB0, 0xD8) for trail in range(0xA1, 0xFF)]
    pairs += [(lead, trail, "big5") for lead in range(0xA4, 0xC7)
              for trail in (*range(0x40, 0x7F), *range(0xA1, 0xFF))]
    for lead, trail, encoding in pairs:
        try:
            chars.add(bytes((lead, trail)).decode(encoding))
        except UnicodeDecodeError:
            pass
    chars.update(map(chr, range(0x3000, 0x3040)))
    chars.update(map(chr, range(0xFF01, 0xFF5F)))
    chars.update("…—·‘’“”、")
    return frozenset(chars)


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
    if size > MAX_FILE_BYTES:
        raise IngestError(f"{path}: {_mb(size)} is more than the {_mb(MAX_FILE_BYTES)} limit for one file: "
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


def _csv_rows(path: Path, encoding: str, delimiter: str) -> Iterator[tuple[int, list[Any]]]:
    with path.open("r", encoding=encoding, errors="replace", newline="") as fh:
        yield from csv_records(fh, delimiter)


def csv_records(fh: TextIO, delimiter: str = ",") -> Iterator[tuple[int, list[Any]]]:
    """(first line number, cells) of each CSV row; a row that cannot be read comes as an
    UnreadableRow (quarantined by the row parsers) and reading goes on after it."""
    lines = _CsvLines(fh)
    pending = lines.pending
    while True:
        reader = csv.reader(lines, delimiter=delimiter)  # a fresh parser state after a bad row
        try:
            for cells in reader:
                start = pending[0][0]
                pending.clear()
                lines.chars = 0
                yield start, cells
            return
        except _BadRow as exc:
            yield exc.line, UnreadableRow(exc.reason, exc.raw)
            lines.recover(exc.replay)
        except csv.Error as exc:  # e.g. a field over csv.field_size_limit
            line, raw = pending[0] if pending else (lines.number, "")
            yield line, UnreadableRow(shorten(f"malformed CSV: {exc}"), excerpt(raw))
            lines.recover(False)


class _BadRow(Exception):
    """Raised by _CsvLines through csv.reader: the row starting at `line` cannot be read."""

    def __init__(self, line: int, reason: str, raw: str, replay: bool) -> None:
        super().__init__(reason)
        self.line, self.reason, self.raw, self.replay = line, reason, excerpt(raw), replay


class _CsvLines:
    """The physical lines of a CSV file, fed to csv.reader with every row bounded.

    `pending` holds the lines of the row being read (a quoted field may span lines). A row fails:
    - when a quoted field runs past MAX_RECORD_LINES lines or to the end of the file: an
      unterminated quote. Its first line is quarantined and the lines after it are read again
      (`replay`), so one stray quote costs one row, not the rest of the file;
    - when it is longer than MAX_RECORD_CHARS: it is quarantined and skipped to its end (found by
      quote parity) without being held in memory.
    """

    def __init__(self, fh: TextIO) -> None:
        self.fh = fh
        self.number = 0                                  # physical lines read from the file
        self.pending: list[tuple[int, str]] = []         # (line number, line) of the current row
        self.chars = 0                                   # characters in `pending`
        self.replay: deque[tuple[int, str]] = deque()    # lines to read again after a bad row

    def __iter__(self) -> "_CsvLines":
        return self

    def __next__(self) -> str:
        if self.replay:
            number, line = self.replay.popleft()
        else:
            line = self.fh.readline(MAX_RECORD_CHARS + 1)
            if not line:
                if self.pending:  # the file ends inside a quoted field
                    raise self._unterminated()
                raise StopIteration
            self.number += 1
            number = self.number
            if len(line) > MAX_RECORD_CHARS:
                raise self._skip_long_row(line)
        pending = self.pending
        pending.append((number, line))
        self.chars += len(line)
        if self.chars > MAX_RECORD_CHARS:
            raise self._skip_long_row("")
        if len(pending) > MAX_RECORD_LINES:
            raise self._unterminated()
        return line

    def _unterminated(self) -> _BadRow:
        line, text = self.pending[0]
        return _BadRow(line, f"unterminated quote starting at line {line}", text, replay=True)

    def _skip_long_row(self, piece: str) -> _BadRow:
        """Read past the rest of an over-long row (only counting its quotes) and report it."""
        in_quotes = bool(self.pending) if piece else True  # a row continued on a new line is in quotes
        line, text = self.pending[0] if self.pending else (self.number, piece)
        skipped = 0
        while piece and skipped <= MAX_RECORD_LINES:
            in_quotes ^= piece.count('"') % 2 == 1
            if piece.endswith(("\n", "\r")):
                if not in_quotes:
                    break
                skipped += 1
                self.number += 1
            piece = self.fh.readline(1 << 16)
        self.pending.clear()
        self.chars = 0
        return _BadRow(line, f"row too long (more than {MAX_RECORD_CHARS} characters)", text, replay=False)

    def recover(self, replay: bool) -> None:
        """After a bad row: drop its first line, and read the others again if `replay`."""
        if replay:
            self.replay.extendleft(reversed(self.pending[1:]))
        self.pending.clear()
        self.chars = 0


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
