"""The rule catalogue: what each rule is (id, name, category, severity, owners) and who owns
each category. Digests, alerts and triage all read owners here, from the loaded rules.

A category's owners are the union of the owners of its rules; a category no rule names
(a spike or topic cluster with none) belongs to `FALLBACK_OWNERS`.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Iterable

from sentiment.rules.loader import bundled_ruleset
from sentiment.rules.records import Compiled, Rule

FALLBACK_OWNERS = ("cs",)


@dataclass(frozen=True)
class Entry:
    id: str
    name: str
    category: str
    severity: str
    owners: tuple[str, ...]


@dataclass(frozen=True)
class Catalogue:
    entries: tuple[Entry, ...]

    def category_owners(self, category: str | None) -> tuple[str, ...]:
        """The audiences that own a category: the union of its rules' owners, sorted."""
        owners = {o for e in self.entries if e.category == category for o in e.owners}
        return tuple(sorted(owners)) or FALLBACK_OWNERS

    def owners_by_category(self) -> dict[str, tuple[str, ...]]:
        return {c: self.category_owners(c) for c in sorted({e.category for e in self.entries})}

    def categories_for(self, audience: str) -> set[str]:
        return {e.category for e in self.entries if audience in e.owners}

    def rule_ids_for(self, audience: str) -> set[str]:
        return {e.id for e in self.entries if audience in e.owners}


def catalogue_of(rules: Iterable[Rule]) -> Catalogue:
    return Catalogue(tuple(Entry(r.id, r.name, r.category, r.severity, tuple(r.owners)) for r in rules))


@lru_cache(maxsize=1)
def bundled_catalogue() -> Catalogue:
    """The bundled rule pack's catalogue (used when no rule set is at hand)."""
    return catalogue_of(bundled_ruleset().rules)


def listing(compiled: Iterable[Compiled]) -> list[dict[str, object]]:
    """The effective catalogue for `sentiment rules list`: every rule after overrides, disabled
    ones included, with where it was defined and which files extended or disabled it."""
    return [{
        "id": c.rule.id, "name": c.rule.name, "category": c.rule.category, "severity": c.rule.severity,
        "owners": list(c.rule.owners), "immediate": c.rule.immediate, "enabled": c.enabled,
        "origin": f"{c.rule.file}:{c.rule.line}",
        "overrides": [{"action": action, "at": at} for action, at in c.rule.overrides],
    } for c in compiled]
