"""The SQLite store: schema by ordered migrations, WAL, explicit transactions, queries."""
from __future__ import annotations

import hashlib
import json
import logging
import operator
import sqlite3
import time
from collections import Counter
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

import sqlite_utils

from sentiment.errors import StoreBusy, StoreError
from sentiment.times import utcnow

log = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 15_000  # one statement outside `transaction` waits this long for a writer
# `transaction` waits this long for another process's write transaction (the worker ingesting
# a 300k-row file holds one for minutes), saying so every WAIT_REPORT_SECONDS, then gives up
WRITE_WAIT_SECONDS = 900.0
WAIT_REPORT_SECONDS = 5.0
_WAIT_SLICE_MS = 1000  # each BEGIN IMMEDIATE attempt while waiting

DOCUMENT_COLUMNS: dict[str, type] = {
    "id": str, "source": str, "kind": str, "external_id": str, "parent_id": str,
    "shop": str, "item_id": str, "item_title": str, "sku": str, "author": str,
    "rating": str, "text_raw": str, "text": str, "is_placeholder": int,
    "created_at": str, "date_precision": str, "seller_reply": str, "meta": str,
    "ingested_at": str, "batch_id": int,
}
DOCUMENT_FIELDS = tuple(DOCUMENT_COLUMNS)


def _m001_documents(db: sqlite_utils.Database) -> None:
    db["documents"].create(DOCUMENT_COLUMNS, pk="id")
    db["documents"].create_index(["created_at"])
    db["documents"].create_index(["item_id", "created_at"])
    db["documents"].create_index(["parent_id"])
    db["documents"].create_index(["batch_id"])
    db["batches"].create({
        "id": int, "path": str, "sha256": str, "size": int, "format": str, "shape": str,
        "status": str, "read": int, "new": int, "duplicates": int, "quarantined": int,
        "placeholders": int, "error": str, "started_at": str, "finished_at": str,
    }, pk="id")
    db["quarantine"].create({
        "id": str, "batch_id": int, "path": str, "row": str, "reason": str, "raw": str,
        "created_at": str,
    }, pk="id")
    db["quarantine"].create_index(["batch_id"])


def _m002_analyses(db: sqlite_utils.Database) -> None:
    db["analyses"].create({
        "document_id": str, "score": float, "label": str, "tokens": str,
        "model_version": str, "rules_version": str, "analyzed_at": str,
    }, pk="document_id")
    db["analyses"].create_index(["label"])
    db["rule_hits"].create({
        "document_id": str, "rule_id": str, "category": str, "severity": str,
        "terms": str, "created_at": str,
    }, pk=("document_id", "rule_id"))
    db["rule_hits"].create_index(["category"])
    db["rule_hits"].create_index(["rule_id"])


def _m003_clusters(db: sqlite_utils.Database) -> None:
    # kind: rule (item x category in a window), spike (item negative share vs baseline),
    # topic (emergent negative theme no rule caught), duplicate (copy-paste texts)
    db["clusters"].create({
        "id": str, "kind": str, "item_id": str, "item_title": str, "category": str, "rule_id": str,
        "severity": str, "title": str, "size": int, "first_seen": str, "last_seen": str,
        "status": str, "meta": str, "created_at": str, "updated_at": str,
    }, pk="id")
    db["clusters"].create_index(["kind", "last_seen"])
    db["clusters"].create_index(["item_id", "category"])
    db["cluster_members"].create({"cluster_id": str, "document_id": str, "added_at": str},
                                 pk=("cluster_id", "document_id"))
    db["cluster_members"].create_index(["document_id"])


def _m004_outbox_runs(db: sqlite_utils.Database) -> None:
    # one row per message, rendered once under its idempotency key
    db["outbox"].create({
        "id": int, "key": str, "kind": str, "audience": str, "recipients": str, "subject": str,
        "eml_path": str, "message": str, "status": str, "attempts": int, "next_attempt_at": str,
        "last_error": str, "created_at": str, "sent_at": str, "meta": str,
    }, pk="id")
    db["outbox"].create_index(["key"], unique=True)
    db["outbox"].create_index(["status", "next_attempt_at"])
    db["alerted"].create({"document_id": str, "rule_id": str, "outbox_id": int, "created_at": str},
                         pk=("document_id", "rule_id"))
    db["runs"].create({
        "id": int, "job": str, "started_at": str, "finished_at": str, "outcome": str, "error": str,
        "detail": str,
    }, pk="id")
    db["runs"].create_index(["job", "started_at"])


