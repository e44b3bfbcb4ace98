"""User patterns (/regex/ terms and Latin wildcards) run on RE2: time linear in the text.

Python's `re` backtracks: /(a+)+$/ on forty a's and a "!" never returns, nor does
the wildcard a*a*a*a*a*a*a*a*b on a long word, and either would hang ingest. RE2
(the `google-re2` package) has no backtracking.

RE2 has no lookaround, backreferences, atomic groups, possessive quantifiers or
conditionals: a /regex/ using one is refused (`Unsupported`, naming the construct)
when the rule is checked or loaded. Every other pattern keeps the meaning it has
in Python's `re` (case-insensitive, str offsets): it is first compiled by `re`, so
syntax errors read as before, then translated where the two dialects differ:

* \\d \\w \\s and \\D \\W \\S are Unicode, as in Python (RE2's are ASCII): \\d is \\p{Nd},
  \\w letters, digits and _ (so it matches 中), \\s what `str.isspace` accepts;
* \\uXXXX, \\UXXXXXXXX, \\N{name} and octal escapes become \\x{...}; \\Z becomes \\z; escaped
  punctuation and escaped non-ASCII characters are literals; x{,n} is x{0,n};
  (?u) and (?#comments) are dropped.

Left different: \\b and \\B are ASCII word boundaries in RE2 (Python's are Unicode:
there, no boundary lies between 中 and a Latin letter; here one does), and `$`
without (?m) matches only at the very end (normalized texts end without a newline).
"""
from __future__ import annotations

import re
import unicodedata
import warnings
from typing import Any

import re2

# RE2 memory for one pattern (its program and DFA cache, 8 MiB is RE2's default); a
# pattern whose program does not fit is refused, a search that fills the cache goes
# on in RE2's slower, still linear, NFA
MAX_MEM = 8 << 20

_W = r"\p{L}\p{N}_"
_S = r"\x{9}-\x{d}\x{1c}-\x{20}\x{85}\x{a0}\x{1680}\x{2000}-\x{200a}\x{2028}\x{2029}\x{202f}\x{205f}\x{3000}"
_POSITIVE = {"d": r"\p{Nd}", "w": f"[{_W}]", "s": f"[{_S}]"}
_IN_CLASS = {"d": r"\p{Nd}", "w": _W, "s": _S}
_NEGATIVE = {"D": r"\P{Nd}", "W": f"[^{_W}]", "S": f"[^{_S}]"}
_CONTROL = {"a": 7, "f": 12, "n": 10, "r": 13, "t": 9, "v": 11}
_OCT = "01234567"
_GROUPS = (("(?<=", "lookbehind (?<=...)"), ("(?<!", "negative lookbehind (?<!...)"),
           ("(?=", "lookahead (?=...)"), ("(?!", "negative lookahead (?!...)"),
           ("(?>", "atomic group (?>...)"), ("(?(", "conditional group (?(...)...)"),
           ("(?P=", "backreference (?P=name)"))
_QUANT = re.compile(r"\{(\d*)(,?)(\d*)\}")
_FLAGS = re.compile(r"\(\?([aiLmsux]*)(?:-([imsx]*))?([:)])")
_NAMED = re.compile(r"\(\?P<[^>]*>")
_WORD_CLASS = "[^a-z0-9_]"


class Unsupported(ValueError):
    """A pattern RE2 cannot run; str() says which construct and why."""

    @classmethod
    def construct(cls, what: str) -> "Unsupported":
        return cls(f"{what} is not supported (rule regexes run on RE2, which never backtracks: "
                   f"no lookaround, no backreferences)")


class UserPattern:
    """A compiled /regex/ or wildcard; `spans(text)` gives the (start, end) str offsets of its matches."""

    __slots__ = ("kind", "source", "_rx")

    def __init__(self, kind: str, source: str, rx: Any) -> None:
        self.kind = kind  # "regex" | "wild"
        self.source = source
        self._rx = rx

    def spans(self, text: str) -> list[tuple[int, int]]:
        text = _encodable(text)
        if self.kind == "regex":
            return [m.span() for m in self._rx.finditer(text)]
        return _word_spans(self._rx, text)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, UserPattern) and (self.kind, self.source) == (other.kind, other.source)

    def __hash__(self) -> int:
        return hash((self.kind, self.source))

    def __repr__(self) -> str:
        return f"UserPattern({self.kind!r}, {self.source!r})"

    def __reduce__(self) -> tuple:
        return (compile_regex, (self.source,)) if self.kind == "regex" else (compile_wildcard, (self.source,))


