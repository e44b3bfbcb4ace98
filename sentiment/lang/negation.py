"""Negation, hypothetical and question scopes over a segmented text.

Rules ask `Scopes.discard(occ)` whether a matched term is really asserted.
A term is discarded (does not count as present, for positive and `NOT`
terms alike) when it is:

* **negated**: a negator token precedes it in the same scope (没有发霉,
  不是假货, 一点都不过敏, 完全没有异味, 从来没过敏, 不会过敏), or a negator
  closes its clause after it (异味完全没有, 过敏现象没有出现). A negator
  glued into the same jieba token counts too (不新鲜 for 新鲜). Double
  negation cancels (不是没有异味 -> 异味 present). A bare 不/别 only reaches
  over "transparent" words (不存在假货, 别担心); 不舒服拉肚子 does not negate
  拉肚子. A term that contains its own negator (不发货, 不是正品) is matched
  as a whole by the automaton and its negator does not negate what follows.
* **hypothetical**: after a conditional (如果/万一/假如, always discarded,
  except 如果不是X which asserts X), a counterfactual (以为/还以为/原以为,
  always discarded), or a worry/hearsay cue (担心/怕/生怕/害怕/怀疑/听说)
  that the same text later resolves (结果/验了/其实/发现/收到 ... 正品/
  没有/挺好/放心). An unresolved worry ("怀疑是假货") still counts.
* **question**: inside a polar question clause (会不会/是不是/有没有/是否,
  or ending in 吗); for `kind == "question"` (问大家) a clause ending in "?"
  too, unless it is a why/how complaint (为什么发霉了?). A buyer asking 会不会过敏? is not reporting an allergy. Rhetorical
  questions (难道...吗) are assertions and are not discarded, and negators
  inside them do not negate.

Scopes end at clause boundaries: punctuation ,.!?;:~ and newlines (the
normalized text has ASCII punctuation), whitespace between words, and the
contrastive words 但/但是/可是/不过/却/然而. A negation scope also ends at
words that start a new assertion (还/而且/就/结果/居然/...) and after six
words.

When a document comes without tokens, `fallback_tokens` cuts it with a
small greedy lexicon of the function words above (approximate).
"""
from __future__ import annotations

import re
from bisect import bisect_right
from functools import lru_cache
from typing import Sequence

from sentiment.lang.wordclasses import WORDS

Token = tuple[str, int, int]

PUNCT = WORDS.get("rules.punct")
CLAUSE_PUNCT = WORDS.get("rules.clause_punct")
CONTRAST = WORDS.get("rules.contrast")
NEG_STRONG = WORDS.get("rules.neg_strong")
NEG_WEAK = WORDS.get("rules.neg_weak")
NEGATORS = NEG_STRONG | NEG_WEAK
# words a bare 不/别 reaches over (不存在假货, 不会有异味, 别担心过敏)
TRANSPARENT = WORDS.get("rules.transparent")
# words that start a new assertion: a negation before them does not reach past them
BREAKERS = WORDS.get("rules.breakers")
# 没用几天就坏了, 不到一周就发霉: a duration after the negator is "within", not negation
DURATION = re.compile(r"^(几|多久|多长|不久|[一二两三四五六七八九十半\d]+(天|次|周|个|星期|月|下|小时|分钟|回))")
# postposed negation: 异味完全没有, 过敏现象没有出现
POST_NEG = WORDS.get("rules.post_neg")
POST_FILLER = WORDS.get("rules.post_filler")
POST_TRAIL = WORDS.get("rules.post_trail")
HYPO_COND = WORDS.get("rules.hypo_cond")
HYPO_COUNTER = WORDS.get("rules.hypo_counter")
HYPO_WORRY = WORDS.get("rules.hypo_worry")
RESOLVE = WORDS.get("rules.resolve")
REASSURE = WORDS.get("rules.reassure")
STRONG_REASSURE = WORDS.get("rules.strong_reassure")
POLAR = WORDS.get("rules.polar")
QUESTION_END = WORDS.get("rules.question_end")
# 为什么发霉了? is a complaint, not a polar question
WH_COMPLAINT = WORDS.get("rules.wh_complaint")
RHETORICAL = WORDS.get("rules.rhetorical")
CONDITIONAL_NOT = WORDS.get("rules.conditional_not")  # 如果不是X = "if not for X": X asserted
NEG_CAP, HYPO_CAP, WEAK_CAP = 6, 10, 3

