"""A follow-up (追评) without its own date is dated when first seen, so that it reaches the digest,
the clusters and, when fresh, an alert; back-filling an old export stays quiet."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from sentiment import store

BEIJING = timezone(timedelta(hours=8))
THREAT = "到现在都没人处理，再不处理就打12315投诉"


def export(path: Path, reviewed: datetime) -> Path:
    """A back-office export: 追加评论 but no 追评时间 (the bundled sample has the same)."""
    stamp = reviewed.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S")
    path.write_text("评论内容,追加评论,评分,日期,用户昵称,订单号\n"
                    f"坚果收到有点潮，口感一般,{THREAT},1,{stamp},t**1,4500123412341234561\n"
                    f"很好吃，包装也好,,5,{stamp},m**2,4500123412341234562\n", encoding="utf-8-sig")
    return path


def followups(db_path: Path) -> list[dict[str, Any]]:
    return list(store.open_db(db_path).query(
        "SELECT id, created_at, date_precision, meta FROM documents WHERE kind = 'followup'"))


def test_a_dateless_followup_is_dated_when_first_seen_and_keeps_its_reviews_date(run_cli, db_path, tmp_path):
    before = datetime.now(timezone.utc).replace(microsecond=0)
    path = export(tmp_path / "评论.csv", datetime.now(timezone.utc) - timedelta(hours=3))
    assert run_cli("ingest", path).exit_code == 0
    [row] = followups(db_path)
    assert row["date_precision"] == "first_seen"
    seen = datetime.fromisoformat(row["created_at"])
    assert row["created_at"].endswith("+08:00") and before <= seen <= datetime.now(timezone.utc)
    assert json.loads(row["meta"])["parent_created_at"].startswith(
        (datetime.now(timezone.utc) - timedelta(hours=3)).astimezone(BEIJING).strftime("%Y-%m-%d"))
    assert run_cli.json("ingest", path)[1]["totals"]["new"] == 0  # the same id when read again
    assert followups(db_path) == [row]


def test_a_fresh_dateless_threat_alerts_and_reaches_the_clusters(run_cli, db_path, tmp_path):
    path = export(tmp_path / "评论.csv", datetime.now(timezone.utc) - timedelta(hours=3))
    assert run_cli("ingest", path).exit_code == 0
    _, alerts = run_cli.json("alerts")
    assert alerts["queued"], "the 12315 threat in the follow-up alerts"
    [doc_id] = [r["id"] for r in followups(db_path)]
    alerted = {r["document_id"] for r in store.open_db(db_path).query("SELECT document_id FROM alerted")}
    assert doc_id in alerted
    assert run_cli("clusters", "--update").exit_code == 0
    members = {r["document_id"] for r in store.open_db(db_path).query("SELECT document_id FROM cluster_members")}
    assert doc_id in members


def test_backfilling_an_old_export_does_not_alert_on_its_dateless_followups(run_cli, db_path, tmp_path):
    path = export(tmp_path / "评论_2024.csv", datetime(2024, 5, 1, 10, tzinfo=BEIJING))
    assert run_cli("ingest", path).exit_code == 0
    assert followups(db_path)[0]["date_precision"] == "first_seen"
    assert run_cli.json("alerts")[1]["queued"] == []


def test_the_digest_and_reply_backlog_count_fresh_dateless_followups_not_a_back_fills(run_cli, db_path, tmp_path):
    """The day a history is imported holds all its dateless follow-ups: the digest of that day and
    CS's reply backlog leave out those of old files, and keep those of a file with recent reviews."""
    from sentiment.config import load_settings
    from sentiment.reports.digest import build_digest
    from sentiment.signals import triage

    now = datetime.now(BEIJING)
    assert run_cli("ingest", export(tmp_path / "评论_2024.csv", datetime(2024, 5, 1, 10, tzinfo=BEIJING))).exit_code == 0
    settings = load_settings(db=db_path)
    db = store.open_db(db_path)
    later = now + timedelta(hours=30)  # the next day's reply backlog (waiting over a day)

    def counted() -> tuple[int, int, int]:
        day = build_digest(db, settings, "cs", now.date())
        backlog = triage.unanswered(db, hours=24, days=7, now=later)
        return day["headline"]["documents"], day["headline"]["negatives"], len(backlog)

    assert counted() == (0, 0, 0)  # the 2024 review's 12315 follow-up is not today's news
    assert run_cli("ingest", export(tmp_path / "评论_今天.csv", now - timedelta(hours=3))).exit_code == 0
    documents, negatives, backlog = counted()
    assert documents == 3 and negatives >= 1  # today's two reviews and their fresh follow-up
    assert backlog >= 1 and all(r["created_at"][:4] != "2024" for r in triage.unanswered(db, hours=24, days=7, now=later))
