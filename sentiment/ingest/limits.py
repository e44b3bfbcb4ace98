"""Read limits: every read is bounded, so no file can hang a run or exhaust memory; short messages."""
from __future__ import annotations

import csv


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


def shorten(text: str, limit: int | None = None) -> str:
    """A message cut to `limit` (default MAX_MESSAGE_CHARS) characters: never echo a huge cell."""
    limit = limit or MAX_MESSAGE_CHARS
    return text if len(text) <= limit else text[: limit - 1] + "…"


def excerpt(text: str) -> str:
    """The first EXCERPT_CHARS characters of an over-long text, kept as a quarantined row's raw."""
    return text[:EXCERPT_CHARS]


def _mb(size: int) -> str:
    return f"{size / 2**20:,.0f} MB" if size >= 2**20 else f"{size:,} bytes"
