"""Hostile inputs (issue "Nothing lost, nothing hangs"): every file either lands (bad rows
quarantined with a reason) or fails alone with a short, clear message; nothing hangs, nothing
exhausts memory, nothing aborts the run.

The files come from the generators in hostile.py. Ingestion that could hang or blow up runs in a
subprocess under a timeout and an address-space limit (`ingest_isolated`); in-process runs
(`run_cli`) are guarded by faulthandler, which ends the test process if one ever hangs.
"""
from __future__ import annotations

import faulthandler
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import pytest

import hostile
from helpers import opened

HANG_SECONDS = 120  # in-process tests: faulthandler dumps the stacks and exits after this


@pytest.fixture(autouse=True)
def _no_hang() -> Iterator[None]:
    faulthandler.dump_traceback_later(HANG_SECONDS, exit=True)
    yield
    faulthandler.cancel_dump_traceback_later()


# The child applies limit overrides to sentiment.ingest.limits, then runs the real CLI and
# reports how long the ingest itself took (imports excluded). Address space is capped at 3 GB so
# that a regression fails with MemoryError instead of swapping the machine.
CHILD = r"""
import json, resource, sys, time
resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))
from sentiment.ingest import limits
for name, value in json.loads(sys.argv[1]).items():
    setattr(limits, name, value)
from sentiment.cli import cli
start = time.perf_counter()
try:
    cli(sys.argv[2:], standalone_mode=False)
finally:
    print(f"__ELAPSED__ {time.perf_counter() - start:.3f}", file=sys.stderr)
"""


@dataclass
class Run:
    code: int
    files: list[dict[str, Any]]
    stderr: str
    seconds: float
    db: Path

    def errors(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.startswith("Error:")]


def ingest_isolated(tmp_path: Path, *paths: Path, limits: dict[str, int] | None = None,
                    timeout: float = 60) -> Run:
    """`sentiment ingest --no-analyze --json paths` in a subprocess that is killed after `timeout`."""
    db = tmp_path / "t.db"
    args = [sys.executable, "-c", CHILD, json.dumps(limits or {}), "--db", str(db),
            "ingest", "--no-analyze", "--json", *map(str, paths)]
    try:
        proc = subprocess.run(args, capture_output=True, text=True, timeout=timeout, cwd=tmp_path)
    except subprocess.TimeoutExpired:
        pytest.fail(f"ingest of {[p.name for p in paths]} still running after {timeout} s: it hangs")
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    seconds = float(proc.stderr.split("__ELAPSED__ ")[1].split()[0])
    files = json.loads(proc.stdout)["files"] if proc.stdout.strip() else []
    return Run(proc.returncode, files, proc.stderr, seconds, db)


def query(db: Path, sql: str, params: Any = ()) -> list[dict[str, Any]]:
    with opened(db) as conn:
        return [dict(r) for r in conn.query(sql, params)]


def texts(db: Path) -> list[str]:
    return [r["text"] for r in query(db, "SELECT text FROM documents ORDER BY rowid")]


def quarantined(db: Path) -> list[dict[str, Any]]:
    return query(db, "SELECT row, reason, raw FROM quarantine ORDER BY rowid")


# --- 6. XLSX: a cell starting with "=" is a formula without a cached value -------------------------

def test_xlsx_formula_cell_keeps_its_text(run_cli, db_path, tmp_path):
    formula = '=HYPERLINK("http://evil.example","点我") 假的，和专柜的不一样'
    path = hostile.xlsx_rows(tmp_path / "formula.xlsx", [
        [formula, "2024-05-01 10:00:00", "a**1"], *hostile.review_rows(2)])
    result = run_cli("ingest", "--no-analyze", path)
    assert result.exit_code == 0, result.stderr
    assert quarantined(db_path) == []
    [doc] = query(db_path, "SELECT * FROM documents WHERE text_raw = ?", [formula])
    assert "假的,和专柜的不一样" in doc["text"] and doc["created_at"] == "2024-05-01T10:00:00+08:00"
    assert len(texts(db_path)) == 3


# --- 8. JSONP: a callback followed by 20,000 spaces --------------------------------------------------

@pytest.mark.parametrize("variant", ["ok", "truncated", "garbage", "name-gap", "lines"])
def test_jsonp_padding_is_read_in_linear_time(tmp_path, variant):
    path = hostile.jsonp_padded(tmp_path / f"rate_{variant}.jsonp", variant)
    run = ingest_isolated(tmp_path, path, timeout=30)
    assert run.seconds < 2.0, f"{variant}: {run.seconds} s"
    [entry] = run.files
    if variant in ("ok", "name-gap"):
        assert (run.code, entry["error"], entry["new"]) == (0, None, 1)
        assert texts(run.db) == ["凑单买的,还可以"]
    else:
        assert run.code == 1 and run.errors() == [f"Error: {entry['error']}"]
        assert entry["error"].startswith(f"{path}: ") and "JSON" in entry["error"]


