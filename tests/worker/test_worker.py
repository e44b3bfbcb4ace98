"""The worker: scheduler configuration, inbox, single-instance lock, crash safety, shutdown."""
from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import sqlite_utils
from apscheduler.schedulers.background import BackgroundScheduler

from sentiment import store
from sentiment.config import load_settings
from sentiment.errors import ConfigError
from sentiment.worker.inbox import InboxState, poll_inbox, ready_files
from sentiment.worker.jobs import Jobs, Schedule, digest_day, digest_due
from sentiment.worker.runner import WorkerLockedError, build_scheduler, lock_for

SHANGHAI = ZoneInfo("Asia/Shanghai")
DATA = Path(__file__).resolve().parent.parent / "data"
PLUGIN = DATA / "tabular" / "评论数据_20240510.csv"


def _settings(tmp_path: Path, extra: str = ""):
    config = tmp_path / "sentiment.toml"
    config.write_text(f'[store]\ndb = "w.db"\n{extra}', encoding="utf-8")
    return load_settings(config=config, env={})


def _jobs(settings) -> Jobs:
    def no_pipeline():
        raise AssertionError("the pipeline is not needed for this test")
    return Jobs(settings, no_pipeline, Schedule.from_settings(settings))


def test_scheduler_jobs_ids_triggers_and_defaults(tmp_path):
    settings = _settings(tmp_path, '[schedule]\ndigest = "08:30"\ninbox_minutes = 2\n')
    scheduler = build_scheduler(_jobs(settings), scheduler_cls=BackgroundScheduler)
    jobs = {job.id: job for job in scheduler.get_jobs()}
    assert set(jobs) == {"inbox", "analyze", "digest", "outbox"}
    assert str(scheduler.timezone) == "Asia/Shanghai"
    defaults = scheduler._job_defaults  # APScheduler keeps them here; there is no public getter
    assert defaults["coalesce"] is True and defaults["max_instances"] == 1
    assert defaults["misfire_grace_time"] == 3600
    now = datetime(2026, 11, 25, 8, 0, tzinfo=SHANGHAI)
    assert jobs["digest"].trigger.get_next_fire_time(None, now) == datetime(2026, 11, 25, 8, 30, tzinfo=SHANGHAI)
    after = datetime(2026, 11, 25, 8, 31, tzinfo=SHANGHAI)
    assert jobs["digest"].trigger.get_next_fire_time(None, after) == datetime(2026, 11, 26, 8, 30, tzinfo=SHANGHAI)
    assert jobs["inbox"].trigger.interval == timedelta(minutes=2)
    assert jobs["outbox"].trigger.interval == timedelta(minutes=1)


def test_digest_time_is_in_the_configured_zone(tmp_path):
    settings = _settings(tmp_path, '[general]\ntimezone = "Europe/Berlin"\n')
    scheduler = build_scheduler(_jobs(settings), scheduler_cls=BackgroundScheduler)
    digest = scheduler.get_job("digest")
    now = datetime(2026, 11, 25, 12, 0, tzinfo=ZoneInfo("UTC"))
    assert digest.trigger.get_next_fire_time(None, now) == datetime(2026, 11, 26, 9, 0, tzinfo=ZoneInfo("Europe/Berlin"))


def test_digest_day_and_due(tmp_path):
    settings = _settings(tmp_path)
    schedule = Schedule.from_settings(settings)
    # 00:30 in Shanghai is still the previous day in UTC: "yesterday" follows the configured zone
    early = datetime(2026, 11, 24, 16, 30, tzinfo=ZoneInfo("UTC"))
    assert digest_day(early, settings).isoformat() == "2026-11-24"
    assert not digest_due(early, settings, schedule)
    assert digest_due(datetime(2026, 11, 25, 9, 0, tzinfo=SHANGHAI), settings, schedule)


@pytest.mark.parametrize("snippet, message", [
    ('digest = "9 o\'clock"', 'digest: expected "HH:MM"'),
    ("inbox_minutes = 0", "inbox_minutes: expected a positive number, got 0"),
    ("every = 5", "unknown key 'every'"),
])
def test_bad_schedule_config(tmp_path, snippet, message):
    with pytest.raises(ConfigError, match=message):  # when the settings load
        _settings(tmp_path, f"[schedule]\n{snippet}\n")


