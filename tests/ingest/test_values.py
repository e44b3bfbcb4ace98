"""Unit tests of sentiment.ingest.values: ids, dates, ratings, SKUs, nicknames (FORMATS.md §3, §6)."""
from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from sentiment.errors import RowError
from sentiment.ingest.values import (
    clean_id, mask_nick, normalize_rating, normalize_sku, parse_datetime, parse_days,
)

SH = ZoneInfo("Asia/Shanghai")


# --- clean_id ---------------------------------------------------------------------------------

@pytest.mark.parametrize("value, expected", [
    ("4502224694062011129", "4502224694062011129"),     # 19-digit order id, beyond 2**53
    ("1.23456789E+9", "1234567890"),                    # Excel scientific notation, recoverable
    ("1.23456789e9", "1234567890"),
    ("123456789012.0", "123456789012"),                 # Excel trailing .0
    ("'4502224694062011129", "4502224694062011129"),    # Excel text-prefix apostrophe
    (" 211016063895 ", "211016063895"),
    (752102501302, "752102501302"),                     # an int from a numeric XLSX cell
    (1234567890.0, "1234567890"),                       # a float from a numeric XLSX cell
    ("1.5E+2", "150"),
    ("0012", "0012"),                                   # leading zeros are part of a string id
])
def test_clean_id_exact(value, expected):
    assert clean_id(value) == (expected, True)


@pytest.mark.parametrize("value", ["4.50222E+18", "1.2345678901234567E+18", 4.502224694062011e18, "1.55E+1"])
def test_clean_id_rounded_ids_are_flagged_inexact(value):
    text, exact = clean_id(value)
    assert exact is False
    assert text is not None


def test_clean_id_never_pretends_a_rounded_19_digit_id_is_exact():
    text, exact = clean_id("4.50222E+18")
    assert (text, exact) == ("4502220000000000000", False)
    # the true id was 4502224694062011129: it must not be "recovered" as something else
    assert text != "4502224694062011129"


@pytest.mark.parametrize("value", [None, "", "   ", "nan", "None", "null", True])
def test_clean_id_empty(value):
    assert clean_id(value) == (None, True)


def test_clean_id_always_returns_str():
    for value in (1, 2**63, 3.0, "7"):
        text, _ = clean_id(value)
        assert isinstance(text, str)
    assert clean_id(2**63) == (str(2**63), True)


# --- parse_datetime ---------------------------------------------------------------------------

@pytest.mark.parametrize("value, expected, precision", [
    ("2014-03-25 12:46:17", "2014-03-25T12:46:17+08:00", "second"),
    ("2019-08-21", "2019-08-21T00:00:00+08:00", "day"),
    ("2014年03月25日 12:59", "2014-03-25T12:59:00+08:00", "minute"),
    ("2024/3/5 9:05", "2024-03-05T09:05:00+08:00", "minute"),
    ("1774945444001", "2026-03-31T16:24:04+08:00", "second"),      # epoch ms as a string
    (1774945444001, "2026-03-31T16:24:04+08:00", "second"),        # epoch ms as a number
    ("1774945444", "2026-03-31T16:24:04+08:00", "second"),         # epoch seconds
    ("2024-06-26T01:17:51.000+00:00", "2024-06-26T09:17:51+08:00", "second"),
    ("2024-06-26T01:17:51Z", "2024-06-26T09:17:51+08:00", "second"),
    ("2024-06-26 01:17:51+00:00", "2024-06-26T09:17:51+08:00", "second"),
    ("初次评价：2026-07-13 11:45", "2026-07-13T11:45:00+08:00", "minute"),
    ("追评：2026-07-20 08:00:05", "2026-07-20T08:00:05+08:00", "second"),
])
def test_parse_datetime_forms(value, expected, precision):
    assert parse_datetime(value, SH) == (expected, precision)


def test_parse_datetime_datetime_objects():
    assert parse_datetime(datetime(2024, 6, 1, 10, 30), SH) == ("2024-06-01T10:30:00+08:00", "second")
    aware = datetime(2024, 6, 1, 2, 30, tzinfo=timezone.utc)
    assert parse_datetime(aware, SH) == ("2024-06-01T10:30:00+08:00", "second")


def test_parse_datetime_uses_the_given_zone():
    assert parse_datetime("2024-06-26T01:17:51Z", ZoneInfo("UTC"))[0] == "2024-06-26T01:17:51+00:00"
    assert parse_datetime("2024-06-26 09:00:00", ZoneInfo("UTC"))[0] == "2024-06-26T09:00:00+00:00"


@pytest.mark.parametrize("value", [None, "", "  ", "-", "--", "null", "None"])
def test_parse_datetime_empty(value):
    assert parse_datetime(value, SH) is None


@pytest.mark.parametrize("value", ["明天", "abc", "2024-02-30", "2024-13-01", "上周"])
def test_parse_datetime_garbage_raises_rowerror(value):
    with pytest.raises(RowError, match="unparsable date"):
        parse_datetime(value, SH)


# --- parse_days -------------------------------------------------------------------------------