# --- 9. deeply nested JSON fails alone ---------------------------------------------------------------

@pytest.mark.parametrize("kind,depth", [("list", 2000), ("dict", 680), ("in-rate", 900)])
def test_deeply_nested_json_fails_alone(run_cli, db_path, tmp_path, kind, depth):
    before = hostile.write_csv(tmp_path / "a.csv", hostile.review_rows(3, tag="甲"))
    deep = hostile.deep_json(tmp_path / "deep.json", depth, kind)
    after = hostile.rate_json(tmp_path / "c.json", ["乙：包装很好", "乙：味道一般"])
    assert deep.stat().st_size <= 6000
    result = run_cli("ingest", "--no-analyze", before, deep, after)
    assert result.exit_code == 1
    errors = [ln for ln in result.stderr.splitlines() if ln.startswith("Error:")]
    assert errors == [f"Error: {deep}: JSON too deeply nested (more than 200 levels)"]
    assert sorted(t[0] for t in texts(db_path)) == ["乙", "乙", "甲", "甲", "甲"]
    statuses = query(db_path, "SELECT path, status FROM batches ORDER BY id")
    assert [(Path(b["path"]).name, b["status"]) for b in statuses] == [
        ("a.csv", "ok"), ("deep.json", "error"), ("c.json", "ok")]


def test_deeply_nested_json_goes_to_failed_in_the_inbox(tmp_path):
    from sentiment import store
    from sentiment.config import load_settings
    from sentiment.worker.inbox import InboxState, poll_inbox

    (tmp_path / "sentiment.toml").write_text('[store]\ndb = "w.db"\n', encoding="utf-8")
    settings = load_settings(config=tmp_path / "sentiment.toml", env={})
    inbox = settings.paths["inbox"]
    inbox.mkdir()
    hostile.write_csv(inbox / "a.csv", hostile.review_rows(2))
    hostile.deep_json(inbox / "deep.json", 2000)
    hostile.rate_json(inbox / "c.json", ["包装很好"])
    db = store.open_db(settings.db)
    try:
        results = poll_inbox(db, settings, InboxState(), None, settle_seconds=0)
        assert sorted((Path(r.path).name, r.error is None) for r in results) == [
            ("a.csv", True), ("c.json", True), ("deep.json", False)]
        assert db.execute("SELECT count(*) FROM documents").fetchone()[0] == 3
    finally:
        db.conn.close()
    failed = settings.paths["failed"]
    assert (failed / "deep.json").exists()
    assert "JSON too deeply nested" in (failed / "deep.json.error.txt").read_text(encoding="utf-8")
    assert sorted(p.name for p in settings.paths["processed"].iterdir()) == ["a.csv", "c.json"]


def test_deeply_nested_json_line_is_quarantined(run_cli, db_path, tmp_path):
    good = [json.dumps({"kind": "review", "text": f"第{i}行：挺好"}, ensure_ascii=False) for i in range(2)]
    path = tmp_path / "docs.jsonl"
    path.write_text("\n".join([good[0], "[" * 3000 + "]" * 3000, good[1]]) + "\n", encoding="utf-8")
    result = run_cli("ingest", "--no-analyze", path)
    assert result.exit_code == 0, result.stderr
    assert [t[:2] for t in texts(db_path)] == ["第0", "第1"]
    [bad] = quarantined(db_path)
    assert (bad["row"], bad["reason"]) == ("line 2", "JSON too deeply nested (more than 200 levels)")
    assert bad["raw"].startswith("[[[[")


def test_deeply_nested_json_in_a_csv_cell_is_text(run_cli, db_path, tmp_path):
    cell = '{"a":' * 3000 + "1" + "}" * 3000
    path = hostile.write_csv(tmp_path / "followup.csv", [["很好用", cell]], header=["评价内容", "追评内容"])
    result = run_cli("ingest", "--no-analyze", path)
    assert result.exit_code == 0, result.stderr
    assert texts(db_path)[0] == "很好用" and len(texts(db_path)) == 2


# --- anything unexpected while reading fails that file only ----------------------------------------

