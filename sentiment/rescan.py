"""`sentiment rescan`: re-apply the current model and rules to stored documents.

Goes through the same `Pipeline` as ingestion. When the stored analysis was
made by the current model, only the rules are re-applied, on the stored
tokens, without segmenting again.
"""
from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Callable, Iterator, Sequence

import sqlite_utils

from sentiment import store
from sentiment.config import Settings
from sentiment.pipeline import Analysis, Pipeline

if TYPE_CHECKING:
    from sentiment.rules import Hit

CHUNK = 5000

COLUMNS = ("rowid", "id", "kind", "text", "rating", "item_id", "sku", "created_at", "is_placeholder",
           "score", "label", "tokens", "model_version", "rules_version")
SELECT = """
SELECT d.rowid, d.id, d.kind, d.text, d.rating, d.item_id, d.sku, d.created_at, d.is_placeholder,
       a.score, a.label, a.tokens, a.model_version, a.rules_version
FROM documents d LEFT JOIN analyses a ON a.document_id = d.id
WHERE d.rowid > ? {where}
ORDER BY d.rowid LIMIT ?
"""


class StoredTokens(Sequence):
    """Stored `[[word, start, end], ...]` decoded only when the matcher asks for them:
    most documents contain no rule term and never need their tokens."""

    __slots__ = ("_raw", "_items")

    def __init__(self, raw: str) -> None:
        self._raw = raw
        self._items: list[tuple[str, int, int]] | None = None

    def _load(self) -> list[tuple[str, int, int]]:
        if self._items is None:
            self._items = [tuple(t) for t in json.loads(self._raw)]  # type: ignore[misc]
        return self._items

    def __len__(self) -> int:
        return len(self._load())

    def __bool__(self) -> bool:
        return self._raw not in ("[]", "")

    def __getitem__(self, index: Any) -> Any:
        return self._load()[index]

    def __iter__(self) -> Iterator[tuple[str, int, int]]:
        return iter(self._load())


@dataclass
class RescanReport:
    documents: int = 0
    reanalyzed: int = 0          # segmented and scored again (model changed or never analyzed)
    rules_only: int = 0          # stored tokens reused
    labels_changed: int = 0
    hits_added: Counter = field(default_factory=Counter)     # by category
    hits_removed: Counter = field(default_factory=Counter)
    clusters: dict[str, Any] = field(default_factory=dict)
    dry_run: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "documents": self.documents, "reanalyzed": self.reanalyzed, "rules_only": self.rules_only,
            "labels_changed": self.labels_changed, "hits_added": dict(sorted(self.hits_added.items())),
            "hits_removed": dict(sorted(self.hits_removed.items())), "clusters": self.clusters,
            "dry_run": self.dry_run,
        }


def _filters(since: datetime | None, until: datetime | None, item: str | None) -> tuple[str, list[Any]]:
    clauses, params = [], []
    if since is not None:
        clauses.append("d.created_at >= ?")
        params.append(since.isoformat(timespec="seconds"))
    if until is not None:
        clauses.append("d.created_at < ?")
        params.append(until.isoformat(timespec="seconds"))
    if item is not None:
        clauses.append("d.item_id = ?")
        params.append(item)
    return "".join(f" AND {c}" for c in clauses), params


def _chunks(db: sqlite_utils.Database, where: str, params: list[Any]) -> Iterator[list[dict[str, Any]]]:
    last = 0
    sql = SELECT.format(where=where)
    while True:
        rows = [dict(zip(COLUMNS, r)) for r in db.conn.execute(sql, [last, *params, CHUNK])]
        if not rows:
            return
        last = rows[-1]["rowid"]
        yield rows


def count_documents(db: sqlite_utils.Database, since: datetime | None = None, until: datetime | None = None,
                    item: str | None = None) -> int:
    where, params = _filters(since, until, item)
    return db.execute(f"SELECT count(*) FROM documents d WHERE 1 {where}", params).fetchone()[0]


def _stored_hits(db: sqlite_utils.Database, ids: list[str]) -> dict[str, dict[str, str]]:
    found: dict[str, dict[str, str]] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        marks = ",".join("?" * len(chunk))
        for doc_id, rule_id, category in db.execute(
                f"SELECT document_id, rule_id, category FROM rule_hits WHERE document_id IN ({marks})", chunk):
            found.setdefault(doc_id, {})[rule_id] = category
    return found