def _options(case_sensitive: bool) -> Any:
    options = re2.Options()
    options.case_sensitive = case_sensitive
    options.log_errors = False  # the error is reported to the rule author, not on stderr
    options.max_mem = MAX_MEM
    return options


def _re2(pattern: str, case_sensitive: bool) -> Any:
    try:
        return re2.compile(pattern, _options(case_sensitive))
    except re2.error as exc:
        msg = exc.args[0] if exc.args else str(exc)
        if isinstance(msg, bytes):
            msg = msg.decode("utf-8", "replace")
        raise Unsupported(f"not supported by RE2, the engine rule regexes run on: {msg}") from None


def compile_regex(source: str) -> UserPattern:
    """A /regex/ term: case-insensitive, Python's meaning. re.error on bad syntax, Unsupported
    for what RE2 cannot run."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # FutureWarnings about nested sets: still a valid pattern
        re.compile(source, re.IGNORECASE)  # syntax check only: compiling does not backtrack
    return UserPattern("regex", source, _re2(translate(source), case_sensitive=False))


def compile_wildcard(body: str) -> UserPattern:
    """A Latin wildcard term, `body` already a regex over [a-z0-9_.-] (no anchors, no lookaround):
    it matches as a whole word of the lower-cased text (no [a-z0-9_] on either side)."""
    return UserPattern("wild", body, _re2(f"(?:^|{_WORD_CLASS})({body})(?:$|{_WORD_CLASS})", case_sensitive=True))


def _encodable(text: str) -> str:
    """`text` as valid UTF-8 for RE2: a lone surrogate becomes U+FFFD (same length, same offsets)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return re.sub("[\ud800-\udfff]", "\ufffd", text)
    return text


def _word_spans(rx: Any, text: str) -> list[tuple[int, int]]:
    """Group 1 of each match, searched as Python's finditer would find
    (?<![a-z0-9_])body(?![a-z0-9_]): RE2's leftmost-first order picks the span a
    backtracking engine picks, and the next search starts on the last character of
    the previous word so that it can serve as the next word's left boundary."""
    data = text.encode("utf-8")
    ascii_only = len(data) == len(text)
    out: list[tuple[int, int]] = []
    pos, last_b, last_c = 0, 0, 0
    while pos <= len(data):
        m = rx.search(data, pos)
        if m is None:
            break
        s, e = m.span(1)
        if ascii_only:
            cs, ce = s, e
        else:  # byte -> str offsets, counted incrementally (linear in the text)
            cs = last_c + len(data[last_b:s].decode("utf-8"))
            ce = cs + len(data[s:e].decode("utf-8"))
            last_b, last_c = e, ce
        out.append((cs, ce))
        pos = max(e - 1, 1)  # the body is never empty: e > pos, so this progresses
    return out


# -- Python re -> RE2 ------------------------------------------------------------
def _lit(cp: int) -> str:
    return f"\\x{{{cp:x}}}"


def _char(c: str) -> str:
    return c if c.isalnum() or ord(c) > 127 else _lit(ord(c))


def translate(source: str) -> str:
    """RE2 syntax for a pattern `re` accepts (Python's meaning kept, see the module doc)."""
    out: list[str] = []
    i, n = 0, len(source)
    while i < n:
        c = source[i]
        if c == "\\":
            if source[i + 1] in _NEGATIVE:
                out.append(_NEGATIVE[source[i + 1]])
                i += 2
            else:
                text, i = _escape(source, i, in_class=False)
                out.append(text)
        elif c == "[":
            text, i = _class(source, i)
            out.append(text)
        elif c == "(":
            i = _group(source, i, out)
        elif c == "{":
            m = _QUANT.match(source, i)
            if m and any(m.groups()):  # {m} {m,} {,n} {m,n} {,}: a quantifier; {} or {x}: literal
                lo, comma, hi = m.groups()
                out.append("{" + (lo or "0") + comma + hi + "}")
                i = _after_quantifier(source, m.end(), out)
            else:
                out.append(r"\{")
                i += 1
        elif c in "*+?":
            out.append(c)
            i = _after_quantifier(source, i + 1, out)
        elif c in "}]":
            out.append("\\" + c)
            i += 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def _after_quantifier(source: str, i: int, out: list[str]) -> int:
    if i < len(source) and source[i] == "+":
        raise Unsupported.construct("possessive quantifier (*+, ++, ?+, {m,n}+)")
    if i < len(source) and source[i] == "?":
        out.append("?")
        return i + 1
    return i


