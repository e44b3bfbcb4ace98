"""Labeled texts for training and evaluation from any file: a `text,label` CSV, or any export
the ingester reads (CSV, TSV, XLSX, JSON) whose rows carry a rating in any vocabulary it knows."""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sentiment.errors import IngestError, ModelError, RowError
from sentiment.ingest.encodings import SAMPLE_BYTES, sniff_encoding
from sentiment.ingest.normalize import SOURCE_TZ, Context, to_documents
from sentiment.ingest.reader import open_records
from sentiment.ingest.records import BadRow
from sentiment.model.training import parse_labeled_rows

__all__ = ["LabeledFile", "read_labeled_file"]


@dataclass
class LabeledFile:
    """Texts and labels read from a file, with what was left out."""

    texts: list[str]
    labels: list[int]
    neutral: int = 0       # rated neutral (中评, 3 stars, 0 in a -1/0/1 column): left out
    unrated: int = 0       # no rating, or a placeholder text: left out
    unreadable: int = 0    # rows the ingester would quarantine


def read_labeled_file(path: Path | str, aliases: Any = None) -> LabeledFile:
    """Labeled texts from a `text,label` CSV (labels 1/0, positive/negative, 好评/中评/差评, -1/0/1 ...)
    or from any export the ingester reads (CSV, TSV, XLSX, JSON) whose rows carry a rating:
    stars, 好评/中评/差评, 1/0/-1, 11/12/13. Neutral and unrated rows are left out and counted."""
    path = Path(path)
    header = _csv_header(path)
    if header is not None and "text" in header and "label" in header:
        return _read_text_label(path)
    try:
        _, records = open_records(path, None, aliases)
        ctx = Context(tz=SOURCE_TZ, batch_id=None, ingested_at="")
        out = LabeledFile([], [])
        for item in records:
            if isinstance(item, BadRow):
                out.unreadable += 1
                continue
            try:
                docs, failed = to_documents(item, ctx)
            except RowError:
                out.unreadable += 1
                continue
            out.unreadable += len(failed)
            for doc in docs:
                label = {"positive": 1, "negative": 0}.get(doc.get("rating") or "")
                if doc.get("rating") == "neutral":
                    out.neutral += 1
                elif label is None or doc.get("is_placeholder") or not doc.get("text"):
                    out.unrated += 1
                else:
                    out.texts.append(doc["text"])
                    out.labels.append(label)
    except IngestError as exc:
        raise ModelError(f"{path}: {exc}" if not str(exc).startswith(str(path)) else str(exc)) from exc
    except OSError as exc:
        raise ModelError(f"{path}: cannot read ({exc})") from exc
    if not out.texts and header is not None and not out.neutral:
        raise ModelError(f"{path}:1: no rated rows: the header must have columns text,label or a rating column"
                         f" such as 评分 or 评价类型 (found {','.join(header) or 'nothing'})")
    if not out.texts:
        raise ModelError(f"{path}: no rows rated positive or negative ({out.neutral} neutral, {out.unrated} unrated;"
                         " give a text,label CSV or an export with a rating column such as 评分 or 评价类型)")
    return out


def _csv_header(path: Path) -> list[str] | None:
    """The lower-cased first row of a CSV-like file, or None when it is not one."""
    if path.suffix.lower() not in (".csv", ".tsv", ".txt"):
        return None
    try:
        with path.open("rb") as fh:
            data = fh.read(SAMPLE_BYTES)
        text = data.decode(sniff_encoding(data, path), errors="replace").lstrip("\ufeff")
        first = next(csv.reader(io.StringIO(text.splitlines()[0] if text else "")), [])
    except (OSError, IngestError, LookupError, csv.Error, IndexError):
        return None
    return [h.strip().lower() for h in first]


def _read_text_label(path: Path) -> LabeledFile:
    try:
        data = path.read_bytes()
        text = data.decode(sniff_encoding(data[:SAMPLE_BYTES], path))
        rows = csv.reader(io.StringIO(text, newline=""))
    except IngestError as exc:
        raise ModelError(str(exc)) from exc
    except (OSError, UnicodeDecodeError, LookupError) as exc:
        raise ModelError(f"{path}: cannot read labeled CSV ({exc})") from exc
    out = LabeledFile([], [])
    try:
        out.texts, out.labels, out.neutral = parse_labeled_rows(path, rows)
    except csv.Error as exc:
        raise ModelError(f"{path}: cannot read labeled CSV ({exc})") from exc
    return out
