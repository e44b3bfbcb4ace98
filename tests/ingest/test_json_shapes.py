"""JSON source shapes: detection and mapping of every fixture in tests/data/json.

Documents are loaded the way the container reader does (parse_int=str, parse_float=str), with
the JSONP wrapper / bare fragment stripped here by a small regex. Expected counts per fixture
live in tests/data/json/EXPECTED.md and are checked against parse + normalize.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from sentiment.errors import IngestError
from sentiment.ingest import jsonutil
from sentiment.ingest.normalize import Context, to_documents
from sentiment.ingest.records import BadRow, RawRecord
from sentiment.ingest.shapes import detect_shape, json_shapes, shape_by_name

JSON_DIR = Path(__file__).resolve().parent.parent / "data" / "json"
_JSONP = re.compile(r"^\s*[A-Za-z_$][\w$.]*\s*\((.*)\)\s*;?\s*$", re.S)
_FRAGMENT = re.compile(r'^\s*"[A-Za-z_]\w*"\s*:')


def _loads(text: str) -> Any:
    return json.loads(text, parse_int=str, parse_float=str)


def _unwrap(text: str) -> str:
    text = text.strip().lstrip("\ufeff")
    match = _JSONP.match(text)
    if match and not text.startswith(("{", "[")):
        return match.group(1)
    if _FRAGMENT.match(text):
        return "{" + text + "}"
    return text


def _text(name: str) -> str:
    raw = (JSON_DIR / name).read_bytes()
    return raw.decode("gbk") if "_gbk" in name else raw.decode("utf-8")


def load(name: str) -> Any:
    """One JSON document (JSONP and fragments unwrapped)."""
    return _loads(_unwrap(_text(name)))


def load_lines(name: str) -> list[tuple[str, Any]]:
    """JSON lines as (where, document); a line that does not parse gives (where, None)."""
    docs = []
    for number, line in enumerate(_text(name).splitlines(), start=1):
        if line.strip():
            try:
                docs.append((f"line {number}: ", _loads(_unwrap(line))))
            except json.JSONDecodeError:
                docs.append((f"line {number}: ", None))
    return docs


def documents(name: str) -> list[tuple[str, Any]]:
    return load_lines(name) if name.endswith(".jsonl") else [("", load(name))]


def claims(doc: Any) -> list[str]:
    return [s.name for s in json_shapes() if s.detect(doc)]


def parse(name: str, doc: Any | None = None, where: str = "") -> list[RawRecord | BadRow]:
    doc = load(name) if doc is None else doc
    shape = detect_shape(doc)
    assert shape is not None, f"{name}: no shape detected"
    return list(shape.parse(doc, where))


def records(items: list[RawRecord | BadRow]) -> list[RawRecord]:
    return [i for i in items if isinstance(i, RawRecord)]


def bad_rows(items: list[RawRecord | BadRow]) -> list[BadRow]:
    return [i for i in items if isinstance(i, BadRow)]


def by_id(items: list[RawRecord | BadRow], external_id: str) -> RawRecord:
    return next(r for r in records(items) if r.external_id == external_id)


# ---------------------------------------------------------------- EXPECTED.md, fixture by fixture

def _expected_table() -> list[dict[str, str]]:
    lines = [ln for ln in (JSON_DIR / "EXPECTED.md").read_text(encoding="utf-8").splitlines() if ln.startswith("| ")]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    rows = []
    for line in lines[1:]:
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        rows.append(dict(zip(header, cells)))
    return rows


EXPECTED = _expected_table()
CTX = Context(tz=ZoneInfo("Asia/Shanghai"), batch_id=None, ingested_at="2026-01-01T00:00:00+00:00")


def test_every_fixture_is_listed_in_expected_md() -> None:
    listed = {row["fixture"] for row in EXPECTED}
    on_disk = {p.name for p in JSON_DIR.iterdir() if p.suffix in (".json", ".jsonp", ".jsonl", ".txt")}
    assert listed == on_disk
    assert len(EXPECTED) >= 16


def _shape_parts(where: str, doc: Any) -> list[tuple[str, str, Any]]:
    """(shape name, where, part) the way the ingester splits a document (lists of pages element-wise)."""
    shape = detect_shape(doc)
    if shape is not None:
        return [(shape.name, where, doc)]
    if isinstance(doc, list):
        return [(detect_shape(e).name, f"{where}[{i}].", e) for i, e in enumerate(doc) if detect_shape(e)]
    return []


@pytest.mark.parametrize("row", EXPECTED, ids=[r["fixture"] for r in EXPECTED])
def test_fixture_produces_expected_documents(row: dict[str, str]) -> None:
    kinds = {"review": 0, "followup": 0, "question": 0, "answer": 0}
    docs, placeholders, bad, shapes_seen = 0, 0, 0, set()
    for where, doc in documents(row["fixture"]):
        parts = _shape_parts(where, doc) if doc is not None else []
        if not parts:
            bad += 1  # invalid or unrecognised JSON line
            continue
        for shape_name, part_where, part in parts:
            shapes_seen.add(shape_name)
            # exactly one shape claims each document: shapes do not steal each other's input
            assert claims(part) == [shape_name]
            if row["error"]:
                with pytest.raises(IngestError, match=re.escape(row["error"])):
                    list(shape_by_name(shape_name).parse(part, part_where))
                continue
            for item in shape_by_name(shape_name).parse(part, part_where):
                if isinstance(item, BadRow):
                    bad += 1
                    continue
                rows, failed = to_documents(item, CTX)
                assert failed == []
                for d in rows:
                    kinds[d["kind"]] += 1
                docs += len(rows)
                placeholders += sum(d["is_placeholder"] for d in rows)
    assert shapes_seen == {row["shape"]}
    assert docs == int(row["documents"])
    assert kinds == {k: int(row[k + "s"]) for k in kinds}
    assert placeholders == int(row["placeholders"])
    assert bad == int(row["bad rows"])


# ---------------------------------------------------------------- tmall-rate (list_detail_rate)

def test_tmall_gbk_jsonp_maps_ids_followups_and_media() -> None:
    doc = load("tmall_list_detail_rate_gbk.jsonp")
    items = parse("tmall_list_detail_rate_gbk.jsonp", doc)
    assert [r.external_id for r in records(items)][:2] == ["211016063895", "211020485731"]
    first = records(items)[0]
    assert (first.source, first.kind, first.text, first.created) == ("tmall", "review", "超快物流 值", "2014-03-25 12:46:17")
    assert first.sku == "颜色分类:金属灰" and first.seller_reply == "" and first.children == []
    assert first.meta["platform"] == "天猫" and first.meta["anony"] is False
    allergy = by_id(items, "211020485731")
    assert allergy.text.startswith("面霜用了三天脸上起红疹，<b>过敏</b>了&hellip去医院")   # as found, not cleaned
    assert allergy.author == "dreamy_lily2010"                                            # masking is normalize's job
    assert allergy.row == "rateDetail.rateList[1]"
    [follow] = allergy.children
    assert (follow.kind, follow.days_after_parent, follow.created) == ("followup", "8", "2014-04-02 20:11:05")
    assert follow.text.startswith("停用一周红疹才消下去") and follow.author == "dreamy_lily2010"
    pics = by_id(items, "211019900876")
    assert pics.meta["pics"][0] == "https://img.alicdn.com/bao/uploaded/i1/TB1S2eoHpXXXXXvXVXXXXXXXXXX_!!0-rate.jpg"
    assert pics.children[0].seller_reply == "感谢亲的回购～"
    assert pics.children[0].meta["pics"][0].startswith("https://img.alicdn.com/")
    assert by_id(items, "211022876650").children[0].days_after_parent == "14"
    [bad] = bad_rows(items)
    assert bad.row == "rateDetail.rateList[6]" and "rateContent" in bad.reason and bad.raw["id"] == "211023000001"


def test_tmall_fragment_and_array_forms() -> None:
    items = parse("tmall_ratedetail_fragment.txt")
    assert "👍" in by_id(items, "331495062101").text
    assert by_id(items, "331495062101").seller_reply == "感谢亲的支持~"
    follow = by_id(items, "331495062378").children[0]
    assert follow.days_after_parent == "5"
    assert follow.meta["pics"] == ["https://img.alicdn.com/bao/uploaded/i1/O1CN01append_!!0-rate.jpg"]
    array = parse("tmall_rate_array.json")
    assert [r.external_id for r in records(array)] == ["331495062062", "331495073318", "331495080927", "331495091544"]
    assert records(array)[0].text == "挺棒的手机 快递也快非常满意"
    [bad] = bad_rows(array)
    assert bad.row == "[2]" and bad.raw is None and "not an object" in bad.reason
    # appendComment saved by the crawler as a JSON string
    [follow] = by_id(array, "331495091544").children
    assert (follow.text, follow.days_after_parent) == ("用了一个月，电池还行，就是充电头有点烫", "30")


def test_tmall_bare_ratelist_and_blocked_response() -> None:
    bare = {"rateList": [{"id": "1", "rateContent": "好", "appendComment": ""}], "paginator": {"page": "1"}}
    assert claims(bare) == ["tmall-rate"]
    assert [r.row for r in parse("", bare, "line 2: ")] == ["line 2: rateList[0]"]
    empty_page = {"rateDetail": {"rateList": [], "paginator": {"lastPage": "0", "page": "1"}}}
    assert claims(empty_page) == ["tmall-rate"] and parse("", empty_page) == []
    blocked = {"rgv587_flag": "sm", "url": "//sec.taobao.com/query.htm?smApp=tmallrateweb"}
    assert claims(blocked) == ["tmall-rate"]
    with pytest.raises(IngestError, match="rgv587_flag=sm"):
        parse("", blocked)


# ---------------------------------------------------------------- mtop-rate

def test_mtop_detaillist_maps_string_scalars() -> None:
    items = parse("mtop_detaillist.jsonp")
    ratings = {r.external_id: r.rating for r in records(items)}
    assert ratings["1055435812665"] == "1" and ratings["1056102233481"] == "-1" and ratings["1055998120374"] == "0"
    first = by_id(items, "1055435812665")
    assert (first.item_id, first.sku, first.author, first.created) == (
        "521422451240", "颜色分类:原木色 3层120抽*24包", "1**3", "2019-08-22")
    assert first.meta["anony"] == "1" and first.meta["buyer_level"] == "4"
    follow = by_id(items, "1054837194356").children[0]
    assert (follow.kind, follow.days_after_parent, follow.author) == ("followup", "2", "t**0")
    assert follow.row == "data.rateList[1].appendedFeed"
    fake = by_id(items, "1056102233481")
    assert fake.seller_reply.startswith("亲，我们是品牌官方旗舰店")
    assert fake.children[0].text == "客服态度很差，推来推去，已经向12315投诉"
    assert fake.children[0].meta["pics"] == ["https://img.alicdn.com/imgextra/i3/0/O1CN01xBox9U1abc_!!0-rate.jpg"]
    media = by_id(items, "1055998120374").meta
    assert media["likes"] == "12" and len(media["pics"]) == 2
    assert media["video"]["url"].startswith("https://cloud.video.taobao.com/")
    assert media["video"]["cover"].startswith("https://img.alicdn.com/")
    assert by_id(items, "1055612093388").author == "m**a"            # reduceUserNick when userNick is absent
    assert by_id(items, "1055512093876").children == []              # an empty appendedFeedback is no follow-up
    [bad] = bad_rows(items)
    assert bad.row == "data.rateList[5]" and bad.raw["id"] == "1055711209933"


def test_mtop_jsonl_pages_keep_line_locators() -> None:
    lines = load_lines("mtop_getitemrates_pages.jsonl")
    assert [claims(doc) for _, doc in lines] == [["mtop-rate"]] * 3
    rows = [r.row for where, doc in lines for r in parse("", doc, where)]
    assert rows[0] == "line 1: data.rateList[0]" and rows[-1] == "line 3: rateList[1]"
    page2 = parse("", lines[1][1], lines[1][0])
    assert by_id(page2, "1071000000105").children[0].days_after_parent == "30"
    assert by_id(page2, "1071000000105").children[0].seller_reply == "感谢反馈，我们会改进"


@pytest.mark.parametrize("name, code", [("mtop_failed.json", "FAIL_SYS_TOKEN_EXOIRED::令牌过期"),
                                        ("mtop_rgv587.jsonp", "RGV587_ERROR::SM::哎哟喂,被挤爆啦")])
def test_failed_mtop_response_is_an_error_not_an_empty_page(name: str, code: str) -> None:
    doc = load(name)
    assert claims(doc) == ["mtop-rate"]
    with pytest.raises(IngestError, match="^mtop response failed: " + re.escape(code)):
        parse(name, doc)


def test_failed_mtop_of_other_apis() -> None:
    unknown = {"api": "mtop.taobao.detail.getdetail", "data": {}, "ret": ["FAIL_SYS_SESSION_EXPIRED::Session过期"]}
    assert claims(unknown) == ["mtop-rate"]
    with pytest.raises(IngestError, match="FAIL_SYS_SESSION_EXPIRED"):
        parse("", unknown)
    wdj = {"api": "mtop.taobao.wdj.list.merge.search", "data": {}, "ret": ["FAIL_SYS_TOKEN_EXOIRED::令牌过期"]}
    assert claims(wdj) == ["wdj-list"]
    with pytest.raises(IngestError, match="^mtop response failed: FAIL_SYS_TOKEN_EXOIRED"):
        parse("", wdj)
    ok_empty = {"api": "mtop.taobao.rate.detaillist.get", "data": {"rateList": [], "hasNext": "false"},
                "ret": ["SUCCESS::调用成功"]}
    assert parse("", ok_empty) == []


# ---------------------------------------------------------------- taobao-feed

def test_taobao_feed_maps_rates_replies_and_appends() -> None:
    items = parse("taobao_feedratelist.json")
    first = by_id(items, "211032961197")
    assert (first.source, first.text, first.created, first.rating) == ("taobao", "好评！", "2014年03月25日 12:59", "1")
    assert first.item_id == "18447203638" and first.author == "寒***炙"
    assert first.sku == "颜色分类:黑色二层宽15CM  尺码:S（2尺1-2尺6）腰围"           # two-space separator kept as found
    assert first.seller_reply is None and first.meta["buyer_rank"] == "107"
    assert by_id(items, "211034112876").rating == "-2"
    fake = by_id(items, "211034587712")
    assert fake.seller_reply == "亲，本店所有商品都是正品，可提供进货凭证，请不要恶意评价"
    assert fake.sku == "颜色分类:卡其色&nbsp;&nbsp;尺码:M"
    [follow] = by_id(items, "211033710458").children                 # append repeated in appendList: one child
    assert (follow.days_after_parent, follow.author) == ("7", "tb_88342761")
    assert follow.meta["pics"] == ["https://img.alicdn.com/bao/uploaded/i3/T1fade_!!0-rate.jpg"]
    [only_list] = by_id(items, "211035200013").children
    assert only_list.text == "穿了一个月了，质量挺好的，没起球" and only_list.seller_reply == "谢谢亲的认可"
    assert only_list.row == "comments[6].appendList[0]"
    [bad] = bad_rows(items)
    assert bad.row == "comments[5]"


# ---------------------------------------------------------------- TOP

def test_top_traderates_keeps_19_digit_ids_exact() -> None:
    doc = load("top_traderates_get.json")
    items = parse("top_traderates_get.json", doc)
    first = records(items)[0]
    assert first.external_id == "4502224694063011129"
    assert (first.meta["tid"], first.meta["oid"]) == ("4502224694062011129", "4502224694063011129")
    assert (first.source, first.rating, first.item_id, first.shop) == ("top", "good", "752102501302", "某某美妆官方旗舰店")
    assert [r.rating for r in records(items)] == ["good", "bad", "good", "neutral", "bad"]
    assert records(items)[1].seller_reply == "亲，已为您申请退货退款，请注意查收"
    [bad] = bad_rows(items)
    assert bad.row == "traderates_get_response.trade_rates.trade_rate[4]" and "role=seller" in bad.reason
    unwrapped = doc["traderates_get_response"]
    assert claims(unwrapped) == ["top-traderates"]
    assert len(records(parse("", unwrapped))) == 5


def test_top_feeds_rating_from_negative_tags() -> None:
    pages = load("top_traderate_feeds_get.json")
    assert isinstance(pages, list) and detect_shape(pages) is None  # a list of pages: split element-wise
    parsed = [records(parse("", page)) for page in pages]
    negative, positive, default = (p[0] for p in parsed)
    assert (negative.rating, negative.author, negative.created) == ("bad", "t**9", "2026-03-22 09:12:00")
    [follow] = negative.children
    assert (follow.rating, follow.created, follow.author) == ("good", "2026-03-29 10:00:00", "t**9")
    assert negative.meta["tags"][0] == {"tag_name": "质量差", "posi": False}
    assert positive.rating == "good" and positive.children == []
    assert default.rating is None
    info = pages[0]["tmall_traderate_feeds_get_response"]["tmall_rate_info"]
    assert claims({"tmall_rate_info": info}) == ["top-feeds"]


def test_top_error_response() -> None:
    doc = load("top_error.json")
    assert claims(doc) == ["top-traderates"]
    with pytest.raises(IngestError, match="TOP error_response: 27 Invalid session invalid-sessionkey SessionKey非法"):
        parse("top_error.json", doc)


# ---------------------------------------------------------------- qianniu

def test_qianniu_nested_rows() -> None:
    items = parse("qianniu_comment_list.json")
    first = by_id(items, "1301250188411")
    assert (first.source, first.rating, first.created) == ("qianniu", "11", "1774945444001")
    assert first.item_id == "752102501302" and first.item_title.startswith("小天鹅")
    assert first.meta["order_id"] == "4502224694063011129" and first.meta["main_order_id"] == "4502224694062011129"
    assert first.meta["pics"] == ["https://img.alicdn.com/imgextra/i1/O1CN01qnimg1_!!0-rate.jpg"]
    assert first.meta["video"] == ["https://cloud.video.taobao.com/play/u/123/p/1/e/6/t/1/4455667788.mp4"]
    [follow] = first.children
    assert (follow.external_id, follow.rating, follow.days_after_parent) == ("1301344048837", "12", "3")
    assert follow.created == "1775204644001" and follow.author == "w**"
    assert by_id(items, "1301250190133").meta["language"] == "zh_TW"
    assert by_id(items, "1301250190022").children == []
    [bad] = bad_rows(items)
    assert bad.row == "data.dataSource[5]"


def test_qianniu_flat_rows() -> None:
    items = parse("qianniu_flat.json")
    first = by_id(items, "1301250188522")
    assert (first.rating, first.created, first.author, first.meta["order_id"]) == (
        "11", "1774945444001", "w**", "4502224694062011129")
    [follow] = first.children
    assert (follow.external_id, follow.rating, follow.days_after_parent) == ("1301344048948", "12", "3.0")
    assert follow.meta["days_text"] == "确认收货后3天后追加评论"
    assert by_id(items, "1301250188633").children == []              # appendContent "" is no follow-up
    assert by_id(items, "1301250188744").created == "1775031844000"  # epoch ms as a string
    assert by_id(items, "1301250188855").children[0].days_after_parent == "5"
    [bad] = bad_rows(items)
    assert bad.row == "[5]" and bad.raw["feedId"] == "1301250199001"


# ---------------------------------------------------------------- 问大家

def test_wdj_list_links_questions_and_answers() -> None:
    items = parse("wdj_list.json")
    questions = records(items)
    assert [q.kind for q in questions] == ["question"] * 6
    first = questions[0]
    assert (first.source, first.external_id, first.text, first.created) == (
        "wdj", "5102938475001", "这款面霜孕妇可以用吗？", "1774000000000")
    [answer] = first.children
    assert (answer.kind, answer.external_id, answer.author, answer.created) == (
        "answer", "6203948576001", "d***2", "2026-03-21 10:03")
    assert answer.meta["likes"] == "15" and answer.meta["purchase_tag"] == "近期已购" and "low_info" not in answer.meta
    assert by_id(items, "5102938475003").children[0].meta["low_info"] is True
    assert by_id(items, "5102938475005").children[0].meta["low_info"] is True
    unanswered = by_id(items, "5102938475004")
    assert unanswered.children == [] and unanswered.meta["answer_count_reported"] == "0"
    assert by_id(items, "5102938475006").children == []
    [bad] = bad_rows(items)
    assert bad.row == "data.questionList[5].topAnswerList[0]"


def test_wdj_detail_comments_are_not_answers() -> None:
    items = parse("wdj_detail.json")
    [question] = records(items)
    assert (question.kind, question.external_id, question.item_id, question.text) == (
        "question", "5102938475610", "752102501302", "这款洗衣机噪音大吗？晚上能用吗")
    assert len(question.children) == 5 and all(a.kind == "answer" for a in question.children)
    texts = [a.text for a in question.children]
    assert "同感，脱水时像飞机起飞" not in texts
    first = question.children[0]
    assert first.meta["first_comment"] == "同感，脱水时像飞机起飞" and first.meta["is_ai_answer"] is False
    assert first.item_id == "752102501302" and first.row == "data.list.list[0]"
    assert [a.meta.get("is_ai_answer") for a in question.children] == [False, True, False, False, False]
    assert [bool(a.meta.get("low_info")) for a in question.children] == [False, False, True, False, False]
    data_only = load("wdj_detail.json")["data"]
    assert claims(data_only) == ["wdj-detail"] and len(records(parse("", data_only))[0].children) == 5


# ---------------------------------------------------------------- canonical JSONL

def test_canonical_lines() -> None:
    lines = load_lines("canonical.jsonl")
    assert [claims(doc) if doc is not None else None for _, doc in lines] == [
        ["canonical"]] * 5 + [None, []] + [["canonical"]]
    review = parse("", lines[0][1], lines[0][0])[0]
    assert (review.source, review.external_id, review.text) == ("tmall", "1061000000001", "用了三天就<b>过敏</b>了&hellip脸又红又痒")
    assert review.row == "line 1" and review.meta["canonical_id"] == "9f2c1a0b3d4e5f607182"
    follow = parse("", lines[1][1], lines[1][0])[0]
    assert (follow.kind, follow.meta["parent_id"]) == ("followup", "9f2c1a0b3d4e5f607182")
    assert follow.seller_reply == "祝您生活愉快"
    assert follow.meta["split_from_merged_text"] is True                 # stored meta (a JSON string) merged back
    answer = parse("", lines[3][1], lines[3][0])[0]
    assert (answer.kind, answer.meta["parent_id"], answer.meta["likes"]) == ("answer", "1b2c3d4e5f6071829304", "4")
    bare = parse("", lines[4][1], lines[4][0])[0]
    assert (bare.source, bare.text, bare.created) == ("canonical", "快递慢得离谱，等了十天，再也不买了", "2026-03-04 12:00:00")


# ---------------------------------------------------------------- detection is specific

@pytest.mark.parametrize("doc, expected", [
    ({"rateList": [{"id": "1", "feedback": "好", "rateType": "1"}], "hasNext": "false"}, "mtop-rate"),
    ([{"id": "1", "feedback": "好", "feedbackDate": "2019-08-21"}], "mtop-rate"),
    ([{"id": "1", "rateContent": "好", "rateDate": "2014-03-25 12:46:17"}], "tmall-rate"),
    ({"comments": [], "maxPage": "0", "currentPageNum": "1"}, "taobao-feed"),
    ({"trade_rates": {"trade_rate": []}, "total_results": "0"}, "top-traderates"),
    ([{"feedId": "1", "feedContent": "好", "feedEmotion": "11"}], "qianniu"),
    ({"questionList": [], "questionTotal": "0"}, "wdj-list"),
    ({"kind": "answer", "text": "可以"}, "canonical"),
    # a malformed first row does not hide the page's shape; `data` saved without api/ret
    ({"data": {"rateList": [{"id": "1", "rateType": "1"}, {"id": "2", "feedback": "好", "rateType": "1"}]}}, "mtop-rate"),
    ({"data": {"questionList": [{"questionId": "1", "questionTitle": "能用吗", "topAnswerList": []}]}}, "wdj-list"),
    ({"comments": [None, {"rateId": "1", "content": "好", "rate": "1"}]}, "taobao-feed"),
])
def test_minimal_forms_are_claimed_by_one_shape(doc: Any, expected: str) -> None:
    assert claims(doc) == [expected]


@pytest.mark.parametrize("doc", [
    {"comments": [{"text": "好"}]},
    {"data": {"list": [{"content": "好"}]}},
    {"rateList": [{"content": "好"}]},
    {"kind": "comment", "text": "好"},
    {"kind": "review", "body": "好"},
    {"ret": ["SUCCESS::调用成功"], "data": {"result": []}},
    [{"text": "好"}], [], ["好"], "好", "3", None,
])
def test_foreign_documents_are_not_claimed(doc: Any) -> None:
    assert claims(doc) == []


# ---------------------------------------------------------------- helpers

def test_jsonutil_helpers() -> None:
    assert jsonutil.dig({"a": {"b": [{"c": "x"}]}}, "a.b.0.c") == "x"
    assert jsonutil.dig({"a": ""}, "a.b", "d") == "d"
    assert jsonutil.first_present({"a": "", "b": None, "c": {}, "d": "0"}, "a", "b", "c", "d") == "0"
    assert jsonutil.https_url("//img.alicdn.com/x.jpg") == "https://img.alicdn.com/x.jpg"
    assert jsonutil.https_url("http://a/b.jpg") == "http://a/b.jpg" and jsonutil.https_url("") is None
    assert jsonutil.media_urls("", ["//a/1.jpg", {"url": "//a/2.jpg"}], [{"thumbnail": "//a/1.jpg"}]) == [
        "https://a/1.jpg", "https://a/2.jpg"]
    assert jsonutil.truthy("true") is True and jsonutil.truthy("0") is False and jsonutil.truthy("x") is None
    assert jsonutil.mtop_failure({"ret": ["SUCCESS::调用成功"]}) is None
    assert jsonutil.mtop_failure({"ret": ["FAIL_BIZ_X::y"]}) == "FAIL_BIZ_X::y"


@pytest.mark.parametrize("text, low", [
    ("不知道", True), ("还没用呢~", True), ("不清楚。", True), ("还没用过", True), ("刚买", True),
    ("不知道为什么一用就过敏", False), ("用了没过敏，挺好", False), ("好", False), ("", False),
])
def test_low_information_answers(text: str, low: bool) -> None:
    assert jsonutil.is_low_info(text) is low