@pytest.mark.parametrize("value, expected", [
    ("收货后5天", 5),
    ("确认收货后3天后追加评论", 3),
    ("2", 2),
    (3, 3),
    (3.0, 3),
    ("3.0", 3),
    ("当天追加", 0),
    ("追评时间不详", None),
    ("", None),
    (None, None),
])
def test_parse_days(value, expected):
    assert parse_days(value) == expected


# --- normalize_rating -------------------------------------------------------------------------

@pytest.mark.parametrize("value, expected", [
    # TOP
    ("good", "positive"), ("neutral", "neutral"), ("bad", "negative"), ("GOOD", "positive"),
    # mobile rateType / Taobao PC rate
    ("1", "positive"), ("0", "neutral"), ("-1", "negative"), ("-2", None),
    (1, "positive"), (0, "neutral"), (-1, "negative"),
    # 千牛 emotion codes and words
    ("11", "positive"), ("12", "neutral"), ("13", "negative"), (11, "positive"), ("14", None),
    ("正面评价", "positive"), ("中性评价", "neutral"), ("负面评价", "negative"),
    # 好中差评
    ("好评", "positive"), ("中评", "neutral"), ("差评", "negative"),
    # garbage
    ("xyz", None), ("", None), (None, None),
])
def test_normalize_rating_codes(value, expected):
    assert normalize_rating(value, "code") == expected


@pytest.mark.parametrize("value, expected", [
    ("5", "positive"), ("4", "positive"), ("3", "neutral"), ("2", "negative"), ("1", "negative"),
    (5, "positive"), (1, "negative"), (5.0, "positive"), ("5.0", "positive"),
    ("1星", "negative"), ("5星", "positive"), ("3分", "neutral"),
    ("★★★★★", "positive"), ("★★★", "neutral"), ("★", "negative"),
    ("五星", "positive"), ("三星", "neutral"), ("一星", "negative"),
    ("6", None),
])
def test_normalize_rating_stars(value, expected):
    assert normalize_rating(value, "stars") == expected


def test_normalize_rating_one_is_a_code_or_a_star_depending_on_the_column():
    # "1" in a rateType column is a good review; "1" in a 评分 column is one star
    assert normalize_rating("1", "code") == "positive"
    assert normalize_rating("1", "stars") == "negative"


def test_normalize_rating_star_words_are_stars_even_in_a_code_column():
    assert normalize_rating("1星", "code") == "negative"
    assert normalize_rating("★★★★★", "code") == "positive"
    assert normalize_rating("5星好评", "code") == "positive"


def test_bug_normalize_rating_float_code_one_is_positive():
    """BUG values.py _rating_text: the code "1.0" (rateType saved as a float by Excel/pandas)
    is read as one star -> negative; it is a good review."""
    assert normalize_rating("1.0", "code") == "positive"
    assert normalize_rating(1.0, "code") == "positive"


# --- normalize_sku ----------------------------------------------------------------------------

@pytest.mark.parametrize("value, expected", [
    ("颜色分类:金属灰", "颜色分类:金属灰"),
    ("机身颜色:香槟色;套餐类型:官方标配;存储容量:64GB", "机身颜色:香槟色;套餐类型:官方标配;存储容量:64GB"),
    # Taobao two-space form, with a space inside a value that must survive
    ("颜色分类:42寸LED（超窄边）电影版  套餐类型:官方标配", "颜色分类:42寸LED（超窄边）电影版;套餐类型:官方标配"),
    ("颜色分类:黑色二层宽15CM  尺码:S（2尺1-2尺6）腰围", "颜色分类:黑色二层宽15CM;尺码:S（2尺1-2尺6）腰围"),
    ("颜色分类:黑色&nbsp;&nbsp;尺码:S", "颜色分类:黑色;尺码:S"),
    ("颜色：白色；尺码：XL", "颜色:白色;尺码:XL"),
    ("颜色:白色;尺码:XL|颜色:白色;尺码:XXL", "颜色:白色;尺码:XL|颜色:白色;尺码:XXL"),
    ({"颜色": "白色", "尺码": "XL", "空": ""}, "颜色:白色;尺码:XL"),
    ([{"颜色": "白色", "尺码": "XL"}, "颜色:白色;尺码:XXL"], "颜色:白色;尺码:XL|颜色:白色;尺码:XXL"),
    ("", None), ({}, None), ([], None), (None, None),
])
def test_normalize_sku(value, expected):
    assert normalize_sku(value) == expected


# --- mask_nick --------------------------------------------------------------------------------

@pytest.mark.parametrize("value, expected", [
    ("t**0", "t**0"), ("王**", "王**"), ("寒***炙", "寒***炙"), ("w**", "w**"),   # already masked
    ("小明同学", "小***学"), ("zhangsan", "z***n"),                              # 2014 unmasked nicks
    ("ab", "a**"), ("王", "王**"),
    ("", None), ("   ", None), (None, None),
])
def test_mask_nick(value, expected):
    assert mask_nick(value) == expected


def test_mask_nick_never_returns_the_full_unmasked_name():
    for nick in ("小明同学", "zhangsan", "李四", "tb123456789"):
        assert mask_nick(nick) != nick
        assert "*" in mask_nick(nick)
