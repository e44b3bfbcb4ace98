"""The rule query language: parser, literal extraction and evaluation.

Grammar (operators are upper case; lower-case `and` is a Latin term)::

    query   := or
    or      := and ("OR" and)*
    and     := near (["AND"] near)*          # juxtaposition is AND; "a NOT b" = a AND NOT b
    near    := unary (("NEAR/n" | "ONEAR/n") unary)*
    unary   := "NOT" unary | primary
    primary := "(" query ")" | "phrase" | /regex/ | field:value | word

* word: a Chinese or Latin literal, matched on the normalized, lower-cased
  text (Chinese as substrings respecting token boundaries, Latin/digits on
  word boundaries). `*` and `?` are wildcards in Latin words only (refund*).
* "phrase": a literal that may hold spaces or operator words.
* /regex/: a Python regular expression, case-insensitive (escape / as \\/), run on
  RE2 so that no pattern can hang matching: lookaround and backreferences are
  refused, \\b is an ASCII word boundary (see sentiment.rules.regex).
* NEAR/n: both sides within n jieba tokens (adjacent tokens = 1), any order;
  ONEAR/n: the left side first. Sides must be terms or OR-groups of terms.
* fields: kind:review|followup|question|answer, rating:positive|neutral|negative,
  score:<0.3 (also <=, >, >=, =), item:ID and sku:VALUE (globs; sku also matches
  as a substring).

Errors raise RuleError("... at position N"), N being the 0-based offset in the query.
"""
from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass
from functools import cached_property
from typing import Protocol, Union

from sentiment.errors import RuleError
from sentiment.lang.text import normalize
from sentiment.rules.regex import Unsupported, UserPattern, compile_regex, compile_wildcard

Occ = tuple[int, int, int, int]  # start, end (chars), first token, last token
FIELDS = ("kind", "rating", "score", "item", "sku")
KINDS = ("review", "followup", "question", "answer")
RATINGS = ("positive", "neutral", "negative")
_NEAR = re.compile(r"^(O?NEAR)/(\d+)$")
_FIELD = re.compile(r"^([A-Za-z_]+):(.*)$", re.S)
_SCORE = re.compile(r"^(<=|>=|<|>|=)?(-?\d+(?:\.\d+)?)$")
_LATIN_WILD = re.compile(r"^[A-Za-z0-9_\-.*?]+$")


class Context(Protocol):
    raw: dict[str, list[tuple[int, int]]]  # literal keys that occurred in the text -> spans

    def occurrences(self, term: "Term") -> list[Occ]: ...
    def field(self, name: str) -> object: ...


@dataclass(frozen=True)
class Term:
    text: str  # normalized + lower-cased literal, wildcard or regex source
    kind: str  # "lit" | "wild" | "regex"
    pos: int
    pattern: UserPattern | None = None  # wild and regex terms: their RE2 matcher

    def ev(self, ctx: Context) -> tuple[bool, list[Occ]]:
        occs = ctx.occurrences(self)
        return bool(occs), occs


@dataclass(frozen=True)
class And:
    children: tuple["Node", ...]

    def ev(self, ctx: Context) -> tuple[bool, list[Occ]]:
        spans: list[Occ] = []
        for child in self.children:
            ok, occs = child.ev(ctx)
            if not ok:
                return False, []
            spans.extend(occs)
        return True, spans


@dataclass(frozen=True)
class Or:
    children: tuple["Node", ...]

    @cached_property
    def _split(self) -> tuple[dict[str, "Term"], tuple["Node", ...]]:
        lits = {c.text: c for c in self.children if isinstance(c, Term) and c.kind == "lit"}
        rest = tuple(c for c in self.children if not (isinstance(c, Term) and c.kind == "lit"))
        return lits, rest

    def ev(self, ctx: Context) -> tuple[bool, list[Occ]]:
        # literal children are looked up from the (few) keys that occurred, not one by one
        lits, rest = self._split
        found, spans = False, []
        for key in ctx.raw:
            term = lits.get(key)
            if term is not None:
                occs = ctx.occurrences(term)
                if occs:
                    found = True
                    spans.extend(occs)
        for child in rest:
            ok, occs = child.ev(ctx)
            if ok:
                found = True
                spans.extend(occs)
        return found, spans


@dataclass(frozen=True)
class Not:
    child: "Node"

    def ev(self, ctx: Context) -> tuple[bool, list[Occ]]:
        ok, _ = self.child.ev(ctx)
        return not ok, []


