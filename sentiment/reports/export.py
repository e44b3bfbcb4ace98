"""Documents with their scores, rule hits and incidents as CSV or XLSX rows for a pivot table.

`export(db, path, ExportFilter(...), ...)` streams: the query is read through a cursor in
chunks of `CHUNK` rows and each row is written as it comes (CSV through the csv module, XLSX
through openpyxl's write-only workbook), so memory stays flat whatever the store's size.
Every text cell is neutralized (`sentiment.reports.cells`); ids are always text.
"""
from __future__ import annotations

import contextlib
import csv
import os
from dataclasses import dataclass
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

import sqlite_utils
from openpyxl import Workbook

from sentiment.errors import SentimentError
from sentiment.reports.cells import local_time, neutralize, xlsx_text
from sentiment.reports.render import CATEGORY_NAMES, KIND_NAMES, category_name
from sentiment.rules.catalogue import bundled_catalogue, catalogue_of
from sentiment.rules.loader import load_ruleset
from sentiment.times import stored


class ExportError(SentimentError):
    """An unwritable target or an unknown format."""


CHUNK = 1000
JOIN = "；"
FORMATS = {".csv": "csv", ".xlsx": "xlsx"}
LABELS = ("negative", "neutral", "positive")
KINDS = tuple(KIND_NAMES)
# (key, Chinese header, English header); `key` is also the field of a formatted row
COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("date", "日期", "date"), ("kind", "类型", "kind"), ("item_id", "商品ID", "item_id"),
    ("item_title", "商品标题", "item_title"), ("sku", "SKU", "sku"), ("order_id", "订单号", "order_id"),
    ("author", "买家", "buyer"), ("rating", "评分", "rating"), ("text", "评价内容", "text"),
    ("score", "情感分", "score"), ("label", "情感", "label"), ("categories", "风险类别", "risk_categories"),
    ("rules", "命中规则", "rules"), ("seller_reply", "商家回复", "seller_reply"),
    ("incidents", "事件ID", "incident_ids"),
)
ID_COLUMNS = frozenset({"item_id", "order_id", "incidents"})
RATING_NAMES = {"positive": "好评", "neutral": "中评", "negative": "差评"}
LABEL_NAMES = {"positive": "正面", "neutral": "中性", "negative": "负面"}

# The order id: tabular, 千牛 and Tmall sources keep it in meta.order_id, TOP rates in meta.tid
# (the order; oid is the sub-order and the document's external_id).
_ORDER_SQL = ("CASE WHEN json_valid(d.meta) THEN coalesce(json_extract(d.meta, '$.order_id'),"
              " json_extract(d.meta, '$.tid'), json_extract(d.meta, '$.oid')) END")
_LIST_SQL = "(SELECT group_concat(v, char(31)) FROM (SELECT DISTINCT {col} AS v FROM {table} x" \
            " WHERE x.document_id = d.id ORDER BY v))"
_SELECT = (
    f"SELECT d.created_at, d.kind, d.item_id, d.item_title, d.sku, {_ORDER_SQL} AS order_id, d.author,"
    " d.rating, d.text, a.score, a.label,"
    f" {_LIST_SQL.format(col='category', table='rule_hits')} AS categories,"
    f" {_LIST_SQL.format(col='rule_id', table='rule_hits')} AS rules, d.seller_reply,"
    f" {_LIST_SQL.format(col='incident_id', table='incident_members')} AS incidents"
    " FROM documents d LEFT JOIN analyses a ON a.document_id = d.id"
)


@dataclass(frozen=True)
class ExportFilter:
    since: datetime | None = None   # aware; created_at >= since
    until: datetime | None = None   # aware; created_at < until
    item: str | None = None
    label: str | None = None        # negative | neutral | positive
    category: str | None = None     # a category key (food_safety) or its Chinese name (食品安全)
    kind: str | None = None         # review | followup | question | answer
    incident: str | None = None     # only members of this incident

    def where(self) -> tuple[str, list[Any]]:
        """SQL (on aliases d and a) selecting the documents that pass, and its parameters."""
        clauses: list[tuple[str, Any]] = []
        if self.since is not None:
            clauses.append(("d.created_at >= ?", stored(self.since)))
        if self.until is not None:
            clauses.append(("d.created_at < ?", stored(self.until)))
        if self.item is not None:
            clauses.append(("d.item_id = ?", self.item))
        if self.kind is not None:
            clauses.append(("d.kind = ?", self.kind))
        if self.label is not None:
            dated = self.since is not None or self.until is not None  # then by date, not every document of the label
            clauses.append(("+a.label = ?" if dated else "a.label = ?", self.label))
        if self.category is not None:
            clauses.append(("EXISTS (SELECT 1 FROM rule_hits h WHERE h.document_id = d.id AND +h.category = ?)",
                            category_key(self.category)))
        if self.incident is not None:
            clauses.append(("EXISTS (SELECT 1 FROM incident_members m WHERE m.document_id = d.id"
                            " AND m.incident_id = ?)", self.incident))
        sql = " AND ".join(c for c, _ in clauses)
        return (f" WHERE {sql}" if sql else ""), [p for _, p in clauses]


@dataclass(frozen=True)
class ExportResult:
    path: str
    rows: int
    format: str

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "rows": self.rows, "format": self.format}


def category_key(value: str) -> str:
    """`food_safety` or `食品安全` -> `food_safety` (unknown values pass through)."""
    by_name = {name: key for key, name in CATEGORY_NAMES.items()}
    return by_name.get(value.strip(), value.strip())