def _m005_triage(db: sqlite_utils.Database) -> None:
    db["triage"].create({
        "item_key": str, "kind": str, "state": str, "owner": str, "assignee": str,
        "note": str, "resolved_at": str, "updated_at": str, "updated_by": str,
    }, pk="item_key")
    db["triage"].create_index(["state"])
    db["triage_log"].create({
        "id": int, "item_key": str, "at": str, "by": str, "action": str, "from_state": str,
        "to_state": str, "note": str,
    }, pk="id")
    db["triage_log"].create_index(["item_key"])


def _m006_cluster_indexes(db: sqlite_utils.Database) -> None:
    db.execute("CREATE INDEX IF NOT EXISTS idx_rule_hits_created_at ON rule_hits (created_at)")
    db.execute("CREATE INDEX IF NOT EXISTS idx_clusters_status_kind ON clusters (status, kind, last_seen)")


def _m007_rulesets(db: sqlite_utils.Database) -> None:
    # the rules behind each analyses.rules_version, so a rescan re-matches only changed rules
    db["rulesets"].create({"version": str, "digests": str, "created_at": str}, pk="version")


def _m008_lighter_document_indexes(db: sqlite_utils.Database) -> None:
    # every index costs each ingested row: nothing looks documents up by batch, and only
    # follow-ups and answers have a parent
    db.execute("DROP INDEX IF EXISTS idx_documents_batch_id")
    db.execute("DROP INDEX IF EXISTS idx_documents_parent_id")
    db.execute("CREATE INDEX IF NOT EXISTS idx_documents_parent ON documents (parent_id)"
               " WHERE parent_id IS NOT NULL")


def _m009_batch_newest(db: sqlite_utils.Database) -> None:
    # the newest own date of a file's documents: a follow-up dated when first seen alerts only
    # when its file brought fresh dated documents too (back-filling an old export stays quiet)
    db.execute("ALTER TABLE batches ADD COLUMN newest_at TEXT")


def _m010_incidents(db: sqlite_utils.Database) -> None:
    # incidents replace clusters in everything a person reads: one per (shop, item, category),
    # growing with new evidence; per local day counts for baselines; the engine's cursor
    db["incidents"].create({
        "id": str, "kind": str, "shop": str, "item_key": str, "item_id": str, "item_title": str,
        "category": str, "title": str, "severity": str, "base_severity": str, "size": int,
        "first_seen": str, "last_seen": str, "opened_at": str, "due_from": str, "due_at": str,
        "owners": str, "rules": str, "meta": str, "alerted_severity": str, "created_at": str,
        "updated_at": str,
    }, pk="id")
    db["incidents"].create_index(["item_key", "category"])
    db["incidents"].create_index(["last_seen"])
    db["incident_members"].create({"incident_id": str, "document_id": str, "created_at": str,
                                   "severity": str, "added_at": str}, pk=("incident_id", "document_id"))
    db["incident_members"].create_index(["document_id"])
    db["incident_members"].create_index(["incident_id", "created_at"])
    db["incident_members"].create_index(["created_at"])  # recent evidence, for alerts
    db["signal_days"].create({"day": str, "item_key": str, "category": str, "n": int},
                             pk=("day", "item_key", "category"))
    db["signal_days"].create_index(["item_key", "category", "day"])
    db["engine_state"].create({"key": str, "value": str}, pk="key")
    db.execute("CREATE INDEX IF NOT EXISTS idx_rule_hits_category_created ON rule_hits (category, created_at)")
    _triaged_clusters_to_incidents(db)