def test_unexpected_exception_fails_only_that_file(run_cli, db_path, tmp_path, monkeypatch):
    from sentiment.ingest import tabular

    real = tabular.review_record

    def explode(row, number, source):
        if "炸" in str(row.get("text")):
            raise KeyError("boom " * 500)
        return real(row, number, source)

    monkeypatch.setattr(tabular, "review_record", explode)
    first = hostile.write_csv(tmp_path / "a.csv", hostile.review_rows(2, tag="甲"))
    broken = hostile.write_csv(tmp_path / "b.csv", [["炸了", "2024-05-01 10:00:00", "x**"]])
    last = hostile.write_csv(tmp_path / "c.csv", hostile.review_rows(2, tag="丙"))
    result = run_cli("ingest", "--no-analyze", first, broken, last)
    assert result.exit_code == 1
    [error] = [ln for ln in result.stderr.splitlines() if ln.startswith("Error:")]
    assert error.startswith(f"Error: {broken}: cannot read: KeyError: 'boom boom")
    assert len(error) <= len("Error: ") + 300
    assert sorted(t[0] for t in texts(db_path)) == ["丙", "丙", "甲", "甲"]
    [failed] = query(db_path, "SELECT error FROM batches WHERE status = 'error'")
    assert failed["error"] == error[len("Error: "):]


# --- 10. every read bounded --------------------------------------------------------------------------

def test_text_over_the_limit_is_quarantined_with_an_excerpt(tmp_path):
    path = hostile.csv_long_cell(tmp_path / "long.csv", 25_000)
    run = ingest_isolated(tmp_path, path)
    assert run.code == 0, run.stderr
    assert len(texts(run.db)) == 4
    [bad] = quarantined(run.db)
    assert (bad["row"], bad["reason"]) == ("4", "text too long (25000 characters)")
    assert bad["raw"] == "长" * 200


def test_json_text_over_the_limit_is_quarantined(tmp_path):
    path = hostile.rate_json(tmp_path / "rates.json", ["正常的评价", "长" * 25_000])
    run = ingest_isolated(tmp_path, path)
    assert run.code == 0, run.stderr
    assert texts(run.db) == ["正常的评价"]
    [bad] = quarantined(run.db)
    assert bad["reason"] == "text too long (25000 characters)" and bad["raw"] == "长" * 200


@pytest.mark.parametrize("quoted", [False, True])
def test_csv_row_over_a_megabyte_is_quarantined_and_reading_goes_on(tmp_path, quoted):
    path = hostile.csv_long_cell(tmp_path / "huge.csv", 1_100_000, quoted=quoted)  # 3.3 MB
    run = ingest_isolated(tmp_path, path)
    assert run.code == 0, run.stderr
    assert len(texts(run.db)) == 4
    [bad] = quarantined(run.db)
    assert (bad["row"], bad["reason"]) == ("4", "row too long (more than 1048576 characters)")
    assert len(bad["raw"]) <= 200


def test_multiline_row_over_the_limit_is_skipped_to_its_end(tmp_path):
    paragraph = "长" * 400 + "\n"
    cell = '"' + paragraph * 20 + '"'  # 8,000 characters over 20 lines, quoted
    rows = [*hostile.review_rows(2), [cell, "2024-05-02 10:00:00", "b**2"], *hostile.review_rows(2, start=2)]
    path = hostile.write_csv(tmp_path / "multi.csv", rows)
    run = ingest_isolated(tmp_path, path, limits={"MAX_RECORD_CHARS": 5000})
    assert run.code == 0, run.stderr
    assert len(texts(run.db)) == 4
    [bad] = quarantined(run.db)
    assert (bad["row"], bad["reason"]) == ("4", "row too long (more than 5000 characters)")


def test_huge_header_cell_gives_a_short_error(tmp_path):
    over = hostile.csv_long_header(tmp_path / "header.csv", 1_100_000)
    under = hostile.csv_long_header(tmp_path / "header2.csv", 200_000)
    run = ingest_isolated(tmp_path, over, under)
    assert run.code == 1
    assert run.errors() == [f"Error: {over}: line 1: row too long (more than 1048576 characters): no header found",
                            f"Error: {run.files[1]['error']}"]
    assert len(run.files[1]["error"]) <= 300 and "no recognizable text column" in run.files[1]["error"]
    stored = query(run.db, "SELECT error FROM batches")
    assert all(len(b["error"]) <= 300 for b in stored)


def test_file_over_the_size_limit_is_refused(tmp_path):
    path = hostile.write_csv(tmp_path / "big.csv", hostile.review_rows(400))
    run = ingest_isolated(tmp_path, path, limits={"MAX_FILE_BYTES": 10_000})
    assert run.code == 1 and texts(run.db) == []
    assert run.files[0]["error"] == (f"{path}: {path.stat().st_size:,} bytes is more than the 10,000 bytes "
                                     "limit for one file: split the export")


