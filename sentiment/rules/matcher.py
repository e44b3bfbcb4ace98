"""The compiled matcher behind RuleSet: one Aho-Corasick automaton, lazy per-document scopes.

`match` scans the lower-cased text once with the automaton. Only rules one of
whose trigger keys occurred (a key whose absence makes the query false) are
evaluated; rules without such a key (pure NOT, regex- or field-only queries)
are evaluated on every document. Clause and negation structure is built only
for documents that have a candidate rule, so the common "nothing matched"
case costs one automaton pass.

A literal occurrence counts as present unless (in this order) it is inside a
Latin word (ins in inside), inside a mask word (媒体 in 多媒体), cuts a jieba
token badly (1-char term inside a longer token: 假 in 假期; a 1-2 char term
crossing token boundaries: 有效 in 没有/效果), or is discarded by
`sentiment.lang.negation.Scopes` (question, negated, hypothetical).
"""
from __future__ import annotations

from operator import itemgetter
from typing import Any, Sequence

import ahocorasick

from sentiment.lang.negation import NEGATORS, Scopes, fallback_tokens
from sentiment.rules.prefilter import Shadow, map_shadow, possible, shadow, triggers
from sentiment.rules.query import Occ, Term, walk_terms
from sentiment.rules.records import Compiled, Hit, MatchInput, is_dictionary_term


_SEVERITY_RANK = {"critical": 0, "high": 1, "medium": 2, "low": 3}
_NEGATOR_CHARS = frozenset("不没无未非别")
_NONE: list[Occ] = []  # shared empty result (never mutated)
_NO_TOKENS: frozenset[int] = frozenset()


def _is_word_char(c: str) -> bool:
    return c.isascii() and c.isalnum()


def _is_cjk(c: str) -> bool:
    return "\u3400" <= c <= "\u9fff"


_FIRST, _SECOND = itemgetter(0), itemgetter(1)


def _bytes(text: str) -> str:
    return text.encode("utf-8", "surrogatepass").decode("latin-1")


def lower(text: str) -> str:
    """Lower-case without changing the length (offsets stay valid)."""
    low = text.lower()
    if len(low) == len(text):
        return low
    return "".join(c.lower() if len(c.lower()) == 1 else c for c in text)


