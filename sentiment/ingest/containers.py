"""Reading files: encoding detection, CSV/TSV/XLSX tables, JSON/JSONL/JSONP documents."""
from __future__ import annotations

import codecs
import csv
import io
import itertools
import json
import re
from collections import deque
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, TextIO

from sentiment.errors import IngestError
from sentiment.ingest.records import UnreadableRow

if TYPE_CHECKING:
    import zipfile

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
        self.readline = fh.readline
        self.limit = MAX_RECORD_CHARS
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
            line = self.readline(self.limit + 1)
            if not line:
                if self.pending:  # the file ends inside a quoted field
                    raise self._unterminated()
                raise StopIteration
            self.number = number = self.number + 1
            if len(line) > self.limit:
                raise self._skip_long_row(line)
        pending = self.pending
        pending.append((number, line))
        if len(pending) > 1:  # a quoted field goes on: bound the row's length and line count
            self.chars += len(line)
            if self.chars > self.limit:
                raise self._skip_long_row("")
            if len(pending) > MAX_RECORD_LINES:
                raise self._unterminated()
        else:
            self.chars = len(line)
        return line

    def _unterminated(self) -> _BadRow:
        line, text = self.pending[0]
        return _BadRow(line, f"unterminated quote starting at line {line}", text, replay=True)

    def _skip_long_row(self, piece: str) -> _BadRow:
        """Read past the rest of an over-long row, counting only its quotes, and report it.

        `piece` is the start of an over-long physical line, or "" when the row's lines in `pending`
        add up to too much. The row ends at the first line end outside quotes (or after
        MAX_RECORD_LINES more lines: an unterminated quote in a huge row is given up on).
        """
        line, text = self.pending[0] if self.pending else (self.number, piece)
        in_quotes = sum(part.count('"') for _, part in self.pending) % 2 == 1
        in_quotes ^= piece.count('"') % 2 == 1
        line_open = bool(piece) and not piece.endswith(("\n", "\r"))
        lines = 0
        while line_open or (in_quotes and lines < MAX_RECORD_LINES):
            piece = self.fh.readline(1 << 16)
            if not piece:
                break
            if not line_open:
                self.number += 1
                lines += 1
            in_quotes ^= piece.count('"') % 2 == 1
            line_open = not piece.endswith(("\n", "\r"))
        self.pending.clear()
        self.chars = 0
        return _BadRow(line, f"row too long (more than {MAX_RECORD_CHARS} characters)", text, replay=False)

    def recover(self, replay: bool) -> None:
        """After a bad row: drop its first line, and read the others again if `replay`."""
        if replay:
            self.replay.extendleft(reversed(self.pending[1:]))
        self.pending.clear()
        self.chars = 0


_CELL_PARTS = re.compile(r"xl/(?:worksheets/[^/]+|sharedStrings)\.xml", re.I)
# Where one cell's XML ends (with or without a namespace prefix): a shared string item; a cell,
# a row or an empty element in a sheet.
_SHARED_ITEM_ENDS = (b"</si>", b":si>")
_SHEET_ITEM_ENDS = (b"</c>", b":c>", b"</row>", b":row>", b"/>")


def check_workbook(path: Path) -> None:
    """Refuse a workbook that would unpack to too much (a zip bomb) or holds a cell over
    MAX_RECORD_CHARS bytes of XML, before openpyxl reads any of it (it keeps every shared string
    in memory, at many times its size)."""
    import zipfile
    import zlib

    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
            for info in infos:
                if info.file_size > MAX_XLSX_PART_BYTES:
                    raise IngestError(f"{path}: {shorten(info.filename, 60)} unpacks to {_mb(info.file_size)}, "
                                      f"more than the {_mb(MAX_XLSX_PART_BYTES)} limit: refused (a zip bomb?)")
            total = sum(info.file_size for info in infos)
            if total > MAX_XLSX_UNPACKED_BYTES:
                raise IngestError(f"{path}: the workbook unpacks to {_mb(total)}, more than the "
                                  f"{_mb(MAX_XLSX_UNPACKED_BYTES)} limit: refused (a zip bomb?)")
            for info in infos:
                if _CELL_PARTS.fullmatch(info.filename):
                    shared = info.filename.lower().endswith("sharedstrings.xml")
                    ends = _SHARED_ITEM_ENDS if shared else _SHEET_ITEM_ENDS
                    if _largest_item(archive, info, ends) > MAX_RECORD_CHARS:
                        raise IngestError(f"{path}: a cell in {shorten(info.filename, 60)} is longer than "
                                          f"{MAX_RECORD_CHARS} bytes: refused")
    except (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError, NotImplementedError) as exc:
        raise IngestError(f"{path}: not a readable .xlsx workbook ({type(exc).__name__})") from None


