"""jieba segmentation: one Tokenizer per process, with our user dictionary.

Emoticons (``:)``, ``^_^``, ``T_T``...) are kept as single tokens instead of
being cut into punctuation, and emoji modifiers (skin tones, variation
selectors, zero-width joiners) are dropped, so 👍🏻 and 👍 are the same token.
HMM (new-word discovery) is off by default. Measured on the dev splits with the
builtin model retrained each way: HMM on 0.853 (eprstmt) / 0.852 (waimai_10k),
HMM off 0.850 / 0.858, while jieba with HMM costs ~1.4-2x the time per text. Without
HMM, `cut` runs jieba's own DAG/max-probability algorithm re-implemented
with memoized log-probabilities and a clause cache: identical words (checked on
83k review texts), 1.5-2x faster than `Tokenizer.lcut(text, HMM=False)` on
distinct review texts, more where clauses repeat. The scan itself runs in C
(`sentiment/lang/_dag.c`, built by setup.py) when it was built: the same words
(tested against the Python scan on ~18k texts), 3-4x faster per block, which made
`analyze()` ~45% faster; without a C compiler the Python scan serves.
"""
from __future__ import annotations

import hashlib
import io
import logging
import marshal
import math
import re
import string
import sys
import tempfile
import threading
from functools import lru_cache
from itertools import accumulate
from pathlib import Path
from typing import Any, Iterable

# jieba imports pkg_resources (12 MB, 0.2 s of every CLI start, and deprecated) only to
# locate its dictionary, and opens it by path without it: hide it from that one import
_HIDE_PKG_RESOURCES = "pkg_resources" not in sys.modules
if _HIDE_PKG_RESOURCES:
    sys.modules["pkg_resources"] = None  # type: ignore[assignment]
try:
    import jieba
finally:
    if _HIDE_PKG_RESOURCES:
        del sys.modules["pkg_resources"]

from sentiment.resources import rules_dir

try:  # the C twin of Segmenter._cut_block_py (setup.py builds it when a compiler is there)
    from sentiment.lang._dag import Scanner as _CScanner
except ImportError:  # pragma: no cover - where no C compiler was available
    _CScanner = None

USER_DICT_NAME = "userdict.txt"
STOPWORDS_NAME = "stopwords.txt"
# A user-dictionary frequency replaces jieba's own; this is high enough that
# added terms win over jieba's splits (e.g. 发霉, 假货, 12315).
DEFAULT_TERM_FREQ = 2000
# Memo sizes: each is cleared when full. At 100k/300k a process grew by ~100 MB over 20k distinct
# reviews; at 20k/100k by ~25 MB, at the same speed (analysis worker processes each hold a pair).
BLOCK_CACHE_SIZE = 20_000
LOGP_CACHE_SIZE = 100_000
# markers in the log-probability memo (real log-probabilities are < 0)
_PREFIX_ONLY = 1.0  # a prefix of dictionary words, itself no word
_NO_PREFIX = 2.0    # not even a prefix: the scan from this position stops
_NONE_YET = -math.inf  # no word found yet from a position: any word's route beats it

jieba.setLogLevel(logging.WARNING)
log = logging.getLogger(__name__)

Token = tuple[str, int, int]

EMOTICON = re.compile(
    r"(?<![A-Za-z0-9:/])[:;=][-~']?[)(DPp\]\[|](?![A-Za-z0-9/])|\^[_\-.o]?\^|[Tt][_.][Tt]|QAQ|QwQ|orz|OTZ|Orz"
    r"|>_<|=_=|-_-|\(\s*[╥T]\s*[﹏_]\s*[╥T]\s*\)"
)
# every EMOTICON begins with one of these: a text without any (most reviews) has none, found
# ~10x faster than by EMOTICON's own scan
_EMOTICON_START = re.compile(r"[:;=^TtQoO>\-(]")
# jieba's own block and single-letter patterns (jieba.re_han_default, jieba.re_eng)
_RE_HAN = re.compile("([\u4E00-\u9FD5a-zA-Z0-9+#&\\._%\\-]+)")
_ENG1 = frozenset(string.ascii_letters + string.digits)  # jieba's re_eng, as a set lookup
_MODIFIER_CHARS = "\U0001F3FB-\U0001F3FF\uFE0E\uFE0F\u200D\u20E3"
_MODIFIERS = re.compile(f"[{_MODIFIER_CHARS}]")
_SPACE = re.compile(r"\s")
_SPACE_OR_MODIFIER = re.compile(f"[\\s{_MODIFIER_CHARS}]")


