"""`sentiment ingest --jobs N`: analysis in worker processes (real spawned processes, real SQLite)
stores exactly what in-process analysis stores, rolls back with its file, and fails cleanly."""
from __future__ import annotations

import gzip
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

from conftest import TABULAR, CliCall
from helpers import opened
from sentiment.pipeline import pool as analysis_pool
from sentiment.errors import IngestError
from sentiment.pipeline import files

EXPORTS = [TABULAR / "评论数据_20240510.csv", TABULAR / "问大家_752102501302.csv",
           TABULAR / "scraper_gbk.csv", TABULAR / "merged_followup.csv"]
ANALYSIS_COLUMNS = "document_id, score, label, tokens, model_version, rules_version"
HIT_COLUMNS = "document_id, rule_id, category, severity, terms, created_at"


def stored(db_path: Path) -> tuple[list[tuple], list[tuple], list[tuple]]:
    with opened(db_path) as db:
        analyses = db.execute(f"SELECT {ANALYSIS_COLUMNS} FROM analyses ORDER BY document_id").fetchall()
        hits = db.execute(f"SELECT {HIT_COLUMNS} FROM rule_hits ORDER BY document_id, rule_id").fetchall()
        rulesets = db.execute("SELECT version, digests FROM rulesets").fetchall()
    return analyses, hits, rulesets


def count(db_path: Path, table: str) -> int:
    with opened(db_path) as db:
        return db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def test_worker_process_stores_what_in_process_analysis_stores(tmp_path: Path) -> None:
    here, there = CliCall(tmp_path / "here.db"), CliCall(tmp_path / "there.db")
    _, inline = here.json("ingest", "--jobs", "0", *EXPORTS)
    _, pooled = there.json("ingest", "--jobs", "1", *EXPORTS)
    assert pooled == inline
    a_here, h_here, r_here = stored(here.db)
    a_there, h_there, r_there = stored(there.db)
    assert len(a_here) == count(here.db, "documents") > 20
    assert any(row[2] == "negative" for row in a_here) and any(row[2] == "positive" for row in a_here)
    assert h_here, "the bundled rules fire on these exports (假货, 12315, ...)"
    assert a_there == a_here  # scores equal to the last bit, tokens and versions the same
    assert (h_there, r_there) == (h_here, r_here)


