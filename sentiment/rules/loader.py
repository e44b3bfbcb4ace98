"""Risk rules: TOML rule files -> a compiled RuleSet whose `match()` is pure and fast.

A rule file holds `[[rule]]` tables (and optionally a top-level `masks` list,
see below)::

    [[rule]]
    id = "food_safety.mold"          # unique across all loaded files
    category = "food_safety"
    name = "发霉变质"
    severity = "critical"             # critical | high | medium | low
    owners = ["cs", "pr"]             # audiences to alert
    immediate = true                  # mail at once instead of in the digest (default false)
    query = '发霉 OR 长毛 OR (霉 NEAR/2 点)'
    window = "24h"                    # cluster window (default "24h"); units s m h d w
    min_count = 1                     # hits in the window before a cluster alerts (default 1)
    cooldown = "6h"                   # quiet time after an alert (default "24h")
    description = "..."               # optional
    enabled = true                    # optional; disabled rules are validated but not matched
    exclude = '发霉 NEAR/3 测试'        # optional query; when it matches, the rule does not fire

A later file can override a rule an earlier file defined (files load in order: the
bundled pack, then `[rules] paths`, then `--rules`; a directory's *.toml sorted)::

    [[rule]]
    id = "quality.defect"
    extend = true                     # query ORed onto the earlier one; other keys replace
    query = "面膜发黏"

    [[rule]]
    id = "logistics.slow"
    disable = true                    # kept in the catalogue as disabled, not matched

`masks = ["多媒体", "曝光度"]` lists words inside which a term means something
else: a term occurrence lying inside a mask occurrence is discarded.

The query language is documented in `sentiment.rules.query`; negation, hypothetical
and question handling in `sentiment.lang.negation`. `load_rules` compiles every
enabled rule into one Aho-Corasick automaton (`sentiment.rules.matcher`).
"""
from __future__ import annotations

import re
import tomllib
from functools import lru_cache
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, Iterable, Sequence

from sentiment.errors import RuleError
from sentiment.lang.text import normalize
from sentiment.lang.wordclasses import FILE_NAME as WORD_CLASSES_FILE
from sentiment.rules.query import Node, parse
from sentiment.rules.records import Compiled, Rule
from sentiment.rules.ruleset import RuleSet
from sentiment.resources import rules_dir

SEVERITIES = ("critical", "high", "medium", "low")
REQUIRED = ("id", "category", "name", "severity", "owners", "query")
DEFAULTS: dict[str, Any] = {"immediate": False, "window": "24h", "min_count": 1, "cooldown": "24h",
                            "description": "", "enabled": True, "exclude": None}
RULE_KEYS = REQUIRED + tuple(DEFAULTS)
OVERRIDE_KEYS = ("extend", "disable")
FILE_KEYS = ("rule", "masks")
_ID = re.compile(r"^[a-z0-9_]+(?:\.[a-z0-9_-]+)*$")
_NAME = re.compile(r"^[a-z][a-z0-9_-]*$")
_DURATION = re.compile(r"^(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")
_TOML_LINE = re.compile(r"line (\d+)")


# -- loading ---------------------------------------------------------------
@dataclass
class _Entry:
    """A rule as loaded so far: its merged raw values and what compiled from them."""

    values: dict[str, Any]
    compiled: Compiled


@dataclass
class _Loaded:
    entries: dict[str, _Entry] = field(default_factory=dict)  # id -> rule, in definition order
    masks: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    seen: dict[str, str] = field(default_factory=dict)  # id -> "file:line"

    @property
    def compiled(self) -> list[Compiled]:
        return [e.compiled for e in self.entries.values()]


def load_rules(paths: Sequence[Path] | None = None) -> RuleSet:
    """Load and compile rule files; None loads the bundled pack, a directory its *.toml.

    Raises RuleError listing every problem ("file:line: rule "<id>": <problem>").
    """
    loaded = _load_or_raise(paths)
    return RuleSet([c for c in loaded.compiled if c.enabled], loaded.masks)