def _largest_item(archive: zipfile.ZipFile, info: zipfile.ZipInfo, ends: tuple[bytes, ...]) -> int:
    """The longest stretch of a part's XML between two item ends, once it is over MAX_RECORD_CHARS
    (else a smaller figure). The part is read in blocks no longer than the limit, so a stretch over
    it crosses a block edge: only the first and last item end of each block matter (bytes.find)."""
    largest = carry = 0
    with archive.open(info) as part:
        while block := part.read(min(1 << 20, MAX_RECORD_CHARS)):
            firsts = [at for at in map(block.find, ends) if at >= 0]
            if not firsts:
                carry += len(block)
            else:
                largest = max(largest, carry + min(firsts))
                carry = len(block) - max(at + len(end) for end in ends if (at := block.rfind(end)) >= 0)
            if max(largest, carry) > MAX_RECORD_CHARS:
                break
    return max(largest, carry)


@lru_cache(maxsize=1)
def _formula_text_parser() -> Any:
    """openpyxl's sheet parser, except that a formula cell without a cached value gives its
    formula text: an export that wrote a review starting with "=" (`=HYPERLINK(...) 假的...`) got
    it stored as a formula that no spreadsheet ever computed; the text is the review."""
    from openpyxl.worksheet._reader import FORMULA_TAG, WorkSheetParser

    class FormulaTextParser(WorkSheetParser):  # type: ignore[misc]
        def parse_cell(self, element: Any) -> dict[str, Any]:
            cell = super().parse_cell(element)
            if cell["value"] is None:
                formula = element.find(FORMULA_TAG)
                if formula is not None and formula.text:
                    cell["value"], cell["data_type"] = "=" + formula.text, "s"
            return cell

    return FormulaTextParser


def _sheet_values(sheet: Any) -> Iterator[tuple[int, Any]]:
    """(row number, values) of a read-only sheet, cached values first, else formula text."""
    book = sheet.parent
    try:
        parser_class = _formula_text_parser()
        strings, epoch = sheet._shared_strings, book.epoch
        date_formats, timedelta_formats = book._date_formats, book._timedelta_formats
        source = sheet._get_source()
    except (ImportError, AttributeError):  # another openpyxl layout: its own rows, without formula text
        yield from enumerate(sheet.iter_rows(values_only=True), start=1)
        return
    with source:
        parser = parser_class(source, strings, data_only=True, epoch=epoch, date_formats=date_formats,
                              timedelta_formats=timedelta_formats)
        for number, cells in parser.parse():
            values: list[Any] = [None] * max((c["column"] for c in cells), default=0)
            for cell in cells:
                values[cell["column"] - 1] = cell["value"]
            yield number, values


def _sheet_rows(sheet: Any) -> Iterator[tuple[int, list[Any]]]:
    for number, values in _sheet_values(sheet):
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
    if stripped.startswith(("{", "[")):
        return stripped
    body = _jsonp_body(stripped)
    if body is not None:
        return body
    if _FRAGMENT.match(stripped):
        return "{" + stripped.rstrip(",;") + "}"
    return stripped


