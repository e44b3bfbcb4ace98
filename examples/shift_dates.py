"""Copy the sample exports with every date moved so that the newest document is dated yesterday.

`make demo` uses this: the bundled exports (`examples/exports/`, made by make_samples.py)
end on 2026-11-24, which soon lies outside the 48-hour alert window. The copies keep
the exports' shape and the relative spacing of all dates; only the calendar moves.

    python examples/shift_dates.py examples/exports demo/inbox [--today 2026-12-06]

"Today" and "yesterday" are days in Asia/Shanghai (`--tz`). Every date moves by the
same whole number of days, so the shift is exact and deterministic given the day:

- CSV/TSV exports (UTF-8 with or without BOM, or GB18030): the columns whose header is
  a date alias of the ingest reader (日期, 评价时间, 追评时间, 提问时间, 回答时间 ...);
- JSON and JSONP (mtop / rate.tmall.com / TOP / 千牛 / 问大家): the values of date keys
  (feedbackDate, rateDate, commentTime, created, feedDate, feedDateStr, gmtCreate,
  gmtCreateStr ...), whether date strings ("2026-11-24", "2026-11-24 09:02",
  "2026年11月24日 12:59", ISO 8601 with an offset) or epoch timestamps (milliseconds or
  seconds, as numbers or as strings);
- a YYYYMMDD date in a file name (评论数据_..._20261124.csv).

Relative dates (intervalDay, 收货后5天) need no change. Other files are copied as they are.
The inputs are never modified.
"""
from __future__ import annotations

import argparse
import csv
import io
import json
import re
import shutil
import sys
from datetime import date, datetime, timedelta, timezone, tzinfo
from pathlib import Path
from typing import Any, Callable, Iterator
from zoneinfo import ZoneInfo

from sentiment.errors import RowError
from sentiment.ingest import tabular
from sentiment.ingest.values import parse_datetime

DATE_FIELDS = ("date", "followup_date", "question_date", "answer_date")  # tabular.ALIASES fields
# JSON keys holding absolute dates in the shapes of FORMATS.md (and the reader's date aliases)
JSON_DATE_KEYS = frozenset({
    "rateDate", "commentTime", "tradeEndTime", "feedbackDate", "feedDate", "feedDateStr", "appendTime",
    "append_time", "comment_time", "created", "created_at", "date", "feedback_date", "gmtCreate",
    "gmtCreateStr", "gmt_create", "question_time", "answer_time", "review_date", "time",
    *(name for field in DATE_FIELDS for name in tabular.ALIASES[field] if name.isascii()),
})
TABLE_SUFFIXES = {".csv", ".tsv", ".txt"}
JSON_SUFFIXES = {".json", ".jsonl", ".jsonp", ".js"}
_EPOCH = re.compile(r"^\d{10}(\d{3})?(\.\d+)?$")
_DATE = re.compile(r"(?P<y>(?:19|20)\d\d)(?P<s1>[-/.年])(?P<m>\d{1,2})(?P<s2>[-/.月])(?P<d>\d{1,2})")
_NAME_DAY = re.compile(r"(?<!\d)(20\d\d)(\d\d)(\d\d)(?!\d)")
_JSONP = re.compile(r"^(?P<head>\s*[\w$.]*\s*\(\s*)(?P<body>.*?)(?P<tail>\s*\)\s*;?\s*)$", re.S)


