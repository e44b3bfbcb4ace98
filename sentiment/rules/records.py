"""What rules are and what matching produces: plain records shared by the loader and the matcher."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

from sentiment.rules.query import Node

_NEGATOR_CHARS = re.compile(r"[不没无未非别]")
_CJK = re.compile(r"[\u3400-\u9fff]")


@dataclass(frozen=True)
class Rule:
    id: str
    category: str
    name: str
    severity: str
    owners: tuple[str, ...]
    immediate: bool
    query: str
    window: timedelta
    min_count: int
    cooldown: timedelta
    file: str
    line: int
    description: str = ""
    exclude: str | None = None
    overrides: tuple[tuple[str, str], ...] = ()  # ("extend" | "disable", "file:line"), in load order


@dataclass(frozen=True)
class Hit:
    rule_id: str
    category: str
    severity: str
    owners: tuple[str, ...]
    immediate: bool
    terms: tuple[tuple[str, int, int], ...]  # matched text, start, end in the normalized text


@dataclass
class MatchInput:
    text: str  # normalized (sentiment.lang.text.normalize)
    tokens: list[tuple[str, int, int]]  # segmenter tokens of `text`; [] -> approximate fallback
    kind: str = "review"
    rating: str | None = None
    score: float | None = None
    item_id: str | None = None
    sku: str | None = None


@dataclass(frozen=True)
class Compiled:
    rule: Rule
    node: Node
    exclude: Node | None
    enabled: bool = True


def is_dictionary_term(term: str) -> bool:
    """A literal worth adding to jieba: Chinese, 2+ chars, no negator inside."""
    return len(term) >= 2 and bool(_CJK.search(term)) and not _NEGATOR_CHARS.search(term)
