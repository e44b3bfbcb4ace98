"""Q&A and API captures that carry only an item id get the item's known title."""
from __future__ import annotations

import json

import sqlite_utils


def test_questions_take_the_title_of_their_item(run_cli, db_path, tmp_path):
    export = tmp_path / "reviews.csv"
    export.write_text("商品ID,商品名称,评论内容,日期\n600100200301,松鼠小铺 每日坚果礼盒,坚果很新鲜,2026-11-20 10:00:00\n",
                      encoding="utf-8")
    wdj = tmp_path / "wdj.json"
    wdj.write_text(json.dumps({"api": "mtop.taobao.wdj.list.merge.search", "data": {
        "itemId": "600100200301", "questionList": [{"questionId": "1", "questionTitle": "会不会有哈喇味？",
                                                    "gmtCreate": "1764000000000", "topAnswerList": []}]}},
        ensure_ascii=False), encoding="utf-8")
    other = tmp_path / "wdj_other.json"
    other.write_text(wdj.read_text(encoding="utf-8").replace("600100200301", "999").replace('"1"', '"2"'),
                     encoding="utf-8")
    result = run_cli("ingest", "--no-analyze", export, wdj, other)
    assert result.exit_code == 0, result.stderr
    rows = {r["item_id"]: r["item_title"] for r in sqlite_utils.Database(db_path).query(
        "SELECT item_id, item_title FROM documents WHERE kind = 'question'")}
    assert rows == {"600100200301": "松鼠小铺 每日坚果礼盒", "999": None}