_FUNCTION_WORDS = sorted(
    NEGATORS | CONTRAST | BREAKERS | HYPO_COND | HYPO_COUNTER | HYPO_WORRY | POLAR | RHETORICAL
    | RESOLVE | STRONG_REASSURE | TRANSPARENT | POST_FILLER,
    key=len, reverse=True,
)
_FALLBACK = re.compile("|".join(map(re.escape, _FUNCTION_WORDS)) + r"|[A-Za-z0-9_]+|\S")


def fallback_tokens(text: str) -> list[Token]:
    """Approximate tokens when none were given: function words whole, other chars one by one."""
    return [(m.group(), m.start(), m.end()) for m in _FALLBACK.finditer(text)]


@lru_cache(maxsize=8192)
def _is_boundary(word: str) -> bool:
    return word in CONTRAST or all(ch in CLAUSE_PUNCT for ch in word)


class Scopes:
    """Clause structure of one document, worked out lazily around the matched terms only."""

    def __init__(self, text: str, tokens: Sequence[Token], kind: str = "review") -> None:
        self.text = text
        self.kind = kind
        self.words, self.starts, self.ends = zip(*tokens) if tokens else ((), (), ())
        self.n = len(self.words)
        self.term_spans: list[tuple[int, int]] = []  # char spans of matched terms (set by the matcher)
        self._covered: set[int] | None = None
        self._clause: dict[int, tuple[int, int]] = {}
        self._questions: dict[int, str | None] = {}
        self._rhetoric: dict[int, bool] = {}

    # -- clauses -----------------------------------------------------------
    def _brk(self, j: int) -> bool:
        """Token j is itself a boundary (punctuation, 但是...)."""
        return _is_boundary(self.words[j])

    def _gap(self, j: int) -> bool:
        """Whitespace between tokens j-1 and j (tokens cover every non-space character)."""
        return j > 0 and self.starts[j] > self.ends[j - 1]

    def clause_of(self, i: int) -> tuple[int, int]:
        """First and last token index of the clause holding token i."""
        found = self._clause.get(i)
        if found is None:
            lo = i
            while lo > 0 and not self._gap(lo) and not self._brk(lo - 1):
                lo -= 1
            hi = i
            while hi + 1 < self.n and not self._gap(hi + 1) and not self._brk(hi + 1):
                hi += 1
            found = self._clause[i] = (lo, hi)
        return found

    @property
    def covered(self) -> set[int]:
        """Tokens covered by matched terms: 异味和发霉都没有 skips over 发霉 to reach 没有."""
        if self._covered is None:
            self._covered = set()
            for s, e in self.term_spans:
                first, last = self.token_range(s, e)
                self._covered.update(range(first, last + 1))
        return self._covered

    # -- positions -------------------------------------------------------
    def token_range(self, start: int, end: int) -> tuple[int, int]:
        """Indices of the first and last token overlapping [start, end)."""
        first = max(bisect_right(self.starts, start) - 1, 0)
        if first < self.n and self.ends[first] <= start:
            first += 1
        last = max(bisect_right(self.starts, end - 1) - 1, first)
        return first, last

    def aligned(self, start: int, end: int, first: int, last: int) -> str | None:
        """None when [start, end) respects token boundaries, else why not."""
        if first >= self.n:
            return None
        s_ok, e_ok = self.starts[first] == start, self.ends[last] == end
        if s_ok and e_ok:
            return None
        if first != last:
            # across tokens: fine for 3+ chars (没收到 in 没收/到货, 态度差 in 态度/差劲; wrong
            # readings like 质量差不多 are masks), never for 1-2 chars (有效 in 没有/效果)
            if end - start > 2:
                return None
            return f"crosses tokens {'/'.join(self.words[first:last + 1])}"
        if end - start == 1:
            return f"part of token {self.words[first]}"
        return None

    # -- negation --------------------------------------------------------
    def negated(self, start: int, first: int, last: int, blocked: set[int] | frozenset[int] = frozenset()
                ) -> str | None:
        """The negator that negates the term at token range [first, last], or None.

        `blocked` holds tokens of earlier terms that carry their own negator
        (不发货 in 不发货不退款): a scope does not reach across them.
        """
        if first >= self.n or self._rhetorical(first):
            return None
        if start > self.starts[first]:
            prefix = self.text[self.starts[first]:start]
            if prefix in NEGATORS:
                return prefix
        return self._neg_before(first, blocked) or self._neg_after(last)

    def _neg_before(self, first: int, blocked: set[int] | frozenset[int]) -> str | None:
        lo = self.clause_of(first)[0]
        steps = 0
        for j in range(first - 1, lo - 1, -1):
            word = self.words[j]
            if word in BREAKERS or j in blocked:
                return None
            if word in NEGATORS and not self._not_a_negator(j, first, lo):
                return word if self._chain_odd(j, lo) else None
            steps += 1
            if steps >= NEG_CAP:
                return None
        return None

    def _not_a_negator(self, j: int, first: int, lo: int) -> bool:
        word = self.words[j]
        prev = self.words[j - 1] if j > lo else ""
        if prev and word[0] in "不没" and word[1:] == prev:  # 会不会, 是不是: a question
            return True
        if prev in HYPO_COND and word in CONDITIONAL_NOT:  # 如果不是X: X asserted
            return True
        between = self.words[j + 1:first]
        if any(DURATION.match(w) for w in between):
            return True
        if word in NEG_WEAK:
            return len(between) >= WEAK_CAP or any(w not in TRANSPARENT for w in between)
        return False

    def _chain_odd(self, j: int, lo: int) -> bool:
        """Count adjacent negators ending at j (不是没有 = 2): odd means negated."""
        count, k = 1, j - 1
        while k >= lo and self.words[k] in NEGATORS:
            count, k = count + 1, k - 1
        return count % 2 == 1

    def _neg_after(self, last: int) -> str | None:
        hi = self.clause_of(last)[1]
        j = last + 1
        while j <= hi and (self.words[j] in POST_FILLER or j in self.covered):
            j += 1
        if j > hi or self.words[j] not in POST_NEG:
            return None
        cue = self.words[j]
        for k in range(j + 1, hi + 1):
            if self.words[k] not in POST_TRAIL:
                return None
        return cue

    # -- hypotheticals ---------------------------------------------------
    def hypothetical(self, first: int) -> str | None:
        """Why the term at token `first` is hypothetical (and resolved), or None."""
        if first >= self.n:
            return None
        lo = self.clause_of(first)[0]
        steps = 0
        for j in range(first - 1, lo - 1, -1):
            word = self.words[j]
            if word in RESOLVE or word in {"而且", "并且", "然后"}:
                return None
            if word in HYPO_COND:
                nxt = self.words[j + 1] if j + 1 < self.n else ""
                return None if nxt in CONDITIONAL_NOT else f"conditional {word}"
            if word in HYPO_COUNTER:
                return f"counterfactual {word}"
            if word in HYPO_WORRY:
                resolution = self._resolution(first)
                return f"{word} ... resolved by {resolution}" if resolution else None
            steps += 1
            if steps >= HYPO_CAP:
                return None
        return None

    def _resolution(self, first: int) -> str | None:
        """A later clause that resolves a worry: marker + reassurance/negator, or a strong reassurance."""
        hi = self.clause_of(first)[1]
        marker: str | None = None
        for j in range(first + 1, self.n):
            if self._brk(j):
                marker = None
                continue
            if self._gap(j):
                marker = None
            word, same = self.words[j], j <= hi
            if same and word not in RESOLVE and marker is None:
                continue
            if word in RESOLVE:
                marker = word
            elif not same and word in STRONG_REASSURE:
                return word
            elif marker and (word in REASSURE or word in NEGATORS or self._is_true(j)):
                return f"{marker} ... {word}"
        return None

    def _is_true(self, j: int) -> bool:
        """是真的 closing a clause ("it is genuine"), not 真的 as an intensifier (真的过敏了)."""
        if self.words[j] != "真的" or j == 0 or self.words[j - 1] != "是":
            return False
        return j + 1 >= self.n or self._brk(j + 1) or self._gap(j + 1) or self.words[j + 1] in POST_TRAIL

    # -- questions -------------------------------------------------------
    def question(self, first: int) -> str | None:
        """The question marker when the term sits in a polar question clause."""
        if first >= self.n:
            return None
        lo, hi = self.clause_of(first)
        if lo not in self._questions:
            self._questions[lo] = self._question(lo, hi)
        return self._questions[lo]

    def _question(self, lo: int, hi: int) -> str | None:
        words = self.words[lo:hi + 1]
        if any(w in RHETORICAL for w in words):
            return None
        for a, b in zip(words, words[1:]):
            if b[:1] in ("不", "没") and b[1:] == a:
                return a + b
        for w in words:
            if w in POLAR:
                return w
        if len(words) > 1 and words[-1] in QUESTION_END:
            return words[-1]
        if self.kind == "question" and hi + 1 < self.n and "?" in self.words[hi + 1] \
                and not any(w in WH_COMPLAINT for w in words):
            return "?"
        return None

    def _rhetorical(self, first: int) -> bool:
        lo, hi = self.clause_of(first)
        if lo not in self._rhetoric:
            self._rhetoric[lo] = any(self.words[j] in RHETORICAL for j in range(lo, hi + 1))
        return self._rhetoric[lo]
