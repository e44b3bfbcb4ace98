"""The worker end to end: inbox -> one cycle -> mail on a real SMTP server; catch-up; SIGTERM."""
from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import sqlite_utils

from smtp_server import SmtpServer
from sentiment import store
from sentiment.reports import outbox as mailer
from sentiment.config import load_settings
from sentiment.worker.jobs import Jobs, Schedule
from sentiment.pipeline.analysis import Pipeline
from sentiment.worker.runner import catch_up

SHANGHAI = ZoneInfo("Asia/Shanghai")
HEADER = ["评论ID", "商品ID", "商品名称", "评论内容", "评分", "评价时间", "用户昵称", "商家回复"]
NUTS = ("600100200301", "松鼠小铺 每日坚果礼盒1500g")


def write_config(tmp_path: Path, smtp_port: int | None) -> Path:
    mail = (f'transport = "smtp"\nhost = "127.0.0.1"\nport = {smtp_port}\nsecurity = "none"\ntimeout = 5\n'
            if smtp_port else 'transport = "file"\n')
    config = tmp_path / "sentiment.toml"
    config.write_text(
        '[store]\ndb = "shop.db"\n\n'
        f'[mail]\n{mail}from = "舆情监控 <monitor@example.com>"\n\n'
        '[audiences.cs]\nto = ["cs-lead@example.com"]\n\n'
        '[audiences.pr]\nto = ["pr-owner@example.com", "pr-agency@example.com"]\n\n'
        '[schedule]\ninbox_minutes = 60\nanalyze_minutes = 60\noutbox_minutes = 60\n',
        encoding="utf-8")
    return config