def load_all(paths: Sequence[Path] | None = None) -> list[Compiled]:
    """Every rule the files define after overrides, disabled ones included (`rules list`).

    Raises RuleError like `load_rules`."""
    return _load_or_raise(paths).compiled


def _load_or_raise(paths: Sequence[Path] | None) -> _Loaded:
    loaded = _load(paths)
    if loaded.problems:
        err = RuleError("\n".join(loaded.problems))
        err.problems = list(loaded.problems)  # type: ignore[attr-defined]
        raise err
    return loaded


def check_rules(paths: Sequence[Path] | None = None) -> list[str]:
    """Every problem in the rule files, [] when they are fine."""
    return _load(paths).problems


def rule_files(paths: Sequence[Path] | None = None) -> tuple[list[Path], list[str]]:
    """The *.toml files named by `paths` (directories expanded, sorted) and missing paths.

    A file named twice (a path both configured and given with --rules) loads once, where
    it first appears: loading it again would redefine or extend its rules a second time."""
    files: list[Path] = []
    missing: list[str] = []
    for path in [rules_dir()] if paths is None else [Path(p) for p in paths]:
        if path.is_dir():
            files.extend(sorted(p for p in path.glob("*.toml") if p.name != WORD_CLASSES_FILE))  # not a rule file
        elif path.is_file():
            files.append(path)
        else:
            missing.append(f"{path}: no such file or directory")
    first = {f.resolve(): i for i, f in reversed(list(enumerate(files)))}  # where each file first appears
    return [f for i, f in enumerate(files) if first[f.resolve()] == i], missing


def _load(paths: Sequence[Path] | None) -> _Loaded:
    loaded = _Loaded()
    files, loaded.problems = rule_files(paths)
    for path in files:
        _load_file(path, loaded)
    return loaded


def _load_file(path: Path, loaded: _Loaded) -> None:
    try:
        text = path.read_text(encoding="utf-8")
        data = tomllib.loads(text)
    except UnicodeDecodeError:
        loaded.problems.append(f"{path}:1: not UTF-8 text")
        return
    except tomllib.TOMLDecodeError as exc:
        m = _TOML_LINE.search(str(exc))
        loaded.problems.append(f"{path}:{m.group(1) if m else 1}: invalid TOML: {exc}")
        return
    lines = text.splitlines()
    for key in data:
        if key not in FILE_KEYS:
            loaded.problems.append(f'{path}:{_key_line(lines, key, 0, len(lines))}: unknown top-level '
                                   f'key "{key}" (expected [[rule]] tables or masks)')
    _load_masks(path, lines, data.get("masks", []), loaded)
    rules = data.get("rule", [])
    if not isinstance(rules, list) or not all(isinstance(r, dict) for r in rules):
        loaded.problems.append(f"{path}:{_key_line(lines, 'rule', 0, len(lines))}: "
                               f"rule must be an array of tables ([[rule]])")
        return
    headers = [i for i, line in enumerate(lines) if re.match(r"\s*\[\[\s*rule\s*\]\]", line)]
    for k, table in enumerate(rules):
        lo = headers[k] if k < len(headers) else 0
        hi = headers[k + 1] if k + 1 < len(headers) else len(lines)
        _load_rule(path, lines, lo, hi, table, loaded)


def _load_masks(path: Path, lines: list[str], masks: Any, loaded: _Loaded) -> None:
    if not isinstance(masks, list) or not all(isinstance(m, str) and m.strip() for m in masks):
        line = _key_line(lines, "masks", 0, len(lines))
        loaded.problems.append(f"{path}:{line}: masks must be a list of non-empty strings")
        return
    loaded.masks.extend(normalize(m).lower() for m in masks)


def _key_line(lines: list[str], key: str, lo: int, hi: int) -> int:
    """1-based line of `key = ...` between lines lo and hi (0-based), else of lo."""
    pat = re.compile(rf"^\s*(?:{re.escape(key)}|\"{re.escape(key)}\")\s*=|^\s*\[+\s*{re.escape(key)}\s*\]")
    for i in range(lo, hi):
        if pat.match(lines[i]):
            return i + 1
    return lo + 1