@dataclass(frozen=True)
class Near:
    left: "Node"
    right: "Node"
    n: int
    ordered: bool

    def ev(self, ctx: Context) -> tuple[bool, list[Occ]]:
        ok_l, lefts = self.left.ev(ctx)
        if not ok_l:
            return False, []
        ok_r, rights = self.right.ev(ctx)
        if not ok_r:
            return False, []
        spans: list[Occ] = []
        for lo in lefts:
            for ro in rights:
                if self._close(lo, ro):
                    spans.extend((lo, ro))
        return bool(spans), spans

    def _close(self, lo: Occ, ro: Occ) -> bool:
        if self.ordered:
            return ro[0] >= lo[1] and ro[2] - lo[3] <= self.n
        return max(ro[2] - lo[3], lo[2] - ro[3]) <= self.n


@dataclass(frozen=True)
class Field:
    name: str
    op: str
    value: str | float

    def ev(self, ctx: Context) -> tuple[bool, list[Occ]]:
        actual = ctx.field(self.name)
        if actual is None:
            return False, []
        if self.name == "score":
            return _compare(float(actual), self.op, float(self.value)), []  # type: ignore[arg-type]
        actual_s, want = str(actual).lower(), str(self.value).lower()
        if fnmatch.fnmatchcase(actual_s, want):
            return True, []
        plain = not any(c in want for c in "*?[")
        return (self.name == "sku" and plain and want in actual_s), []


Node = Union[Term, And, Or, Not, Near, Field]


def _compare(a: float, op: str, b: float) -> bool:
    return {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b, "=": a == b}[op]


# -- lexer -----------------------------------------------------------------
@dataclass(frozen=True)
class _Tok:
    type: str  # ( ) AND OR NOT NEAR PHRASE REGEX WORD FIELD EOF
    value: str
    pos: int
    extra: tuple = ()


def _error(msg: str, pos: int) -> RuleError:
    return RuleError(f"{msg} at position {pos}")


def _lex(q: str) -> list[_Tok]:
    out: list[_Tok] = []
    i, n = 0, len(q)
    while i < n:
        c = q[i]
        if c.isspace():
            i += 1
        elif c in "()":
            out.append(_Tok(c, c, i))
            i += 1
        elif c == '"':
            value, i2 = _delimited(q, i, '"', "unterminated phrase")
            if not value.strip():
                raise _error("empty phrase", i)
            out.append(_Tok("PHRASE", value, i))
            i = i2
        elif c == "/":
            value, i2 = _delimited(q, i, "/", "unterminated /regex/")
            out.append(_Tok("REGEX", value, i))
            i = i2
        else:
            j = i
            while j < n and not q[j].isspace() and q[j] not in '()"':
                j += 1
            if j < n and q[j] == '"' and q[i:j].endswith(":"):  # field:"quoted value"
                head = q[i:j]
                value, j = _delimited(q, j, '"', "unterminated phrase")
                out.append(_word(head + value, i))
            else:
                out.append(_word(q[i:j], i))
            i = j
    out.append(_Tok("EOF", "", n))
    return out


def _delimited(q: str, i: int, delim: str, what: str) -> tuple[str, int]:
    j, buf = i + 1, []
    while j < len(q):
        if q[j] == "\\" and j + 1 < len(q) and q[j + 1] == delim:
            buf.append(delim)
            j += 2
            continue
        if q[j] == delim:
            return "".join(buf), j + 1
        buf.append(q[j])
        j += 1
    raise _error(what, i)


def _word(w: str, pos: int) -> _Tok:
    if w in ("AND", "OR", "NOT"):
        return _Tok(w, w, pos)
    m = _NEAR.match(w)
    if m:
        if int(m.group(2)) < 1:
            raise _error(f"{m.group(1)} distance must be at least 1", pos)
        return _Tok("NEAR", m.group(1), pos, (int(m.group(2)), m.group(1) == "ONEAR"))
    if w in ("NEAR", "ONEAR") or w.startswith(("NEAR/", "ONEAR/")):
        raise _error(f"{w.split('/')[0]} needs a distance, e.g. {w.split('/')[0]}/3", pos)
    m = _FIELD.match(w)
    if m:
        return _Tok("FIELD", m.group(1), pos, (m.group(2),))
    return _Tok("WORD", w, pos)


