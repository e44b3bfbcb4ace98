"""Candidate prefilter: which automaton keys must occur for a query to possibly be true.

`triggers` gives one key set per rule to index it by (any of them occurring makes
the rule a candidate); `shadow`/`possible` then check the whole query's key
structure exactly, so `客服 NEAR/4 (差劲 OR 垃圾)` is not evaluated when only 客服
occurs. Terms with no literal key (regex, 1-letter wildcards), NOT and fields
need no key.
"""
from __future__ import annotations

import re
from typing import Callable, Union

from sentiment.rules.query import And, Near, Node, Or, Term

Shadow = Union[bool, frozenset, tuple]

def trigger_key(term: Term) -> str | None:
    """The automaton key whose occurrence is necessary for `term` to match."""
    if term.kind == "lit":
        return term.text
    if term.kind == "wild":
        parts = [p for p in re.split(r"[*?]", term.text) if len(p) >= 2]
        return max(parts, key=len) if parts else None
    return None


def shadow(node: Node) -> Shadow:
    """The query reduced to "which keys must occur": True (no key needed), a frozenset
    (any of these keys), ("all", parts) or ("any", parts). Checked by `possible` before
    a candidate rule is evaluated: `客服 NEAR/4 (差劲 OR 垃圾)` is skipped when only 客服 occurs.
    """
    if isinstance(node, Term):
        key = trigger_key(node)
        return frozenset([key]) if key else True
    if isinstance(node, (And, Near)):
        kids = node.children if isinstance(node, And) else (node.left, node.right)
        parts = [p for p in (shadow(c) for c in kids) if p is not True]
        return True if not parts else parts[0] if len(parts) == 1 else ("all", tuple(parts))
    if isinstance(node, Or):
        parts = [shadow(c) for c in node.children]
        if any(p is True for p in parts):
            return True
        keys = frozenset().union(*(p for p in parts if isinstance(p, frozenset)))
        rest = tuple(p for p in parts if not isinstance(p, frozenset))
        if not rest:
            return keys
        return ("any", ((keys,) if keys else ()) + rest)
    return True


def possible(sh: Shadow, found: set) -> bool:
    if sh is True:
        return True
    if isinstance(sh, frozenset):
        return not sh.isdisjoint(found)
    op, parts = sh  # type: ignore[misc]
    if op == "all":
        return all(possible(p, found) for p in parts)
    return any(possible(p, found) for p in parts)


def map_shadow(sh: Shadow, key_id: Callable[[str], int]) -> Shadow:
    """The same shadow with keys replaced by automaton ids."""
    if sh is True:
        return True
    if isinstance(sh, frozenset):
        return frozenset(key_id(k) for k in sh)
    op, parts = sh  # type: ignore[misc]
    return (op, tuple(map_shadow(p, key_id) for p in parts))


def triggers(node: Node) -> frozenset[str] | None:
    """Keys of which at least one must occur for the query to be true (None: can't tell)."""
    if isinstance(node, Term):
        key = trigger_key(node)
        return frozenset([key]) if key else None
    if isinstance(node, Or):
        sets = [triggers(c) for c in node.children]
        return None if any(s is None for s in sets) else frozenset().union(*sets)  # type: ignore[arg-type]
    if isinstance(node, (And, Near)):
        kids = node.children if isinstance(node, And) else (node.left, node.right)
        sets = [s for s in (triggers(c) for c in kids) if s is not None]
        return min(sets, key=len) if sets else None
    return None