class Matcher:
    def __init__(self, compiled: Sequence["Compiled"], masks: Sequence[str]) -> None:
        self.compiled = list(compiled)
        self.keys: dict[str, int] = {}
        self.lits: set[int] = set()
        self.mask_ids: set[int] = set()
        self.key_rules: dict[int, list[int]] = {}
        self.always: list[int] = []
        self.rule_terms: list[list[Term]] = []
        self.rule_shadow: list[Shadow] = []  # keys that must occur, checked before evaluating
        for ri, c in enumerate(self.compiled):
            terms = walk_terms(c.node) + (walk_terms(c.exclude) if c.exclude is not None else [])
            self.rule_terms.append(terms)
            for term in terms:
                if term.kind == "lit":
                    self.lits.add(self._key(term.text))
            self.rule_shadow.append(map_shadow(shadow(c.node), self._key))
            trig = triggers(c.node)
            if trig is None:
                self.always.append(ri)
                continue
            for key in trig:
                self.key_rules.setdefault(self._key(key), []).append(ri)
        for mask in masks:
            self.mask_ids.add(self._key(mask))
        self.key_text = {i: k for k, i in self.keys.items()}
        self._order = [(_SEVERITY_RANK.get(c.rule.severity, 9), i) for i, c in enumerate(self.compiled)]
        # Keys and texts go in as UTF-8 bytes spelled as latin-1 strings: the automaton's
        # nodes then branch on <= 256 values and the scan is ~2x faster than on code points.
        self.automaton = ahocorasick.Automaton()
        for key, idx in self.keys.items():
            self.automaton.add_word(_bytes(key), (idx, len(_bytes(key)), len(key)))
        if self.keys:
            self.automaton.make_automaton()

    def _key(self, text: str) -> int:
        if text not in self.keys:
            self.keys[text] = len(self.keys)
        return self.keys[text]

    def dictionary_terms(self, masks: Sequence[str]) -> tuple[str, ...]:
        words = {self.key_text[i] for i in self.lits} | set(masks)
        return tuple(sorted(w for w in words if is_dictionary_term(w)))

    # -- scanning ----------------------------------------------------------
    def _scan(self, low: str) -> tuple[set[int], list[tuple[int, int, int]]]:
        """Candidate rules and (key id, start, end) of every key occurrence (char offsets)."""
        if not self.keys or not low:
            return set(self.always), []
        lat = _bytes(low)
        matches = list(self.automaton.iter(lat))
        if not matches:
            return set(self.always), []
        ids = set(map(_FIRST, map(_SECOND, matches)))  # key ids, at C speed
        key_rules, shadows = self.key_rules, self.rule_shadow
        cands = {ri for idx in ids for ri in key_rules.get(idx, ())}
        cands = {ri for ri in cands if possible(shadows[ri], ids)}
        cands.update(self.always)
        if not cands:
            return cands, []  # the common case: offsets are not needed
        raw = [(v[0], end + 1 - v[1], v[2]) for end, v in matches]
        if len(lat) == len(low):  # ASCII: byte offsets are char offsets
            return cands, [(idx, b, b + n) for idx, b, n in raw]
        return cands, [(idx, c, c + n) for idx, b, n in raw
                       for c in (len(lat[:b].encode("latin-1").decode("utf-8")),)]

    def match(self, doc: "MatchInput") -> list["Hit"]:
        low = lower(doc.text) if doc.text else ""
        cands, found = self._scan(low)
        if not cands:
            return []
        ctx = DocContext(self, doc, low, found)
        hits = []
        for ri in (sorted(cands, key=self._order.__getitem__) if len(cands) > 1 else cands):
            fired, spans, _ = self._evaluate(ri, ctx)
            if fired:
                r = self.compiled[ri].rule
                hits.append(Hit(r.id, r.category, r.severity, r.owners, r.immediate,
                                _term_spans(doc.text, spans)))
        return hits

    def _evaluate(self, ri: int, ctx: "DocContext") -> tuple[bool, list[Occ], bool]:
        c = self.compiled[ri]
        fired, spans = c.node.ev(ctx)
        excluded = False
        if fired and c.exclude is not None and c.exclude.ev(ctx)[0]:
            fired, excluded = False, True
        return fired, spans, excluded

    def explain(self, doc: "MatchInput") -> list[dict[str, Any]]:
        """Per candidate rule: fired or not, matched terms, discarded terms and why."""
        low = lower(doc.text) if doc.text else ""
        cands, found = self._scan(low)
        if not cands:
            return []
        ctx = DocContext(self, doc, low, found)
        out = []
        for ri in sorted(cands):
            for term in self.rule_terms[ri]:
                ctx.occurrences(term)
            fired, spans, excluded = self._evaluate(ri, ctx)
            r = self.compiled[ri].rule
            out.append({
                "rule_id": r.id, "category": r.category, "name": r.name, "severity": r.severity,
                "owners": list(r.owners), "immediate": r.immediate, "query": r.query,
                "fired": fired, "excluded": excluded,
                "terms": [{"term": t, "start": s, "end": e} for t, s, e in _term_spans(doc.text, spans)],
                "discarded": _discarded(ctx, self.rule_terms[ri]),
            })
        return out


def _term_spans(text: str, spans: list[Occ]) -> tuple[tuple[str, int, int], ...]:
    """Distinct matched spans, those nested in a longer matched span dropped (假宣传 in 虚假宣传)."""
    uniq = sorted({(o[0], o[1]) for o in spans}, key=lambda p: (p[0], -p[1]))
    out: list[tuple[str, int, int]] = []
    reach = -1
    for s, e in uniq:
        if e <= reach:
            continue
        out.append((text[s:e], s, e))
        reach = e
    return tuple(out)


def _discarded(ctx: "DocContext", terms: list[Term]) -> list[dict[str, Any]]:
    seen: set[tuple[int, int]] = set()
    out = []
    for term in terms:
        for text, s, e, reason in ctx.discarded.get((term.kind, term.text), []):
            if reason.startswith(("part of", "crosses")) and any(
                    ps <= s and e <= pe and (ps, pe) != (s, e) for spans in ctx.raw.values() for ps, pe in spans):
                continue  # a fragment of another matched term (假 in 假货): noise
            if (s, e) not in seen:
                seen.add((s, e))
                out.append({"term": text, "start": s, "end": e, "reason": reason})
    return sorted(out, key=lambda d: d["start"])


