"""`sentiment export`: documents with scores and rule hits as CSV/XLSX for a pivot table.

Through the CLI on a real store built by ingesting (and analyzing) real test exports plus a
small generated CSV whose cells look like formulas. Clusters are inserted directly (the
incident filter takes an incident id).
"""
from __future__ import annotations

import csv
import re
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE as OPENPYXL_ILLEGAL

from conftest import TABULAR
from helpers import opened
from sentiment.reports import cells
from sentiment.reports import export as lib

PLUGIN = TABULAR / "评论数据_20240510.csv"   # reviews + follow-ups, no order ids
ISV = TABULAR / "isv_export.xlsx"           # 19-digit order ids, item 752102501302
WDJ = TABULAR / "问大家_752102501302.csv"     # questions and answers
ORDER = "4502224694062011129"
EVIL_ORDER = "4502224694062099999"
ZH = ["日期", "类型", "商品ID", "商品标题", "SKU", "订单号", "买家", "评分", "评价内容", "情感分", "情感",
      "风险类别", "命中规则", "商家回复", "事件ID"]
EN = ["date", "kind", "item_id", "item_title", "sku", "order_id", "buyer", "rating", "text", "score", "label",
      "risk_categories", "rules", "seller_reply", "incident_ids"]
PREFIXES = ("=", "+", "-", "@", "\t", "\r", "＝", "＋", "－", "＠")
LOCAL = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$")
C1, C2 = "inc-c1a5e7000001", "inc-c1a5e7000002"

EVIL_ROWS = [  # 评论内容, 评分, 日期, 订单号, 商品ID, 商品名称, 用户昵称, 商家回复
    ['=HYPERLINK("http://evil.example/x","点我领红包")', "1", "2024-07-01 09:00:00", EVIL_ORDER,
     "600000000001", "=cmd|' /C calc'!A0", "@黑客", "-1 已处理"],
    ["+86 13800000000 打这个电话退款，质量太差了", "1", "2024-07-02 23:30:00", "4502224694062099998",
     "600000000001", "普通商品", "w**", "＝SUM(A1)"],
    ["质量很好，物流很快，会回购的", "5", "2024-07-03 12:00:00", "4502224694062099997",
     "600000000002", "＋全角商品", "t**", ""],
]