def _rules_only(pipeline: Pipeline, row: dict[str, Any]) -> list[Hit] | None:
    """The rules' hits on the stored tokens, or None when the stored analysis is not the current
    model's (then the document is analyzed again)."""
    if row["tokens"] is None or row["model_version"] != pipeline.model.version:
        return None
    if row["label"] is None:  # placeholder or empty: nothing to match
        return []
    return pipeline.match(row["text"], StoredTokens(row["tokens"]), kind=row["kind"], rating=row["rating"],  # type: ignore[arg-type]
                          score=row["score"], item_id=row["item_id"], sku=row["sku"])


class _Chunk:
    """What one chunk of documents changes: full analyses, replaced hits, version bumps."""

    def __init__(self, pipeline: Pipeline, now: str) -> None:
        self.pipeline, self.now = pipeline, now
        self.full: list[dict[str, Any]] = []
        self.full_hits: list[dict[str, Any]] = []
        self.hit_docs: list[str] = []
        self.hits: list[dict[str, Any]] = []
        self.bump: list[str] = []

    def analyzed(self, row: dict[str, Any], analysis: Analysis) -> None:
        analysis_row, hit_rows = self.pipeline.rows(row, analysis, self.now)
        self.full.append(analysis_row)
        self.full_hits.extend(hit_rows)

    def rematched(self, row: dict[str, Any], hits: list[Hit], changed: bool) -> None:
        if changed:
            self.hit_docs.append(row["id"])
            self.hits.extend(self.pipeline.hit_rows(row, hits))
        if row["rules_version"] != self.pipeline.rules_version:
            self.bump.append(row["id"])

    def write(self, db: sqlite_utils.Database) -> None:
        with store.transaction(db):
            store.save_analyses(db, self.full, self.full_hits)
            store.replace_hits(db, self.hit_docs, self.hits)
            store.set_rules_version(db, self.bump, self.pipeline.rules_version, self.now)


def rescan(db: sqlite_utils.Database, pipeline: Pipeline, *, since: datetime | None = None,
           until: datetime | None = None, item: str | None = None, dry_run: bool = False,
           progress: Callable[[int], None] | None = None) -> RescanReport:
    """Re-apply model and rules; write what changed (unless dry_run), one transaction per chunk."""
    report = RescanReport(dry_run=dry_run)
    where, params = _filters(since, until, item)
    now = store.utcnow()
    for rows in _chunks(db, where, params):
        before = _stored_hits(db, [r["id"] for r in rows])
        chunk = _Chunk(pipeline, now)
        for row in rows:
            old = before.get(row["id"], {})
            hits = _rules_only(pipeline, row)
            if hits is None:
                analysis = pipeline.analyze_document(row)
                report.reanalyzed += 1
                report.labels_changed += analysis.label != row["label"]
                chunk.analyzed(row, analysis)
                hits = analysis.hits
            else:
                report.rules_only += 1
                chunk.rematched(row, hits, changed={h.rule_id for h in hits} != old.keys())
            if hits or old:
                after = {h.rule_id: h.category for h in hits}
                report.hits_added.update(after[r] for r in after.keys() - old.keys())
                report.hits_removed.update(old[r] for r in old.keys() - after.keys())
        report.documents += len(rows)
        if not dry_run:
            chunk.write(db)
        if progress:
            progress(len(rows))
    return report


def rescan_and_cluster(db: sqlite_utils.Database, pipeline: Pipeline, settings: Settings, *,
                       since: datetime | None = None, now: datetime | None = None, **kwargs: Any,
                       ) -> RescanReport:
    """Rescan, then bring clusters up to date with the new hits (not in a dry run)."""
    report = rescan(db, pipeline, since=since, **kwargs)
    if not report.dry_run and pipeline.rules is not None:
        from sentiment.clusters import cluster_options, cluster_settings_from_rules, update_clusters

        moment = now or datetime.now(settings.tz)
        result = update_clusters(db, cluster_settings_from_rules(pipeline.rules.rules), moment,
                                 since=since, options=cluster_options(settings))
        report.clusters = result.to_json() if hasattr(result, "to_json") else dict(vars(result))
    return report
