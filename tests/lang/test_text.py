"""Unit tests of sentiment.lang.text: normalize, is_placeholder, split_followup (FORMATS.md §6)."""
from __future__ import annotations

import pytest

from sentiment.lang import text as textmod
from sentiment.lang.text import is_placeholder, normalize, split_followup


# --- normalize: HTML ---------------------------------------------------------------------------

@pytest.mark.parametrize("raw, expected", [
    ("<b>质量</b>很好", "质量很好"),
    ("超快物流 <b>值</b>", "超快物流 值"),
    ("第一行<br/>第二行", "第一行\n第二行"),
    ("第一行<BR>第二行", "第一行\n第二行"),
    ("不一样&hellip; 气味", "不一样... 气味"),      # … then NFKC -> ...
    ("好评&hellip", "好评..."),                      # bare entity at the end
    ("红肿发痒&nbsp;&nbsp;申请退货", "红肿发痒 申请退货"),
    ("快递&quot;顺丰&quot;很给力", '快递"顺丰"很给力'),
    ("&ldquo;正品&rdquo;&middot;&apos;x&apos;", "“正品”·'x'"),
    ("价格&lt;100元&amp;包邮", "价格<100元&包邮"),
    ("&amp;lt;b&amp;gt;加粗&amp;lt;/b&amp;gt;", "加粗"),   # double-escaped highlight
    ("&#x4E2D;&#22269;", "中国"),
    ("1 < 2 and 3 > 2", "1 < 2 and 3 > 2"),          # a bare < is not a tag
])
def test_normalize_html(raw, expected):
    assert normalize(raw) == expected


@pytest.mark.parametrize("raw, expected", [
    ("和专柜的完全不一样&hellip气味也不对", "和专柜的完全不一样...气味也不对"),
    ("亲&nbsp亲", "亲 亲"),
])
def test_bug_bare_entity_followed_by_chinese(raw, expected):
    """BUG text.py _BARE_ENTITY: `(?![;\\w])` treats CJK as \\w, so a bare `&hellip`
    directly followed by a Chinese character (the usual case in real text) is left as is."""
    assert normalize(raw) == expected


# --- normalize: NFKC, traditional -> simplified, runs, spaces ------------------------------------

def test_normalize_nfkc_fullwidth():
    assert normalize("ＡＢＣ１２３，！") == "ABC123,!"
    assert normalize("质量很好，物流快！") == "质量很好,物流快!"


def test_normalize_traditional_to_simplified():
    assert normalize("質量很好") == "质量很好"
    assert normalize("質量很好，服務態度也不錯") == "质量很好,服务态度也不错"


@pytest.mark.parametrize("raw, expected", [
    ("好好好好好好", "好好"),
    ("哈哈哈哈哈", "哈哈"),
    ("好好", "好好"),
    ("好好好", "好好"),
    ("！！！！", "!!"),
    ("，，", ",,"),                        # doubled punctuation (a real sample) is kept
    ("非常好👍👍👍👍", "非常好👍👍"),
    ("1111111", "1111111"),                # digits survive: prices, ids
    ("价格100000元", "价格100000元"),
])
def test_normalize_collapses_runs(raw, expected):
    assert normalize(raw) == expected


def test_normalize_keeps_emoji():
    assert normalize("非常好👍") == "非常好👍"
    assert "😡" in normalize("长了绿毛😡 食品安全问题")


def test_normalize_spaces_and_newlines():
    assert normalize("   多  空格\u3000全角  ") == "多 空格 全角"
    assert normalize("\r\n行一\r\n\r\n行二\r\n") == "行一\n行二"
    assert normalize("第一次在这家买，\n包装很严实\n\n客服好") == "第一次在这家买,\n包装很严实\n客服好"


def test_normalize_drops_control_characters():
    """NUL, escapes, DEL and C1 controls go (between two words they join them); tab and
    newlines are spacing, as before."""
    assert normalize("\x00坏了\x1b[31m") == "坏了[31m"
    assert normalize("质量\x7f很好\x85\x9f") == "质量很好"
    assert normalize("行一\x0b\x0c\n行二\t完") == "行一\n行二 完"
    assert normalize("\x00\x01") == ""


@pytest.mark.parametrize("raw", [None, "", "   ", "<b></b>", "&nbsp;"])
def test_normalize_empty(raw):
    assert normalize(raw) == ""


@pytest.mark.parametrize("raw", [
    "好好好好！！！！&hellip;", "<b>質量</b>差&nbsp;&nbsp;退货", "ＡＢＣ，，，，", "第一行<br>第二行", "非常好👍👍👍",
    "好\x00好\x00好\x00好",
])
def test_normalize_is_idempotent(raw):
    once = normalize(raw)
    assert normalize(once) == once


def test_strip_html_keeps_text_between_tags():
    assert textmod.strip_html("<span class='h'>假货</span>！") == "假货！"


# --- is_placeholder ---------------------------------------------------------------------------

PLACEHOLDERS = [   # FORMATS.md §6.1, all of them
    "此用户没有填写评价。",
    "此用户没有填写评论!",
    "评价方未及时做出评价,系统默认好评!",
    "评价方未及时做出评价,系统默认好评！",
    "系统默认评论",
    "15天内买家未作出评价",
    "该用户未及时主动评价，系统默认好评",
    "该用户觉得商品非常好，给出好评",
    "该用户觉得商品非常好，给出5星好评",
    "该用户觉得商品很好，给出了5星好评",
    "该用户觉得商品非常赞，给出了五星好评",
    "该用户觉得商品还不错",
    "该用户未填写评价内容",
    "该用户未填写文字评价",
    "更多",
]


@pytest.mark.parametrize("text", PLACEHOLDERS)
def test_is_placeholder_raw(text):
    assert is_placeholder(text)


@pytest.mark.parametrize("text", PLACEHOLDERS)
def test_is_placeholder_after_normalize(text):
    # ingestion checks the normalized text (full-width punctuation already half-width)
    assert is_placeholder(normalize(text))


@pytest.mark.parametrize("text", [
    "此用户没有填写评价，但是东西很好",
    "系统默认好评但我要说两句：质量差",
    "该用户说质量太差",
    "更多优惠找客服",
    "好评",
    "质量很好，物流也快",
    "",
    "此用户没有填写评价。" * 10,
])
def test_is_placeholder_real_text_is_not(text):
    assert not is_placeholder(text)


# --- split_followup ---------------------------------------------------------------------------

@pytest.mark.parametrize("merged, head, tail", [
    ("好用\n买家追评:还会回购", "好用", "还会回购"),
    ("好用 买家追评：还会回购", "好用", "还会回购"),
    ("纸的质量非常好[追加评论]纸质看起来很好", "纸的质量非常好", "纸质看起来很好"),
    ("好用【追评】一般", "好用", "一般"),
    ("好用 追加评论：好", "好用", "好"),
    ("此用户没有填写评价。 追评:用了几天感觉还可以", "此用户没有填写评价。", "用了几天感觉还可以"),
    ("[追加评论]只有追评", "", "只有追评"),
])
def test_split_followup(merged, head, tail):
    assert split_followup(merged) == (head, tail)


@pytest.mark.parametrize("text", ["只有初评", "追评很慢的快递", "追加了一单", "买家追评:"])
def test_split_followup_no_followup(text):
    head, tail = split_followup(text)
    assert tail is None