def _m011_web(db: sqlite_utils.Database) -> None:
    # the web console: users (argon2 password hashes), API tokens and sessions (SHA-256 of the random
    # token / session id, so a copy of the store signs no one in; deleting a user's rows ends them),
    # sign-in attempts (the rate limit survives restarts) and the full-text index of documents.text
    db["users"].create({"name": str, "audience": str, "email": str, "password_hash": str, "disabled_at": str,
                        "created_at": str, "updated_at": str}, pk="name")
    db["api_tokens"].create({"id": int, "user_name": str, "token_hash": str, "created_at": str}, pk="id")
    db["api_tokens"].create_index(["token_hash"], unique=True)
    db["api_tokens"].create_index(["user_name"])
    db["web_sessions"].create({"id_hash": str, "user_name": str, "created_at": str, "expires_at": str},
                              pk="id_hash")
    db["web_sessions"].create_index(["user_name"])
    db["signin_attempts"].create({"id": int, "at": str, "user_name": str, "ip": str, "ok": int}, pk="id")
    db["signin_attempts"].create_index(["user_name", "at"])
    db["signin_attempts"].create_index(["ip", "at"])
    # external content (the text stays in `documents` only); no triggers on documents (ingest speed):
    # sentiment.reports.search indexes new rows by a cursor. trigram: substring search in Chinese without a
    # segmenter (queries of 3+ characters; shorter ones are scanned). Without FTS5 or trigram (SQLite
    # before 3.34) the table is left out and search scans.
    try:
        db.execute("CREATE VIRTUAL TABLE documents_fts USING fts5(text, content='documents',"
                   " content_rowid='rowid', tokenize='trigram')")
    except sqlite3.OperationalError as exc:
        log.warning("full-text index unavailable (%s): document search scans instead", exc)

INCIDENT_ITEM_KEY_SQL = "coalesce(nullif(item_id, ''), nullif(item_title, ''), 'unknown')"


def incident_id(shop: str | None, item_key: str, category: str) -> str:
    """The one id of the incident of (shop, item, category): it reopens under the same id."""
    digest = hashlib.sha1("\x1f".join((shop or "", item_key, category)).encode("utf-8")).hexdigest()
    return f"inc-{digest[:12]}"


def _cluster_incident_key(kind: str, item_key: str, category: str | None, title: str | None) -> tuple[str, str, str]:
    """(incident kind, item key, category) a stored cluster maps to."""
    if kind == "rule":
        return "rule", item_key, category or "unknown"
    if kind == "spike":
        return "spike", item_key, "spike"
    if kind == "topic":
        return "topic", "*", f"topic:{title or ''}"
    return "manipulation", item_key, "review_manipulation"


def _triaged_clusters_to_incidents(db: sqlite_utils.Database) -> None:
    """Clusters someone triaged become incidents, keeping state, assignee, owners and history.

    Several clusters of one (item, category) become one incident: the most recently updated
    triage row wins, every history entry moves over (in order). Untriaged clusters need no
    migration: the incident engine rebuilds them from the evidence on its first run."""
    rows = db.execute(
        f"SELECT c.id, c.kind, {INCIDENT_ITEM_KEY_SQL}, c.item_id, c.item_title, c.category, c.severity,"
        " c.title, t.updated_at, t.owner FROM clusters c JOIN triage t ON t.item_key = 'cluster:' || c.id"
        " ORDER BY t.updated_at, c.id").fetchall()
    now = utcnow()
    for cid, kind, item_key, item_id, item_title, category, severity, title, _updated, owner in rows:
        inc_kind, key, cat = _cluster_incident_key(kind, item_key, category, title)
        members = db.execute(
            "SELECT d.id, d.created_at, d.shop FROM cluster_members m JOIN documents d ON d.id = m.document_id"
            " WHERE m.cluster_id = ? ORDER BY d.created_at, d.id", [cid]).fetchall()
        shop = members[0][2] if members else ""
        iid = incident_id(shop, key, cat)
        old = db.execute("SELECT first_seen, last_seen FROM incidents WHERE id = ?", [iid]).fetchone()
        db.conn.executemany("INSERT OR IGNORE INTO incident_members (incident_id, document_id, created_at,"
                            " severity, added_at) VALUES (?, ?, ?, ?, ?)",
                            [(iid, d, at, severity, now) for d, at, _ in members])
        size, first, last = db.execute("SELECT count(*), min(created_at), max(created_at) FROM incident_members"
                                       " WHERE incident_id = ?", [iid]).fetchone()
        values = {"kind": inc_kind, "shop": shop, "item_key": key, "item_id": item_id, "item_title": item_title,
                  "category": cat, "title": title, "severity": severity, "base_severity": severity,
                  "size": size, "first_seen": first or now, "last_seen": last or now, "opened_at": now,
                  "due_from": first or now, "owners": owner, "rules": "{}",
                  "meta": json.dumps({"migrated_from": [cid]}), "updated_at": now}
        if old is None:
            db["incidents"].insert({"id": iid, **values, "created_at": now})
        else:
            meta = json.loads(db.execute("SELECT meta FROM incidents WHERE id = ?", [iid]).fetchone()[0] or "{}")
            values["meta"] = json.dumps({"migrated_from": [*meta.get("migrated_from", []), cid]})
            db["incidents"].update(iid, values)
        # the latest-updated cluster's triage row wins (rows come oldest first)
        db.execute("DELETE FROM triage WHERE item_key = ?", [f"incident:{iid}"])
        db.execute("UPDATE triage SET item_key = ?, kind = 'incident' WHERE item_key = ?",
                   [f"incident:{iid}", f"cluster:{cid}"])
        db.execute("UPDATE triage_log SET item_key = ? WHERE item_key = ?", [f"incident:{iid}", f"cluster:{cid}"])


