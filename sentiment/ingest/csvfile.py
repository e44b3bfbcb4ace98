"""CSV/TSV rows, bounded: a row over the limit or an unterminated quote costs one row, not the file."""
from __future__ import annotations

import csv
from collections import deque
from pathlib import Path
from typing import Any, Iterator, TextIO

from sentiment.ingest.records import UnreadableRow
from sentiment.ingest import limits
from sentiment.ingest.limits import excerpt, shorten

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
    - when a quoted field runs past limits.MAX_RECORD_LINES lines or to the end of the file: an
      unterminated quote. Its first line is quarantined and the lines after it are read again
      (`replay`), so one stray quote costs one row, not the rest of the file;
    - when it is longer than limits.MAX_RECORD_CHARS: it is quarantined and skipped to its end (found by
      quote parity) without being held in memory.
    """

    def __init__(self, fh: TextIO) -> None:
        self.fh = fh
        self.readline = fh.readline
        self.limit = limits.MAX_RECORD_CHARS
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
            if len(pending) > limits.MAX_RECORD_LINES:
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
        limits.MAX_RECORD_LINES more lines: an unterminated quote in a huge row is given up on).
        """
        line, text = self.pending[0] if self.pending else (self.number, piece)
        in_quotes = sum(part.count('"') for _, part in self.pending) % 2 == 1
        in_quotes ^= piece.count('"') % 2 == 1
        line_open = bool(piece) and not piece.endswith(("\n", "\r"))
        lines = 0
        while line_open or (in_quotes and lines < limits.MAX_RECORD_LINES):
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
        return _BadRow(line, f"row too long (more than {limits.MAX_RECORD_CHARS} characters)", text, replay=False)

    def recover(self, replay: bool) -> None:
        """After a bad row: drop its first line, and read the others again if `replay`."""
        if replay:
            self.replay.extendleft(reversed(self.pending[1:]))
        self.pending.clear()
        self.chars = 0
