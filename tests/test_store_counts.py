"""The counts `sentiment status` reads (migration 013): kept exact by triggers through every way
rows are written (ingest, analysis, INSERT OR REPLACE, rescan, updates, deletes), and filled in
when an existing store is migrated."""
from __future__ import annotations

from pathlib import Path

import sqlite_utils

from conftest import TABULAR
from helpers import opened
from sentiment import store

FILES = [TABULAR / "评论数据_20240510.csv", TABULAR / "问大家_752102501302.csv", TABULAR / "legacy_rates.tsv"]


def scanned(db: sqlite_utils.Database) -> tuple[list[tuple], dict[str, int]]:
    """What the counts must equal: the same figures counted from the rows."""
    docs = [tuple(r) for r in db.execute(
        "SELECT coalesce(source, ''), coalesce(kind, ''), coalesce(is_placeholder, 0), count(*) FROM documents"
        " GROUP BY 1, 2, 3 ORDER BY 1, 2, 3").fetchall()]
    labels = dict(db.execute("SELECT coalesce(label, 'placeholder'), count(*) FROM analyses GROUP BY 1"
                             " ORDER BY 1").fetchall())
    return docs, labels


def kept(db: sqlite_utils.Database) -> tuple[list[tuple], dict[str, int]]:
    return store.document_counts(db), store.label_counts(db)


def test_counts_follow_ingest_analysis_replace_update_and_delete(run_cli, db_path: Path) -> None:
    assert run_cli("ingest", *FILES).exit_code == 0
    with opened(db_path) as db:
        docs, labels = kept(db)
        assert (docs, labels) == scanned(db)
        assert sum(n for *_, n in docs) == 32 and sum(labels.values()) == 32
        assert labels.get("placeholder", 0) > 0 and labels["negative"] > 0

        with db.conn:  # analyses are written with INSERT OR REPLACE: the replaced row leaves its label
            row = db.execute("SELECT * FROM analyses WHERE label = 'negative' LIMIT 1").fetchone()
            cols = [d[0] for d in db.execute("SELECT * FROM analyses LIMIT 0").description]
            new = dict(zip(cols, row), label="positive")
            db.execute(f"INSERT OR REPLACE INTO analyses ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                       list(new.values()))
        assert kept(db)[1] == scanned(db)[1]
        assert kept(db)[1]["negative"] == labels["negative"] - 1

        with db.conn:
            db.execute("UPDATE analyses SET label = NULL WHERE document_id = ?", [new["document_id"]])
            db.execute("UPDATE documents SET kind = 'followup', is_placeholder = 1 WHERE kind = 'review'"
                       " AND is_placeholder = 0 AND rowid = (SELECT min(rowid) FROM documents WHERE kind = 'review')")
            db.execute("DELETE FROM analyses WHERE rowid = (SELECT max(rowid) FROM analyses)")
            db.execute("DELETE FROM documents WHERE rowid = (SELECT max(rowid) FROM documents)")
        assert kept(db) == scanned(db)
        assert sum(n for *_, n in kept(db)[0]) == 31

    # a rescan rewrites every analysis; re-ingesting brings back the deleted document, analyzed
    assert run_cli("rescan").exit_code == 0
    assert run_cli("ingest", *FILES).exit_code == 0
    with opened(db_path) as db:
        assert kept(db) == scanned(db)
        assert sum(n for *_, n in kept(db)[0]) == sum(kept(db)[1].values()) == 32


def test_status_reads_the_counts(run_cli, db_path: Path) -> None:
    assert run_cli("ingest", *FILES).exit_code == 0
    with opened(db_path) as db, db.conn:  # a wrong count shows: status reads the table, not the rows
        db.execute("UPDATE document_counts SET n = n + 1000 WHERE kind = 'review' AND is_placeholder = 0")
    _, data = run_cli.json("status")
    assert data["by_kind"]["review"] > 1000 and data["documents"] > 1000


def test_an_existing_store_gets_its_counts_when_migrated(tmp_path: Path, run_cli, db_path: Path) -> None:
    assert run_cli("ingest", *FILES).exit_code == 0
    with opened(db_path) as db, db.conn:  # the store as it was before migration 013
        for name in [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")]:
            db.execute(f"DROP TRIGGER {name}")
        db.execute("DROP TABLE document_counts")
        db.execute("DROP TABLE label_counts")
        db.execute("DELETE FROM _migrations WHERE name = '013_counts'")
    db = store.open_db(db_path)
    try:
        assert kept(db) == scanned(db) and sum(n for *_, n in kept(db)[0]) == 32
        with db.conn:
            db.execute("DELETE FROM documents WHERE rowid = (SELECT max(rowid) FROM documents)")
        assert kept(db) == scanned(db)
    finally:
        db.conn.close()