def _m012_channels(db: sqlite_utils.Database) -> None:
    # group robots: an outbox row for a chat channel names it (mail rows leave it NULL); every request
    # sent to a robot, with its wall-clock time, so rate limits hold across runs and restarts
    db.execute("ALTER TABLE outbox ADD COLUMN channel TEXT")
    db.execute("CREATE INDEX IF NOT EXISTS idx_outbox_channel ON outbox (channel, status) WHERE channel IS NOT NULL")
    db["channel_sends"].create({"id": int, "channel": str, "at": float, "outbox_id": int}, pk="id")
    db["channel_sends"].create_index(["channel", "at"])



# Counts `sentiment status` shows, kept in the transaction that writes the rows, so that status reads
# a few rows instead of scanning a store of millions: by triggers for analyses and for deleted or
# changed documents, and by `insert_documents` for new documents (one upsert per batch and kind: a
# trigger's upsert per row cost ingest about 10 microseconds a document, a fifth of its time). `analyses` is written with INSERT OR REPLACE, whose
# implicit delete fires the DELETE trigger only with recursive_triggers on: `open_db` sets it.
COUNT_TRIGGERS = """
CREATE TRIGGER count_documents_delete AFTER DELETE ON documents BEGIN
  UPDATE document_counts SET n = n - 1 WHERE source = coalesce(OLD.source, '') AND kind = coalesce(OLD.kind, '')
    AND is_placeholder = coalesce(OLD.is_placeholder, 0);
END;
CREATE TRIGGER count_documents_update AFTER UPDATE OF source, kind, is_placeholder ON documents
WHEN OLD.source IS NOT NEW.source OR OLD.kind IS NOT NEW.kind OR OLD.is_placeholder IS NOT NEW.is_placeholder
BEGIN
  UPDATE document_counts SET n = n - 1 WHERE source = coalesce(OLD.source, '') AND kind = coalesce(OLD.kind, '')
    AND is_placeholder = coalesce(OLD.is_placeholder, 0);
  INSERT INTO document_counts (source, kind, is_placeholder, n)
  VALUES (coalesce(NEW.source, ''), coalesce(NEW.kind, ''), coalesce(NEW.is_placeholder, 0), 1)
  ON CONFLICT (source, kind, is_placeholder) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER count_analyses_insert AFTER INSERT ON analyses BEGIN
  INSERT INTO label_counts (label, n) VALUES (coalesce(NEW.label, 'placeholder'), 1)
  ON CONFLICT (label) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER count_analyses_delete AFTER DELETE ON analyses BEGIN
  UPDATE label_counts SET n = n - 1 WHERE label = coalesce(OLD.label, 'placeholder');
END;
CREATE TRIGGER count_analyses_update AFTER UPDATE OF label ON analyses WHEN OLD.label IS NOT NEW.label BEGIN
  UPDATE label_counts SET n = n - 1 WHERE label = coalesce(OLD.label, 'placeholder');
  INSERT INTO label_counts (label, n) VALUES (coalesce(NEW.label, 'placeholder'), 1)
  ON CONFLICT (label) DO UPDATE SET n = n + 1;
END;
"""


def _m013_counts(db: sqlite_utils.Database) -> None:
    db.execute("CREATE TABLE document_counts (source TEXT NOT NULL, kind TEXT NOT NULL,"
               " is_placeholder INTEGER NOT NULL, n INTEGER NOT NULL, PRIMARY KEY (source, kind, is_placeholder))")
    db.execute("CREATE TABLE label_counts (label TEXT PRIMARY KEY, n INTEGER NOT NULL)")
    db.execute("INSERT INTO document_counts SELECT coalesce(source, ''), coalesce(kind, ''),"
               " coalesce(is_placeholder, 0), count(*) FROM documents GROUP BY 1, 2, 3")
    db.execute("INSERT INTO label_counts SELECT coalesce(label, 'placeholder'), count(*) FROM analyses GROUP BY 1")
    for statement in COUNT_TRIGGERS.split("END;"):  # one by one: executescript would commit the migration
        if statement.strip():
            db.execute(statement + "END;")


