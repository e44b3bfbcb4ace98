"""`sentiment rescan`: re-apply the current model and rules to stored documents.

Goes through the same `Pipeline` as ingestion. When the stored analysis was
made by the current model, only the rules are re-applied, on the stored
tokens, without segmenting again.
"""
from __future__ import annotations

import json
import sqlite3
from array import array
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable, Iterator, Sequence

import orjson
import sqlite_utils

from sentiment import store
from sentiment.config import Settings
from sentiment.pipeline.analysis import Analysis, Pipeline
from sentiment.pipeline.writer import write_analyses
from sentiment.rules.records import Hit, MatchInput
from sentiment.rules.ruleset import RuleSet
from sentiment.times import stored
from sentiment.signals.incidents import refresh_documents

CHUNK = 5000
EXCERPT = 60           # characters of document text shown per change
CHANGES_LIMIT = 100_000  # changes a report keeps at most (then `changes_truncated`); counts stay exact

# tokens are not read here: most documents contain no term of a changed rule and never need them
SELECT = """
SELECT d.rowid, d.id, d.kind, d.text, d.rating, d.item_id, d.sku, d.created_at, d.is_placeholder,
       a.score, a.label, a.tokens IS NOT NULL AS has_tokens, a.model_version, a.rules_version,
       a.rowid AS analysis_rowid
FROM documents d LEFT JOIN analyses a ON a.document_id = d.id
WHERE d.rowid > ? {where}
ORDER BY d.rowid LIMIT ?
"""
# positions of SELECT's columns, for the per-document hot path
(_ROWID, _ID, _KIND, _TEXT, _RATING, _ITEM_ID, _SKU, _CREATED_AT, _IS_PLACEHOLDER,
 _SCORE, _LABEL, _HAS_TOKENS, _MODEL_VERSION, _RULES_VERSION, _ANALYSIS_ROWID) = range(15)


class StoredTokens(Sequence):
    """A document's stored `[[word, start, end], ...]`, read and decoded only when the matcher
    asks for them: most documents contain no rule term and never need their tokens."""

    __slots__ = ("_db", "_rowid", "_items")

    def __init__(self, db: sqlite_utils.Database, rowid: int) -> None:
        self._db, self._rowid = db, rowid  # the rowid of the document's `analyses` row
        self._items: list[tuple[str, int, int]] | None = None

    def _load(self) -> list[tuple[str, int, int]]:
        if self._items is None:
            raw = self._db.conn.execute("SELECT tokens FROM analyses WHERE rowid = ?",
                                        [self._rowid]).fetchone()[0]
            try:
                items = orjson.loads(raw)  # the same values as json.loads, about 3x faster
            except orjson.JSONDecodeError:  # what orjson refuses and json reads (a lone surrogate)
                items = json.loads(raw)
            self._items = [tuple(t) for t in items]  # type: ignore[misc]
        return self._items

    def __len__(self) -> int:
        return len(self._load())

    def __bool__(self) -> bool:
        return len(self._load()) > 0

    def __getitem__(self, index: Any) -> Any:
        return self._load()[index]

    def __iter__(self) -> Iterator[tuple[str, int, int]]:
        return iter(self._load())


@dataclass(frozen=True, slots=True)
class Change:
    """One document gaining ("added") or losing ("removed") one rule's hit."""

    rule_id: str
    category: str
    change: str
    document_id: str
    created_at: str | None
    item_id: str | None
    excerpt: str

    def to_json(self) -> dict[str, Any]:
        return {"rule_id": self.rule_id, "category": self.category, "change": self.change,
                "document_id": self.document_id, "created_at": self.created_at, "item_id": self.item_id,
                "excerpt": self.excerpt}


