"""Stored times are Beijing time (+08:00); cutoffs built in another configured zone must still
compare by instant, not by text."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

from sentiment import times
from sentiment.signals.clusters import ClusterOptions, ClusterSettings, update_clusters

from test_clusters import History

BERLIN = ZoneInfo("Europe/Berlin")


def test_recent_documents_count_when_the_configured_zone_is_behind_beijing(tmp_path: Path) -> None:
    """A critical hit two hours before `now` opens a cluster with timezone = Europe/Berlin.

    Compared as text, its +08:00 stamp reads 7 hours later than the same instant in Berlin
    time, so it fell after `now` and nothing opened."""
    history = History(tmp_path / "t.db")
    now = datetime(2026, 11, 24, 10, 0, tzinfo=BERLIN)
    history.hit(now - timedelta(hours=2), severity="critical")
    rules = {"quality": ClusterSettings(window=timedelta(hours=24), min_count=1)}
    report = update_clusters(history.db, rules, now, options=ClusterOptions(tz=BERLIN, kinds=("rule",)))
    assert report.opened == 1


def test_a_document_before_the_lookback_is_outside_it_in_any_zone(tmp_path: Path) -> None:
    history = History(tmp_path / "t.db")
    now = datetime(2026, 11, 24, 10, 0, tzinfo=BERLIN)
    history.hit(now - timedelta(days=30, hours=2), severity="critical")  # 2 h before the 30-day lookback
    rules = {"quality": ClusterSettings(window=timedelta(hours=24), min_count=1)}
    report = update_clusters(history.db, rules, now, options=ClusterOptions(tz=BERLIN, kinds=("rule",)))
    assert report.opened == 0


def test_stored_form_is_beijing_time_whatever_the_input_zone() -> None:
    moment = datetime(2026, 11, 24, 1, 30, tzinfo=timezone.utc)
    assert times.stored(moment) == "2026-11-24T09:30:00+08:00"
    assert times.stored(moment.astimezone(BERLIN)) == "2026-11-24T09:30:00+08:00"
    assert times.parse_stored("2026-11-24T09:30:00+08:00") == moment