def test_xlsx_with_a_300_mb_cell_is_refused_before_opening(tmp_path):
    path = hostile.xlsx_huge_cell(tmp_path / "bomb.xlsx", 300 * 2**20)
    assert path.stat().st_size < 2 * 2**20
    run = ingest_isolated(tmp_path, path, timeout=120)
    assert run.code == 1 and run.seconds < 2.0
    assert run.files[0]["error"] == (f"{path}: xl/sharedStrings.xml unpacks to 300 MB, more than the "
                                     "256 MB limit: refused (a zip bomb?)")


def test_xlsx_with_a_cell_over_a_megabyte_is_refused(tmp_path):
    path = hostile.xlsx_huge_cell(tmp_path / "cell.xlsx", 2 * 2**20)
    run = ingest_isolated(tmp_path, path)
    assert run.code == 1
    assert run.files[0]["error"] == f"{path}: a cell in xl/sharedStrings.xml is longer than 1048576 bytes: refused"


def test_xlsx_unpacking_to_too_much_is_refused(tmp_path):
    path = hostile.xlsx_huge_cell(tmp_path / "parts.xlsx", 200_000)
    run = ingest_isolated(tmp_path, path, limits={"MAX_XLSX_UNPACKED_BYTES": 100_000})
    assert run.code == 1
    assert run.files[0]["error"].startswith(f"{path}: the workbook unpacks to ")


def test_xlsx_under_the_limits_still_reads(tmp_path):
    path = hostile.xlsx_huge_cell(tmp_path / "fine.xlsx", 30_000)
    run = ingest_isolated(tmp_path, path)
    assert run.code == 0, run.stderr
    assert len(texts(run.db)) == 3
    [bad] = quarantined(run.db)
    assert bad["reason"] == "text too long (30000 characters)"


def test_long_runs_of_spaces_in_parsed_cells_take_linear_time(tmp_path):
    path = hostile.csv_space_runs(tmp_path / "spaces.csv")
    run = ingest_isolated(tmp_path, path, timeout=30)
    assert run.code == 0, run.stderr
    assert run.seconds < 5.0
    docs = query(run.db, "SELECT kind, sku FROM documents ORDER BY rowid")
    assert [d["kind"] for d in docs] == ["review", "followup"]
    assert docs[0]["sku"].startswith("颜色分类:黑色;尺码:L ")


# --- 12. an unterminated quote costs one row ---------------------------------------------------------

@pytest.mark.parametrize("after", [999, 3000])
def test_unterminated_quote_costs_one_row(tmp_path, after):
    path = hostile.csv_unterminated_quote(tmp_path / "quote.csv", after=after)
    run = ingest_isolated(tmp_path, path)
    assert run.code == 0, run.stderr
    assert run.files[0]["new"] == after
    [bad] = quarantined(run.db)
    assert (bad["row"], bad["reason"]) == ("2", "unterminated quote starting at line 2")
    assert bad["raw"].startswith('"这个评价的引号没有闭合')
    assert texts(run.db)[0].startswith("第0条评价") and texts(run.db)[-1].startswith(f"第{after - 1}条评价")


def test_quoted_multiline_fields_still_read(tmp_path):
    rows = [['"第一行\n第二行，""引号""\n第三行"', "2024-05-01 10:00:00", "a**1"], *hostile.review_rows(3)]
    path = hostile.write_csv(tmp_path / "multi.csv", rows)
    run = ingest_isolated(tmp_path, path)
    assert run.code == 0 and quarantined(run.db) == []
    docs = query(run.db, "SELECT text_raw FROM documents ORDER BY rowid")
    assert docs[0]["text_raw"] == '第一行\n第二行，"引号"\n第三行' and len(docs) == 4


# --- 13. Big5 exports ------------------------------------------------------------------------------

def test_big5_csv_is_decoded_and_simplified(run_cli, db_path, tmp_path):
    path = hostile.big5_csv(tmp_path / "評價_big5.csv")
    result = run_cli("ingest", "--no-analyze", path)
    assert result.exit_code == 0, result.stderr
    docs = query(db_path, "SELECT text, text_raw, created_at, author FROM documents ORDER BY rowid")
    assert docs[0] == {"text": "这个产品品质很好,物流很快", "text_raw": "這個產品品質很好，物流很快", "created_at": "2024-05-01T10:00:00+08:00",
                       "author": "陳**"}
    assert [d["text"][:4] for d in docs[1:]] == ["包装有点", "颜色和图"]


def test_gbk_csv_stays_gbk(run_cli, db_path, tmp_path):
    path = hostile.write_csv(tmp_path / "gbk.csv", [["这个产品质量很好，物流很快，客服态度也不错", "2024-05-01 10:00:00", "张**"]],
                             encoding="gbk")
    result = run_cli("ingest", "--no-analyze", path)
    assert result.exit_code == 0, result.stderr
    assert texts(db_path) == ["这个产品质量很好,物流很快,客服态度也不错"]