# -- parser ----------------------------------------------------------------
class _Parser:
    def __init__(self, query: str) -> None:
        self.toks = _lex(query)
        self.i = 0

    @property
    def cur(self) -> _Tok:
        return self.toks[self.i]

    def take(self) -> _Tok:
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def parse(self) -> Node:
        if self.cur.type == "EOF":
            raise _error("empty query", 0)
        node = self.or_()
        if self.cur.type != "EOF":
            raise _error(f'unexpected "{self.cur.value}"', self.cur.pos)
        return node

    def or_(self) -> Node:
        items = [self.and_()]
        while self.cur.type == "OR":
            self.take()
            items.append(self.and_())
        return items[0] if len(items) == 1 else Or(tuple(items))

    def and_(self) -> Node:
        items = [self.near()]
        while self.cur.type not in ("OR", ")", "EOF"):
            if self.cur.type == "AND":
                self.take()
            items.append(self.near())
        return items[0] if len(items) == 1 else And(tuple(items))

    def near(self) -> Node:
        node = self.unary()
        while self.cur.type == "NEAR":
            op = self.take()
            right = self.unary()
            for side in (node, right):
                _check_near_operand(side, op)
            node = Near(node, right, op.extra[0], op.extra[1])
        return node

    def unary(self) -> Node:
        if self.cur.type == "NOT":
            self.take()
            return Not(self.unary())
        return self.primary()

    def primary(self) -> Node:
        tok = self.take()
        if tok.type == "(":
            node = self.or_()
            if self.cur.type != ")":
                raise _error('expected ")"', self.cur.pos)
            self.take()
            return node
        if tok.type == "PHRASE":
            return _literal(tok.value, tok.pos)
        if tok.type == "REGEX":
            return _regex(tok.value, tok.pos)
        if tok.type == "FIELD":
            return _field(tok.value, tok.extra[0], tok.pos)
        if tok.type == "WORD":
            if "*" in tok.value or "?" in tok.value:
                return _wildcard(tok.value, tok.pos)
            return _literal(tok.value, tok.pos)
        what = "end of query" if tok.type == "EOF" else f'"{tok.value}"'
        raise _error(f"expected a term, phrase or ( but found {what}", tok.pos)


def _check_near_operand(node: Node, op: _Tok) -> None:
    if isinstance(node, (Term, Near)):
        return
    if isinstance(node, Or) and all(isinstance(c, (Term, Or, Near)) for c in node.children):
        return
    raise _error(f"{op.value} operands must be terms, phrases, regexes or OR-groups", op.pos)


def _literal(raw: str, pos: int) -> Term:
    text = normalize(raw).lower()
    if not text:
        raise _error("empty term", pos)
    return Term(text, "lit", pos)


def _wildcard(raw: str, pos: int) -> Term:
    if not _LATIN_WILD.match(raw):
        raise _error(f'wildcards are allowed on Latin terms only ("{raw}")', pos)
    if not raw.strip("*?"):
        raise _error("a wildcard needs at least one letter", pos)
    body = "".join("[a-z0-9_]*" if c == "*" else "[a-z0-9_]" if c == "?" else re.escape(c)
                   for c in raw.lower())
    return Term(raw.lower(), "wild", pos, compile_wildcard(body))  # a whole word: no [a-z0-9_] either side


def _regex(source: str, pos: int) -> Term:
    if not source:
        raise _error("empty /regex/", pos)
    try:
        pattern = compile_regex(source)
    except re.error as exc:
        raise _error(f"bad /regex/: {exc}", pos) from None
    except Unsupported as exc:
        raise _error(f"bad /regex/: {exc}", pos) from None
    if pattern.spans(""):
        raise _error("/regex/ matches the empty string", pos)
    return Term(source, "regex", pos, pattern)


def _field(name: str, value: str, pos: int) -> Field:
    name = name.lower()
    if name not in FIELDS:
        raise _error(f'unknown field "{name}" (known: {", ".join(FIELDS)})', pos)
    if not value:
        raise _error(f'field "{name}" needs a value', pos)
    if name == "score":
        m = _SCORE.match(value)
        if not m:
            raise _error(f'bad score filter "{value}" (e.g. score:<0.3)', pos)
        return Field(name, m.group(1) or "=", float(m.group(2)))
    if name == "kind" and value not in KINDS:
        raise _error(f'unknown kind "{value}" (known: {", ".join(KINDS)})', pos)
    if name == "rating" and value not in RATINGS:
        raise _error(f'unknown rating "{value}" (known: {", ".join(RATINGS)})', pos)
    return Field(name, "=", value)


def parse(query: str) -> Node:
    """Parse a query string into a tree; RuleError with the position on bad syntax."""
    if not isinstance(query, str):
        raise RuleError("query must be a string")
    return _Parser(query).parse()


# -- analysis ----------------------------------------------------------------
def walk_terms(node: Node) -> list[Term]:
    """Every term in the tree, positive and negated."""
    if isinstance(node, Term):
        return [node]
    if isinstance(node, (And, Or)):
        return [t for c in node.children for t in walk_terms(c)]
    if isinstance(node, Not):
        return walk_terms(node.child)
    if isinstance(node, Near):
        return walk_terms(node.left) + walk_terms(node.right)
    return []
