"""Exports as tools really write them: title lines above the header, a summary sheet first."""
from __future__ import annotations

from datetime import datetime

import sqlite_utils
from openpyxl import Workbook


def test_title_lines_before_the_header_are_skipped(run_cli, db_path, tmp_path):
    export = tmp_path / "评价导出.csv"
    export.write_text(
        "店铺评价导出\n导出时间：2026-11-24 09:00\n\n"
        "评价时间,评价内容,评分\n2026-11-23 10:00:00,坚果发霉了,1\n2026-11-23 11:00:00,很新鲜,5\n",
        encoding="utf-8-sig")
    result = run_cli.json("ingest", "--no-analyze", export)[1]
    assert result["files"][0]["new"] == 2 and result["files"][0]["quarantined"] == 0
    texts = [r[0] for r in sqlite_utils.Database(db_path).execute("SELECT text FROM documents ORDER BY created_at")]
    assert texts == ["坚果发霉了", "很新鲜"]


def test_a_header_too_far_down_is_not_guessed(run_cli, tmp_path):
    export = tmp_path / "odd.csv"
    export.write_text("说明\n" * 12 + "评价内容\n好\n", encoding="utf-8")
    result = run_cli("ingest", "--no-analyze", export)
    assert result.exit_code == 1
    assert f"Error: {export}: no recognizable text column" in result.stderr


def test_workbook_with_a_summary_sheet_first(run_cli, db_path, tmp_path):
    book = Workbook()
    summary = book.active
    summary.title = "汇总"
    summary.append(["指标", "数值"])
    summary.append(["评价总数", 2])
    detail = book.create_sheet("评价明细")
    detail.append(["数据来源：千牛"])
    detail.append(["买家昵称", "评价内容", "评价时间", "订单号"])
    detail.append(["王**", "客服态度太差了", datetime(2026, 11, 23, 9, 30), "4502224694062011129"])
    detail.append(["t**0", "物流很快", datetime(2026, 11, 23, 10, 0), "4502224694062011130"])
    path = tmp_path / "评价.xlsx"
    book.save(path)
    result = run_cli.json("ingest", "--no-analyze", path)[1]
    assert result["files"][0]["format"] == "xlsx" and result["files"][0]["new"] == 2
    rows = list(sqlite_utils.Database(db_path).query("SELECT text, created_at, meta FROM documents ORDER BY created_at"))
    assert [r["text"] for r in rows] == ["客服态度太差了", "物流很快"]
    assert rows[0]["created_at"] == "2026-11-23T09:30:00+08:00"
    assert '"order_id": "4502224694062011129"' in rows[0]["meta"]


def test_specific_header_wins_and_excel_serial_dates(run_cli, db_path, tmp_path):
    """评价 (here the rating words) stands before 评价内容: the text comes from 评价内容; a date
    column that lost its format in Excel holds serial numbers."""
    export = tmp_path / "export.csv"
    export.write_text("评价,评价内容,评价时间\n差评,收到就坏了,45413.5\n好评,很好用,45413\n", encoding="utf-8")
    result = run_cli.json("ingest", "--no-analyze", export)[1]
    assert result["files"][0]["new"] == 2
    rows = list(sqlite_utils.Database(db_path).query("SELECT text, created_at FROM documents ORDER BY text"))
    assert rows == [{"text": "很好用", "created_at": "2024-05-01T00:00:00+08:00"},
                    {"text": "收到就坏了", "created_at": "2024-05-01T12:00:00+08:00"}]


def test_json_lines_of_bare_rate_objects(run_cli, db_path, tmp_path):
    import json

    lines = tmp_path / "rates.jsonl"
    lines.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in [
        {"id": "2001", "feedback": "不错", "feedbackDate": "2019-08-22", "rateType": "1"},
        {"id": "2002", "feedback": "快递太慢", "feedbackDate": "2019-08-23", "rateType": "-1",
         "appendedFeed": {"appendedFeedback": "又坏了", "intervalDay": "3"}},
    ]) + "\n", encoding="utf-8")
    result = run_cli.json("ingest", "--no-analyze", lines)[1]
    assert (result["files"][0]["shape"], result["files"][0]["new"]) == ("mtop-rate", 3)
    follow = next(sqlite_utils.Database(db_path).query(
        "SELECT created_at FROM documents WHERE kind = 'followup'"))
    assert follow["created_at"] == "2019-08-26T00:00:00+08:00"
