"""Document search: the full-text index of `documents.text` and the query over it.

The index (`documents_fts`, migration 011) is an FTS5 table with external content (the text is
stored once, in `documents`) and the **trigram** tokenizer. Why trigram rather than jieba tokens
with unicode61: it finds any substring, so a query matches however jieba cut the stored text
(霉味 inside 一股霉味, a brand name jieba splits, a typo'd word), the web process needs no
segmenter (jieba's dictionary costs ~1 s and 150 MB), and a rules change never re-tokenizes the
index. Its limit: a term of fewer than 3 characters cannot use it, and Chinese complaint words
are often 2 (发霉, 过敏, 假货). Those terms are matched with LIKE on a bounded set instead: the
other filters, and with no start date the last `SHORT_TERM_DAYS` days (the `created_at` index).

No trigger keeps the index (a trigger would cost every ingested row): `update_index` adds the
documents inserted since its cursor (`engine_state` key `search.cursor`, the highest indexed
`documents.rowid`; documents are only ever inserted, and their text never changes). The worker's
analyze job calls it every cycle; the web app calls it before a search without waiting for a
busy store, and a search matches the rows past the cursor with LIKE, so results are never stale.
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Iterator

import sqlite_utils

from sentiment.reports.export import _ORDER_SQL, ExportFilter
from sentiment.errors import StoreBusy
from sentiment.store import transaction

CURSOR = "search.cursor"
FTS_TABLE = "documents_fts"
BATCH = 5000  # documents per indexing transaction: short enough not to hold up the worker
INDEX_BEFORE_SEARCH = 20_000  # indexed at most in a search request; the worker indexes the rest
MIN_INDEXED_CHARS = 3  # trigram: shorter terms cannot use the index
SHORT_TERM_DAYS = 90  # a search of only short terms and no start date looks back this far
MAX_TERMS = 8
COUNT_CAP = 10_000  # counts stop here ("10000+")
RATINGS = ("positive", "neutral", "negative")

_LIST_SQL = ("(SELECT group_concat(v, char(31)) FROM (SELECT DISTINCT {col} AS v FROM {table} x"
             " WHERE x.document_id = d.id ORDER BY v))")
RESULT_SELECT = (
    "SELECT d.rowid AS rowid, d.id, d.created_at, d.kind, d.item_id, d.item_title, d.author, d.rating, d.text,"
    f" d.seller_reply, d.meta, a.label, a.score, {_ORDER_SQL} AS order_id,"
    f" {_LIST_SQL.format(col='category', table='rule_hits')} AS categories,"
    f" {_LIST_SQL.format(col='incident_id', table='incident_members')} AS incidents"
    " FROM documents d LEFT JOIN analyses a ON a.document_id = d.id"
)


# --- the index ---------------------------------------------------------------------------------

def has_index(db: sqlite_utils.Database) -> bool:
    """Whether this SQLite built the FTS5 trigram table (3.34+ with FTS5)."""
    return db.execute("SELECT 1 FROM sqlite_master WHERE name = ?", [FTS_TABLE]).fetchone() is not None


def indexed_through(db: sqlite_utils.Database) -> int:
    """Every document with a rowid at or below this is in the index (0: none, or no index)."""
    row = db.execute("SELECT value FROM engine_state WHERE key = ?", [CURSOR]).fetchone()
    return int(row[0]) if row else 0


NO_WAIT_SECONDS = 0.05  # a search does not wait for the worker's write lock to top up the index


def update_index(db: sqlite_utils.Database, *, wait: bool = True, limit: int | None = None) -> int:
    """Index the documents inserted since the cursor, BATCH rows per transaction; returns how many.

    `wait=False` (the web, before a search): give up at once, returning what was indexed, when
    another process is writing; the search scans what is left. `limit`: stop after about this many."""
    if not has_index(db):
        return 0
    done = 0
    while limit is None or done < limit:
        size = BATCH if limit is None else min(BATCH, limit - done)
        with _writing(db, wait) as ok:
            if not ok:
                break
            low = indexed_through(db)
            high = db.execute("SELECT max(rowid) FROM (SELECT rowid FROM documents WHERE rowid > ?"
                              " ORDER BY rowid LIMIT ?)", [low, size]).fetchone()[0]
            if high is None:
                break
            db.execute(f"INSERT INTO {FTS_TABLE} (rowid, text) SELECT rowid, coalesce(text, '') FROM documents"
                       " WHERE rowid > ? AND rowid <= ?", [low, high])
            added = db.execute("SELECT changes()").fetchone()[0]
            db.execute("INSERT INTO engine_state (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE"
                       " SET value = excluded.value", [CURSOR, str(high)])
        done += added
    return done


@contextmanager
def _writing(db: sqlite_utils.Database, wait: bool) -> Iterator[bool]:
    """A write transaction: the store's (waiting for other writers) or, with wait=False, one that
    gives up almost at once when another connection holds the write lock (it yields False then)."""
    entered = False
    try:
        with transaction(db, None if wait else NO_WAIT_SECONDS):
            entered = True
            yield True
    except StoreBusy:
        if entered:
            raise
        yield False


# --- the query ---------------------------------------------------------------------------------

def terms_of(query: str | None) -> list[str]:
    """The whitespace-separated terms of a query (at most MAX_TERMS, duplicates dropped)."""
    seen: dict[str, None] = {}
    for term in (query or "").split():
        seen.setdefault(term, None)
    return list(seen)[:MAX_TERMS]


def _like(term: str) -> str:
    return "%" + term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _phrase(term: str) -> str:
    return '"' + term.replace('"', '""') + '"'


@dataclass(frozen=True)
class SearchFilter(ExportFilter):
    """The export filters plus text terms and the buyer's rating; `where()` serves `export()` too.

    `through`: the index cursor (documents above it are matched by LIKE); `fts`: the index exists."""

    text: tuple[str, ...] = ()
    rating: str | None = None
    through: int = 0
    fts: bool = False

    def where(self) -> tuple[str, list[Any]]:
        sql, params = super().where()
        clauses = [sql[len(" WHERE "):]] if sql else []
        if self.rating is not None:
            clauses.append("d.rating = ?")
            params.append(self.rating)
        long_terms = [t for t in self.text if self.fts and len(t) >= MIN_INDEXED_CHARS]
        if long_terms:
            likes = " AND ".join("text LIKE ? ESCAPE '\\'" for _ in long_terms)
            clauses.append(f"d.rowid IN (SELECT rowid FROM {FTS_TABLE} WHERE {FTS_TABLE} MATCH ?"
                           f" UNION ALL SELECT rowid FROM documents WHERE rowid > ? AND {likes})")
            params += [" ".join(_phrase(t) for t in long_terms), self.through, *(_like(t) for t in long_terms)]
        for term in self.text:
            if term not in long_terms:
                clauses.append("d.text LIKE ? ESCAPE '\\'")
                params.append(_like(term))
        return (" WHERE " + " AND ".join(clauses) if clauses else ""), params

    @property
    def short_only(self) -> bool:
        """Only terms the index cannot serve (every row in range is scanned)."""
        return bool(self.text) and not any(self.fts and len(t) >= MIN_INDEXED_CHARS for t in self.text)


def bounded(flt: SearchFilter, now: datetime) -> tuple[SearchFilter, bool]:
    """`flt`, limited to the last SHORT_TERM_DAYS when it has only short terms and no start date;
    and whether it was limited."""
    if flt.short_only and flt.since is None:
        return replace(flt, since=now - timedelta(days=SHORT_TERM_DAYS)), True
    return flt, False


def prepare(db: sqlite_utils.Database, flt: SearchFilter) -> SearchFilter:
    """Bring the index up to date as far as the store lets us now (at most INDEX_BEFORE_SEARCH rows;
    the rest is scanned); `flt` with the cursor set."""
    fts = has_index(db)
    if fts and flt.text:
        update_index(db, wait=False, limit=INDEX_BEFORE_SEARCH)
    return replace(flt, fts=fts, through=indexed_through(db) if fts else 0)


def search(db: sqlite_utils.Database, flt: SearchFilter, *, limit: int = 50, offset: int = 0
           ) -> list[dict[str, Any]]:
    """The documents that pass, newest first (`prepare` the filter first)."""
    where, params = flt.where()
    sql = f"{RESULT_SELECT}{where} ORDER BY d.created_at DESC, d.id LIMIT ? OFFSET ?"
    return [dict(r) for r in db.query(sql, [*params, limit, offset])]


def count(db: sqlite_utils.Database, flt: SearchFilter, cap: int = COUNT_CAP) -> tuple[int, bool]:
    """How many documents pass, counting at most `cap` + 1; (count, capped)."""
    where, params = flt.where()
    n = db.execute(f"SELECT count(*) FROM (SELECT 1 FROM documents d LEFT JOIN analyses a"
                   f" ON a.document_id = d.id{where} LIMIT ?)", [*params, cap + 1]).fetchone()[0]
    return min(n, cap), n > cap
