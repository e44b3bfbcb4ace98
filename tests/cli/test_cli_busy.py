"""A store held by another process: a writer waits for it, saying so, and after the (generous)
limit gives a clear Error, not a traceback. Readers never wait (tests/worker/test_hardening_worker.py)."""
from __future__ import annotations

import logging
import sqlite3
import time

from sentiment import store


def test_locked_store_gives_a_clear_error_after_waiting(run_cli, db_path, tmp_path, monkeypatch, caplog):
    store.open_db(db_path)
    monkeypatch.setattr(store, "WRITE_WAIT_SECONDS", 1.5)  # 15 minutes in real use
    holder = sqlite3.connect(db_path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        export = tmp_path / "e.csv"
        export.write_text("评价内容\n好\n", encoding="utf-8")
        started = time.monotonic()
        with caplog.at_level(logging.WARNING, logger="sentiment.store"):
            result = run_cli("ingest", "--no-analyze", export)
        waited = time.monotonic() - started
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert result.exit_code == 1
    assert "Error: the store is busy" in result.stderr
    assert 1.5 <= waited < 10
    assert "waiting for the store: another process is writing" in caplog.text