class DocContext:
    """One document's occurrences and scopes; implements sentiment.rules.query.Context."""

    def __init__(self, m: Matcher, doc: "MatchInput", low: str, found: list[tuple[int, int, int]]) -> None:
        self.doc = doc
        self.text = doc.text
        self.low = low
        self.raw: dict[str, list[tuple[int, int]]] = {}
        self.masks: list[tuple[int, int, str]] = []
        for idx, s, e in found:
            key = m.key_text[idx]
            if idx in m.lits:
                self.raw.setdefault(key, []).append((s, e))
            if idx in m.mask_ids:
                self.masks.append((s, e, key))
        self._scopes: Scopes | None = None
        self._cache: dict[tuple[str, str], list[Occ]] = {}
        self.discarded: dict[tuple[str, str], list[tuple[str, int, int, str]]] = {}
        self.present: list[tuple[int, int]] = []
        self.fallback = not doc.tokens

    @property
    def scopes(self) -> Scopes:
        if self._scopes is None:
            tokens = self.doc.tokens or fallback_tokens(self.text)
            sc = Scopes(self.text, tokens, self.doc.kind)
            sc.term_spans = [span for spans in self.raw.values() for span in spans]
            self.sn_spans: list[tuple[int, int]] = []  # token ranges of aligned 不发货-like terms
            for key, spans in self.raw.items():
                if key in NEGATORS or _NEGATOR_CHARS.isdisjoint(key):
                    continue
                for s, e in spans:
                    first, last = sc.token_range(s, e)
                    if self.fallback or sc.aligned(s, e, first, last) is None:
                        self.sn_spans.append((first, last))
            self._scopes = sc
        return self._scopes

    def field(self, name: str) -> object:
        d = self.doc
        return {"kind": d.kind, "rating": d.rating, "score": d.score, "item": d.item_id,
                "sku": d.sku}[name]

    def occurrences(self, term: Term) -> list[Occ]:
        if term.kind == "lit" and term.text not in self.raw:
            return _NONE
        key = (term.kind, term.text)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        if term.kind == "lit":
            spans = self.raw.get(term.text, [])
        elif term.kind == "wild":
            spans = term.pattern.spans(self.low)  # type: ignore[union-attr]
        else:
            spans = [(s, e) for s, e in term.pattern.spans(self.text) if e > s]  # type: ignore[union-attr]
        out: list[Occ] = []
        for s, e in spans:
            reason, first, last = self._judge(term, s, e)
            if reason is None:
                out.append((s, e, first, last))
                self.present.append((s, e))
            else:
                self.discarded.setdefault(key, []).append((self.text[s:e], s, e, reason))
        self._cache[key] = out
        return out

    def _judge(self, term: Term, s: int, e: int) -> tuple[str | None, int, int]:
        low = self.low
        if term.kind == "lit":
            if (_is_word_char(low[s]) and s > 0 and _is_word_char(low[s - 1])) or (
                    _is_word_char(low[e - 1]) and e < len(low) and _is_word_char(low[e])):
                return "inside a longer word", 0, 0
            for ms, me, mask in self.masks:
                if ms <= s and e <= me and (ms, me) != (s, e):
                    return f"inside {mask}", 0, 0
        sc = self.scopes
        first, last = sc.token_range(s, e)
        if term.kind == "lit" and not self.fallback and (_is_cjk(low[s]) or _is_cjk(low[e - 1])):
            why = sc.aligned(s, e, first, last)
            if why:
                return why, first, last
        why = sc.question(first)
        if why:
            return f"question ({why})", first, last
        blocked = ({t for lo, hi in self.sn_spans if hi < first for t in range(lo, hi + 1)}
                   if self.sn_spans else _NO_TOKENS)
        cue = sc.negated(s, first, last, blocked)
        if cue:
            return f"negated by {cue}", first, last
        why = sc.hypothetical(first)
        if why:
            return f"hypothetical ({why})", first, last
        return None, first, last

