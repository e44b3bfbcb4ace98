"""XLSX rows: the workbook checked before opening (zip bombs, huge cells), formula text kept."""
from __future__ import annotations

import itertools
import re
import zipfile
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Iterator

from sentiment.errors import IngestError
from sentiment.ingest import limits
from sentiment.ingest.limits import _mb, shorten

_CELL_PARTS = re.compile(r"xl/(?:worksheets/[^/]+|sharedStrings)\.xml", re.I)


# Where one cell's XML ends (with or without a namespace prefix): a shared string item; a cell,
# a row or an empty element in a sheet.
_SHARED_ITEM_ENDS = (b"</si>", b":si>")


_SHEET_ITEM_ENDS = (b"</c>", b":c>", b"</row>", b":row>", b"/>")


def check_workbook(path: Path) -> None:
    """Refuse a workbook that would unpack to too much (a zip bomb) or holds a cell over
    limits.MAX_RECORD_CHARS bytes of XML, before openpyxl reads any of it (it keeps every shared string
    in memory, at many times its size)."""
    import zipfile
    import zlib

    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
            for info in infos:
                if info.file_size > limits.MAX_XLSX_PART_BYTES:
                    raise IngestError(f"{path}: {shorten(info.filename, 60)} unpacks to {_mb(info.file_size)}, "
                                      f"more than the {_mb(limits.MAX_XLSX_PART_BYTES)} limit: refused (a zip bomb?)")
            total = sum(info.file_size for info in infos)
            if total > limits.MAX_XLSX_UNPACKED_BYTES:
                raise IngestError(f"{path}: the workbook unpacks to {_mb(total)}, more than the "
                                  f"{_mb(limits.MAX_XLSX_UNPACKED_BYTES)} limit: refused (a zip bomb?)")
            for info in infos:
                if _CELL_PARTS.fullmatch(info.filename):
                    shared = info.filename.lower().endswith("sharedstrings.xml")
                    ends = _SHARED_ITEM_ENDS if shared else _SHEET_ITEM_ENDS
                    if _largest_item(archive, info, ends) > limits.MAX_RECORD_CHARS:
                        raise IngestError(f"{path}: a cell in {shorten(info.filename, 60)} is longer than "
                                          f"{limits.MAX_RECORD_CHARS} bytes: refused")
    except (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError, NotImplementedError) as exc:
        raise IngestError(f"{path}: not a readable .xlsx workbook ({type(exc).__name__})") from None


def _largest_item(archive: zipfile.ZipFile, info: zipfile.ZipInfo, ends: tuple[bytes, ...]) -> int:
    """The longest stretch of a part's XML between two item ends, once it is over limits.MAX_RECORD_CHARS
    (else a smaller figure). The part is read in blocks no longer than the limit, so a stretch over
    it crosses a block edge: only the first and last item end of each block matter (bytes.find)."""
    largest = carry = 0
    with archive.open(info) as part:
        while block := part.read(min(1 << 20, limits.MAX_RECORD_CHARS)):
            firsts = [at for at in map(block.find, ends) if at >= 0]
            if not firsts:
                carry += len(block)
            else:
                largest = max(largest, carry + min(firsts))
                carry = len(block) - max(at + len(end) for end in ends if (at := block.rfind(end)) >= 0)
            if max(largest, carry) > limits.MAX_RECORD_CHARS:
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
