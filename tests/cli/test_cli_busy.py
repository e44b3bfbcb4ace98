"""A store held by another process gives a clear Error, not a traceback."""
from __future__ import annotations

import sqlite3

from sentiment import store


def test_locked_store_gives_a_clear_error(run_cli, db_path, tmp_path, monkeypatch):
    store.open_db(db_path)
    monkeypatch.setattr(store, "BUSY_TIMEOUT_MS", 100)
    holder = sqlite3.connect(db_path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        export = tmp_path / "e.csv"
        export.write_text("评价内容\n好\n", encoding="utf-8")
        result = run_cli("ingest", "--no-analyze", export)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert result.exit_code == 1
    assert "Error: the store is busy" in result.stderr
