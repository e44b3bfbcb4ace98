"""Spreadsheet cells from untrusted text: formulas neutralized, XLSX-illegal characters removed,
stored times shown in the configured zone. Shared by `sentiment export` and `sentiment triage export`.

Nothing here reads the store or writes files.
"""
from __future__ import annotations

import re
from datetime import tzinfo
from typing import Any

from sentiment.times import parse_moment

# Spreadsheet formula triggers (ASCII and full-width): a cell starting with one is prefixed with "'".
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r", "＝", "＋", "－", "＠")
# openpyxl's ILLEGAL_CHARACTERS_RE (cells it refuses), kept here so that importing this module
# (triage, at every CLI start) does not load openpyxl (~0.2 s); a test keeps the two equal
ILLEGAL_CHARACTERS_RE = re.compile(r"[\000-\010]|[\013-\014]|[\016-\037]")
XLSX_MAX_CHARS = 32_767  # Excel refuses longer cells
LOCAL_FORMAT = "%Y-%m-%d %H:%M:%S"


def neutralize(value: Any) -> str:
    """A text cell a spreadsheet will not run as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


def xlsx_text(value: Any) -> str:
    """A text cell openpyxl accepts and Excel opens: control characters removed, length capped,
    then neutralized (removing a leading control character may expose a formula)."""
    text = ILLEGAL_CHARACTERS_RE.sub("", "" if value is None else str(value))
    return neutralize(text[:XLSX_MAX_CHARS - 1])


def local_time(value: str | None, tz: tzinfo) -> str:
    """A stored ISO time (with offset; naive ones are taken as UTC) as `YYYY-MM-DD HH:MM:SS` in `tz`.

    Unparsable values are returned unchanged, so an odd row never stops an export."""
    moment = parse_moment(value)
    return moment.astimezone(tz).strftime(LOCAL_FORMAT) if moment else (value or "")