def write_evil(folder: Path) -> Path:
    path = folder / "formulas.csv"
    with open(path, "w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["评论内容", "评分", "日期", "订单号", "商品ID", "商品名称", "用户昵称", "商家回复"])
        writer.writerows(EVIL_ROWS)
    return path


@pytest.fixture
def store(run_cli: Any, db_path: Path, tmp_path: Path) -> Path:
    """A store with the plugin export, the ISV workbook, 问大家 and the formula CSV, analyzed,
    and two incidents: C1 (two ISV documents), C2 (one of them)."""
    result = run_cli("ingest", PLUGIN, ISV, WDJ, write_evil(tmp_path))
    assert result.exit_code == 0, result.stderr
    with opened(db_path) as db:
        ids = [r[0] for r in db.execute(
            "SELECT id FROM documents WHERE json_extract(meta, '$.order_id') IN (?, ?) ORDER BY created_at",
            [ORDER, "4502224694062011130"])]
        assert len(ids) == 2
        for cid, members in ((C1, ids), (C2, ids[:1])):
            db.execute("INSERT INTO incidents (id, kind, category, size) VALUES (?, 'rule', 'quality', 1)",
                       [cid])
            for doc in members:
                db.execute("INSERT INTO incident_members (incident_id, document_id) VALUES (?, ?)", [cid, doc])
        db.conn.commit()
    return db_path


def export_ok(run_cli: Any, path: Path, *args: str) -> str:
    result = run_cli("export", path, *args)
    assert result.exit_code == 0, result.stderr
    return result.stdout


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


def count(db_path: Path, sql: str, params: Any = ()) -> int:
    with opened(db_path) as db:
        return db.execute(sql, params).fetchone()[0]


def by_order(rows: list[dict[str, str]], order: str, key: str = "订单号") -> dict[str, str]:
    [row] = [r for r in rows if r[key] == order]
    return row


# --- CSV -----------------------------------------------------------------------------------------

def test_csv_has_bom_chinese_headers_exact_ids_and_local_times(store: Path, run_cli: Any, tmp_path: Path) -> None:
    out = tmp_path / "out.csv"
    assert "wrote" in export_ok(run_cli, out)
    raw = out.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    with open(out, encoding="utf-8-sig", newline="") as fh:
        assert next(csv.reader(fh)) == ZH
    rows = read_csv(out)
    assert len(rows) == count(store, "SELECT count(*) FROM documents")
    row = by_order(rows, ORDER)
    assert ORDER.encode() in raw and b"4.50222E+18" not in raw
    assert (row["商品ID"], row["日期"], row["类型"], row["评分"], row["买家"]) == \
        ("752102501302", "2024-06-01 10:30:00", "评价", "好评", "王**")
    assert 0 <= float(row["情感分"]) <= 1 and row["情感"] in ("正面", "中性", "负面")
    assert row["事件ID"] == f"{C1}；{C2}"
    assert by_order(rows, "4502224694062011130")["事件ID"] == C1
    assert all(LOCAL.match(r["日期"]) for r in rows)
    assert "+08:00" not in raw.decode("utf-8-sig")
    assert {r["类型"] for r in rows} == {"评价", "追评", "问大家·提问", "问大家·回答"}


def test_dates_follow_the_configured_time_zone(store: Path, run_cli: Any, tmp_path: Path) -> None:
    (tmp_path / "sentiment.toml").write_text('[general]\ntimezone = "Europe/Berlin"\n', encoding="utf-8")
    out = tmp_path / "out.csv"
    export_ok(run_cli, out)
    assert by_order(read_csv(out), ORDER)["日期"] == "2024-06-01 04:30:00"  # 10:30 Beijing, CEST


def test_csv_rule_categories_and_names_are_chinese(store: Path, run_cli: Any, tmp_path: Path) -> None:
    out = tmp_path / "out.csv"
    export_ok(run_cli, out)
    row = by_order(read_csv(out), "4502224694062011130")  # 洗了一次就坏了，客服推来推去，再不处理就去12315投诉
    categories, rules = row["风险类别"].split("；"), row["命中规则"].split("；")
    assert "投诉升级" in categories and "监管投诉" in rules
    assert all(re.search(r"[\u4e00-\u9fff]", v) and "." not in v for v in categories + rules)
    assert len(rules) == count(store, "SELECT count(*) FROM rule_hits h JOIN documents d ON d.id = h.document_id"
                                      " WHERE json_extract(d.meta, '$.order_id') = ?", ["4502224694062011130"])


def test_csv_neutralizes_formula_cells(store: Path, run_cli: Any, tmp_path: Path) -> None:
    out = tmp_path / "out.csv"
    export_ok(run_cli, out)
    rows = read_csv(out)
    evil = by_order(rows, EVIL_ORDER)
    assert evil["评价内容"] == "'" + EVIL_ROWS[0][0]
    assert evil["商品标题"] == "'=cmd|' /C calc'!A0"
    assert (evil["买家"], evil["商家回复"]) == ("'@***客", "'-1 已处理")
    phone = by_order(rows, "4502224694062099998")
    assert phone["评价内容"].startswith("'+86 1") and phone["商家回复"] == "'=SUM(A1)"
    assert by_order(rows, "4502224694062099997")["商品标题"] == "'+全角商品"  # ingest normalizes full-width forms
    assert not [v for r in rows for v in r.values() if v.startswith(PREFIXES)]


def test_headers_en_gives_english_headers_and_codes(store: Path, run_cli: Any, tmp_path: Path) -> None:
    out = tmp_path / "out.csv"
    export_ok(run_cli, out, "--headers", "en")
    with open(out, encoding="utf-8-sig", newline="") as fh:
        assert next(csv.reader(fh)) == EN
    row = by_order(read_csv(out), ORDER, "order_id")
    assert (row["kind"], row["rating"], row["item_id"]) == ("review", "positive", "752102501302")
    assert row["label"] in ("negative", "neutral", "positive")


# --- XLSX ----------------------------------------------------------------------------------------

def test_xlsx_ids_are_strings_scores_numbers_and_no_formulas(store: Path, run_cli: Any, tmp_path: Path) -> None:
    with opened(store) as db:  # control characters openpyxl refuses, in front of a formula
        db.execute("UPDATE documents SET text = ?, seller_reply = ? WHERE json_extract(meta, '$.order_id') = ?",
                   ["\x01=1+1\x07 藏在控制符后", "回复\x0b内容", "4502224694062099997"])
        db.conn.commit()
    out = tmp_path / "out.xlsx"
    result, data = run_cli.json("export", out)
    assert data == {"path": str(out), "rows": count(store, "SELECT count(*) FROM documents"), "format": "xlsx"}
    assert result.stderr == ""
    sheet = openpyxl.load_workbook(out).active
    rows = list(sheet.iter_rows())
    assert [c.value for c in rows[0]] == ZH
    col = {name: i for i, name in enumerate(ZH)}
    [row] = [r for r in rows if r[col["订单号"]].value == ORDER]
    for name in ("订单号", "商品ID"):
        assert row[col[name]].data_type == "s" and isinstance(row[col[name]].value, str)
    assert row[col["商品ID"]].value == "752102501302" and row[col["事件ID"]].value == f"{C1}；{C2}"
    scores = [r[col["情感分"]] for r in rows[1:] if r[col["情感分"]].value is not None]
    assert scores and all(c.data_type == "n" and isinstance(c.value, float) for c in scores)
    assert not [c.coordinate for r in rows for c in r if c.data_type == "f"]
    texts = {r[col["订单号"]].value: r for r in rows}
    assert texts[EVIL_ORDER][col["评价内容"]].value == "'" + EVIL_ROWS[0][0]
    assert texts[EVIL_ORDER][col["商品标题"]].value == "'=cmd|' /C calc'!A0"
    cleaned = texts["4502224694062099997"]
    assert cleaned[col["评价内容"]].value == "'=1+1 藏在控制符后" and cleaned[col["商家回复"]].value == "回复内容"
    assert not [c.value for r in rows for c in r if isinstance(c.value, str) and c.value.startswith(PREFIXES)]
    assert not list(tmp_path.glob(".out.xlsx.*"))


def test_illegal_characters_match_openpyxl() -> None:
    assert cells.ILLEGAL_CHARACTERS_RE.pattern == OPENPYXL_ILLEGAL.pattern
    assert cells.xlsx_text("\x00\x1f＠x") == "'＠x" and cells.xlsx_text(None) == ""


# --- filters -------------------------------------------------------------------------------------

def rows_of(run_cli: Any, tmp_path: Path, *args: str) -> list[dict[str, str]]:
    out = tmp_path / "filtered.csv"
    export_ok(run_cli, out, *args)
    return read_csv(out)


def test_since_and_until_are_local_dates(store: Path, run_cli: Any, tmp_path: Path) -> None:
    rows = rows_of(run_cli, tmp_path, "--since", "2024-06-02", "--until", "2024-06-04")
    assert sorted(r["日期"] for r in rows) == ["2024-06-02 16:24:04", "2024-06-03 21:05:00"]
    assert len(rows_of(run_cli, tmp_path, "--since", "2024-06-04")) == \
        count(store, "SELECT count(*) FROM documents WHERE created_at >= '2024-06-04'")
    result = run_cli("export", tmp_path / "x.csv", "--since", "六月")
    assert result.exit_code == 2 and "is not a date" in result.stderr


def test_item_kind_and_label_filters(store: Path, run_cli: Any, tmp_path: Path) -> None:
    items = rows_of(run_cli, tmp_path, "--item", "600000000001")
    assert sorted(r["订单号"] for r in items) == ["4502224694062099998", EVIL_ORDER]
    followups = rows_of(run_cli, tmp_path, "--kind", "followup")
    assert len(followups) == 3 and {r["类型"] for r in followups} == {"追评"}
    questions = rows_of(run_cli, tmp_path, "--kind", "question", "--item", "752102501302")
    assert len(questions) == 4 and {r["类型"] for r in questions} == {"问大家·提问"}
    negative = rows_of(run_cli, tmp_path, "--label", "negative")
    assert {r["情感"] for r in negative} == {"负面"}
    assert len(negative) == count(store, "SELECT count(*) FROM analyses WHERE label = 'negative'") > 0
    both = rows_of(run_cli, tmp_path, "--label", "negative", "--kind", "answer")
    assert {r["类型"] for r in both} <= {"问大家·回答"} and len(both) < len(negative)


def test_category_filter_takes_key_or_chinese_name(store: Path, run_cli: Any, tmp_path: Path) -> None:
    rows = rows_of(run_cli, tmp_path, "--category", "escalation")
    assert rows and all("投诉升级" in r["风险类别"].split("；") for r in rows)
    assert len(rows) == count(store, "SELECT count(DISTINCT document_id) FROM rule_hits WHERE category = 'escalation'")
    assert rows_of(run_cli, tmp_path, "--category", "投诉升级") == rows
    assert rows_of(run_cli, tmp_path, "--category", "no_such_category") == []


def test_incident_takes_an_incident_id(store: Path, run_cli: Any, tmp_path: Path) -> None:
    assert sorted(r["订单号"] for r in rows_of(run_cli, tmp_path, "--incident", C1)) == \
        [ORDER, "4502224694062011130"]
    assert [r["订单号"] for r in rows_of(run_cli, tmp_path, "--incident", C2)] == [ORDER]
    assert "incident" in run_cli("export", "--help").stdout


# --- errors, summary, streaming -----------------------------------------------------------------------

def test_unwritable_path_is_an_error(store: Path, run_cli: Any, tmp_path: Path) -> None:
    for name in ("out.csv", "out.xlsx"):
        result = run_cli("export", tmp_path / "missing" / name)
        assert result.exit_code == 1 and result.stderr.startswith("Error: cannot write")
    assert not (tmp_path / "missing").exists()
    result = run_cli("export", tmp_path / "out.txt")
    assert result.exit_code == 1 and "name the file .csv or .xlsx" in result.stderr


def test_json_summary_for_csv(store: Path, run_cli: Any, tmp_path: Path) -> None:
    result, data = run_cli.json("export", tmp_path / "neg.csv", "--label", "negative")
    assert data == {"path": str(tmp_path / "neg.csv"), "rows": len(read_csv(tmp_path / "neg.csv")),
                    "format": "csv"}
    assert result.stderr == ""


def test_rows_are_read_and_reported_in_chunks(store: Path, tmp_path: Path, monkeypatch: Any) -> None:
    from sentiment import store as st
    from sentiment.times import STORED_TZ

    monkeypatch.setattr(lib, "CHUNK", 7)
    db = st.open_db(store)
    reported: list[int] = []
    try:
        result = lib.export(db, tmp_path / "c.csv", lib.ExportFilter(), lib.RowFormat(STORED_TZ, {}),
                            progress=reported.append)
    finally:
        db.conn.close()
    total = count(store, "SELECT count(*) FROM documents")
    assert result.rows == total == sum(reported) and len(reported) == -(-total // 7)
    assert set(reported[:-1]) == {7}
