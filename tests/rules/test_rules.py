"""Rule files, the query language and the matcher (tiny inline rule packs written to tmp_path)."""
from __future__ import annotations

import functools
import textwrap
from datetime import timedelta
from pathlib import Path

import pytest

from sentiment.errors import RuleError
from sentiment.rules.loader import check_rules, load_rules
from sentiment.rules.records import Hit, MatchInput
from sentiment.rules.ruleset import RuleSet
from sentiment.lang.segment import Segmenter, get_segmenter
from sentiment.lang.text import normalize

RULE = """
[[rule]]
id = "{id}"
category = "test"
name = "测试"
severity = "high"
owners = ["cs"]
query = '''{query}'''
"""


def write(tmp_path: Path, body: str, name: str = "r.toml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(body), encoding="utf-8")
    return path


def ruleset(tmp_path: Path, query: str, extra: str = "") -> RuleSet:
    return load_rules([write(tmp_path, RULE.format(id="t.rule", query=query) + extra)])


@functools.cache
def segmenter() -> Segmenter:
    """The production segmenter (default pack terms in the dictionary), built once for all tests."""
    return get_segmenter(load_rules().terms())


def doc(rs: RuleSet, raw: str, **fields: object) -> MatchInput:
    text = normalize(raw)
    tokens = segmenter().tokenize(text)
    return MatchInput(text=text, tokens=tokens, **fields)  # type: ignore[arg-type]


def fires(rs: RuleSet, raw: str, **fields: object) -> bool:
    return bool(rs.match(doc(rs, raw, **fields)))


# -- loading -----------------------------------------------------------------
def test_full_rule_loads_with_all_keys(tmp_path: Path) -> None:
    path = write(tmp_path, """
        # a comment
        [[rule]]
        id = "food_safety.mold"
        category = "food_safety"
        name = "发霉"
        severity = "critical"
        owners = ["cs", "pr"]
        immediate = true
        query = "发霉 OR 长毛"
        window = "24h"
        min_count = 2
        cooldown = "30m"
        description = "mould"
        """)
    rs = load_rules([path])
    (rule,) = rs.rules
    assert rule.id == "food_safety.mold" and rule.owners == ("cs", "pr") and rule.immediate
    assert rule.window == timedelta(hours=24) and rule.cooldown == timedelta(minutes=30)
    assert rule.min_count == 2 and rule.file == str(path) and rule.line == 3
    hit = rs.match(doc(rs, "面包发霉了"))[0]
    assert hit == Hit("food_safety.mold", "food_safety", "critical", ("cs", "pr"), True, (("发霉", 2, 4),))


def test_defaults_for_optional_keys(tmp_path: Path) -> None:
    (rule,) = ruleset(tmp_path, "发霉").rules
    assert (rule.immediate, rule.window, rule.min_count, rule.cooldown) == (
        False, timedelta(hours=24), 1, timedelta(hours=24))


def test_directory_loads_every_toml_and_disabled_rules_are_skipped(tmp_path: Path) -> None:
    write(tmp_path, RULE.format(id="a.one", query="发霉"), "a.toml")
    write(tmp_path, RULE.format(id="b.two", query="假货") + "enabled = false\n", "b.toml")
    (tmp_path / "notes.txt").write_text("not a rule file", encoding="utf-8")
    rs = load_rules([tmp_path])
    assert [r.id for r in rs.rules] == ["a.one"]
    assert not fires(rs, "这是假货")


def test_version_changes_with_rule_content(tmp_path: Path) -> None:
    v1 = ruleset(tmp_path, "发霉").version
    assert ruleset(tmp_path, "发霉").version == v1
    assert ruleset(tmp_path, "发霉 OR 长毛").version != v1


@pytest.mark.parametrize("body, expected", [
    ('severty = "high"', 'r.toml:9: rule "t.rule": unknown key "severty" (did you mean "severity"?)'),
    ('window = "24 hours"', 'r.toml:9: rule "t.rule": window: bad duration'),
    ('cooldown = "7x"', 'r.toml:9: rule "t.rule": cooldown: bad duration'),
    ("window = 24", 'r.toml:9: rule "t.rule": window: bad duration'),
    ("min_count = 0", 'r.toml:9: rule "t.rule": min_count must be an integer >= 1'),
    ('immediate = "yes"', 'r.toml:9: rule "t.rule": immediate must be true or false'),
])
def test_check_reports_bad_keys_with_line(tmp_path: Path, body: str, expected: str) -> None:
    write(tmp_path, RULE.format(id="t.rule", query="发霉") + body + "\n")
    problems = check_rules([tmp_path])
    assert len(problems) == 1
    assert problems[0].replace(str(tmp_path) + "/", "").startswith(expected)


def test_check_reports_bad_severity_owners_and_missing_keys(tmp_path: Path) -> None:
    write(tmp_path, """
        [[rule]]
        id = "ok.one"
        category = "test"
        name = "好"
        severity = "high"
        owners = ["cs"]
        query = "发霉"

        [[rule]]
        id = "bad.two"
        category = "test"
        severity = "urgent"
        owners = "cs"
        query = "假货"
        """)
    problems = [p.replace(str(tmp_path) + "/", "") for p in check_rules([tmp_path])]
    assert 'r.toml:10: rule "bad.two": missing required key "name"' in problems
    assert any(p.startswith('r.toml:13: rule "bad.two": bad severity \'urgent\'') for p in problems)
    assert any(p.startswith('r.toml:14: rule "bad.two": owners must be') for p in problems)
    assert not any("ok.one" in p for p in problems)


def test_check_reports_query_syntax_with_position(tmp_path: Path) -> None:
    write(tmp_path, RULE.format(id="t.q", query="(发霉 OR 长毛"))
    (problem,) = check_rules([tmp_path])
    assert problem.endswith('r.toml:8: rule "t.q": query: expected ")" at position 9')


def test_duplicate_ids_across_files(tmp_path: Path) -> None:
    write(tmp_path, RULE.format(id="dup.id", query="发霉"), "a.toml")
    write(tmp_path, "\n\n" + RULE.format(id="dup.id", query="假货"), "b.toml")
    (problem,) = check_rules([tmp_path])
    assert problem == (f'{tmp_path}/b.toml:5: rule "dup.id": duplicate id '
                       f"(first defined at {tmp_path}/a.toml:2)")


def test_invalid_toml_and_unknown_top_level_key(tmp_path: Path) -> None:
    write(tmp_path, "[[rule]]\nid = \n", "broken.toml")
    write(tmp_path, 'colour = "red"\n', "top.toml")
    problems = check_rules([tmp_path])
    assert problems[0].startswith(f"{tmp_path}/broken.toml:2: invalid TOML")
    assert problems[1] == f'{tmp_path}/top.toml:1: unknown top-level key "colour" (expected [[rule]] tables or masks)'


def test_load_rules_raises_with_every_problem(tmp_path: Path) -> None:
    write(tmp_path, RULE.format(id="t.a", query="AND 发霉") + 'min_count = 0\n')
    with pytest.raises(RuleError) as info:
        load_rules([tmp_path])
    lines = str(info.value).splitlines()
    assert len(lines) == 2 and all('rule "t.a"' in line for line in lines)


def test_missing_path_is_a_problem(tmp_path: Path) -> None:
    assert check_rules([tmp_path / "nope"]) == [f"{tmp_path}/nope: no such file or directory"]


# -- query language ------------------------------------------------------------
@pytest.mark.parametrize("query, error", [
    ("发霉 AND", 'expected a term, phrase or ( but found end of query at position 6'),
    ("OR 发霉", 'expected a term, phrase or ( but found "OR" at position 0'),
    ("发霉 )", 'unexpected ")" at position 3'),
    ('"发霉', "unterminated phrase at position 0"),
    ("/[a-/", "bad /regex/"),
    ("发霉 NEAR 长毛", "NEAR needs a distance, e.g. NEAR/3 at position 3"),
    ("发霉 NEAR/0 长毛", "NEAR distance must be at least 1 at position 3"),
    ("发* OR 长毛", 'wildcards are allowed on Latin terms only ("发*") at position 0'),
    ("colour:red", 'unknown field "colour"'),
    ("score:low", 'bad score filter "low"'),
    ("kind:comment", 'unknown kind "comment"'),
    ("(发霉 AND 长毛) NEAR/2 面包", "NEAR operands must be terms, phrases, regexes or OR-groups"),
])
def test_query_syntax_errors(query: str, error: str) -> None:
    from sentiment.rules.query import parse

    with pytest.raises(RuleError, match=None) as info:
        parse(query)
    assert error in str(info.value)


def test_and_or_not_parentheses(tmp_path: Path) -> None:
    rs = ruleset(tmp_path, "(发霉 OR 长毛) AND 面包 AND NOT 蛋糕")
    assert fires(rs, "面包发霉了")
    assert fires(rs, "面包长毛了")
    assert not fires(rs, "蛋糕和面包都发霉了")
    assert not fires(rs, "饼干发霉了")


def test_juxtaposition_is_and(tmp_path: Path) -> None:
    rs = ruleset(tmp_path, "面包 发霉 NOT 蛋糕")
    assert fires(rs, "面包发霉了") and not fires(rs, "面包很好") and not fires(rs, "面包蛋糕发霉")


def test_quoted_phrase_with_operator_words(tmp_path: Path) -> None:
    rs = ruleset(tmp_path, '"AND OR" OR "customer service"')
    assert fires(rs, "the Customer Service was rude")
    assert fires(rs, "写着AND OR的标签")
    assert not fires(rs, "customer was served")


def test_near_counts_jieba_tokens_in_any_order(tmp_path: Path) -> None:
    rs = ruleset(tmp_path, "客服 NEAR/2 骂人")
    assert fires(rs, "客服骂人")               # 客服/骂人: adjacent = 1
    assert fires(rs, "骂人的客服")             # reversed, 骂人/的/客服 = 2
    assert not fires(rs, "客服今天在电话里骂人")  # 4 tokens apart


def test_onear_requires_order(tmp_path: Path) -> None:
    rs = ruleset(tmp_path, "吃出 ONEAR/3 头发")
    assert fires(rs, "吃出一根头发")
    assert not fires(rs, "头发里吃出")


def test_latin_wildcards_and_word_boundaries(tmp_path: Path) -> None:
    rs = ruleset(tmp_path, "refund* OR c?s OR ins")
    assert fires(rs, "No REFUNDS given")
    assert fires(rs, "the cbs show")
    assert not fires(rs, "the cs team")          # ? is exactly one letter
    assert fires(rs, "发到ins上")
    assert not fires(rs, "inside the box")        # ins is not a word here
    assert not fires(rs, "prerefund")


def test_regex_terms(tmp_path: Path) -> None:
    rs = ruleset(tmp_path, r"/\d+天(还)?没发货/ OR /订单号\s*\d{6,}/")
    assert fires(rs, "等了5天还没发货")
    assert fires(rs, "订单号 12345678")
    assert not fires(rs, "第二天就发货了")


def test_field_filters(tmp_path: Path) -> None:
    rs = ruleset(tmp_path, "发霉 AND kind:followup AND rating:negative AND score:<0.3 AND item:12* AND sku:红色")
    good = dict(kind="followup", rating="negative", score=0.1, item_id="123", sku="颜色分类:红色;尺码:XL")
    assert fires(rs, "追评:发霉了", **good)
    for key, value in [("kind", "review"), ("rating", "neutral"), ("score", 0.3), ("item_id", "99"),
                       ("sku", "蓝色"), ("score", None)]:
        assert not fires(rs, "追评:发霉了", **{**good, key: value})


def test_field_only_rule_runs_without_terms(tmp_path: Path) -> None:
    rs = ruleset(tmp_path, "rating:negative AND score:<=0.05")
    assert fires(rs, "一般般", rating="negative", score=0.01)
    assert not fires(rs, "一般般", rating="negative", score=0.2)


def test_exclude_query(tmp_path: Path) -> None:
    rs = ruleset(tmp_path, "曝光", "exclude = '曝光 NEAR/2 (相机 OR 拍照)'\n")
    assert fires(rs, "我要曝光你们")
    assert not fires(rs, "拍照曝光很准")


def test_masks_discard_terms_inside_other_words(tmp_path: Path) -> None:
    path = write(tmp_path, 'masks = ["多媒体"]\n' + RULE.format(id="t.m", query="媒体"))
    rs = load_rules([path])
    assert fires(rs, "我要找媒体")
    assert not fires(rs, "多媒体教室")
    assert "多媒体" in rs.terms()


def test_one_char_terms_must_be_whole_tokens(tmp_path: Path) -> None:
    rs = ruleset(tmp_path, "假")
    assert not fires(rs, "放假了才收到")  # 放假 is one token
    assert not fires(rs, "假期快乐")
    rs2 = ruleset(tmp_path, "有效")
    assert not fires(rs2, "没有效果")     # crosses 没有/效果
    assert fires(rs2, "很有效")


def test_multi_char_terms_match_inside_longer_tokens(tmp_path: Path) -> None:
    rs = ruleset(tmp_path, "过敏")
    assert fires(rs, "过敏性鼻炎又犯了")  # 过敏性 is one jieba token


def test_hit_terms_have_spans_in_normalized_text(tmp_path: Path) -> None:
    rs = ruleset(tmp_path, "发霉 AND 面包")
    d = doc(rs, "ＡＢ面包，发霉！")  # full-width -> ASCII by NFKC
    (hit,) = rs.match(d)
    assert d.text == "AB面包,发霉!"
    assert hit.terms == (("面包", 2, 4), ("发霉", 5, 7))
    assert all(d.text[s:e] == t for t, s, e in hit.terms)


def test_terms_for_user_dictionary(tmp_path: Path) -> None:
    rs = ruleset(tmp_path, '发霉 OR 不发货 OR refund OR /x+/ OR 假 OR "吃出 头发"')
    assert rs.terms() == ("发霉", "吃出 头发")


def test_no_candidates_returns_nothing_fast(tmp_path: Path) -> None:
    rs = load_rules()
    assert rs.match(MatchInput(text="东西很好,物流很快,五星好评", tokens=[])) == []
    assert rs.match(MatchInput(text="", tokens=[])) == []


def test_match_without_tokens_uses_fallback(tmp_path: Path) -> None:
    rs = ruleset(tmp_path, "发霉")
    assert rs.match(MatchInput(text="面包发霉了", tokens=[]))
    assert not rs.match(MatchInput(text="面包没有发霉", tokens=[]))


def test_explain_shows_fired_terms_and_discarded(tmp_path: Path) -> None:
    rs = ruleset(tmp_path, "发霉 OR 异味")
    (entry,) = rs.explain(doc(rs, "没有发霉,但是有异味"))
    assert entry["rule_id"] == "t.rule" and entry["fired"] is True
    assert entry["terms"] == [{"term": "异味", "start": 8, "end": 10}]
    assert entry["discarded"] == [{"term": "发霉", "start": 2, "end": 4, "reason": "negated by 没有"}]
    (entry,) = rs.explain(doc(rs, "没有发霉"))
    assert entry["fired"] is False


# -- the default pack ------------------------------------------------------------
@pytest.fixture(scope="module")
def pack() -> RuleSet:
    return load_rules()


CATEGORIES = ("food_safety", "health_safety", "counterfeit", "quality", "logistics", "service",
              "misleading", "escalation", "review_manipulation")


def test_default_pack_is_valid_and_has_every_category(pack: RuleSet) -> None:
    assert check_rules() == []
    assert {r.category for r in pack.rules} == set(CATEGORIES)
    assert all(r.name and not r.name.isascii() for r in pack.rules)
    assert len(pack.terms()) > 300 and "假货" in pack.terms() and "12315" not in pack.terms()


POSITIVE = {
    "food_safety": ["面包发霉了,根本不能吃", "吃出一根头发,恶心", "吃了以后拉肚子一整晚", "收到就过期了",
                    "牛奶胀袋了,喝了肚子疼"],
    "health_safety": ["用了之后脸上起疹子,还很痒", "充电的时候冒烟了", "孩子被划伤了手,流了好多血",
                      "吃完上吐下泻,去了医院挂水", "用了三天就过敏了"],
    "counterfeit": ["这是假货,和专柜的不一样", "防伪码查不到,肯定是假的", "高仿,别买", "怀疑是假货"],
    "quality": ["用了三天就坏了", "做工粗糙,质量太差", "衣服起球还掉色", "一股刺鼻的味道"],
    "logistics": ["等了一周还没发货", "物流太慢了", "显示签收了但我没收到", "快递压坏了"],
    "service": ["客服态度极差,爱答不理", "拒绝退款,太坑了", "售后不处理,推给厂家"],
    "misleading": ["与描述不符,虚假宣传", "货不对板", "和图片不一样,差太多了", "智商税,一点效果都没有"],
    "escalation": ["我要打12315投诉你们", "再不处理我就找媒体曝光", "已经找律师准备起诉",
                   "发小红书让大家避雷", "去消协投诉了"],
    "review_manipulation": ["好评返现5元的卡片", "商家打电话让我改好评", "一直打电话骚扰我删差评"],
}
NEGATIVE = {
    "food_safety": ["收到的面包没有发霉,很新鲜", "吃了也没有拉肚子", "本来担心会过期,结果日期很新鲜",
                    "完全没有异物,放心"],
    "health_safety": ["一点都不过敏,敏感肌也能用", "本来担心会过敏,用了一周完全没有过敏", "过敏肌放心入",
                      "充电不发烫也没有冒烟", "万一过敏了怎么办"],
    "counterfeit": ["不是假货,放心购买", "本来担心是假货,验了是正品", "还以为是假货,结果是正品",
                    "假一赔十,放心", "并非假货"],
    "quality": ["质量很好,没有坏", "完全没有异味", "没有起球也不掉色"],
    "logistics": ["物流很快,第二天就到了", "没有丢件,包装完好"],
    "service": ["客服态度很好,退款很快", "售后很负责"],
    "misleading": ["与描述相符,和图片一样", "效果很好,不是智商税"],
    "escalation": ["在小红书上看到推荐买的,很好用", "相机曝光度很准确", "多媒体课件很好用"],
    "review_manipulation": ["真心好评,没有返现", "自愿好评,不是刷单"],
}


@pytest.mark.parametrize("category", CATEGORIES)
def test_default_pack_true_positives(pack: RuleSet, category: str) -> None:
    for text in POSITIVE[category]:
        cats = {h.category for h in pack.match(doc(pack, text))}
        assert category in cats, text


@pytest.mark.parametrize("category", CATEGORIES)
def test_default_pack_negated_and_hypothetical_do_not_fire(pack: RuleSet, category: str) -> None:
    for text in NEGATIVE[category]:
        cats = {h.category for h in pack.match(doc(pack, text))}
        assert category not in cats, (text, cats)


def test_default_pack_critical_rules_are_immediate(pack: RuleSet) -> None:
    for r in pack.rules:
        if r.category in ("food_safety", "health_safety", "escalation") and r.severity == "critical":
            assert r.immediate, r.id
    hits = pack.match(doc(pack, "我要打12315"))
    assert hits[0].immediate and "pr" in hits[0].owners


def test_questions_in_wenda_are_not_reports(pack: RuleSet) -> None:
    for text in ["会不会过敏?", "宝宝吃了会拉肚子吗", "这个是假货吗?", "有没有异味"]:
        assert pack.match(doc(pack, text, kind="question")) == [], text
    # an assertion inside a question text still counts
    assert pack.match(doc(pack, "买了三次都过敏了,是不是质量问题?", kind="question"))