def test_a_file_that_fails_midway_leaves_nothing_and_the_next_file_lands(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Chunks of the failing file are still in the worker when it fails: they must not be written
    (not in its rolled-back transaction, nor in the next file's)."""
    real_open = files.open_records

    def failing_open(path, *args):  # type: ignore[no-untyped-def]
        reading, records = real_open(path, *args)

        def failing():  # type: ignore[no-untyped-def]
            for n, record in enumerate(records):
                if path.name == "fails.csv" and n == 10:
                    raise IngestError(f"{path}: line 12: simulated read failure")
                yield record
        return reading, failing()

    monkeypatch.setattr(files, "open_records", failing_open)
    monkeypatch.setattr(files, "CHUNK", 3)
    fails = tmp_path / "fails.csv"
    fails.write_bytes(EXPORTS[0].read_bytes())
    run = CliCall(tmp_path / "t.db")
    result, data = run.json("ingest", "--jobs", "1", fails, EXPORTS[1])
    assert result.exit_code == 1
    assert "simulated read failure" in data["files"][0]["error"]
    assert data["files"][1]["error"] is None and data["files"][1]["new"] > 0
    assert count(run.db, "documents") == data["files"][1]["new"]
    assert count(run.db, "analyses") == data["files"][1]["new"]
    with opened(run.db) as db:
        assert db.execute("SELECT count(*) FROM analyses a LEFT JOIN documents d ON d.id = a.document_id"
                          " WHERE d.id IS NULL").fetchone()[0] == 0


def test_unusable_model_is_an_error_before_anything_is_stored(tmp_path: Path) -> None:
    model = tmp_path / "broken.json.gz"
    model.write_bytes(gzip.compress(b"{not json"))
    (tmp_path / "sentiment.toml").write_text(f'[model]\npath = "{model}"\n', encoding="utf-8")
    run = CliCall(tmp_path / "t.db")
    result = run("ingest", "--jobs", "1", EXPORTS[0])
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: ") and "broken.json.gz" in result.stderr
    assert "corrupt" in result.stderr
    assert count(run.db, "documents") == 0


def test_jobs_default_to_workers_only_for_large_inputs_on_several_cpus(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    small = tmp_path / "in" / "small.csv"
    small.parent.mkdir()
    small.write_text("评论内容\n质量很好\n", encoding="utf-8")
    big = tmp_path / "in" / "big.csv"
    with big.open("wb") as fh:
        fh.truncate(analysis_pool.AUTO_JOBS_MIN_BYTES)
    monkeypatch.setattr(analysis_pool.os, "cpu_count", lambda: 4)
    assert analysis_pool.auto_jobs([small]) == 0
    assert analysis_pool.auto_jobs([big]) == analysis_pool.AUTO_JOBS_MAX == 2
    assert analysis_pool.auto_jobs([tmp_path / "in"]) == 2  # directories are walked
    assert analysis_pool.auto_jobs([tmp_path / "missing.csv", small]) == 0
    monkeypatch.setattr(analysis_pool.os, "cpu_count", lambda: 2)
    assert analysis_pool.auto_jobs([big]) == 2  # one per CPU
    monkeypatch.setattr(analysis_pool.os, "cpu_count", lambda: 1)
    assert analysis_pool.auto_jobs([big]) == 0


def test_worker_inbox_analyzes_a_large_drop_in_processes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The scheduled inbox job picks analysis processes as `sentiment ingest` does, and stores
    what in-process analysis stores; the processes are gone when the job returns."""
    from sentiment.config import load_settings
    from sentiment.worker.jobs import Jobs, Schedule
    from sentiment.pipeline.analysis import Pipeline

    def run_inbox(name: str, min_bytes: int) -> tuple[dict, Path]:
        root = tmp_path / name
        root.mkdir()
        config = root / "sentiment.toml"
        config.write_text('[store]\ndb = "w.db"\n', encoding="utf-8")
        settings = load_settings(config=config, env={})
        settings.paths["inbox"].mkdir(parents=True)
        for export in EXPORTS:
            (settings.paths["inbox"] / export.name).write_bytes(export.read_bytes())
        monkeypatch.setattr(analysis_pool, "AUTO_JOBS_MIN_BYTES", min_bytes)
        monkeypatch.setattr(analysis_pool.os, "cpu_count", lambda: 2)
        jobs = Jobs(settings, lambda: Pipeline.from_settings(settings), Schedule(inbox_settle_seconds=0.001))
        time.sleep(0.01)  # older than inbox_settle_seconds
        return jobs.inbox(datetime.now(timezone.utc)), settings.db

    inline, inline_db = run_inbox("inline", 10**12)
    pooled, pooled_db = run_inbox("pooled", 1)
    assert inline["analysis_processes"] == 0 and pooled["analysis_processes"] == 2
    assert pooled["new"] == inline["new"] > 0 and pooled["files"] == inline["files"] == len(EXPORTS)
    a_inline, h_inline, r_inline = stored(inline_db)
    a_pooled, h_pooled, r_pooled = stored(pooled_db)
    assert len(a_pooled) == count(pooled_db, "documents") > 0
    assert [row[:5] for row in a_pooled] == [row[:5] for row in a_inline]
    assert [row[:5] for row in h_pooled] == [row[:5] for row in h_inline] and r_pooled == r_inline



def test_worker_analyze_job_takes_a_large_backlog_in_processes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Documents stored with --no-analyze: a backlog of AUTO_JOBS_MIN_PENDING or more is analyzed
    in processes, in small chunks with several in flight, and stored exactly as in-process
    analysis stores it; a second run finds nothing left to analyze."""
    from sentiment.pipeline import backlog as jobs_module
    from sentiment.config import load_settings
    from sentiment.worker.jobs import Jobs
    from sentiment.pipeline.analysis import Pipeline

    monkeypatch.setattr(analysis_pool.os, "cpu_count", lambda: 2)
    monkeypatch.setattr(jobs_module, "PENDING_CHUNK", 7)  # several chunks in flight at once

    def run_analyze(name: str, min_pending: int) -> tuple[dict, dict, Path]:
        call = CliCall(tmp_path / f"{name}.db")
        result, _ = call.json("ingest", "--no-analyze", *EXPORTS)
        assert result.exit_code == 0 and count(call.db, "analyses") == 0
        settings = load_settings(db=call.db, env={})
        monkeypatch.setattr(analysis_pool, "AUTO_JOBS_MIN_PENDING", min_pending)
        jobs = Jobs(settings, lambda: Pipeline.from_settings(settings))
        now = datetime.now(timezone.utc)
        return jobs.analyze(now), jobs.analyze(now), call.db

    inline, inline_again, inline_db = run_analyze("inline", 10**9)
    pooled, pooled_again, pooled_db = run_analyze("pooled", 1)
    assert inline["analysis_processes"] == 0 and pooled["analysis_processes"] == 2
    assert pooled["analyzed"] == inline["analyzed"] == count(pooled_db, "documents") > 7 * 4
    assert pooled_again["analyzed"] == inline_again["analyzed"] == 0
    assert pooled_again["analysis_processes"] == 0  # nothing pending: no processes started
    a_inline, h_inline, r_inline = stored(inline_db)
    a_pooled, h_pooled, r_pooled = stored(pooled_db)
    assert len(a_pooled) == count(pooled_db, "documents")
    assert [row[:5] for row in a_pooled] == [row[:5] for row in a_inline]
    assert [row[:5] for row in h_pooled] == [row[:5] for row in h_inline] and r_pooled == r_inline


def test_analyze_job_falls_back_to_in_process_when_a_process_dies(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An analysis process that dies (here: os._exit in it, as the OOM killer would) ends the pool
    with AnalysisProcessDied naming what happens next; the analyze job then analyzes the rest in
    its own process, and every document ends up analyzed once, as in-process analysis does it."""
    import os

    from sentiment.config import load_settings
    from sentiment.worker.jobs import Jobs
    from sentiment.pipeline.analysis import Pipeline

    original_init = analysis_pool.AnalysisPool.__init__

    def dying_init(self: analysis_pool.AnalysisPool, *args: object, **kwargs: object) -> None:
        original_init(self, *args, **kwargs)
        # a real process death, not an exception; waited for until the pool knows, else fast
        # workers could finish every chunk before it notices (a race this test lost 2 runs in 20)
        self._executor.submit(os._exit, 1).exception()

    monkeypatch.setattr(analysis_pool.AnalysisPool, "__init__", dying_init)
    monkeypatch.setattr(analysis_pool.os, "cpu_count", lambda: 2)
    monkeypatch.setattr(analysis_pool, "AUTO_JOBS_MIN_PENDING", 1)

    call = CliCall(tmp_path / "w.db")
    result, _ = call.json("ingest", "--no-analyze", *EXPORTS)
    assert result.exit_code == 0
    settings = load_settings(db=call.db, env={})

    pool = analysis_pool.AnalysisPool(settings, 1, "do this next")
    with opened(call.db) as db, pytest.raises(analysis_pool.AnalysisProcessDied,
                                              match=r"process died \(out of memory\?\); do this next"):
        pool(db, [dict(r) for r in db.query("SELECT * FROM documents LIMIT 3")])
        pool.drain(db)
    pool.close()
    assert count(call.db, "analyses") == 0

    detail = Jobs(settings, lambda: Pipeline.from_settings(settings)).analyze(datetime.now(timezone.utc))
    assert detail["analysis_processes"] == 2 and "process died" in detail["process_died"]
    assert "worker process" in detail["process_died"]
    assert detail["analyzed"] == count(call.db, "analyses") == count(call.db, "documents") > 0


def test_analyze_job_counts_what_the_processes_wrote_before_one_died(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A process that dies after three chunks were written and committed: the next submit finds
    the pool broken and says so as AnalysisProcessDied; the job's `analyzed` counts the three
    chunks (`analyzed_before_death`) plus what it analyzed itself, and every document is
    analyzed once."""
    import os

    from sentiment.pipeline import backlog as jobs_module
    from sentiment.config import load_settings
    from sentiment.worker.jobs import Jobs
    from sentiment.pipeline.analysis import Pipeline

    chunk = 5
    original_call = analysis_pool.AnalysisPool.__call__
    calls = []

    def dying_fourth_call(self: analysis_pool.AnalysisPool, db: object, docs: list) -> None:
        calls.append(len(docs))
        if len(calls) == 4:
            death = self._executor.submit(os._exit, 1)  # a real process death
            death.exception()  # waits until the pool knows: this call's submit finds it broken
        original_call(self, db, docs)
        if len(calls) == 3:
            self.drain(db)  # chunks 1-3 written in this call's transaction, which commits

    monkeypatch.setattr(analysis_pool.AnalysisPool, "__call__", dying_fourth_call)
    monkeypatch.setattr(analysis_pool.os, "cpu_count", lambda: 2)
    monkeypatch.setattr(analysis_pool, "AUTO_JOBS_MIN_PENDING", 1)
    monkeypatch.setattr(jobs_module, "PENDING_CHUNK", chunk)

    call = CliCall(tmp_path / "w.db")
    result, _ = call.json("ingest", "--no-analyze", *EXPORTS)
    assert result.exit_code == 0
    documents = count(call.db, "documents")
    assert documents > 5 * chunk
    settings = load_settings(db=call.db, env={})
    detail = Jobs(settings, lambda: Pipeline.from_settings(settings)).analyze(datetime.now(timezone.utc))
    assert "process died" in detail["process_died"]
    assert detail["analyzed_before_death"] == 3 * chunk
    assert detail["analyzed"] == count(call.db, "analyses") == documents
