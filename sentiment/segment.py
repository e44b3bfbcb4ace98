"""jieba segmentation: one Tokenizer per process, with our user dictionary."""
from __future__ import annotations

import logging
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


class Segmenter:
    """A private jieba.Tokenizer loaded with the bundled user dictionary plus extra terms."""

    def __init__(self, extra_words: Iterable[str] = (), dict_dir: Path | None = None) -> None:
        self._dir = dict_dir or rules_dir()
        self._tk = jieba.Tokenizer()
        self._lock = threading.Lock()
        self._extra = tuple(sorted(set(extra_words)))
        self._ready = False
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
        """Words of `text` (jieba precise mode, HMM on), whitespace dropped."""
        if not self._ready:
            self._init()
        return [w for w in self._tk.lcut(text) if not w.isspace()]

    def tokenize(self, text: str) -> list[Token]:
        """(word, start, end) character spans over `text`, whitespace dropped."""
        if not self._ready:
            self._init()
        return [t for t in self._tk.tokenize(text) if not t[0].isspace()]


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
