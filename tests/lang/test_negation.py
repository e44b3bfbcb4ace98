"""Negation, double negation, clause scopes, hypotheticals and questions, one test per form."""
from __future__ import annotations

import functools
from pathlib import Path

import pytest

from sentiment.rules.loader import load_rules

from sentiment.rules.records import MatchInput

from sentiment.rules.ruleset import RuleSet
from sentiment.lang.segment import Segmenter, get_segmenter
from sentiment.lang.text import normalize

PACK = """
[[rule]]
id = "t.risk"
category = "test"
name = "风险"
severity = "high"
owners = ["cs"]
query = '发霉 OR 过敏 OR 假货 OR 异味 OR 拉肚子 OR 不是正品 OR 不发货 OR 不退款 OR 冒烟 OR 坏了'

[[rule]]
id = "t.genuine"
category = "test"
name = "正品"
severity = "low"
owners = ["cs"]
query = '面包 AND NOT 发霉'
"""


@pytest.fixture(scope="module")
def rs(tmp_path_factory: pytest.TempPathFactory) -> RuleSet:
    path: Path = tmp_path_factory.mktemp("neg") / "r.toml"
    path.write_text(PACK, encoding="utf-8")
    return load_rules([path])


@functools.cache
def segmenter() -> Segmenter:
    return get_segmenter(load_rules().terms())


def matched(rs: RuleSet, raw: str, kind: str = "review") -> list[str]:
    text = normalize(raw)
    d = MatchInput(text, segmenter().tokenize(text), kind=kind)
    return [t for h in rs.match(d) if h.rule_id == "t.risk" for t, _, _ in h.terms]


@pytest.mark.parametrize("text", [
    "没有发霉", "没发霉", "不过敏", "无异味", "未发现异味", "别担心过敏", "并非假货", "不是假货",
    "并没有发霉", "毫无异味", "一点都不过敏", "一点也不过敏", "完全没有异味", "从来没过敏",
    "绝对不是假货", "不存在假货", "不会过敏", "从未过敏", "没什么异味", "根本没有异味",
    "异味完全没有", "过敏现象没有出现", "发霉和异味都没有", "吃了以后并没有拉肚子",
])
def test_negated_terms_do_not_count(rs: RuleSet, text: str) -> None:
    assert matched(rs, text) == []


@pytest.mark.parametrize("text, term", [
    ("不是没有发霉", "发霉"),
    ("并不是没有过敏", "过敏"),
    ("不是没有异味,是异味很大", "异味"),
])
def test_double_negation_keeps_the_term(rs: RuleSet, text: str, term: str) -> None:
    assert term in matched(rs, text)


@pytest.mark.parametrize("text, term", [
    ("没有发霉,但是有异味", "异味"),     # punctuation
    ("没有发霉但是有异味", "异味"),      # contrastive without punctuation
    ("没有发霉可是有异味", "异味"),
    ("没有发霉不过有异味", "异味"),
    ("没有发霉却有异味", "异味"),
    ("没有发霉\n有异味", "异味"),        # newline
    ("没有发霉 有异味", "异味"),         # space between phrases
    ("没有发霉;有异味", "异味"),
    ("没想到居然发霉了", "发霉"),        # 没想到 is not a negation
    ("没用几天就坏了", "坏了"),          # duration, not negation
    ("没过多久就发霉了", "发霉"),
    ("吃了不舒服拉肚子", "拉肚子"),      # bare 不 negates 舒服 only
    ("不但发霉还有异味", "异味"),
    ("不少都发霉了", "发霉"),
])
def test_scope_ends_at_clause_boundaries_and_contrast(rs: RuleSet, text: str, term: str) -> None:
    assert term in matched(rs, text)


def test_terms_containing_the_negator_match_whole(rs: RuleSet) -> None:
    assert matched(rs, "不是正品") == ["不是正品"]
    assert matched(rs, "一直不发货") == ["不发货"]
    assert matched(rs, "不发货不退款") == ["不发货", "不退款"]
    assert matched(rs, "不是不发货") == []  # 不是 negates 不发货


def test_not_terms_are_negation_aware_too(rs: RuleSet) -> None:
    text = normalize("面包没有发霉")
    d = MatchInput(text, segmenter().tokenize(text))
    assert [h.rule_id for h in rs.match(d)] == ["t.genuine"]  # NOT 发霉 holds: 发霉 is negated


@pytest.mark.parametrize("text", [
    "本来担心是假货,验了是正品",
    "担心是假货,收到后对比了一下是正品",
    "本来担心会过敏,用了一周完全没有过敏",
    "生怕过敏,结果一点事都没有",
    "害怕有异味,其实挺好的",
    "还以为是假货,结果是正品",
    "原以为是假货",
    "听说有假货,买了发现是正品",
    "一开始怕发霉,打开后发现很新鲜",
    "有点担心是假货,专柜验过了是真的",
    "担心会拉肚子,吃了两天没事",
    "万一过敏了怎么办",
    "如果是假货假一赔十",
])
def test_resolved_hypotheticals_do_not_fire(rs: RuleSet, text: str) -> None:
    assert matched(rs, text) == []


@pytest.mark.parametrize("text, term", [
    ("担心过敏,结果还是过敏了", "过敏"),  # confirmed, not resolved
    ("担心是假货,结果真的是假货", "假货"),
    ("怀疑是假货", "假货"),               # an unresolved suspicion is a claim
    ("还以为是正品,结果是假货", "假货"),  # the resolution itself is asserted
    ("如果不是假货,怎么会过敏", "假货"),  # 如果不是X asserts X
])
def test_unresolved_or_asserted_hypotheticals_fire(rs: RuleSet, text: str, term: str) -> None:
    assert term in matched(rs, text)


@pytest.mark.parametrize("text, kind", [
    ("会不会过敏?", "question"),
    ("会过敏吗", "question"),
    ("有没有异味", "question"),
    ("是不是假货", "question"),
    ("过敏了怎么办?", "question"),
    ("宝宝吃了会不会拉肚子", "review"),
])
def test_questions_are_not_reports(rs: RuleSet, text: str, kind: str) -> None:
    assert matched(rs, text, kind) == []


def test_rhetorical_and_complaint_questions_count(rs: RuleSet) -> None:
    assert "假货" in matched(rs, "难道不是假货吗?")
    assert "发霉" in matched(rs, "为什么发霉了?", "question")       # a wh-question is a complaint
    assert "过敏" in matched(rs, "用了就过敏,是不是质量问题?", "question")


def test_explain_lists_negated_and_hypothetical_terms(rs: RuleSet) -> None:
    text = normalize("没有发霉,本来担心是假货,验了是正品")
    d = MatchInput(text, segmenter().tokenize(text))
    (entry,) = [e for e in rs.explain(d) if e["rule_id"] == "t.risk"]
    assert entry["fired"] is False
    reasons = {x["term"]: x["reason"] for x in entry["discarded"]}
    assert reasons["发霉"] == "negated by 没有"
    assert reasons["假货"].startswith("hypothetical (担心")