def _jsonp_body(text: str) -> str | None:
    """The argument of `callback(...)` (`/**/`-prefixed, `;`-terminated or not) in a stripped text,
    else None: a bounded match for the callback, str methods for the rest, so the time is linear
    in the size of the text whatever padding or garbage it holds."""
    head = text[4:].lstrip() if text.startswith("/**/") else text
    match = _CALLBACK.match(head)
    if match is None:
        return None
    tail = head.rstrip()
    if tail.endswith(";"):
        tail = tail[:-1].rstrip()
    if not tail.endswith(")") or len(tail) <= match.end():
        return None
    return tail[match.end():-1].strip()


def _starts_json(line: str) -> bool:
    """A JSON-lines line: an object or array, possibly in a JSONP wrapper (one response per line)."""
    return line.startswith(("{", "[")) or _jsonp_body(line) is not None


class TooDeep(ValueError):
    """A JSON value nested deeper than MAX_JSON_DEPTH levels."""

    def __init__(self) -> None:
        super().__init__(f"too deeply nested (more than {MAX_JSON_DEPTH} levels)")


def load_json(text: str, **options: Any) -> Any:
    """json.loads with the nesting bounded: TooDeep past MAX_JSON_DEPTH levels, where the parser's
    recursion gives up (RecursionError) or any code walking the document later could."""
    try:
        doc = json.loads(text, **options)
    except RecursionError:
        raise TooDeep() from None
    if isinstance(doc, (dict, list)) and _deeper_than(doc, MAX_JSON_DEPTH):
        raise TooDeep()
    return doc


def _deeper_than(doc: dict[str, Any] | list[Any], limit: int) -> bool:
    """Whether a parsed document nests more than `limit` levels (walked level by level, no recursion)."""
    level: list[Any] = [doc]
    depth = 1
    while level:
        if depth > limit:
            return True
        below: list[Any] = []
        for node in level:
            for child in node.values() if type(node) is dict else node:
                if type(child) is dict or type(child) is list:
                    below.append(child)
        level = below
        depth += 1
    return False


def _loads(text: str) -> Any:
    return load_json(text, parse_int=str, parse_float=str)


def _json_error(path: Path, exc: json.JSONDecodeError, where: str = "") -> IngestError:
    near_end = exc.pos >= len(exc.doc.rstrip()) - 1
    what = "truncated JSON" if near_end else "invalid JSON"
    return IngestError(f"{path}: {where}{what} at line {exc.lineno} column {exc.colno}: {shorten(exc.msg, 80)}")


def _first_lines(text: str, count: int) -> list[str]:
    """The first `count` non-empty lines, stripped (without splitting the whole text)."""
    found: list[str] = []
    for line in io.StringIO(text):
        if line.strip():
            found.append(line.strip())
            if len(found) == count:
                break
    return found


def _json_docs(path: Path, text: str, container: str) -> Iterator[tuple[str, Any]]:
    if container != "jsonl":
        try:
            yield "", _loads(unwrap_jsonp(text))
            return
        except TooDeep as exc:
            raise IngestError(f"{path}: JSON {exc}") from None
        except json.JSONDecodeError as exc:
            lines = _first_lines(text, 2)
            if len(lines) < 2 or not all(_starts_json(ln) for ln in lines):
                raise _json_error(path, exc) from None
    yield from _json_lines(path, io.StringIO(text))


def _json_lines(path: Path, lines: io.StringIO) -> Iterator[tuple[str, Any]]:
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        raw = line if len(line) <= MAX_TEXT_CHARS else excerpt(line)
        try:
            yield f"line {number}: ", _loads(unwrap_jsonp(line))
        except json.JSONDecodeError as exc:
            yield f"line {number}: ", JsonLineError(f"invalid JSON: {shorten(exc.msg, 80)}", raw)
        except TooDeep as exc:
            yield f"line {number}: ", JsonLineError(f"JSON {exc}", raw)


@dataclass
class JsonLineError:
    """A JSON-lines line that does not parse: quarantined, the other lines still land."""

    reason: str
    raw: str
