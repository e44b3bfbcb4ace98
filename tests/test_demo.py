"""`make demo`: the sample exports copied with their dates moved to yesterday, and the whole run.

examples/shift_dates.py is run as `make demo` runs it; its copies are read back with the
ingest reader. The demo target itself runs through make into a temporary directory.
"""
from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterator
from zoneinfo import ZoneInfo

import pytest

from sentiment.ingest.reader import open_records
from sentiment.ingest.records import RawRecord
from sentiment.ingest.values import parse_datetime

ROOT = Path(__file__).resolve().parent.parent
EXPORTS = ROOT / "examples" / "exports"
SHIFT = ROOT / "examples" / "shift_dates.py"
SHANGHAI = ZoneInfo("Asia/Shanghai")
LAST_DAY = date(2026, 11, 24)  # the bundled exports' newest day (examples/make_samples.py)


def shift(source: Path, target: Path, *args: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([sys.executable, str(SHIFT), str(source), str(target), *args],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result


def flat(records: Iterator[Any]) -> list[RawRecord]:
    out: list[RawRecord] = []
    for rec in records:
        assert isinstance(rec, RawRecord), rec
        out.append(rec)
        out.extend(flat(iter(rec.children)))
    return out


def read(path: Path) -> tuple[str | None, list[RawRecord]]:
    reading, records = open_records(path, None, None)
    recs = flat(records)
    return reading.shape, recs


def moment(rec: RawRecord) -> datetime | None:
    parsed = parse_datetime(rec.created, SHANGHAI)
    return datetime.fromisoformat(parsed[0]) if parsed else None


def tree_digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_shifted_exports_end_yesterday_with_the_same_spacing(tmp_path: Path) -> None:
    before = tree_digest(EXPORTS)
    out = tmp_path / "inbox"
    result = shift(EXPORTS, out, "--today", "2026-12-06")
    assert "+11 days" in result.stdout
    assert tree_digest(EXPORTS) == before, "the bundled exports stay as they are"

    originals = sorted(EXPORTS.iterdir())
    copies = sorted(out.iterdir())
    assert [p.name.replace("20261124", "20261205") for p in originals] == [p.name for p in copies]
    for original, copy in zip(originals, copies):
        shape, old = read(original)
        new_shape, new = read(copy)
        assert new_shape == shape and len(new) == len(old) > 0, copy.name
        old_moments = [moment(r) for r in old]
        new_moments = [moment(r) for r in new]
        assert max(m for m in old_moments if m).date() == LAST_DAY
        # the newest document of every file is dated yesterday (2026-12-05) in Asia/Shanghai
        assert max(m for m in new_moments if m).date() == date(2026, 12, 5), copy.name
        for rec_old, rec_new, m_old, m_new in zip(old, new, old_moments, new_moments):
            # every date moved by exactly 11 days (none stays none); ids, texts, relative days kept
            if m_old is None:
                assert m_new is None
            else:
                assert m_new - m_old == timedelta(days=11)
            assert (rec_new.kind, rec_new.external_id, rec_new.text, rec_new.rating, rec_new.days_after_parent) == \
                (rec_old.kind, rec_old.external_id, rec_old.text, rec_old.rating, rec_old.days_after_parent)
    # only the date fields differ: the bytes around them are the same
    wdj_old = json.loads((EXPORTS / "问大家_600100200301.json").read_text(encoding="utf-8"))
    wdj_new = json.loads((out / "问大家_600100200301.json").read_text(encoding="utf-8"))
    first_old, first_new = wdj_old["data"]["questionList"][0], wdj_new["data"]["questionList"][0]
    assert int(first_new["gmtCreate"]) - int(first_old["gmtCreate"]) == 11 * 86_400_000
    assert {k: v for k, v in first_new.items() if k not in ("gmtCreate", "topAnswerList")} == \
        {k: v for k, v in first_old.items() if k not in ("gmtCreate", "topAnswerList")}


def test_shift_is_deterministic_and_goes_both_ways(tmp_path: Path) -> None:
    shift(EXPORTS, tmp_path / "a", "--today", "2027-03-01")
    shift(EXPORTS, tmp_path / "b", "--today", "2027-03-01")
    assert tree_digest(tmp_path / "a") == tree_digest(tmp_path / "b")
    back = shift(EXPORTS, tmp_path / "c", "--today", "2026-11-01")  # a day before the samples: back
    assert "-24 days" in back.stdout
    csv_copy = next((tmp_path / "c").glob("*.csv"))
    assert csv_copy.name.endswith("_20261031.csv")
    assert max(m for m in map(moment, read(csv_copy)[1]) if m).date() == date(2026, 10, 31)


def test_other_date_forms_move_too(tmp_path: Path) -> None:
    """Forms of FORMATS.md beyond the samples: 年月日, ISO with an offset, epoch numbers, GBK CSV."""
    src = tmp_path / "src"
    src.mkdir()
    feed = {"comments": [
        {"rateId": "1", "content": "好评！", "date": "2026年03月25日 12:59", "rate": "1"},
        {"feedId": "2", "feedDate": 1774945444001, "feedDateStr": "2026-03-31 16:24:04", "appendTime": "n/a"},
        {"id": "3", "feedback_date": "2026-03-30T20:17:51.000+00:00", "created": "1774900000"},
    ]}
    (src / "feed.json").write_text(json.dumps(feed, ensure_ascii=False), encoding="utf-8")
    (src / "评价_gbk.csv").write_bytes("评价内容,评价时间,追评时间,评分\r\n不错,2026/3/9 08:00,2026/3/12,5\r\n"
                                       .encode("gb18030"))
    shift(src, tmp_path / "out", "--today", "2026-04-11")  # newest: 2026-03-31 -> 2026-04-10
    moved = json.loads((tmp_path / "out" / "feed.json").read_text(encoding="utf-8"))["comments"]
    assert moved[0]["date"] == "2026年04月04日 12:59"
    assert moved[1]["feedDate"] == 1774945444001 + 10 * 86_400_000
    assert moved[1]["feedDateStr"] == "2026-04-10 16:24:04" and moved[1]["appendTime"] == "n/a"
    assert moved[2]["feedback_date"] == "2026-04-09T20:17:51.000+00:00"
    assert moved[2]["created"] == str(1774900000 + 10 * 86_400)
    table = (tmp_path / "out" / "评价_gbk.csv").read_bytes().decode("gb18030")
    assert table == "评价内容,评价时间,追评时间,评分\r\n不错,2026/3/19 08:00,2026/3/22,5\r\n"


def test_make_demo_alerts_and_digests(tmp_path: Path) -> None:
    """The Makefile's demo target, into a temporary demo directory (nothing in the checkout)."""
    make = shutil.which("make")
    bin_dir = Path(sys.executable).parent
    if make is None or not (bin_dir / "sentiment").exists():
        pytest.skip("needs make and the sentiment command beside this python")
    venv = bin_dir.parent
    demo = tmp_path / "demo"
    result = subprocess.run(
        [make, "-s", "-C", str(ROOT), "-o", f"{venv}/.installed", "demo", f"VENV={venv}", f"DEMO={demo}"],
        capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "alerts 0" not in result.stdout

    yesterday = (datetime.now(timezone.utc).astimezone(SHANGHAI) - timedelta(days=1)).date()
    listed = subprocess.run([str(bin_dir / "sentiment"), "--config", str(demo / "sentiment.toml"), "outbox",
                             "--json"], capture_output=True, text=True, timeout=60)
    assert listed.returncode == 0, listed.stderr
    messages = json.loads(listed.stdout)
    alerts = [m for m in messages if m["kind"] == "alert"]
    digests = [m for m in messages if m["kind"] == "digest"]
    assert alerts, "the shifted critical reviews (mould, allergy, 12315) are recent: alerts are queued"
    assert any(m["key"] == f"digest:cs:{yesterday}" for m in digests)
    for message in alerts + digests:
        eml = Path(message["eml_path"]).resolve()
        assert eml.is_file() and demo.resolve() in eml.parents
    # the end of the output says where they are
    tail = result.stdout[result.stdout.rindex("digests ("):]
    for message in alerts + digests:
        assert Path(message["eml_path"]).name in tail
    assert (demo / "sentiment.db").is_file() and not any((demo / "inbox").iterdir())
