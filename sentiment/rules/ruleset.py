"""A compiled rule set: the loaded rules behind one matcher. `match` and `explain` are pure."""
from __future__ import annotations

import hashlib
import json
from typing import Any, Iterable, Sequence

from sentiment.rules.matcher import Matcher
from sentiment.rules.records import Compiled, Hit, MatchInput, Rule


class RuleSet:
    """Compiled rules. `match` and `explain` are pure; build with `load_rules`."""

    def __init__(self, compiled: Sequence[Compiled], masks: Sequence[str] = ()) -> None:
        self._compiled = tuple(compiled)
        self.rules: tuple[Rule, ...] = tuple(c.rule for c in compiled)
        self.masks: tuple[str, ...] = tuple(sorted(set(masks)))
        self._matcher = Matcher(compiled, self.masks)
        self.version: str = version_of(self.rules, self.masks)

    def digests(self) -> dict[str, str]:
        """rule id -> a digest of what decides its hits (query, exclude, masks, severity, ...):
        a rescan re-matches only the rules whose digest changed."""
        return {r.id: version_of([r], self.masks) for r in self.rules}

    def subset(self, rule_ids: Iterable[str]) -> "RuleSet":
        """The same compiled rules restricted to `rule_ids` (same masks)."""
        wanted = set(rule_ids)
        return RuleSet([c for c in self._compiled if c.rule.id in wanted], self.masks)

    def __len__(self) -> int:
        return len(self.rules)

    def terms(self) -> tuple[str, ...]:
        """Literal Chinese terms (and masks) for the jieba user dictionary.

        Terms carrying a negator (不发货, 不是正品) are left out so that jieba
        keeps the negator a separate word and negation scopes see it.
        """
        return self._matcher.dictionary_terms(self.masks)

    def match(self, doc: MatchInput) -> list[Hit]:
        return self._matcher.match(doc)

    def explain(self, doc: MatchInput) -> list[dict[str, Any]]:
        return self._matcher.explain(doc)


def version_of(rules: Sequence[Rule], masks: Sequence[str]) -> str:
    payload = [
        [r.id, r.category, r.name, r.severity, list(r.owners), r.immediate, r.query, r.exclude,
         r.window.total_seconds(), r.min_count, r.cooldown.total_seconds()]
        for r in sorted(rules, key=lambda r: r.id)
    ]
    blob = json.dumps([payload, list(masks)], ensure_ascii=False, sort_keys=True)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]