def _m014_document_counts_by_writer(db: sqlite_utils.Database) -> None:
    # new documents are counted by insert_documents, one upsert per batch (see COUNT_TRIGGERS)
    db.execute("DROP TRIGGER IF EXISTS count_documents_insert")


# Ordered, named migrations; never edit a released one, append a new one.
MIGRATIONS: list[tuple[str, Callable[[sqlite_utils.Database], None]]] = [
    ("001_documents_batches_quarantine", _m001_documents),
    ("002_analyses_rule_hits", _m002_analyses),
    ("003_clusters", _m003_clusters),
    ("004_outbox_runs", _m004_outbox_runs),
    ("005_triage", _m005_triage),
    ("006_cluster_indexes", _m006_cluster_indexes),
    ("007_rulesets", _m007_rulesets),
    ("008_lighter_document_indexes", _m008_lighter_document_indexes),
    ("009_batch_newest", _m009_batch_newest),
    ("010_incidents", _m010_incidents),
    ("011_web", _m011_web),
    ("012_channels", _m012_channels),
    ("013_counts", _m013_counts),
    ("014_document_counts_by_writer", _m014_document_counts_by_writer),
]


def migrate(db: sqlite_utils.Database) -> list[str]:
    """Apply pending migrations in order; returns the names applied."""
    if "_migrations" not in db.table_names():
        db["_migrations"].create({"name": str, "applied_at": str}, pk="name")
    done = {row["name"] for row in db["_migrations"].rows}
    applied = []
    for name, step in MIGRATIONS:
        if name in done:
            continue
        with transaction(db):
            step(db)
            db.execute("INSERT INTO _migrations (name, applied_at) VALUES (?, ?)", [name, utcnow()])
        applied.append(name)
    return applied


def open_db(path: str | Path, *, create: bool = True) -> sqlite_utils.Database:
    """Open (and migrate) the store. WAL and a busy timeout let the CLI and worker share it."""
    path = Path(path)
    if not create and not path.exists():
        raise StoreError(f"database {path} does not exist (run `sentiment ingest` first)")
    if path.exists() and path.is_dir():
        raise StoreError(f"database path {path} is a directory")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None,
                               check_same_thread=False)
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA cache_size = -65536")  # 64 MB: bulk inserts into random-keyed indexes
        db = sqlite_utils.Database(conn, recursive_triggers=True)  # the count triggers need it (COUNT_TRIGGERS)
        migrate(db)
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"cannot open database {path}: {exc}") from None
    except OSError as exc:
        raise StoreError(f"cannot open database {path}: {exc.strerror}") from None
    return db


@contextmanager
def transaction(db: sqlite_utils.Database, wait: float | None = None) -> Iterator[None]:
    """One explicit transaction (the connection runs in autocommit mode otherwise). While another
    process writes it waits up to WRITE_WAIT_SECONDS, then raises "database is locked"; with `wait`
    (a web request, a search's index top-up) at most `wait` seconds, then StoreBusy."""
    conn = db.conn
    if conn.in_transaction:
        yield
        return
    _begin_immediate(conn, wait)
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def is_busy(exc: sqlite3.OperationalError) -> bool:
    """SQLITE_BUSY / SQLITE_LOCKED: another connection holds the lock."""
    return "locked" in str(exc) or "busy" in str(exc)


def _begin_immediate(conn: sqlite3.Connection, wait: float | None = None) -> None:
    """BEGIN IMMEDIATE; while another process writes, wait up to `wait` (default WRITE_WAIT_SECONDS)
    in short attempts with a warning every WAIT_REPORT_SECONDS, then raise StoreBusy (or, without
    `wait`, "database is locked").

    Readers never come here: in WAL mode they read the last commit while a writer works."""
    limit = WRITE_WAIT_SECONDS if wait is None else wait
    started = time.monotonic()
    next_report = WAIT_REPORT_SECONDS if wait is not None else 0.0  # a short wait says nothing
    conn.execute(f"PRAGMA busy_timeout = {max(1, min(_WAIT_SLICE_MS, int(limit * 1000)))}")
    try:
        while True:
            attempt = time.monotonic()
            try:
                conn.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                if not is_busy(exc):
                    raise
                if time.monotonic() - attempt < 0.05:  # refused without waiting: do not spin
                    time.sleep(0.05)
                waited = time.monotonic() - started
                if waited >= limit:
                    if wait is not None:
                        raise StoreBusy("the store is busy: the worker is writing (a large import?);"
                                        " try again shortly") from None
                    raise sqlite3.OperationalError(
                        f"database is locked: another process has been writing for over {waited:.0f} s") from None
                if waited >= next_report:
                    log.warning("waiting for the store: another process is writing (%.0f s)", waited)
                    next_report = waited + WAIT_REPORT_SECONDS
    finally:
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")