def excerpt(text: str | None, at: int = 0, width: int = EXCERPT) -> str:
    """At most `width` characters of `text` on one line, around offset `at` (a matched term);
    cuts are marked with …"""
    text = " ".join((text or "").split())
    if len(text) <= width:
        return text
    start = max(0, min(at - width // 3, len(text) - width))
    end = start + width
    body = text[start:end]
    if start:
        body = "…" + body[1:]
    if end < len(text):
        body = body[:-1] + "…"
    return body


class ChangeLog:
    """The documents whose hits a rescan adds or removes, per rule, kept within bounds.

    `per_rule` keeps at most that many changes of each rule (text output shows a few and
    "… and N more"); `limit` caps the changes kept in all (memory on a huge rescan), setting
    `truncated`. `counts` always counts every change."""

    def __init__(self, per_rule: int | None = None, limit: int | None = CHANGES_LIMIT) -> None:
        self.per_rule, self.limit = per_rule, limit
        self.kept: list[Change] = []
        self.counts: Counter = Counter()   # rule id -> changes (added and removed)
        self.truncated = False

    def add(self, change: Change) -> None:
        self.counts[change.rule_id] += 1
        if self.per_rule is not None and self.counts[change.rule_id] > self.per_rule:
            return
        if self.limit is not None and len(self.kept) >= self.limit:
            self.truncated = True
            return
        self.kept.append(change)

    def record(self, row: Any, old: dict[str, str], after: dict[str, str], hits: Sequence[Hit]) -> None:
        """The changes of one document: rules in `after` and not in `old` are added, the reverse removed."""
        terms = {h.rule_id: h.terms[0][1] for h in hits if h.terms}
        for rule_id in sorted(after.keys() - old.keys()):
            self.add(self._change(row, rule_id, after[rule_id], "added", terms.get(rule_id, 0)))
        for rule_id in sorted(old.keys() - after.keys()):
            self.add(self._change(row, rule_id, old[rule_id], "removed", 0))

    @staticmethod
    def _change(row: Any, rule_id: str, category: str, change: str, at: int) -> Change:
        return Change(rule_id, category, change, row["id"], row["created_at"], row["item_id"],
                      excerpt(row["text"], at))

    def by_rule(self) -> dict[str, list[Change]]:
        grouped: dict[str, list[Change]] = {}
        for c in self.kept:
            grouped.setdefault(c.rule_id, []).append(c)
        return dict(sorted(grouped.items()))


@dataclass
class RescanReport:
    documents: int = 0
    reanalyzed: int = 0          # segmented and scored again (model changed or never analyzed)
    rules_only: int = 0          # stored tokens reused
    labels_changed: int = 0
    hits_added: Counter = field(default_factory=Counter)     # by category
    hits_removed: Counter = field(default_factory=Counter)
    incidents: dict[str, Any] = field(default_factory=dict)
    dry_run: bool = False
    changes: ChangeLog = field(default_factory=ChangeLog)

    def to_json(self) -> dict[str, Any]:
        return {
            "documents": self.documents, "reanalyzed": self.reanalyzed, "rules_only": self.rules_only,
            "labels_changed": self.labels_changed, "hits_added": dict(sorted(self.hits_added.items())),
            "hits_removed": dict(sorted(self.hits_removed.items())), "incidents": self.incidents,
            "dry_run": self.dry_run, "changes": [c.to_json() for c in self.changes.kept],
            "changes_truncated": self.changes.truncated,
        }


def _filters(since: datetime | None, until: datetime | None, item: str | None) -> tuple[str, list[Any]]:
    clauses, params = [], []
    if since is not None:
        clauses.append("d.created_at >= ?")
        params.append(stored(since))
    if until is not None:
        clauses.append("d.created_at < ?")
        params.append(stored(until))
    if item is not None:
        clauses.append("d.item_id = ?")
        params.append(item)
    return "".join(f" AND {c}" for c in clauses), params


def _chunks(db: sqlite_utils.Database, where: str, params: list[Any]) -> Iterator[list[sqlite3.Row]]:
    """The documents in rowid order, CHUNK at a time. With a filter (dates, item), the matching
    rowids are found first through its index and the chunks read by rowid: walking rowids with the
    filter would read every document from the first match on (a month of a 10M-document store
    spans nearly all of it, its 问大家 file being one back-fill)."""
    cursor = db.conn.cursor()
    cursor.row_factory = sqlite3.Row  # rows by column name without building a dict per document
    if not where:
        last, sql = 0, SELECT.format(where="")
        while True:
            rows = cursor.execute(sql, [last, CHUNK]).fetchall()
            if not rows:
                return
            last = rows[-1]["rowid"]
            yield rows
    wanted = array("q", sorted(r[0] for r in db.conn.execute(f"SELECT d.rowid FROM documents d WHERE 1 {where}",
                                                              params)))
    sql = SELECT.replace("WHERE d.rowid > ? {where}", "WHERE d.rowid IN (SELECT value FROM json_each(?))")
    for start in range(0, len(wanted), CHUNK):
        part = wanted[start:start + CHUNK]
        yield cursor.execute(sql.replace("LIMIT ?", ""), [json.dumps(part.tolist())]).fetchall()


def count_documents(db: sqlite_utils.Database, since: datetime | None = None, until: datetime | None = None,
                    item: str | None = None) -> int:
    where, params = _filters(since, until, item)
    return db.execute(f"SELECT count(*) FROM documents d WHERE 1 {where}", params).fetchone()[0]


def _stored_hits(db: sqlite_utils.Database, doc_ids: Sequence[str]) -> dict[str, dict[str, str]]:
    """The stored hits of these documents, looked up by document (a chunk of a filtered rescan is
    spread over the store's rowids: a rowid range would read everything in between)."""
    found: dict[str, dict[str, str]] = {}
    for start in range(0, len(doc_ids), store.TEXT_CHUNK):
        part = list(doc_ids[start:start + store.TEXT_CHUNK])
        for doc_id, rule_id, category in db.conn.execute(
                "SELECT document_id, rule_id, category FROM rule_hits"
                f" WHERE document_id IN ({','.join('?' * len(part))})", part):
            found.setdefault(doc_id, {})[rule_id] = category
    return found


@dataclass(frozen=True)
class _Plan:
    """How to bring hits made under one stored rules version up to date."""

    rules: "RuleSet | None"   # the rules to match again (None: nothing changed)
    keep: frozenset[str]      # rule ids whose stored hits are still valid


def _plan(db: sqlite_utils.Database, pipeline: Pipeline, version: str | None) -> _Plan:
    current = pipeline.rule_digests
    if pipeline.rules is None:
        return _Plan(None, frozenset())
    if version == pipeline.rules_version:
        return _Plan(None, frozenset(current))
    old = store.ruleset_digests(db, version)
    if old is None:  # unknown rules: match everything again
        return _Plan(pipeline.rules, frozenset())
    changed = {rule_id for rule_id, digest in current.items() if old.get(rule_id) != digest}
    keep = frozenset(current) - changed
    return _Plan(pipeline.rules.subset(changed) if changed else None, keep)


def _rematch(db: sqlite_utils.Database, plan: _Plan, row: Sequence[Any]) -> list[Hit]:
    """Hits of the rules in the plan, on the stored tokens (read only if a rule has a candidate).

    `row` is a row of SELECT, read by position: by name, sqlite3.Row compares column names
    one by one, and the rules-only path reads a dozen values of every stored document."""
    if plan.rules is None or row[_LABEL] is None:  # nothing changed, or a placeholder
        return []
    return plan.rules.match(MatchInput(  # type: ignore[arg-type]
        text=row[_TEXT], tokens=StoredTokens(db, row[_ANALYSIS_ROWID]), kind=row[_KIND], rating=row[_RATING],
        score=row[_SCORE], item_id=row[_ITEM_ID], sku=row[_SKU]))


class _Chunk:
    """What one chunk of documents changes: full analyses, replaced hits, version bumps."""

    def __init__(self, pipeline: Pipeline, now: str) -> None:
        self.pipeline, self.now = pipeline, now
        self.full: list[dict[str, Any]] = []
        self.full_hits: list[dict[str, Any]] = []
        self.dropped: list[tuple[str, str]] = []   # (document, rule) hits no longer valid
        self.hits: list[dict[str, Any]] = []
        self.bump = False

    def analyzed(self, row: dict[str, Any], analysis: Analysis) -> None:
        analysis_row, hit_rows = self.pipeline.rows(row, analysis, self.now)
        self.full.append(analysis_row)
        self.full_hits.extend(hit_rows)

    def rematched(self, row: Sequence[Any], old: dict[str, str], plan: _Plan, hits: list[Hit]) -> None:
        if old:
            self.dropped.extend((row[_ID], rule_id) for rule_id in old if rule_id not in plan.keep)
        if hits:
            self.hits.extend(self.pipeline.hit_rows(row, hits))  # type: ignore[arg-type]

    def write(self, db: sqlite_utils.Database, rows: list[sqlite3.Row]) -> None:
        with store.transaction(db):
            write_analyses(db, self.full, self.full_hits, self.pipeline.rules_version, self.pipeline.rule_digests)
            store.drop_hits(db, self.dropped)
            store.insert_hits(db, self.hits)
            if self.bump:  # re-matched on stored tokens: now matched by the current rules
                store.set_rules_version(db, [r[_ANALYSIS_ROWID] for r in rows if r[_ANALYSIS_ROWID] is not None],
                                        self.pipeline.model.version, self.pipeline.rules_version, self.now)


def _needs_analysis(row: Sequence[Any], model_version: str) -> bool:
    """No stored tokens, or scored by another model: analyzed afresh, not only re-matched."""
    return not row[_HAS_TOKENS] or row[_MODEL_VERSION] != model_version


def rescan(db: sqlite_utils.Database, pipeline: Pipeline, *, since: datetime | None = None,
           until: datetime | None = None, item: str | None = None, dry_run: bool = False,
           progress: Callable[[int], None] | None = None, changes: ChangeLog | None = None) -> RescanReport:
    """Re-apply model and rules; write what changed (unless dry_run), one transaction per chunk.

    Documents analyzed by the current model keep their score and tokens; of their
    hits, those of unchanged rules stay and only new or changed rules are matched.
    `changes` collects the documents that gain or lose a hit (default: all, up to CHANGES_LIMIT).
    """
    report = RescanReport(dry_run=dry_run, changes=changes or ChangeLog())
    where, params = _filters(since, until, item)
    now = store.utcnow()
    plans: dict[str | None, _Plan] = {}
    model_version, rules_version = pipeline.model.version, pipeline.rules_version
    for rows in _chunks(db, where, params):
        before = _stored_hits(db, [r[_ID] for r in rows])
        chunk = _Chunk(pipeline, now)
        needs = [_needs_analysis(r, model_version) for r in rows]
        pipeline.prime(r[_TEXT] for r, analyze in zip(rows, needs) if analyze)
        for row, analyze in zip(rows, needs):
            old = before.get(row[_ID], {})
            if analyze:
                row = dict(row)
                analysis = pipeline.analyze_document(row)
                report.reanalyzed += 1
                report.labels_changed += analysis.label != row["label"]
                chunk.analyzed(row, analysis)
                after = {h.rule_id: h.category for h in analysis.hits}
                hits = analysis.hits
            else:
                report.rules_only += 1
                version = row[_RULES_VERSION]
                if version != rules_version:
                    chunk.bump = True
                plan = plans.get(version) or plans.setdefault(version, _plan(db, pipeline, version))
                hits = _rematch(db, plan, row)
                if not hits and not old:  # the common case: no hit before or after
                    continue
                chunk.rematched(row, old, plan, hits)
                if not hits and plan.keep.issuperset(old):
                    continue
                after = {r: c for r, c in old.items() if r in plan.keep} | {h.rule_id: h.category for h in hits}
            report.hits_added.update(after[r] for r in after.keys() - old.keys())
            report.hits_removed.update(old[r] for r in old.keys() - after.keys())
            if after.keys() != old.keys():
                report.changes.record(row, old, after, hits)
        report.documents += len(rows)
        if not dry_run:
            chunk.write(db, rows)
        if progress:
            progress(len(rows))
    return report


def rescan_and_update(db: sqlite_utils.Database, pipeline: Pipeline, settings: Settings, *,
                      since: datetime | None = None, until: datetime | None = None, item: str | None = None,
                      now: datetime | None = None, **kwargs: Any) -> RescanReport:
    """Rescan, then bring incidents in line with the new hits (not in a dry run)."""
    report = rescan(db, pipeline, since=since, until=until, item=item, **kwargs)
    if not report.dry_run and pipeline.rules is not None:
        where, params = _filters(since, until, item)
        result = refresh_documents(db, settings, now or datetime.now(settings.tz), rules=pipeline.rules,
                                   where=where, params=params)
        report.incidents = result.to_json()
    return report