class Shifter:
    """Moves one date value by `days` (keeping its type and format), or reports its day."""

    def __init__(self, days: int, tz: tzinfo) -> None:
        self.days = days
        self.tz = tz

    def day(self, value: Any) -> date | None:
        """The value's calendar day in `tz`, None when it is not a date."""
        if isinstance(value, bool) or value is None or str(value).strip() == "":
            return None
        if not (_EPOCH.match(str(value).strip()) or _DATE.search(str(value))):
            return None
        try:
            parsed = parse_datetime(value, self.tz)
        except (RowError, ValueError, OverflowError, OSError):  # not a date after all: left alone
            return None
        return datetime.fromisoformat(parsed[0]).astimezone(self.tz).date() if parsed else None

    def shift(self, value: Any) -> Any:
        if self.day(value) is None or self.days == 0:
            return value
        if isinstance(value, (int, float)):
            return value + self.days * 86400 * (1000 if abs(value) >= 1e11 else 1)
        text = str(value)
        stripped = text.strip()
        if _EPOCH.match(stripped):
            whole, _, frac = stripped.partition(".")
            moved = int(whole) + self.days * 86400 * (1000 if len(whole) == 13 else 1)
            return text.replace(stripped, str(moved) + ("." + frac if frac else ""), 1)
        return _DATE.sub(self._move_match, text, count=1)

    def _move_match(self, match: re.Match[str]) -> str:
        g = match.groupdict()
        moved = date(int(g["y"]), int(g["m"]), int(g["d"])) + timedelta(days=self.days)
        width_m, width_d = len(g["m"]), len(g["d"])
        return f"{moved.year}{g['s1']}{moved.month:0{width_m}d}{g['s2']}{moved.day:0{width_d}d}"


# --- tables -----------------------------------------------------------------------------------

def _decode(data: bytes) -> tuple[str, str]:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding), encoding
        except UnicodeDecodeError:
            continue
    raise ValueError("neither UTF-8 nor GB18030")


def _table(text: str, suffix: str) -> tuple[list[list[str]], type[csv.Dialect]]:
    first = text.split("\n", 1)[0]
    delimiter = "\t" if suffix in (".tsv", ".txt") or first.count("\t") > first.count(",") else ","
    newline = "\r\n" if "\r\n" in text[:10000] else "\n"

    class Dialect(csv.excel):
        pass

    Dialect.delimiter = delimiter
    Dialect.lineterminator = newline
    return list(csv.reader(io.StringIO(text, newline=""), Dialect)), Dialect


def _date_columns(rows: list[list[str]]) -> tuple[int, list[int]]:
    """(header row index, indexes of its date columns); (-1, []) when no header is found."""
    index = tabular.build_alias_index(None)
    for at, row in enumerate(rows[:20]):
        if tabular.is_header(row, index):
            return at, [i for i, cell in enumerate(row)
                        if index.get(tabular.header_key(cell), ("", 0))[0] in DATE_FIELDS]
    return -1, []


def table_cells(rows: list[list[str]]) -> Iterator[tuple[list[str], int]]:
    at, columns = _date_columns(rows)
    for row in rows[at + 1:] if at >= 0 else []:
        for i in columns:
            if i < len(row):
                yield row, i


# --- JSON -------------------------------------------------------------------------------------

def _json_parts(text: str, suffix: str) -> tuple[str, list[Any], str, bool]:
    """(head, documents, tail, one-per-line) of a JSON, JSON-lines or JSONP text."""
    match = _JSONP.match(text) if not text.lstrip().startswith(("{", "[")) else None
    head, body, tail = (match["head"], match["body"], match["tail"]) if match else ("", text, "")
    try:
        return head, [json.loads(body)], tail, False
    except json.JSONDecodeError:
        if suffix != ".jsonl" and "\n" not in body.strip():
            raise
    return head, [json.loads(line) for line in body.splitlines() if line.strip()], tail, True


def json_values(doc: Any) -> Iterator[tuple[Any, Any]]:
    """(container, key) of every value under a date key, at any depth."""
    if isinstance(doc, dict):
        for key, value in doc.items():
            if key in JSON_DATE_KEYS and not isinstance(value, (dict, list)):
                yield doc, key
            else:
                yield from json_values(value)
    elif isinstance(doc, list):
        for value in doc:
            yield from json_values(value)


def _dump(doc: Any, indent: int | None) -> str:
    return json.dumps(doc, ensure_ascii=False, indent=indent)


def _indent_of(text: str) -> int | None:
    match = re.search(r"[{\[]\n( +)\S", text)
    return len(match.group(1)) if match else None


# --- files ------------------------------------------------------------------------------------

Visit = Callable[[Any, Any], None]  # (container, key): called for every date value