_DOCUMENT_ROW = operator.itemgetter(*DOCUMENT_FIELDS)
_INSERT_DOCUMENT = (f"INSERT INTO documents ({', '.join(DOCUMENT_FIELDS)})"
                    f" VALUES ({', '.join('?' for _ in DOCUMENT_FIELDS)})")


def insert_documents(db: sqlite_utils.Database, docs: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Insert the documents not yet stored (nor repeated earlier in `docs`); returns those inserted."""
    if not docs:
        return []
    known = existing_ids(db, (d["id"] for d in docs))
    fresh: list[dict[str, Any]] = []
    for doc in docs:
        if doc["id"] not in known:
            known.add(doc["id"])
            fresh.append(doc)
    try:  # documents from to_documents carry every field: one C call a row
        rows = list(map(_DOCUMENT_ROW, fresh))
    except KeyError:
        rows = [[d.get(f) for f in DOCUMENT_FIELDS] for d in fresh]
    db.conn.executemany(_INSERT_DOCUMENT, rows)
    counted = Counter((d.get("source") or "", d.get("kind") or "", int(d.get("is_placeholder") or 0)) for d in fresh)
    db.conn.executemany(
        "INSERT INTO document_counts (source, kind, is_placeholder, n) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (source, kind, is_placeholder) DO UPDATE SET n = n + excluded.n",
        [(*key, n) for key, n in counted.items()])
    if len(fresh) < len(docs):  # a later export may carry the shop's reply to a stored review
        taken = {id(d) for d in fresh}
        db.conn.executemany(
            "UPDATE documents SET seller_reply = ? WHERE id = ? AND seller_reply IS NOT ?",
            [[d["seller_reply"], d["id"], d["seller_reply"]] for d in docs
             if id(d) not in taken and d.get("seller_reply")])
    return fresh


ANALYSIS_FIELDS = ("document_id", "score", "label", "tokens", "model_version", "rules_version", "analyzed_at")
HIT_FIELDS = ("document_id", "rule_id", "category", "severity", "terms", "created_at")


def save_analyses(db: sqlite_utils.Database, rows: Sequence[dict[str, Any]],
                  hits: Sequence[dict[str, Any]]) -> None:
    """Replace the analyses and rule hits of these documents (call inside a transaction)."""
    if not rows:
        return
    conn = db.conn
    conn.executemany(
        f"INSERT OR REPLACE INTO analyses ({', '.join(ANALYSIS_FIELDS)}) VALUES ({', '.join('?' * len(ANALYSIS_FIELDS))})",
        [[r[f] for f in ANALYSIS_FIELDS] for r in rows],
    )
    replace_hits(db, [r["document_id"] for r in rows], hits)


def remember_ruleset(db: sqlite_utils.Database, version: str | None, digests: dict[str, str]) -> None:
    if version is not None:
        db.execute("INSERT OR IGNORE INTO rulesets (version, digests, created_at) VALUES (?, ?, ?)",
                   [version, json.dumps(digests, sort_keys=True), utcnow()])


def ruleset_digests(db: sqlite_utils.Database, version: str | None) -> dict[str, str] | None:
    if version is None:
        return None
    row = db.execute("SELECT digests FROM rulesets WHERE version = ?", [version]).fetchone()
    return json.loads(row[0]) if row else None


def replace_hits(db: sqlite_utils.Database, doc_ids: Sequence[str], hits: Sequence[dict[str, Any]]) -> None:
    """Replace the rule hits of these documents (call inside a transaction)."""
    db.conn.executemany("DELETE FROM rule_hits WHERE document_id = ?", [[d] for d in doc_ids])
    insert_hits(db, hits)


def insert_hits(db: sqlite_utils.Database, hits: Sequence[dict[str, Any]]) -> None:
    db.conn.executemany(
        f"INSERT OR REPLACE INTO rule_hits ({', '.join(HIT_FIELDS)}) VALUES ({', '.join('?' * len(HIT_FIELDS))})",
        [[h[f] for f in HIT_FIELDS] for h in hits],
    )


def drop_hits(db: sqlite_utils.Database, pairs: Sequence[tuple[str, str]]) -> None:
    """Delete single (document, rule) hits (call inside a transaction)."""
    db.conn.executemany("DELETE FROM rule_hits WHERE document_id = ? AND rule_id = ?", pairs)


def set_rules_version(db: sqlite_utils.Database, analysis_rowids: Sequence[int], model_version: str,
                      rules_version: str | None, now: str) -> None:
    """Mark these analyses (by rowid), when made by `model_version`, as matched by `rules_version`."""
    for start in range(0, len(analysis_rowids), TEXT_CHUNK):
        part = list(analysis_rowids[start:start + TEXT_CHUNK])
        db.execute(
            "UPDATE analyses SET rules_version = ?, analyzed_at = ? WHERE model_version = ? AND rules_version IS NOT ?"
            f" AND rowid IN ({','.join('?' * len(part))})", [rules_version, now, model_version, rules_version, *part])


def item_titles(db: sqlite_utils.Database, item_ids: Iterable[str]) -> dict[str, str]:
    """Known titles of these items (Q&A and API captures often carry only the item id): each
    item's newest title, found by walking its (item_id, created_at) index back from the newest
    document, not by reading every document of the item (33,000 each in a 10M-document store)."""
    found: dict[str, str] = {}
    for item in sorted(set(item_ids)):
        row = db.execute("SELECT item_title FROM documents WHERE item_id = ? AND item_title IS NOT NULL"
                         " ORDER BY created_at DESC LIMIT 1", [item]).fetchone()
        if row is not None:
            found[item] = row[0]
    return found


def existing_ids(db: sqlite_utils.Database, ids: Iterable[str]) -> set[str]:
    ids = list(ids)
    found: set[str] = set()
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        marks = ",".join("?" * len(chunk))
        found.update(r[0] for r in db.execute(f"SELECT id FROM documents WHERE id IN ({marks})", chunk))
    return found


def start_batch(db: sqlite_utils.Database, path: str, sha256: str, size: int) -> int:
    cur = db.execute(
        "INSERT INTO batches (path, sha256, size, status, started_at) VALUES (?, ?, ?, 'running', ?)",
        [path, sha256, size, utcnow()],
    )
    return int(cur.lastrowid)


def finish_batch(db: sqlite_utils.Database, batch_id: int, **values: Any) -> None:
    values["finished_at"] = utcnow()
    sets = ", ".join(f"{k} = ?" for k in values)
    db.execute(f"UPDATE batches SET {sets} WHERE id = ?", [*values.values(), batch_id])


def quarantine_row(db: sqlite_utils.Database, *, key: str, batch_id: int, path: str, row: str,
                   reason: str, raw: Any) -> bool:
    """Record an unusable row once (keyed by file content and row); True if it was new."""
    raw_text = raw if isinstance(raw, str) else json.dumps(raw, ensure_ascii=False, default=str)
    cur = db.execute(
        "INSERT OR IGNORE INTO quarantine (id, batch_id, path, row, reason, raw, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        [key, batch_id, path, row, reason, raw_text, utcnow()],
    )
    return cur.rowcount == 1


def _latest_days(db: sqlite_utils.Database, days: int) -> dict[str, int]:
    """Documents per stored day for the `days` latest days that have documents, newest first, and
    undated ones as "unknown": a few lookups on the date index, not a scan of documents."""
    out: dict[str, int] = {}
    undated = db.execute("SELECT count(*) FROM documents WHERE created_at IS NULL").fetchone()[0]
    if undated:
        out["unknown"] = undated
    bound = "\uffff"
    for _ in range(days):
        day = db.execute("SELECT substr(max(created_at), 1, 10) FROM documents WHERE created_at < ?",
                         [bound]).fetchone()[0]
        if not day:
            break
        out[day] = db.execute("SELECT count(*) FROM documents WHERE created_at >= ? AND created_at < ?",
                              [day, day + "\uffff"]).fetchone()[0]
        bound = day
    return out


def document_counts(db: sqlite_utils.Database) -> list[tuple[str, str, int, int]]:
    """(source, kind, is_placeholder, documents) kept by the count triggers (migration 013)."""
    return [tuple(r) for r in db.execute(
        "SELECT source, kind, is_placeholder, n FROM document_counts WHERE n != 0 ORDER BY 1, 2, 3").fetchall()]


def label_counts(db: sqlite_utils.Database) -> dict[str, int]:
    """Analyses by label ("placeholder" for none), kept by the count triggers (migration 013)."""
    return dict(db.execute("SELECT label, n FROM label_counts WHERE n != 0 ORDER BY label").fetchall())


def status_summary(db: sqlite_utils.Database) -> dict[str, Any]:
    """Counts for `sentiment status`: documents by source, kind and day; batches; quarantine. The
    document counts come from the trigger-kept `document_counts`: no scan of documents."""
    def pairs(sql: str) -> dict[str, int]:
        return {str(k): v for k, v in db.execute(sql).fetchall()}

    by_source: dict[str, int] = {}
    by_kind: dict[str, int] = {}
    placeholders = 0
    counts = document_counts(db)
    for source, kind, placeholder, n in counts:
        by_source[source] = by_source.get(source, 0) + n
        by_kind[kind] = by_kind.get(kind, 0) + n
        placeholders += n if placeholder else 0
    return {
        "documents": sum(n for *_, n in counts),
        "by_source": dict(sorted(by_source.items())),
        "by_kind": dict(sorted(by_kind.items())),
        "by_day": _latest_days(db, 14),
        "placeholders": placeholders,
        "batches": {
            "total": db.execute("SELECT count(*) FROM batches").fetchone()[0],
            "failed": db.execute("SELECT count(*) FROM batches WHERE status = 'error'").fetchone()[0],
            "last": [dict(r) for r in db.query(
                "SELECT id, path, status, read, new, duplicates, quarantined, finished_at"
                " FROM batches ORDER BY id DESC LIMIT 5")],
        },
        "quarantine": {
            "total": db.execute("SELECT count(*) FROM quarantine").fetchone()[0],
            "by_reason": pairs(
                "SELECT reason, count(*) FROM quarantine GROUP BY reason ORDER BY count(*) DESC LIMIT 10"
            ),
        },
    }


RATED_WHERE = ("rating IN ('positive', 'negative') AND is_placeholder = 0 AND kind IN ('review', 'followup')"
               " AND text IS NOT NULL AND text != ''")
TEXT_CHUNK = 900  # under SQLite's oldest limit of 999 bound parameters


def _date_where(since: str | None, until: str | None) -> tuple[str, list[Any]]:
    clauses, params = "", []
    if since is not None:
        clauses += " AND created_at >= ?"
        params.append(since)
    if until is not None:
        clauses += " AND created_at < ?"
        params.append(until)
    return clauses, params


def rated_rowids(db: sqlite_utils.Database, since: str | None = None, until: str | None = None,
                 ) -> tuple[list[int], list[int]]:
    """Rowids of rated reviews and follow-ups (placeholders and empty texts excluded), read with a
    cursor: (positive, negative), in rowid order. Only integers are held, never the texts."""
    where, params = _date_where(since, until)
    pos: list[int] = []
    neg: list[int] = []
    cursor = db.conn.execute(f"SELECT rowid, rating FROM documents WHERE {RATED_WHERE}{where} ORDER BY rowid",
                             params)
    while True:
        rows = cursor.fetchmany(TEXT_CHUNK)
        if not rows:
            break
        for rowid, rating in rows:
            (pos if rating == "positive" else neg).append(rowid)
    return pos, neg


def texts_by_rowid(db: sqlite_utils.Database, rowids: Sequence[int]) -> Iterator[tuple[int, str]]:
    """(rowid, text) of the given rowids, fetched in chunks of TEXT_CHUNK (rowid order of `rowids`)."""
    for start in range(0, len(rowids), TEXT_CHUNK):
        part = list(rowids[start:start + TEXT_CHUNK])
        marks = ",".join("?" * len(part))
        found = dict(db.conn.execute(f"SELECT rowid, text FROM documents WHERE rowid IN ({marks})", part))
        for rowid in part:
            if rowid in found:
                yield rowid, found[rowid]


def labeled_texts(db: sqlite_utils.Database, pos_ids: Sequence[int], neg_ids: Sequence[int],
                  ) -> tuple[list[str], list[int]]:
    """(texts, labels) of the documents with these rowids: the positive ones (1), then the negative (0)."""
    texts: list[str] = []
    labels: list[int] = []
    for label, ids in ((1, pos_ids), (0, neg_ids)):
        for _, text in texts_by_rowid(db, ids):
            texts.append(text)
            labels.append(label)
    return texts, labels
