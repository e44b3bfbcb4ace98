"""jieba segmentation: one Tokenizer per process, with our user dictionary.

Emoticons (``:)``, ``^_^``, ``T_T``...) are kept as single tokens instead of
being cut into punctuation, and emoji modifiers (skin tones, variation
selectors, zero-width joiners) are dropped, so 👍🏻 and 👍 are the same token.
HMM (new-word discovery) is off by default: on review text it is ~40% slower
and did not improve the sentiment model's accuracy (see benchmarks/).
"""
from __future__ import annotations

import logging
import re
import threading
from functools import lru_cache
from pathlib import Path
from typing import Iterable

import jieba

from sentiment.resources import rules_dir

USER_DICT_NAME = "userdict.txt"
STOPWORDS_NAME = "stopwords.txt"
# A user-dictionary frequency replaces jieba's own; this is high enough that
# added terms win over jieba's splits (e.g. 发霉, 假货, 12315).
DEFAULT_TERM_FREQ = 2000

jieba.setLogLevel(logging.WARNING)

Token = tuple[str, int, int]

EMOTICON = re.compile(
    r"(?<![A-Za-z0-9:/])[:;=][-~']?[)(DPp\]\[|](?![A-Za-z0-9/])|\^[_\-.o]?\^|[Tt][_.][Tt]|QAQ|QwQ|orz|OTZ|Orz"
    r"|>_<|=_=|-_-|\(\s*[╥T]\s*[﹏_]\s*[╥T]\s*\)"
)
_MODIFIERS = re.compile("[\U0001F3FB-\U0001F3FF\uFE0E\uFE0F\u200D\u20E3]")


class Segmenter:
    """A private jieba.Tokenizer loaded with the bundled user dictionary plus extra terms."""

    def __init__(
        self, extra_words: Iterable[str] = (), dict_dir: Path | None = None, hmm: bool = False
    ) -> None:
        self._dir = dict_dir or rules_dir()
        self._tk = jieba.Tokenizer()
        self._lock = threading.Lock()
        self._extra = tuple(sorted(set(extra_words)))
        self._ready = False
        self.hmm = hmm
        self.stopwords = load_wordlist(self._dir / STOPWORDS_NAME)

    def _init(self) -> None:
        with self._lock:
            if self._ready:
                return
            self._tk.initialize()
            userdict = self._dir / USER_DICT_NAME
            if userdict.is_file():
                self._tk.load_userdict(str(userdict))
            for word in self._extra:
                if word.strip() and self._tk.FREQ.get(word, 0) < DEFAULT_TERM_FREQ:
                    self._tk.add_word(word, DEFAULT_TERM_FREQ)
            self._ready = True

    def cut(self, text: str) -> list[str]:
        """Words of `text` (jieba precise mode), whitespace dropped, emoticons kept whole."""
        if not self._ready:
            self._init()
        if _MODIFIERS.search(text):
            text = _MODIFIERS.sub("", text)
        if EMOTICON.search(text) is None:
            return [w for w in self._tk.lcut(text, HMM=self.hmm) if not w.isspace()]
        return [t[0] for t in self._spans(text)]

    def tokenize(self, text: str) -> list[Token]:
        """(word, start, end) character spans over `text`, whitespace dropped.

        The words are those of `cut` except that emoji modifiers stay in the
        span (they are part of the original text) but not in the word.
        """
        if not self._ready:
            self._init()
        return self._spans(text)

    def _spans(self, text: str) -> list[Token]:
        out: list[Token] = []
        pos = 0
        for match in EMOTICON.finditer(text):
            out.extend(self._jieba_spans(text[pos:match.start()], pos))
            out.append((match.group(), match.start(), match.end()))
            pos = match.end()
        out.extend(self._jieba_spans(text[pos:], pos))
        return out

    def _jieba_spans(self, part: str, offset: int) -> list[Token]:
        if not part:
            return []
        out: list[Token] = []
        for word, start, end in self._tk.tokenize(part, HMM=self.hmm):
            if _MODIFIERS.search(word):
                word = _MODIFIERS.sub("", word)
            if word and not word.isspace():
                out.append((word, start + offset, end + offset))
        return out


def load_wordlist(path: Path) -> frozenset[str]:
    """One word per line; blank lines and # comments ignored."""
    if not path.is_file():
        return frozenset()
    words = (line.strip() for line in path.read_text(encoding="utf-8").splitlines())
    return frozenset(w for w in words if w and not w.startswith("#"))


@lru_cache(maxsize=4)
def get_segmenter(extra_words: tuple[str, ...] = ()) -> Segmenter:
    """The process-wide segmenter for a given set of extra terms (built once)."""
    return Segmenter(extra_words)