def export_format(path: str | Path) -> str:
    """`csv` or `xlsx` from the file name; ExportError otherwise."""
    fmt = FORMATS.get(Path(path).suffix.lower())
    if fmt is None:
        raise ExportError(f"cannot export to {path}: name the file .csv or .xlsx")
    return fmt


def rule_names(rules_paths: Sequence[Path] = ()) -> dict[str, str]:
    """Rule id -> Chinese name from the bundled pack plus configured paths (the bundled pack
    alone when the configured files do not load: an export must not fail on a rule typo)."""
    try:
        entries = catalogue_of(load_ruleset(rules_paths).rules).entries
    except SentimentError:
        entries = bundled_catalogue().entries
    return {e.id: e.name for e in entries}


def headers(language: str = "zh") -> list[str]:
    return [zh if language == "zh" else en for _, zh, en in COLUMNS]


def count_rows(db: sqlite_utils.Database, flt: ExportFilter) -> int:
    where, params = flt.where()
    return db.execute(f"SELECT count(*) FROM documents d LEFT JOIN analyses a ON a.document_id = d.id{where}",
                      params).fetchone()[0]


def iter_records(db: sqlite_utils.Database, flt: ExportFilter) -> Iterator[list[tuple[Any, ...]]]:
    """Raw rows of the documents that pass, oldest first, in chunks of CHUNK (one cursor)."""
    where, params = flt.where()
    cursor = db.conn.execute(f"{_SELECT}{where} ORDER BY d.created_at, d.id", params)
    try:
        while chunk := cursor.fetchmany(CHUNK):
            yield chunk
    finally:
        cursor.close()


@dataclass(frozen=True)
class RowFormat:
    """How raw rows become cells: the zone for dates, rule names, and the value language."""

    tz: tzinfo
    names: Mapping[str, str]
    language: str = "zh"  # zh: kind, rating and label in Chinese; en: their codes

    def row(self, raw: Sequence[Any]) -> dict[str, Any]:
        (created, kind, item_id, item_title, sku, order_id, author, rating, text, score, label,
         categories, rules, reply, incidents) = raw
        zh = self.language == "zh"
        return {
            "date": local_time(created, self.tz), "kind": KIND_NAMES.get(kind, kind) if zh else kind,
            "item_id": _text(item_id), "item_title": item_title, "sku": sku, "order_id": _text(order_id),
            "author": author, "rating": RATING_NAMES.get(rating, rating) if zh else rating, "text": text,
            "score": None if score is None else round(float(score), 4),
            "label": LABEL_NAMES.get(label, label) if zh else label,
            "categories": JOIN.join(category_name(c) for c in _split(categories)),
            "rules": JOIN.join(self.names.get(r, r) for r in _split(rules)),
            "seller_reply": reply, "incidents": JOIN.join(_split(incidents)),
        }


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _split(value: str | None) -> list[str]:
    return value.split("\x1f") if value else []


def export(db: sqlite_utils.Database, path: str | Path, flt: ExportFilter, fmt: RowFormat, *,
           header_language: str = "zh", progress: Callable[[int], Any] | None = None) -> ExportResult:
    """Write the documents that pass `flt` to `path` (.csv or .xlsx), atomically; returns the count."""
    path = Path(path)
    kind = export_format(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    writer = _write_csv if kind == "csv" else _write_xlsx
    rows = (fmt.row(r) for chunk in _reported(iter_records(db, flt), progress) for r in chunk)
    try:
        count = writer(tmp, headers(header_language), rows)
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise ExportError(f"cannot write {path}: {exc.strerror or exc}") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return ExportResult(str(path), count, kind)


def _reported(chunks: Iterable[list[Any]], progress: Callable[[int], Any] | None) -> Iterator[list[Any]]:
    for chunk in chunks:
        yield chunk
        if progress is not None:
            progress(len(chunk))


def _write_csv(path: Path, head: list[str], rows: Iterable[dict[str, Any]]) -> int:
    """UTF-8 with BOM (Excel), every text cell neutralized, the score a plain number."""
    count = 0
    with open(path, "w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(head)
        for row in rows:
            writer.writerow([_csv_cell(key, row[key]) for key, _, _ in COLUMNS])
            count += 1
    return count


def _csv_cell(key: str, value: Any) -> Any:
    if key == "score":
        return "" if value is None else value
    return neutralize(value)


def _write_xlsx(path: Path, head: list[str], rows: Iterable[dict[str, Any]]) -> int:
    """A write-only workbook (rows streamed to disk): ids and texts as string cells, the score a number."""
    with open(path, "wb") as fh:  # an unwritable target fails here, before openpyxl holds temp files
        book = Workbook(write_only=True)
        sheet = book.create_sheet("documents")
        for letter, width in zip("ABCDEFGHIJKLMNO", (20, 10, 16, 30, 24, 22, 12, 8, 60, 8, 8, 16, 24, 30, 34)):
            sheet.column_dimensions[letter].width = width
        count = 0
        try:
            sheet.append([xlsx_text(h) for h in head])
            for row in rows:
                sheet.append([_xlsx_cell(key, row[key]) for key, _, _ in COLUMNS])
                count += 1
        except BaseException:
            with contextlib.suppress(Exception):
                sheet.close()  # end openpyxl's row writer and its temp file
            raise
        book.save(fh)
    return count


def _xlsx_cell(key: str, value: Any) -> Any:
    """The score as a number; everything else as a string cell (openpyxl never turns a str into a
    number, and a neutralized text cannot start with "=", so no 19-digit id and no formula)."""
    if key == "score" or value is None:
        return value
    return xlsx_text(value)