def _group(source: str, i: int, out: list[str]) -> int:
    for prefix, what in _GROUPS:
        if source.startswith(prefix, i):
            raise Unsupported.construct(what)
    if source.startswith("(?#", i):  # a comment, up to the first ")"
        return source.index(")", i) + 1
    m = _NAMED.match(source, i)
    if m:
        out.append(m.group())
        return m.end()
    m = _FLAGS.match(source, i)
    if m:
        on, off, end = m.group(1), m.group(2) or "", m.group(3)
        if "x" in on + off:
            raise Unsupported.construct("verbose flag (?x)")
        if "a" in on or "L" in on:
            raise Unsupported.construct("ASCII flag (?a)")
        flags = on.replace("u", "") + ("-" + off if off else "")
        if end == ":":
            out.append(f"(?{flags}:")
        elif flags:
            out.append(f"(?{flags})")
        return m.end()
    if source.startswith("(?", i):
        raise Unsupported.construct(f"group {source[i:i + 3]}...")
    out.append("(")
    return i + 1


def _escape(source: str, i: int, in_class: bool) -> tuple[str, int]:
    """One escape at source[i] == "\\" (not \\D \\W \\S) -> (RE2 text, index after it)."""
    c = source[i + 1]
    if c in "dws":
        return (_IN_CLASS if in_class else _POSITIVE)[c], i + 2
    if c == "b":
        return (_lit(8) if in_class else r"\b"), i + 2
    if c in "BA":
        return "\\" + c, i + 2
    if c == "Z":
        return r"\z", i + 2
    if c in _CONTROL:
        return _lit(_CONTROL[c]), i + 2
    if c in "xuU":
        width = {"x": 2, "u": 4, "U": 8}[c]
        return _lit(int(source[i + 2:i + 2 + width], 16)), i + 2 + width
    if c == "N":
        end = source.index("}", i)
        return _lit(ord(unicodedata.lookup(source[i + 3:end]))), end + 1
    if c.isdigit():
        j = i + 1
        if in_class or c == "0":  # octal, up to 3 digits
            while j < len(source) and j < i + 4 and source[j] in _OCT:
                j += 1
            return _lit(int(source[i + 1:j], 8)), j
        if len(source) >= i + 4 and all(d in _OCT for d in source[i + 1:i + 4]):  # \123: octal
            return _lit(int(source[i + 1:i + 4], 8)), i + 4
        raise Unsupported.construct(f"backreference \\{c}")
    return _char(c), i + 2


def _class(source: str, i: int) -> tuple[str, int]:
    """A [...] set at source[i] -> (RE2 text, index after it)."""
    j = i + 1
    negated = source[j] == "^"
    if negated:
        j += 1
    start = j
    items: list[str] = []
    excluded: list[str] = []  # \D \W \S inside the set: RE2 sets cannot hold a complement

    def atom(k: int) -> tuple[str, int]:
        if source[k] == "\\":
            return _escape(source, k, in_class=True)
        return _char(source[k]), k + 1

    while not (source[j] == "]" and j > start):
        if source[j] == "\\" and source[j + 1] in _NEGATIVE:
            excluded.append(source[j + 1])
            j += 2
            continue
        low, j = atom(j)
        if source[j] == "-" and source[j + 1] != "]":
            high, j = atom(j + 1)
            items.append(f"{low}-{high}")
        else:
            items.append(low)
    j += 1
    body = "".join(items)
    if not excluded:
        return ("[^" if negated else "[") + body + "]", j
    if negated:
        if not items and len(excluded) == 1:  # [^\W] is \w
            return _POSITIVE[excluded[0].lower()], j
        raise Unsupported.construct(r"negated set holding \D, \S or \W (like [^\W\d])")
    alternatives = ([f"[{body}]"] if body else []) + [_NEGATIVE[x] for x in excluded]
    return "(?:" + "|".join(alternatives) + ")", j