def write_export(path: Path, day: datetime) -> None:
    """A plugin export of one day: ordinary praise plus a mould/diarrhoea review and a 12315 threat."""
    rows = []
    for i in range(12):
        rows.append([str(8_000_000 + i), NUTS[0], NUTS[1], f"坚果很新鲜，颗粒饱满，第{i}次回购", "5",
                     (day + timedelta(hours=i)).strftime("%Y-%m-%d %H:%M:%S"), f"t**{i}", ""])
    rows.append(["8000100", NUTS[0], NUTS[1], "打开就发霉了，孩子吃了拉肚子", "1",
                 (day + timedelta(hours=13)).strftime("%Y-%m-%d %H:%M:%S"), "王**", ""])
    rows.append(["8000101", NUTS[0], NUTS[1], "坚果有霉点还有哈喇味，再不处理就打12315投诉", "1",
                 (day + timedelta(hours=14)).strftime("%Y-%m-%d %H:%M:%S"), "李**", ""])
    with path.open("w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(HEADER)
        writer.writerows(rows)
    old = time.time() - 60
    os.utime(path, (old, old))


def cli(tmp_path: Path, *args: str, **kwargs) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SENTIMENT_")}
    return subprocess.Popen([sys.executable, "-m", "sentiment", "--config", str(tmp_path / "sentiment.toml"), *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path,
                            **kwargs)


def test_inbox_to_mail_in_one_cycle(tmp_path):
    yesterday = (datetime.now(SHANGHAI) - timedelta(days=1)).replace(hour=8, minute=0, second=0, microsecond=0)
    with SmtpServer() as server:
        write_config(tmp_path, server.port)
        (tmp_path / "inbox").mkdir()
        write_export(tmp_path / "inbox" / "评论数据_导出.csv", yesterday)
        proc = cli(tmp_path, "run", "--once", "--digest", "--json")
        out, err = proc.communicate(timeout=180)
        assert proc.returncode == 0, err
        assert "Traceback" not in err
        assert (tmp_path / "processed" / "评论数据_导出.csv").exists()
        assert not (tmp_path / "inbox" / "评论数据_导出.csv").exists()
        received = list(server.messages)
        # the same cycle again: nothing is stored or mailed twice
        again = cli(tmp_path, "run", "--once", "--digest", "--json")
        _, err2 = again.communicate(timeout=180)
        assert again.returncode == 0, err2
        assert len(server.messages) == len(received)

    subjects = {m.message["Subject"]: m for m in received}
    digests = [s for s in subjects if s.startswith("【舆情日报】")]
    alerts = [s for s in subjects if s.startswith("【紧急")]
    day = yesterday.date().isoformat()
    assert sorted(digests) == sorted([s for s in subjects if day in s and "日报" in s]) and len(digests) == 2
    assert any("食品安全" in s for s in alerts), alerts
    assert any("投诉升级" in s for s in alerts), alerts
    cs_digest = next(m for s, m in subjects.items() if s.startswith("【舆情日报】") and "客服" in s)
    pr_digest = next(m for s, m in subjects.items() if s.startswith("【舆情日报】") and "公关" in s)
    assert cs_digest.rcpt_tos == ["cs-lead@example.com"]
    assert sorted(pr_digest.rcpt_tos) == ["pr-agency@example.com", "pr-owner@example.com"]
    text = cs_digest.message.get_body(("plain",)).get_content()
    assert "发霉" in text and NUTS[1] in text and "https://detail.tmall.com/item.htm?id=600100200301" in text
    escalation = next(m for s, m in subjects.items() if "投诉升级" in s)
    assert "pr-owner@example.com" in escalation.rcpt_tos
    db = sqlite_utils.Database(tmp_path / "shop.db")
    assert db.execute("SELECT count(*) FROM documents").fetchone()[0] == 14
    assert db.execute("SELECT count(*) FROM outbox WHERE status = 'sent'").fetchone()[0] == len(received)
    jobs = {r["job"] for r in db.query("SELECT job FROM runs WHERE outcome = 'ok'")}
    assert jobs == {"inbox", "analyze", "digest", "outbox"}


def test_catch_up_sends_the_missed_digest_once(tmp_path):
    with SmtpServer() as server:
        settings = load_settings(config=write_config(tmp_path, server.port), env={})
        pipeline = Pipeline.from_settings(settings)
        day = datetime(2026, 11, 24, 8, tzinfo=SHANGHAI)
        write_export(tmp_path / "export.csv", day)
        db = store.open_db(settings.db)
        from sentiment.pipeline.files import ingest_paths
        from sentiment.pipeline.writer import in_process

        ingest_paths(db, [tmp_path / "export.csv"], analyzer=in_process(pipeline))
        before_hour = datetime(2026, 11, 25, 8, 30, tzinfo=SHANGHAI)
        after_hour = datetime(2026, 11, 25, 11, 15, tzinfo=SHANGHAI)

        jobs = Jobs(settings, lambda: pipeline, Schedule.from_settings(settings))
        assert catch_up(jobs, before_hour) is None  # not due yet
        first = catch_up(jobs, after_hour)  # a worker started at 11:15 catches up
        assert first == {"day": "2026-11-24", "queued": 2}
        mailer.send_pending(db, settings, after_hour)
        assert len(server.messages) == 2

        restarted = Jobs(settings, lambda: pipeline, Schedule.from_settings(settings))
        assert catch_up(restarted, after_hour + timedelta(minutes=30)) == {"day": "2026-11-24", "queued": 0}
        mailer.send_pending(db, settings, after_hour + timedelta(minutes=31))
        assert len(server.messages) == 2


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signal_abandons_the_current_file_and_exits_zero(tmp_path, signum):
    """The file being ingested is rolled back and left in the inbox (or, if it happened to
    finish first, stored whole and moved): never half-stored, never moved to failed/."""
    write_config(tmp_path, None)
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
    from gen_reviews import write_csv

    big = write_csv(inbox / "big.csv", 4000)
    old = time.time() - 60
    os.utime(big, (old, old))
    proc = cli(tmp_path, "run")
    db_path = tmp_path / "shop.db"
    seen = []
    for line in proc.stderr:  # wait until the worker is ingesting the file
        seen.append(line)
        if "inbox: ingesting big.csv" in line:
            break
    else:
        pytest.fail("the worker never started ingesting: " + "".join(seen))
    time.sleep(0.5)  # well inside the file's transaction (4,000 rows with analysis take seconds)
    proc.send_signal(signum)
    out, rest = proc.communicate(timeout=180)
    err = "".join(seen) + rest
    assert proc.returncode == 0, err
    assert "received signal" in err and "worker stopped" in err
    db = sqlite_utils.Database(db_path)
    reviews = db.execute("SELECT count(*) FROM documents WHERE kind = 'review'").fetchone()[0]
    if reviews:  # it finished before the signal was seen: whole, and moved
        assert reviews == 4000 and (tmp_path / "processed" / "big.csv").exists()
    else:  # abandoned: rolled back, left in the inbox, not recorded as failed
        assert big.exists() and db.execute("SELECT count(*) FROM batches").fetchone()[0] == 0
        assert "big.csv rolled back and left in the inbox" in err
    assert not (tmp_path / "failed").exists()
    analyzed = db.execute("SELECT count(*) FROM analyses").fetchone()[0]
    assert analyzed == db.execute("SELECT count(*) FROM documents").fetchone()[0]
