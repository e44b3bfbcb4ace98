"""User patterns cannot hang analysis: /regex/ terms and Latin wildcards run on RE2 (no
backtracking); what RE2 cannot run (lookaround, backreferences) is refused at check and load.

The timing tests run the match in a child process with a timeout, so that a regression fails
the test instead of hanging the run.
"""
from __future__ import annotations

import random
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from sentiment.errors import RuleError
from sentiment.rules.loader import check_rules, load_rules
from test_rules import RULE


# loads the rule file, matches each text, prints fired/not and the slowest match time
_CHILD = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from sentiment.rules.loader import load_rules
    try:
        from sentiment.rules.records import MatchInput
    except ImportError:
        from sentiment.rules.loader import MatchInput
    rs = load_rules([Path(sys.argv[1])])
    slowest = 0.0
    for text in sys.argv[2:]:
        start = time.monotonic()
        hits = rs.match(MatchInput(text=text, tokens=[]))
        slowest = max(slowest, time.monotonic() - start)
        print("fired" if hits else "quiet")
    print(f"{slowest:.3f}")
""")


def _rule_file(tmp_path: Path, query: str, rid: str = "t.hostile") -> Path:
    path = tmp_path / "hostile.toml"
    path.write_text(RULE.format(id=rid, query=query), encoding="utf-8")
    return path


def _match_in_child(path: Path, texts: list[str], timeout: float = 30) -> tuple[list[str], float]:
    try:
        proc = subprocess.run([sys.executable, "-c", _CHILD, str(path), *texts], capture_output=True,
                              text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        proc = None
    if proc is None:
        pytest.fail(f"matching did not return within {timeout} s (catastrophic backtracking)", pytrace=False)
    assert proc.returncode == 0, proc.stderr
    *fired, slowest = proc.stdout.split()
    return fired, float(slowest)


def test_nested_quantifier_regex_matches_hostile_text_fast(tmp_path: Path) -> None:
    path = _rule_file(tmp_path, "/(a+)+$/")
    assert check_rules([path]) == []
    hostile = ["a" * 40 + "!", "a" * 5000 + "!", "好" + "a" * 41 + "b"]
    fired, slowest = _match_in_child(path, [*hostile, "aaaa", "好评aaa"])
    assert fired == ["quiet", "quiet", "quiet", "fired", "fired"]
    assert slowest < 1.0


def test_many_star_wildcard_matches_hostile_text_fast(tmp_path: Path) -> None:
    path = _rule_file(tmp_path, "a*a*a*a*a*a*a*a*b")  # Python's re: ~12 s on 60 a's, hours on 100
    fired, slowest = _match_in_child(path, ["a" * 100, "xx " + "a" * 300 + " yy", "a" * 8 + "b", "好aaaxaaaaa1ab了"])
    assert fired == ["quiet", "quiet", "fired", "fired"]
    assert slowest < 1.0


# -- refused: what RE2 cannot run --------------------------------------------------------------
@pytest.mark.parametrize("query, construct", [
    ("/(?<=退)款/", "lookbehind"),
    ("/(?<!不)退款/", "negative lookbehind"),
    ("/退款(?=失败)/", "lookahead"),
    ("/退款(?!成功)/", "negative lookahead"),
    (r"/(\w)\1{3}/", "backreference"),
    ("/(?P<x>a)(?P=x)/", "backreference"),
    ("/(?>ab|a)c/", "atomic group"),
    ("/a++b/", "possessive quantifier"),
    ("/(a)?(?(1)b|c)/", "conditional"),
])
def test_unsupported_construct_refused_at_load(tmp_path: Path, query: str, construct: str) -> None:
    path = _rule_file(tmp_path, query, rid="t.unsupported")
    with pytest.raises(RuleError) as info:
        load_rules([path])
    message = str(info.value)
    assert message.startswith(f'{path}:8: rule "t.unsupported": query: ')
    assert construct in message and "not supported" in message


def test_lookbehind_refused_by_rules_check(run_cli, tmp_path: Path) -> None:
    path = _rule_file(tmp_path, "/(?<=没)发货/ OR 发霉", rid="t.lookbehind")
    result = run_cli("rules", "check", path)
    assert result.exit_code == 1
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.startswith(f'{path}:8: rule "t.lookbehind": query: bad /regex/: lookbehind')
    assert "not supported" in line and "position 0" in line


def test_syntax_errors_still_read_as_python_errors(tmp_path: Path) -> None:
    path = _rule_file(tmp_path, "/[a-/")
    [problem] = check_rules([path])
    assert "bad /regex/: unterminated character set" in problem


# -- Python's meaning kept ------------------------------------------------------------------------
TEXT = ("Refund退款12345 等了5天还没发货\u3000订单号 20261111 ｘ_ab-cd.ef ÉCLAIR éclair "
        "K\u212a 第二天\tOK!! [x] {y} a{,2} ①② ٣ aaab")
PATTERNS = [
    r"\d+天(还)?没发货", r"订单号\s*\d{6,}", r"\w+", r"\W+", r"\d", r"\D+", r"\s", r"\S+",
    r"[\u4e00-\u9fa5]{2,}", r"[\w\-]+", r"[\w.]+", r"[^\w\s]+", r"[\S\s]{3}", r"[\W\d]+", r"[^\W]+",
    r"(?i)REFUND", r"Refund", r"éclair", r"k+", r"x{,2}b", r"a{2,}b", r"a{1}", r"a{,}b", r"\{y\}",
    r"\[x\]", r"[]x]+", r"\N{CIRCLED DIGIT ONE}", r"\x41", r"\101", r"[\101-\103]", r"\U0001F600|!",
    r"(?P<n>\d)(\d)", r"(?:退|发)货", r"(?s:.)天", r"^Refund", r"aaab$", r"aaab\Z", r"\Aref",
    r"(?#a comment)OK", r"(?u)ok", r"还没?发", r"\d+?", r"[^a-z\d ]", r"\.ef", r"\-cd", r"\，|ｘ",
    r"第.天", r"\t", r"[\t]", r"A",
]


@pytest.mark.parametrize("pattern", PATTERNS)
def test_regex_spans_match_python_re(pattern: str) -> None:
    from sentiment.rules.regex import compile_regex

    expected = [m.span() for m in re.finditer(pattern, TEXT, re.IGNORECASE)]
    assert compile_regex(pattern).spans(TEXT) == expected


def test_wildcards_match_like_the_python_pattern_they_replace() -> None:
    """Generated texts and wildcards: the RE2 word matcher finds exactly the spans of the
    lookaround pattern wildcards used to compile to."""
    from sentiment.rules.query import parse

    rng = random.Random(17)
    alphabet = "ab_1-. 中x"
    wilds = ["a*b", "a?b", "ab*", "*ab", "a-b*", "a.*", "*a*", "a??", "b*-", "?-?", "1*", "a*b*a", "x?"]
    for wild in wilds:
        body = "".join("[a-z0-9_]*" if c == "*" else "[a-z0-9_]" if c == "?" else re.escape(c) for c in wild)
        reference = re.compile(rf"(?<![a-z0-9_]){body}(?![a-z0-9_])")
        term = parse(wild)
        for _ in range(300):
            text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 14)))
            assert term.pattern.spans(text) == [m.span() for m in reference.finditer(text)], (wild, text)


def test_lone_surrogate_keeps_offsets() -> None:
    from sentiment.rules.regex import compile_regex

    assert compile_regex("退款").spans("\ud800退款") == [(1, 3)]