def test_inbox_skips_partial_and_fresh_files(tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    done, writing, fresh = inbox / "a.csv", inbox / "b.csv.part", inbox / "c.csv"
    for path in (done, writing, fresh):
        path.write_text("评论内容\n好\n", encoding="utf-8")
    old = time.time() - 60
    os.utime(done, (old, old))
    os.utime(writing, (old, old))
    state = InboxState()
    assert ready_files(inbox, state, settle_seconds=5) == [done]
    # unchanged since the previous poll: complete even though it is recent
    assert ready_files(inbox, state, settle_seconds=5) == [done, fresh]
    fresh.write_text("评论内容\n好\n还在写\n", encoding="utf-8")
    assert fresh not in ready_files(inbox, state, settle_seconds=5)


def test_poll_inbox_moves_files_after_commit(tmp_path):
    settings = _settings(tmp_path)
    inbox, processed, failed = (settings.paths[k] for k in ("inbox", "processed", "failed"))
    inbox.mkdir()
    good = inbox / PLUGIN.name
    good.write_bytes(PLUGIN.read_bytes())
    bad = inbox / "broken.json"
    bad.write_text('{"rateDetail": {"rateList": [{"id": 1,', encoding="utf-8")
    db = store.open_db(settings.db)
    results = poll_inbox(db, settings, InboxState(), None, settle_seconds=0)
    assert [r.error is None for r in results] == [False, True]  # sorted: broken.json first
    assert (processed / PLUGIN.name).exists() and not good.exists()
    assert (failed / "broken.json").exists()
    assert "truncated JSON" in (failed / "broken.json.error.txt").read_text(encoding="utf-8")
    stored = db.execute("SELECT count(*) FROM documents").fetchone()[0]
    assert stored == results[1].new > 0
    # the same export dropped again lands in processed/ under a new name and adds nothing
    good.write_bytes(PLUGIN.read_bytes())
    again = poll_inbox(db, settings, InboxState(), None, settle_seconds=0)
    assert again[0].new == 0 and len(list(processed.iterdir())) == 2
    assert db.execute("SELECT count(*) FROM documents").fetchone()[0] == stored


def test_lock_is_exclusive_and_released(tmp_path):
    db = tmp_path / "x.db"
    first = lock_for(db)
    first.acquire(db)
    try:
        with pytest.raises(WorkerLockedError, match=rf"another worker \(pid {os.getpid()}\) is running on"):
            lock_for(db).acquire(db)
    finally:
        first.release()
    second = lock_for(db)
    second.acquire(db)  # free again
    second.release()


def _cli(*args: str, env_extra: dict | None = None, **kwargs) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SENTIMENT_")}
    env.update(env_extra or {})
    return subprocess.Popen([sys.executable, "-m", "sentiment", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, **kwargs)


def test_second_worker_exits_with_error(tmp_path):
    db = tmp_path / "x.db"
    store.open_db(db)
    holder = lock_for(db)
    holder.acquire(db)
    try:
        proc = _cli("--db", str(db), "run", "--once", cwd=tmp_path)
        out, err = proc.communicate(timeout=120)
    finally:
        holder.release()
    assert proc.returncode == 1
    assert f"Error: another worker (pid {os.getpid()}) is running on {db}" in err
    assert "Traceback" not in err


def test_stale_lock_from_killed_worker_does_not_block(tmp_path):
    db = tmp_path / "x.db"
    store.open_db(db)
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from pathlib import Path; from sentiment.worker.runner import lock_for;"
        f"p = Path({str(db)!r}); lock = lock_for(p); lock.acquire(p); print('locked', flush=True); time.sleep(60)")],
        stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "locked"
    with pytest.raises(WorkerLockedError):
        lock_for(db).acquire(db)
    holder.kill()  # kill -9: no cleanup, the lock file stays behind with the dead pid
    holder.wait()
    assert Path(str(db) + ".lock").exists()
    lock = lock_for(db)
    lock.acquire(db)
    lock.release()


def _big_csv(path: Path, rows: int) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
    from gen_reviews import write_csv

    write_csv(path, rows)


def _write_locked(db: Path) -> bool:
    """True while another connection holds the database's write lock (an open write transaction)."""
    probe = sqlite3.connect(db, timeout=0, isolation_level=None)
    try:
        probe.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as exc:
        assert "locked" in str(exc) or "busy" in str(exc), exc
        return True
    else:
        probe.execute("ROLLBACK")
        return False
    finally:
        probe.close()


def test_kill_during_ingest_then_restart_stores_each_row_once(tmp_path):
    export = tmp_path / "big.csv"
    _big_csv(export, 60_000)
    db = tmp_path / "k.db"
    store.open_db(db).conn.close()  # the schema exists: the file's transaction is the only writer
    proc = _cli("--db", str(db), "ingest", "--no-analyze", str(export), cwd=tmp_path)
    deadline = time.time() + 60
    while not _write_locked(db):  # wait until the file's transaction is under way ...
        assert time.time() < deadline and proc.poll() is None, "the ingest never began its transaction"
        time.sleep(0.01)
    time.sleep(0.3)  # ... and has been inserting for a while
    assert _write_locked(db), "the ingest finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    conn = sqlite_utils.Database(db)
    assert conn.execute("SELECT count(*) FROM documents").fetchone()[0] == 0  # all or nothing
    assert conn.execute("SELECT count(*) FROM batches").fetchone()[0] == 0
    conn.conn.close()
    again = _cli("--db", str(db), "ingest", "--no-analyze", "--json", str(export), cwd=tmp_path)
    out, err = again.communicate(timeout=300)
    assert again.returncode == 0, err
    db2 = sqlite_utils.Database(db)
    total = db2.execute("SELECT count(*) FROM documents").fetchone()[0]
    distinct = db2.execute("SELECT count(DISTINCT external_id) FROM documents WHERE kind = 'review'").fetchone()[0]
    assert distinct == 60_000
    assert total == db2.execute("SELECT count(*) FROM documents WHERE kind = 'review'").fetchone()[0] + \
        db2.execute("SELECT count(*) FROM documents WHERE kind = 'followup'").fetchone()[0]
    batches = list(db2.query("SELECT status, new FROM batches ORDER BY id"))
    assert batches[-1] == {"status": "ok", "new": total}