def _load_rule(path: Path, lines: list[str], lo: int, hi: int, table: dict[str, Any],
               loaded: _Loaded) -> None:
    rid = table.get("id") if isinstance(table.get("id"), str) else None
    label = f'rule "{rid or "?"}"'
    problems: list[str] = []

    def bad(key: str | None, msg: str) -> None:
        line = _key_line(lines, key, lo, hi) if key else lo + 1
        problems.append(f"{path}:{line}: {label}: {msg}")

    for key in table:
        if key not in RULE_KEYS + OVERRIDE_KEYS:
            hint = _closest(key)
            bad(key, f'unknown key "{key}"' + (f' (did you mean "{hint}"?)' if hint else ""))
    mode = _mode(table, bad)
    if mode == "define":
        _define(path, lo, table, loaded, bad, problems)
    elif mode in OVERRIDE_KEYS and rid is None:
        bad(None, 'missing required key "id"')
    elif mode in OVERRIDE_KEYS and rid is not None:
        _override(path, lo, rid, mode, table, loaded, bad, problems)
    loaded.problems.extend(problems)


def _mode(table: dict[str, Any], bad: Any) -> str | None:
    """"define" (a new rule), "extend" or "disable" (an earlier rule); None when contradictory."""
    for key in OVERRIDE_KEYS:
        if key in table and not isinstance(table[key], bool):
            bad(key, f"{key} must be true or false (got {table[key]!r})")
            return None
    extend, disable = table.get("extend") is True, table.get("disable") is True
    if extend and disable:
        bad("disable", "extend and disable cannot be combined (disable switches the rule off)")
        return None
    others = [k for k in table if k not in ("id", *OVERRIDE_KEYS)]
    if disable and others:
        bad(others[0], f'disable = true takes no other keys (got "{others[0]}"); use extend = true to change a rule')
        return None
    return "extend" if extend else "disable" if disable else "define"


def _define(path: Path, lo: int, table: dict[str, Any], loaded: _Loaded, bad: Any, problems: list[str]) -> None:
    rid = table.get("id") if isinstance(table.get("id"), str) else None
    for key in REQUIRED:
        if key not in table:
            bad(None, f'missing required key "{key}"')
    values = {**DEFAULTS, **{k: v for k, v in table.items() if k not in OVERRIDE_KEYS}}
    _check_values(values, bad)
    node = _parse_query(values, "query", bad)
    exclude = _parse_query(values, "exclude", bad) if values.get("exclude") is not None else None
    if rid and rid in loaded.seen:
        bad("id", f"duplicate id (first defined at {loaded.seen[rid]})")
    elif rid:
        loaded.seen[rid] = f"{path}:{lo + 1}"
    if problems or node is None or rid is None:
        return
    loaded.entries[rid] = _Entry(values, Compiled(_make_rule(values, path, lo + 1), node, exclude, values["enabled"]))


def _override(path: Path, lo: int, rid: str, mode: str, table: dict[str, Any], loaded: _Loaded, bad: Any,
              problems: list[str]) -> None:
    """extend = true: ORs `query` onto the earlier rule's, other keys replace; disable = true: switch it off."""
    entry = loaded.entries.get(rid)
    if entry is None:
        if rid not in loaded.seen:  # else the earlier definition is broken and already reported
            bad(mode, f"{mode}: no earlier rule has this id")
        return
    given = {k: v for k, v in table.items() if k not in ("id", "query", *OVERRIDE_KEYS)}
    values = {**entry.values, **given} if mode == "extend" else {**entry.values, "enabled": False}
    if mode == "extend" and "query" in table:
        if _parse_query(table, "query", bad) is None:
            return
        values["query"] = f"({str(entry.values['query']).strip()}) OR ({str(table['query']).strip()})"
    _check_values(values, bad)
    node = _parse_query(values, "query", bad)
    exclude = _parse_query(values, "exclude", bad) if values.get("exclude") is not None else None
    if problems or node is None:
        return
    old = entry.compiled.rule
    rule = _make_rule(values, Path(old.file), old.line, (*old.overrides, (mode, f"{path}:{lo + 1}")))
    loaded.entries[rid] = _Entry(values, Compiled(rule, node, exclude, values["enabled"]))