def _walk_file(path: Path, visit: Visit) -> bytes | None:
    """Call `visit` for each date value of the file; the file's new bytes (None: copy as is)."""
    try:
        return _walk(path, visit)
    except (ValueError, csv.Error) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise ValueError(f"{path}: cannot move its dates: {exc}") from None


def _walk(path: Path, visit: Visit) -> bytes | None:
    suffix = path.suffix.lower()
    data = path.read_bytes()
    if suffix in TABLE_SUFFIXES:
        text, encoding = _decode(data)
        rows, dialect = _table(text, suffix)
        for row, i in table_cells(rows):
            visit(row, i)
        out = io.StringIO(newline="")
        csv.writer(out, dialect).writerows(rows)
        body = out.getvalue()
        if not text.endswith(("\n", "\r")):
            body = body.rstrip("\r\n")
        bom = data.startswith(b"\xef\xbb\xbf")
        return (("\ufeff" if bom else "") + body).encode("utf-8" if encoding == "utf-8-sig" else encoding)
    if suffix in JSON_SUFFIXES:
        text, encoding = _decode(data)
        head, docs, tail, lines = _json_parts(text, suffix)
        for doc in docs:
            for container, key in json_values(doc):
                visit(container, key)
        if lines:
            body = "\n".join(_dump(doc, None) for doc in docs) + ("\n" if text.endswith("\n") else "")
        else:
            body = _dump(docs[0], _indent_of(text))
        bom = data.startswith(b"\xef\xbb\xbf")
        return (("\ufeff" if bom else "") + head + body + tail).encode(
            "utf-8" if encoding == "utf-8-sig" else encoding)
    return None


def newest_day(paths: list[Path], tz: tzinfo) -> date | None:
    """The latest calendar day (in tz) of any date value in the files."""
    probe = Shifter(0, tz)
    days: list[date] = []

    def visit(container: Any, key: Any) -> None:
        day = probe.day(container[key])
        if day is not None:
            days.append(day)

    for path in paths:
        _walk_file(path, visit)
    return max(days, default=None)


def shift_file(path: Path, target_dir: Path, shifter: Shifter) -> Path:
    def visit(container: Any, key: Any) -> None:
        container[key] = shifter.shift(container[key])

    data = _walk_file(path, visit)
    name = _NAME_DAY.sub(lambda m: _name_day(m, shifter.days), path.name)
    # written under a .part name and renamed: the worker never takes a half-written copy
    target = target_dir / name
    partial = target_dir / (name + ".part")
    if data is None:
        shutil.copyfile(path, partial)
    else:
        partial.write_bytes(data)
    partial.replace(target)
    return target


def _name_day(match: re.Match[str], days: int) -> str:
    try:
        day = date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError:
        return match[0]
    return (day + timedelta(days=days)).strftime("%Y%m%d")


def export_files(source: Path) -> list[Path]:
    if source.is_file():
        return [source]
    return sorted(p for p in source.iterdir() if p.is_file() and not p.name.startswith("."))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("source", type=Path, help="an export file or a directory of exports")
    parser.add_argument("target", type=Path, help="directory to write the shifted copies into (created)")
    parser.add_argument("--today", type=date.fromisoformat, metavar="YYYY-MM-DD",
                        help="the day to count from (default: today in --tz)")
    parser.add_argument("--tz", default="Asia/Shanghai", help="time zone of the days (default: %(default)s)")
    args = parser.parse_args(argv)
    tz = ZoneInfo(args.tz)
    today = args.today or datetime.now(timezone.utc).astimezone(tz).date()
    try:
        files = export_files(args.source)
        newest = newest_day(files, tz)
        if newest is None:
            raise ValueError(f"{args.source}: no dates found")
        target_day = today - timedelta(days=1)
        shifter = Shifter((target_day - newest).days, tz)
        args.target.mkdir(parents=True, exist_ok=True)
        for path in files:
            shift_file(path, args.target, shifter)
    except (OSError, ValueError) as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 1
    print(f"copied {len(files)} exports into {args.target}/, dates moved {shifter.days:+d} days "
          f"(newest {newest} -> {target_day}, yesterday in {args.tz})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