class Segmenter:
    """A private jieba.Tokenizer loaded with the bundled user dictionary plus extra terms."""

    def __init__(
        self, extra_words: Iterable[str] = (), dict_dir: Path | None = None, hmm: bool = False,
        native: bool = True,
    ) -> None:
        self._dir = dict_dir or rules_dir()
        self._tk = jieba.Tokenizer()
        self._lock = threading.Lock()
        self._extra = tuple(sorted(set(extra_words)))
        self._ready = False
        self.hmm = hmm
        self._logp: dict[str, float] = {}
        self._blocks: dict[str, list[str]] = {}  # clause -> words; reviews repeat clauses a lot
        self._logtotal = 0.0
        self._dictionary_id = ""
        self.native = native
        self._scanner: Any = None  # the C scan (sentiment.lang._dag.Scanner), when built and wanted
        self.stopwords = load_wordlist(self._dir / STOPWORDS_NAME)

    @property
    def dictionary_id(self) -> str:
        """A digest of what decides the words besides jieba's own dictionary (the user dictionary
        as loaded, the extra terms, jieba's version): models hash it into their version."""
        if not self._ready:
            self._init()
        return self._dictionary_id

    def load(self) -> None:
        """Load jieba's dictionary and ours now (otherwise done on first use)."""
        if not self._ready:
            self._init()

    def _init(self) -> None:
        with self._lock:
            if self._ready:
                return
            _initialize(self._tk)
            userdict = self._dir / USER_DICT_NAME
            data = userdict.read_bytes() if userdict.is_file() else b""
            if data:
                self._tk.load_userdict(io.BytesIO(data))
            h = hashlib.sha256(data)
            h.update("\n".join((jieba.__version__, str(self.hmm), *self._extra)).encode())
            self._dictionary_id = h.hexdigest()[:16]
            for word in self._extra:
                if word.strip() and self._tk.FREQ.get(word, 0) < DEFAULT_TERM_FREQ:
                    self._tk.add_word(word, DEFAULT_TERM_FREQ)
            self._logtotal = math.log(self._tk.total)
            if _CScanner is not None and self.native:
                self._scanner = _CScanner(self._tk.FREQ, self._logtotal, LOGP_CACHE_SIZE)
            elif self.native:
                log.warning("the C segmentation scan (sentiment/lang/_dag.c) was not built when the package was"
                            " installed (no C compiler?): the same words, but analysis runs about 30% slower")
            self._ready = True

    def clear_cache(self, *, fragments: bool = False) -> None:
        """Forget cached clause segmentations, and with `fragments` the memoized word
        log-probabilities too (benchmarks use this to time a cold start)."""
        self._blocks.clear()
        if fragments:
            self._logp.clear()
            if self._scanner is not None:
                self._scanner.clear()

    def cut(self, text: str) -> list[str]:
        """Words of `text` (jieba precise mode), whitespace dropped, emoticons kept whole."""
        if not self._ready:
            self._init()
        if _MODIFIERS.search(text):
            text = _MODIFIERS.sub("", text)
        if _EMOTICON_START.search(text) is None or EMOTICON.search(text) is None:
            words = self._words(text)
            return words if _SPACE.search(text) is None else [w for w in words if not w.isspace()]
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
        if _EMOTICON_START.search(text) is None:
            return self._jieba_spans(text, 0)
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
        words = self._words(part)
        ends = list(accumulate(map(len, words), initial=offset))
        if _SPACE_OR_MODIFIER.search(part) is None:  # the common case: every word is kept as it is
            return list(zip(words, ends, ends[1:]))
        if _MODIFIERS.search(part) is None:
            return [(w, s, e) for w, s, e in zip(words, ends, ends[1:]) if not w.isspace()]
        out: list[Token] = []
        for word, start, end in zip(words, ends, ends[1:]):
            if _MODIFIERS.search(word):
                word = _MODIFIERS.sub("", word)
            if word and not word.isspace():
                out.append((word, start, end))
        return out

    def _words(self, text: str) -> list[str]:
        """All words including whitespace, as jieba's `lcut(text, HMM=self.hmm)` gives them."""
        if self.hmm:
            return self._tk.lcut(text, HMM=True)
        out: list[str] = []
        cache = self._blocks
        # split() with one group alternates: other characters, block, other characters, ...
        pieces = _RE_HAN.split(text)
        for index, piece in enumerate(pieces):
            if not piece:
                continue
            if index & 1:
                words = cache.get(piece)
                if words is None:
                    words = self._cut_block(piece)
                    if len(cache) >= BLOCK_CACHE_SIZE:
                        cache.clear()
                    cache[piece] = words
                out += words
            else:
                out += piece  # jieba yields other characters one by one
        return out

    def _logp_of(self, frag: str) -> float:
        """log P(word) as jieba computes it, or a marker: a dictionary prefix that is no word,
        or no prefix at all (memoized too, so that each step of the DAG scan is one lookup)."""
        if len(self._logp) > LOGP_CACHE_SIZE:
            self._logp.clear()
        freq = self._tk.FREQ.get(frag)
        if freq is None:
            value = _NO_PREFIX
        elif not freq:
            value = _PREFIX_ONLY
        else:
            value = math.log(freq) - self._logtotal
        self._logp[frag] = value
        return value

    def _cut_block(self, block: str) -> list[str]:
        """The words of one block: `_cut_block_py`, in C when the extension was built."""
        if self._scanner is None:
            return self._cut_block_py(block)
        return self._scanner.cut(block)

    def _cut_block_py(self, block: str) -> list[str]:
        """jieba's DAG + max-probability route without HMM, with memoized log-probabilities.

        Same result as jieba's ``__cut_DAG_NO_HMM`` (same arithmetic and tie-breaking),
        2-3x faster: no generators, no per-candidate log(), no DAG dict, one memo lookup
        per step.
        """
        get, memo = self._logp.get, self._logp_of
        n = len(block)
        route_p = [0.0] * (n + 1)
        route_x = list(range(n + 1))
        unknown = 0.0 - self._logtotal
        for k in range(n - 1, -1, -1):
            best_p, best_x = _NONE_YET, k
            end, frag = k + 1, block[k]
            while True:
                v = get(frag)
                if v is None:
                    v = memo(frag)
                if v < 0.0:  # a word
                    v += route_p[end]
                    if v >= best_p:
                        best_p, best_x = v, end - 1
                elif v == _NO_PREFIX:
                    break
                if end == n:
                    break
                end += 1
                frag = block[k:end]
            if best_p == _NONE_YET:
                best_p = unknown + route_p[k + 1]
            route_p[k], route_x[k] = best_p, best_x
        out: list[str] = []
        x, buf = 0, ""
        while x < n:
            y = route_x[x] + 1
            word = block[x:y]
            if y - x == 1 and word in _ENG1:
                buf += word
            else:
                if buf:
                    out.append(buf)
                    buf = ""
                out.append(word)
            x = y
        if buf:
            out.append(buf)
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


def _initialize(tk: jieba.Tokenizer) -> None:
    """`tk.initialize()`, reading jieba's prefix-dictionary cache in one piece when it exists.

    jieba unmarshals its cache from the open file, which reads it in small pieces
    and takes 2-3 times as long as unmarshalling the bytes (about 1 s here, a
    large share of a CLI run). Anything unexpected falls back to jieba's own path.
    """
    cache = Path(tempfile.gettempdir()) / "jieba.cache"
    if tk.dictionary == jieba.DEFAULT_DICT and not tk.cache_file and not tk.tmp_dir and cache.is_file():
        try:
            freq, total = marshal.loads(cache.read_bytes())
        except (OSError, EOFError, ValueError, TypeError):
            pass
        else:
            if isinstance(freq, dict) and isinstance(total, int) and freq:
                with tk.lock:
                    tk.FREQ, tk.total, tk.initialized = freq, total, True
                return
    tk.initialize()