def _closest(key: str) -> str | None:
    import difflib

    found = difflib.get_close_matches(key, RULE_KEYS, n=1, cutoff=0.7)
    return found[0] if found else None


def _check_values(v: dict[str, Any], bad: Any) -> None:
    if "id" in v and not (isinstance(v["id"], str) and _ID.match(v["id"])):
        bad("id", f"id must be lower-case words joined by dots, e.g. food_safety.mold (got {v['id']!r})")
    if "category" in v and not (isinstance(v["category"], str) and _NAME.match(v["category"])):
        bad("category", f"category must be a lower-case identifier (got {v['category']!r})")
    if "name" in v and not (isinstance(v["name"], str) and v["name"].strip()):
        bad("name", "name must be a non-empty string")
    if "severity" in v and v["severity"] not in SEVERITIES:
        bad("severity", f"bad severity {v['severity']!r} (expected one of {', '.join(SEVERITIES)})")
    owners = v.get("owners")
    if "owners" in v and not (isinstance(owners, list) and owners
                              and all(isinstance(o, str) and _NAME.match(o) for o in owners)):
        bad("owners", f'owners must be a non-empty list of audience names like ["cs", "pr"] (got {owners!r})')
    for key in ("immediate", "enabled"):
        if not isinstance(v[key], bool):
            bad(key, f"{key} must be true or false (got {v[key]!r})")
    if not (isinstance(v["min_count"], int) and not isinstance(v["min_count"], bool) and v["min_count"] >= 1):
        bad("min_count", f"min_count must be an integer >= 1 (got {v['min_count']!r})")
    for key in ("window", "cooldown"):
        try:
            span = parse_duration(v[key])
        except RuleError as exc:
            bad(key, f"{key}: {exc}")
            continue
        if key == "window" and not span:
            bad(key, "window must be longer than 0")
    if not isinstance(v["description"], str):
        bad("description", "description must be a string")


def parse_duration(value: Any) -> timedelta:
    """'30m', '24h', '7d', '1w', '1h30m' -> timedelta; RuleError otherwise."""
    m = _DURATION.match(value) if isinstance(value, str) and value else None
    if not m or not any(m.groups()):
        raise RuleError(f'bad duration {value!r} (expected e.g. "30m", "24h", "7d")')
    w, d, h, mi, s = (int(g or 0) for g in m.groups())
    return timedelta(weeks=w, days=d, hours=h, minutes=mi, seconds=s)


def _parse_query(v: dict[str, Any], key: str, bad: Any) -> Node | None:
    if key not in v:
        return None
    try:
        return parse(v[key])
    except RuleError as exc:
        bad(key, f"{key}: {exc}")
        return None


def _make_rule(v: dict[str, Any], path: Path, line: int, overrides: tuple[tuple[str, str], ...] = ()) -> Rule:
    return Rule(
        id=v["id"], category=v["category"], name=v["name"].strip(), severity=v["severity"],
        owners=tuple(v["owners"]), immediate=v["immediate"], query=v["query"],
        window=parse_duration(v["window"]), min_count=v["min_count"],
        cooldown=parse_duration(v["cooldown"]), file=str(path), line=line,
        description=v["description"], exclude=v["exclude"], overrides=overrides,
    )


def ruleset_paths(paths: Iterable[Path] | None) -> list[Path]:
    """What ingest, the worker and `rules check` load, in order: the bundled pack, then `paths`
    (`[rules] paths`, then `--rules`); later files override earlier ones."""
    extra = [Path(p) for p in (paths or ()) if Path(p).resolve() != rules_dir().resolve()]
    return [rules_dir(), *extra]


@lru_cache(maxsize=1)
def bundled_ruleset() -> RuleSet:
    """The bundled rule pack alone, loaded once per process (its terms feed the segmenter, its
    owners the catalogue)."""
    return load_rules([rules_dir()])


def load_ruleset(paths: Iterable[Path] | None) -> RuleSet:
    """The bundled rule pack plus configured extra paths."""
    return load_rules(ruleset_paths(paths))
