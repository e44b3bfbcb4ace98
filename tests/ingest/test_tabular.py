"""End-to-end ingestion of the realistic tabular exports in tests/data/tabular (via the CLI).

Each test ingests files with `sentiment --db <tmp>/t.db ingest --no-analyze --json` and then
reads the SQLite file back with sqlite_utils. Expected numbers: tests/data/tabular/EXPECTED.md.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from conftest import TABULAR
from helpers import opened

PLUGIN = TABULAR / "评论数据_20240510.csv"
SCRAPER = TABULAR / "scraper_gbk.csv"
XLSX = TABULAR / "isv_export.xlsx"
QIANNIU_TSV = TABULAR / "千牛评价导出.tsv"
LEGACY = TABULAR / "legacy_rates.tsv"
MERGED = TABULAR / "merged_followup.csv"
WDJ = TABULAR / "问大家_752102501302.csv"
BAD = TABULAR / "bad_rows.csv"

# file -> format, shape, {kind: count}, read, new, duplicates, quarantined, placeholders
EXPECTED: dict[Path, tuple[str, str, dict[str, int], int, int, int, int, int]] = {
    PLUGIN: ("csv", "review-table", {"review": 11, "followup": 3}, 15, 14, 1, 0, 3),
    SCRAPER: ("csv", "review-table", {"review": 8, "followup": 2}, 11, 10, 1, 0, 2),
    XLSX: ("xlsx", "review-table", {"review": 5}, 6, 5, 0, 1, 1),
    QIANNIU_TSV: ("tsv", "review-table", {"review": 5, "followup": 2}, 7, 7, 0, 0, 0),
    LEGACY: ("tsv", "legacy-tsv", {"review": 6, "followup": 2}, 8, 8, 0, 0, 1),
    MERGED: ("csv", "review-table", {"review": 6, "followup": 3}, 9, 9, 0, 0, 1),
    WDJ: ("csv", "wdj-table", {"question": 4, "answer": 6}, 10, 10, 0, 0, 0),
    BAD: ("csv", "review-table", {"review": 4}, 8, 4, 0, 4, 0),
}


def rows(db_path: Path, sql: str = "SELECT * FROM documents ORDER BY rowid", params: Any = ()) -> list[dict]:
    with opened(db_path) as db:
        return [dict(r) for r in db.query(sql, params)]


def ingest(run_cli, *paths: Path, extra: tuple[str, ...] = ()) -> dict[str, Any]:
    result, data = run_cli.json("ingest", "--no-analyze", *extra, *paths)
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""
    return data


def by_text(docs: list[dict], fragment: str, kind: str | None = None) -> dict:
    found = [d for d in docs if fragment in d["text"] and (kind is None or d["kind"] == kind)]
    assert len(found) == 1, (fragment, [d["text"] for d in found])
    return found[0]


# --- counts for every file ----------------------------------------------------------------------

@pytest.mark.parametrize("path", list(EXPECTED), ids=lambda p: p.name)
def test_counts_per_file(run_cli, db_path, path):
    fmt, shape, kinds, read, new, dups, quarantined, placeholders = EXPECTED[path]
    data = ingest(run_cli, path)
    [entry] = data["files"]
    assert entry["path"] == str(path)
    assert (entry["format"], entry["shape"], entry["error"]) == (fmt, shape, None)
    assert (entry["read"], entry["new"], entry["duplicates"], entry["quarantined"], entry["placeholders"]) == (
        read, new, dups, quarantined, placeholders)
    stored = {r["kind"]: r["n"] for r in rows(db_path, "SELECT kind, count(*) n FROM documents GROUP BY kind")}
    assert stored == kinds
    assert rows(db_path, "SELECT count(*) n FROM quarantine")[0]["n"] == quarantined
    assert rows(db_path, "SELECT count(*) n FROM documents WHERE is_placeholder = 1")[0]["n"] == placeholders
    [batch] = rows(db_path, "SELECT * FROM batches")
    assert (batch["status"], batch["format"], batch["shape"], batch["read"], batch["new"]) == (
        "ok", fmt, shape, read, new)
    assert batch["duplicates"] == dups and batch["quarantined"] == quarantined


@pytest.mark.parametrize("path", list(EXPECTED), ids=lambda p: p.name)
def test_every_document_is_well_formed(run_cli, db_path, path):
    ingest(run_cli, path)
    docs = rows(db_path)
    ids = {d["id"] for d in docs}
    assert len(ids) == len(docs)
    for d in docs:
        assert d["text"] and d["text_raw"]
        assert d["text"] == d["text"].strip()
        assert "<b>" not in d["text"] and "&nbsp" not in d["text"] and "&quot" not in d["text"]
        if d["created_at"] is not None:
            assert d["created_at"].endswith("+08:00"), d["created_at"]
        assert d["rating"] in (None, "positive", "neutral", "negative")
        assert d["is_placeholder"] in (0, 1)
        assert d["batch_id"] == 1
        if d["kind"] in ("followup", "answer"):
            assert d["parent_id"] in ids
        else:
            assert d["parent_id"] is None
        for key in ("external_id", "item_id"):
            assert d[key] is None or isinstance(d[key], str)


# --- the plugin export (UTF-8 with BOM) -----------------------------------------------------------

def test_plugin_export(run_cli, db_path):
    ingest(run_cli, PLUGIN)
    docs = rows(db_path)
    first = by_text(docs, "物流超快")
    assert first["kind"] == "review" and first["source"] == "csv"
    assert first["rating"] == "positive"
    assert first["created_at"] == "2024-05-01T10:12:33+08:00"
    assert first["sku"] == "颜色分类:米白色;尺码:M"
    assert first["author"] == "t**0"
    assert "👍" in first["text"]
    assert json.loads(first["meta"])["platform"] == "天猫"

    # multi-line quoted cell: text_raw exactly as in the file, text tidied; the follow-up linked
    multi = by_text(docs, "第一次在这家买", "review")
    assert multi["text_raw"] == "第一次在这家买，\n包装很严实，没有破损。\n\n客服小姐姐态度也好💕"
    assert multi["text"] == "第一次在这家买,\n包装很严实,没有破损。\n客服小姐姐态度也好💕"
    assert multi["rating"] == "positive"                     # ★★★★★
    assert multi["seller_reply"] == "亲,感谢您的支持...期待再次光临"
    follow = by_text(docs, "没有起球", "followup")
    assert follow["parent_id"] == multi["id"]
    assert follow["text"] == "用了一周了,没有起球,还会回购"

    fake = by_text(docs, "假货")
    assert fake["text_raw"].startswith("<b>假货</b>！！！！")
    assert fake["text"].startswith("假货!!和专柜")
    assert fake["rating"] == "negative"                       # 1星
    assert fake["seller_reply"] == "亲,我们是品牌直营,正品保证"

    allergy = by_text(docs, "过敏", "review")
    assert allergy["text"] == "用了两天脸上就过敏了,红肿发痒 申请退货客服一直不回"
    assert allergy["rating"] == "negative"                    # 2星
    assert by_text(docs, "退货退款终于处理好了", "followup")["parent_id"] == allergy["id"]

    assert by_text(docs, "发霉")["rating"] == "negative"      # "1" in a 评分 column is one star
    assert by_text(docs, "颜色比图片暗")["rating"] == "neutral"
    quoted = by_text(docs, "顺丰")
    assert quoted["text"] == '快递"顺丰"很给力,点赞··'
    assert quoted["rating"] == "positive"
    runs = by_text(docs, "非常满意")
    assert runs["text"] == "好好 非常满意!!"
    assert runs["text_raw"] == "好好好好好好 非常满意！！！！！"
    assert runs["rating"] == "positive"                       # 五星


def test_plugin_placeholders_and_followup_only_row(run_cli, db_path):
    ingest(run_cli, PLUGIN)
    docs = rows(db_path)
    flagged = sorted((d["text"], d["kind"]) for d in docs if d["is_placeholder"])
    assert flagged == sorted([
        ("此用户没有填写评价。", "review"),
        ("此用户没有填写评价。", "review"),        # the row with only a follow-up
        ("评价方未及时做出评价,系统默认好评!", "review"),
    ])
    default = by_text(docs, "系统默认好评")
    assert default["created_at"] == "2024-05-20T00:00:01+08:00"
    day_only = [d for d in docs if d["author"] == "3**8"][0]
    assert (day_only["created_at"], day_only["date_precision"]) == ("2024-05-04T00:00:00+08:00", "day")
    # the follow-up written without a first review keeps its own text and its parent
    follow = by_text(docs, "用了一个月", "followup")
    parent = [d for d in docs if d["id"] == follow["parent_id"]][0]
    assert parent["is_placeholder"] == 1 and parent["author"] == "c**c"
    assert follow["is_placeholder"] == 0


def test_plugin_duplicate_row_is_stored_once(run_cli, db_path):
    data = ingest(run_cli, PLUGIN)
    assert data["files"][0]["duplicates"] == 1
    assert len([d for d in rows(db_path) if "物流超快" in d["text"]]) == 1


def test_plugin_bare_hellip_before_chinese_is_unescaped(run_cli, db_path):
    """BUG text.py _BARE_ENTITY (see test_text.py): `&hellip气味` stays in `text`."""
    ingest(run_cli, PLUGIN)
    fake = by_text(rows(db_path), "假货")
    assert "&hellip" not in fake["text"]
    assert "不一样...气味也不对" in fake["text"]


# --- the GBK scraper export ----------------------------------------------------------------------

def test_scraper_gbk_is_decoded(run_cli, db_path):
    assert not SCRAPER.read_bytes().startswith(b"\xef\xbb\xbf")
    ingest(run_cli, SCRAPER)
    docs = rows(db_path)
    for d in docs:
        assert "\ufffd" not in d["text_raw"]
    belt = by_text(docs, "皮带质量很好")
    assert belt["author"] == "寒***炙"
    assert belt["sku"] == "颜色分类:黑色二层宽15CM;尺码:S（2尺1-2尺6）腰围"
    assert json.loads(belt["meta"])["pics"] == "否"


def test_scraper_ids_are_exact_strings(run_cli, db_path):
    ingest(run_cli, SCRAPER)
    docs = rows(db_path)
    ids = {d["external_id"] for d in docs if d["kind"] == "review"}
    assert {"4502224694062011129", "1234567890", "123456789012", "211016063895"} <= ids
    # rounded by Excel: no fake id, the rounded value kept in meta
    broken = by_text(docs, "收到就是坏的")
    assert broken["external_id"] is None
    assert json.loads(broken["meta"])["external_id_inexact"] == "4502220000000000000"
    assert "4502220000000000000" not in ids
    with opened(db_path) as db:   # stored as TEXT, not as numbers
        types = {r[0] for r in db.execute("SELECT DISTINCT typeof(external_id) FROM documents")}
    assert types <= {"text", "null"}


def test_scraper_dates_ratings_followups(run_cli, db_path):
    ingest(run_cli, SCRAPER)
    docs = rows(db_path)
    second = by_text(docs, "快递包装有点简陋")
    assert (second["created_at"], second["date_precision"]) == ("2024-03-02T18:30:00+08:00", "minute")
    assert second["rating"] == "positive"
    assert second["seller_reply"] == "感谢亲的支持"
    follow = by_text(docs, "用了半个月", "followup")
    assert follow["parent_id"] == second["id"]
    assert follow["created_at"] == "2024-03-17T20:00:00+08:00"
    broken = by_text(docs, "收到就是坏的")
    assert broken["created_at"] == "2024-03-03T12:59:00+08:00" and broken["rating"] == "negative"
    assert by_text(docs, "运费还要自己出", "followup")["parent_id"] == broken["id"]
    assert by_text(docs, "一般,没有想象中好")["rating"] == "neutral"
    assert by_text(docs, "翻新机")["rating"] == "negative"


def test_scraper_traditional_text_is_simplified_raw_kept(run_cli, db_path):
    ingest(run_cli, SCRAPER)
    trad = by_text(rows(db_path), "质量很好,服务态度也不错")
    assert trad["text_raw"] == "質量很好，服務態度也不錯"
    assert trad["author"] == "陳**"          # the nickname is not converted


def test_scraper_placeholders(run_cli, db_path):
    ingest(run_cli, SCRAPER)
    flagged = sorted(d["text"] for d in rows(db_path) if d["is_placeholder"])
    assert flagged == ["此用户没有填写评论!", "系统默认评论"]


# --- the ISV XLSX export -----------------------------------------------------------------------

def test_xlsx_export(run_cli, db_path):
    ingest(run_cli, XLSX)
    docs = rows(db_path)
    assert {d["item_id"] for d in docs} == {"752102501302"}
    first = by_text(docs, "好评返现")
    assert first["created_at"] == "2024-06-01T10:30:00+08:00"        # a datetime cell
    assert json.loads(first["meta"])["order_id"] == "4502224694062011129"
    assert first["author"] == "王**" and first["rating"] == "positive"
    text_date = by_text(docs, "上门安装")
    assert text_date["created_at"] == "2024-06-02T16:24:04+08:00"    # a date typed as text
    assert json.loads(text_date["meta"])["order_id"] == "3309081924709001"   # an int cell
    assert json.loads(by_text(docs, "烘干模式")["meta"])["order_id"] == "3309081924709002"
    assert by_text(docs, "烘干模式")["rating"] == "neutral"
    angry = by_text(docs, "12315")
    assert angry["rating"] == "negative"
    assert angry["text"].endswith("投诉...")
    assert angry["text_raw"].endswith("投诉&hellip;")
    assert by_text(docs, "给出5星好评")["is_placeholder"] == 1
    [q] = rows(db_path, "SELECT * FROM quarantine")
    assert (q["path"], q["row"], q["reason"]) == (str(XLSX), "8", "no text")
    assert "钱**" in q["raw"]


# --- the 千牛-style TSV --------------------------------------------------------------------------

def test_qianniu_tsv(run_cli, db_path):
    ingest(run_cli, QIANNIU_TSV)
    docs = rows(db_path)
    first = [d for d in docs if d["external_id"] == "1301250188411"][0]
    assert first["created_at"] == "2026-03-31T16:24:04+08:00"       # epoch ms
    assert first["rating"] == "positive"
    assert first["item_id"] == "752102501302"
    assert first["item_title"] == "小天鹅 10公斤 洗烘一体机"
    follow = [d for d in docs if d["parent_id"] == first["id"]]
    assert len(follow) == 1 and follow[0]["kind"] == "followup"
    assert follow[0]["created_at"] == "2026-04-03T16:24:04+08:00"   # 确认收货后3天后追加评论
    assert follow[0]["date_precision"] == "relative"
    assert follow[0]["item_id"] == "752102501302"
    mould = [d for d in docs if d["external_id"] == "1301250188415"][0]
    assert mould["created_at"] == "2026-04-03T08:30:00+08:00" and mould["rating"] == "negative"
    assert [d["created_at"] for d in docs if d["parent_id"] == mould["id"]] == ["2026-04-08T08:30:00+08:00"]
    ratings = {d["external_id"]: d["rating"] for d in docs if d["kind"] == "review"}
    assert ratings == {"1301250188411": "positive", "1301250188412": "positive",
                       "1301250188413": "negative", "1301250188414": "neutral",
                       "1301250188415": "negative"}
    assert [d for d in docs if d["external_id"] == "1301250188413"][0]["seller_reply"].startswith("亲,安装辅材")


# --- the headerless legacy TSV -----------------------------------------------------------------

def test_legacy_tsv(run_cli, db_path):
    ingest(run_cli, LEGACY)
    docs = rows(db_path)
    reviews = [d for d in docs if d["kind"] == "review"]
    assert [d["external_id"] for d in reviews] == [str(n) for n in range(211016063895, 211016063901)]
    assert {d["source"] for d in docs} == {"tmall"}
    # tamllSweetLevel is the buyer's level, never a review rating
    assert {d["rating"] for d in docs} == {None}
    first = reviews[0]
    assert (first["text"], first["created_at"], first["sku"], first["author"]) == (
        "超快物流 值", "2014-03-25T12:46:17+08:00", "颜色分类:金属灰", "林***")
    bold = reviews[1]
    assert bold["text"] == "质量很好,穿着很舒服" and bold["text_raw"] == "<b>质量</b>很好，穿着很舒服"
    assert bold["seller_reply"] == "谢谢亲的支持..."
    assert reviews[2]["author"] == "小***学"                 # 2014 data: unmasked nick masked on ingest
    assert reviews[3]["is_placeholder"] == 1
    followups = [d for d in docs if d["kind"] == "followup"]
    assert [(f["parent_id"], f["text"]) for f in followups] == [
        (reviews[1]["id"], "洗了几次不掉色,好评"),
        (reviews[5]["id"], "穿了几次开线了,质量一般"),
    ]
    # appendComment {"content": ""} is an empty follow-up slot, not a follow-up
    assert not [d for d in docs if d["parent_id"] == reviews[4]["id"]]


def test_legacy_append_comment_keeps_time_and_reply(run_cli, db_path):
    """BUG tabular.py _followup_text: from a legacy appendComment JSON object only `content`
    is kept; its `commentTime` (and `days`) and `reply` are dropped, so the follow-up has no
    created_at although the source gives one."""
    ingest(run_cli, LEGACY)
    follow = by_text(rows(db_path), "洗了几次不掉色", "followup")
    assert follow["created_at"] == "2014-04-02T10:00:00+08:00"
    other = by_text(rows(db_path), "穿了几次开线了", "followup")
    assert other["seller_reply"] == "亲,可以联系客服换货"


# --- merged follow-ups --------------------------------------------------------------------------

def test_merged_followups_are_split(run_cli, db_path):
    ingest(run_cli, MERGED)
    docs = rows(db_path)
    paper = by_text(docs, "纸比上一次买的要厚一些", "review")
    assert paper["text"] == "纸比上一次买的要厚一些 很好 放在办公室用 实惠又方便 非常好👍"
    assert paper["item_id"] == "521422451240" and paper["item_title"] == "清风抽纸 3层120抽 24包"
    f1 = by_text(docs, "用完一箱了", "followup")
    assert f1["parent_id"] == paper["id"] and f1["item_id"] == "521422451240"
    assert f1["text"] == "用完一箱了,还会再买"
    print_ = by_text(docs, "还有印花", "review")
    assert print_["text"] == "纸的质量非常好,还有印花,,经济实惠好用"
    assert print_["text_raw"] == "纸的质量非常好，还有印花，，经济实惠好用"   # the raw head, un-normalized
    assert by_text(docs, "挺柔软的", "followup")["parent_id"] == print_["id"]
    head = [d for d in docs if d["kind"] == "review" and d["is_placeholder"]]
    assert len(head) == 1 and head[0]["text"] == "此用户没有填写评价。"
    assert by_text(docs, "用了几天感觉还可以", "followup")["parent_id"] == head[0]["id"]
    only = by_text(docs, "包装破损")
    assert only["kind"] == "review" and only["text"] == "包装破损,纸都湿了"
    assert not [d for d in docs if d["parent_id"] == only["id"]]
    assert by_text(docs, "过敏起红疹")["kind"] == "review"


# --- 问大家 ------------------------------------------------------------------------------------

def test_wdj_questions_and_answers(run_cli, db_path):
    ingest(run_cli, WDJ)
    docs = rows(db_path)
    questions = {d["external_id"]: d for d in docs if d["kind"] == "question"}
    assert list(questions) == ["40012345678", "40012345679", "40012345680", "40012345681"]
    answers = [d for d in docs if d["kind"] == "answer"]
    by_q = {qid: sorted(a["external_id"] for a in answers if a["parent_id"] == q["id"])
            for qid, q in questions.items()}
    assert by_q == {
        "40012345678": ["50011110001", "50011110002", "50011110003"],
        "40012345679": ["50011110004", "50011110005"],
        "40012345680": [],
        "40012345681": ["50011110006"],
    }
    noise = questions["40012345678"]
    assert noise["text"] == "这款洗衣机噪音大吗?晚上能用吗"
    assert noise["created_at"] == "2026-03-01T10:00:00+08:00"
    assert noise["item_id"] == "752102501302" and noise["source"] == "wdj"
    first = [a for a in answers if a["external_id"] == "50011110001"][0]
    assert (first["text"], first["author"], first["created_at"]) == (
        "不大,晚上用没问题", "a**1", "2026-03-02T09:00:00+08:00")
    assert first["item_id"] == "752102501302"
    assert questions["40012345681"]["created_at"] == "2026-03-31T16:24:04+08:00"   # epoch ms string
    late = [a for a in answers if a["external_id"] == "50011110006"][0]
    assert late["created_at"] == "2026-04-01T07:33:20+08:00"
    assert {d["rating"] for d in docs} == {None}


# --- bad rows ----------------------------------------------------------------------------------

def test_bad_rows_are_quarantined_with_path_row_reason(run_cli, db_path):
    ingest(run_cli, BAD)
    quarantine = rows(db_path, "SELECT * FROM quarantine ORDER BY CAST(row AS INTEGER)")
    assert [(q["path"], q["row"], q["reason"]) for q in quarantine] == [
        (str(BAD), "5", "too few columns: 2 of 5"),
        (str(BAD), "6", "no text"),
        (str(BAD), "7", "unparsable date '明天'"),
        (str(BAD), "8", "no text"),
    ]
    assert json.loads(quarantine[0]["raw"]) == ["211000000003", "只有两列"]
    assert "发货太慢了" in quarantine[2]["raw"]
    assert {q["batch_id"] for q in quarantine} == {1}
    good = rows(db_path)
    assert [d["external_id"] for d in good] == ["211000000001", "211000000002", "211000000007", "211000000008"]
    assert good[1]["text_raw"] == "第一次买，\n尺码偏大一码"
    assert good[2]["text"] == "质量一般 凑合穿吧"


def test_relative_followup_date_in_a_date_column(run_cli, db_path, tmp_path):
    """BUG normalize.py _created: a follow-up date column holding `收货后5天` (FORMATS §1C,
    §6.15) should give parent date + 5 days; parse_datetime raises RowError first, so the
    parse_days fallback is unreachable and the follow-up is quarantined."""
    path = tmp_path / "relative.csv"
    path.write_text("评论ID,评论内容,日期,追评内容,追评时间\n"
                    "9001,质量不错,2024-05-01 10:00:00,用了几天开线了,收货后5天\n", encoding="utf-8")
    data = ingest(run_cli, path)
    assert data["files"][0]["quarantined"] == 0
    follow = [d for d in rows(db_path) if d["kind"] == "followup"]
    assert [f["created_at"] for f in follow] == ["2024-05-06T10:00:00+08:00"]


def test_rating_code_column_beats_stars_column(run_cli, db_path, tmp_path):
    path = tmp_path / "both.csv"
    path.write_text("评论内容,评分,评价类型\n客服态度很差,5,差评\n还可以,1,好评\n", encoding="utf-8")
    ingest(run_cli, path)
    assert [(d["text"], d["rating"]) for d in rows(db_path)] == [("客服态度很差", "negative"), ("还可以", "positive")]


def test_rating_code_column_one_means_good(run_cli, db_path, tmp_path):
    path = tmp_path / "codes.csv"
    path.write_text("评论内容,rateType\n好用,1\n一般,0\n太差,-1\n没评,-2\n", encoding="utf-8")
    ingest(run_cli, path)
    assert [d["rating"] for d in rows(db_path)] == ["positive", "neutral", "negative", None]


def test_phone_numbers_are_redacted_in_text_only(run_cli, db_path, tmp_path):
    path = tmp_path / "phone.csv"
    path.write_text("评论内容\n有问题加我电话13812345678，或者微信\n", encoding="utf-8")
    ingest(run_cli, path)
    [doc] = rows(db_path)
    assert "13812345678" not in doc["text"]
    assert "13812345678" in doc["text_raw"]


# --- idempotency and duplicates -----------------------------------------------------------------

def _snapshot(db_path: Path) -> tuple[int, int, list[str]]:
    docs = rows(db_path, "SELECT id FROM documents ORDER BY id")
    quarantine = rows(db_path, "SELECT count(*) n FROM quarantine")[0]["n"]
    return len(docs), quarantine, [d["id"] for d in docs]


def test_reingest_adds_nothing(run_cli, db_path):
    files = list(EXPECTED)
    first = ingest(run_cli, *files)
    before = _snapshot(db_path)
    assert before[0] == sum(EXPECTED[p][4] for p in files)
    second = ingest(run_cli, *files)
    assert _snapshot(db_path) == before
    assert second["totals"]["new"] == 0
    for entry, path in zip(second["files"], files):
        assert entry["path"] == str(path)
        assert entry["new"] == 0
        assert entry["read"] == EXPECTED[path][3]
        assert entry["duplicates"] == entry["read"] - entry["quarantined"]
    assert first["totals"]["new"] == before[0]
    # one batches row per file per run
    assert rows(db_path, "SELECT count(*) n FROM batches")[0]["n"] == 2 * len(files)


def test_reingest_under_another_name_and_encoding_adds_nothing(run_cli, db_path, tmp_path):
    ingest(run_cli, PLUGIN)
    before = _snapshot(db_path)
    # the same export re-saved from Excel: GB18030, no BOM, another name, LF line ends
    text = PLUGIN.read_text(encoding="utf-8-sig")
    copy = tmp_path / "评论数据_copy.csv"
    copy.write_bytes(text.replace("\r\n", "\n").encode("gb18030"))
    data = ingest(run_cli, copy)
    assert data["files"][0]["new"] == 0
    assert data["files"][0]["read"] == 15
    assert _snapshot(db_path) == before


def test_identical_rows_in_one_file_are_duplicates(run_cli, db_path, tmp_path):
    path = tmp_path / "dups.csv"
    row = "211099999999,发错货了，客服不理人,1,2024-05-01 10:00:00\n"
    noid = ",同一段好评复制粘贴,5,2024-05-02 10:00:00\n"
    path.write_text("评论ID,评论内容,评分,日期\n" + row * 3 + noid * 2, encoding="utf-8")
    data = ingest(run_cli, path)
    entry = data["files"][0]
    assert (entry["read"], entry["new"], entry["duplicates"]) == (5, 2, 3)
    assert len(rows(db_path)) == 2


def test_same_text_on_different_dates_is_not_a_duplicate(run_cli, db_path, tmp_path):
    path = tmp_path / "same_text.csv"
    path.write_text("评论内容,日期\n好评,\n好评,2024-05-01\n好评,2024-05-02\n", encoding="utf-8")
    data = ingest(run_cli, path)
    assert data["files"][0]["new"] == 3


def test_excel_mangled_order_ids_are_recovered(run_cli, db_path, tmp_path):
    """BUG tabular.py _meta: 订单号 goes into meta with str(value), not through clean_id, so
    Excel-mangled order ids stay mangled ("3309081924709001.0", "1.23456789E+9")."""
    path = tmp_path / "orders.csv"
    path.write_text("评价内容,订单号\n好,3309081924709001.0\n差,1.23456789E+9\n", encoding="utf-8")
    ingest(run_cli, path)
    orders = [json.loads(d["meta"])["order_id"] for d in rows(db_path)]
    assert orders == ["3309081924709001", "1234567890"]
