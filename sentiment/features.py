"""Sentiment features from jieba tokens: negation scope, concession weighting, bigrams, lexicon.

`extract(tokens)` turns a token list into a sparse feature dict
``{name: value}`` that the linear model in `sentiment.nlp` scores:

- unigrams, with ``!`` prefixed inside a negation scope: after 不/没有/无/未/别/
  并非 ... up to the end of the clause (punctuation or a contrast word), and
  inside short quoted spans (sarcasm: 质量真"好");
- bigrams of adjacent tokens inside a clause (``"不 好"``);
- concession: in 虽然 X，但是 Y the tokens of X weigh `W_CONCEDED`, those of Y
  (and anything after a contrast word such as 但是/可是/不过) weigh `W_CONTRAST`;
- lexicon sums ``<L+>`` / ``<L->`` from the hand-written domain lexicon
  (rules/lexicon.txt, matched on token boundaries, up to 4 tokens), with the
  sign flipped inside a negation scope.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from sentiment.resources import rules_dir

LEXICON_NAME = "lexicon.txt"

NEGATORS = frozenset(
    "不 没 没有 无 未 别 并非 不是 不太 不会 不能 不要 毫无 从未 从没 并不 并没有 没什么 没啥"
    " 不怎么 绝不 决不 勿 甭 无法 不够 不大 不算 木有 没法 从来不 从来没有 一点也不 一点都不".split()
)
# contrast words that start the weightier part of a review, anywhere in a clause
CONTRAST = frozenset("但是 但 可是 然而 不过 却 可惜 只可惜 遗憾的是 偏偏".split())
# contrast words only when they open a clause (就是好 is not a contrast)
CONTRAST_AT_START = frozenset("就是 只是 可 而是 结果 没想到 谁知 谁知道 哪知".split())
CONCESSIVE = frozenset("虽然 虽 虽说 尽管 虽然说 即使 即便 固然".split())
BOUNDARIES = frozenset(
    list("，,。.！!？?；;、~～…\n:：()（）[]【】") + ["...", "……", "!!", "??", "。。", "，，"]
)
QUOTES_OPEN = frozenset("“「『\"'‘")
QUOTES_CLOSE = {"”": "“", "」": "「", "』": "『", '"': '"', "'": "'", "’": "‘"}
MAX_QUOTED = 3  # tokens; a longer quote is a citation, not sarcasm
MAX_LEX_TOKENS = 4

W_CONCEDED = 0.5
W_CONTRAST = 2.0

Features = dict[str, float]
# special feature names; "<" never occurs inside a jieba token
LEX_POS = "<L+>"
LEX_NEG = "<L->"


@dataclass(frozen=True)
class Lexicon:
    """Domain sentiment words and phrases: text -> polarity weight (+2..-2)."""

    entries: dict[str, float]
    max_len: int

    @classmethod
    def load(cls, path: Path) -> Lexicon:
        entries: dict[str, float] = {}
        for line in path.read_text(encoding="utf-8").splitlines():
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            word, _, value = line.rpartition(" ") if "\t" not in line else line.rpartition("\t")
            entries[word.strip()] = float(value)
        return cls(entries, max((len(w) for w in entries), default=0))


@lru_cache(maxsize=1)
def default_lexicon() -> Lexicon:
    """The bundled lexicon (rules/lexicon.txt), loaded once."""
    path = rules_dir() / LEXICON_NAME
    return Lexicon.load(path) if path.is_file() else Lexicon({}, 0)


def _is_emoji(tok: str) -> bool:
    code = ord(tok[0])
    return code >= 0x1F000 or 0x2600 <= code < 0x2800


def _negated_flags(tokens: list[str]) -> list[bool]:
    """True for tokens inside a negation scope or a short quoted span."""
    flags = [False] * len(tokens)
    scope = False
    quote_start = -1
    for i, tok in enumerate(tokens):
        if tok in BOUNDARIES or tok in CONTRAST or _is_emoji(tok):
            scope = False
        elif tok in NEGATORS:
            scope = True
            continue
        flags[i] = scope
        if quote_start >= 0 and QUOTES_CLOSE.get(tok) is not None:
            if 0 < i - quote_start - 1 <= MAX_QUOTED:
                for j in range(quote_start + 1, i):
                    flags[j] = not flags[j]
            quote_start = -1
        elif tok in QUOTES_OPEN:
            quote_start = i
    return flags


def _weights(tokens: list[str]) -> list[float]:
    """Concession weights: 虽然-part W_CONCEDED, part after a contrast word W_CONTRAST."""
    out = [1.0] * len(tokens)
    weight = 1.0
    clause_start = True
    for i, tok in enumerate(tokens):
        if tok in CONCESSIVE:
            weight = W_CONCEDED
        elif tok in CONTRAST or (clause_start and tok in CONTRAST_AT_START):
            weight = W_CONTRAST
        out[i] = weight
        clause_start = tok in BOUNDARIES
    return out


def _add(feats: Features, name: str, value: float) -> None:
    feats[name] = feats.get(name, 0.0) + value


def _lexicon_hits(tokens: list[str], negated: list[bool], weights: list[float], lex: Lexicon, feats: Features) -> None:
    entries = lex.entries
    n = len(tokens)
    i = 0
    while i < n:
        best, best_j = None, i
        phrase = ""
        for j in range(i, min(n, i + MAX_LEX_TOKENS)):
            phrase += tokens[j]
            if len(phrase) > lex.max_len:
                break
            if phrase in entries:
                best, best_j = entries[phrase], j
        if best is None:
            i += 1
            continue
        value = -best if negated[i] else best
        _add(feats, LEX_POS if value > 0 else LEX_NEG, abs(value) * weights[i])
        i = best_j + 1


def extract(tokens: list[str], lexicon: Lexicon | None = None) -> Features:
    """Sparse features of one token list (see the module docstring)."""
    feats: Features = {}
    if not tokens:
        return feats
    negated = _negated_flags(tokens)
    weights = _weights(tokens)
    prev = None
    for i, tok in enumerate(tokens):
        w = weights[i]
        _add(feats, "!" + tok if negated[i] else tok, w)
        if tok in BOUNDARIES:
            prev = None
            continue
        if prev is not None:
            _add(feats, prev + " " + tok, w)
        prev = tok
    _lexicon_hits(tokens, negated, weights, lexicon or default_lexicon(), feats)
    if CHARS:
        _char_bigrams(tokens, negated, feats)
    return feats


CHARS = False


def _char_bigrams(tokens: list[str], negated: list[bool], feats: Features) -> None:
    """Character bigrams inside clauses, marked "~" (or "!~" in a negation scope)."""
    prev = ""
    for tok, neg in zip(tokens, negated):
        if tok in BOUNDARIES:
            prev = ""
            continue
        for ch in tok:
            if prev:
                _add(feats, ("!~" if neg else "~") + prev + ch, 1.0)
            prev = ch
