"""The word classes of the scopes (negators, contrast words, scope ends ...), read from
`rules/wordclasses.toml` and validated when first used.

`WORDS.get("model.negators")` is the frozenset the model's features use; `"rules.neg_strong"`
one of the rule matcher's. A class asked for and missing, or malformed, is a ModelError
naming the file and the class.
"""
from __future__ import annotations

import tomllib
from functools import cached_property
from pathlib import Path
from typing import Any

from sentiment.errors import ModelError
from sentiment.resources import rules_dir

FILE_NAME = "wordclasses.toml"
SECTIONS = ("model", "rules")


class WordClasses:
    """The classes of one file, loaded once."""

    def __init__(self, path: Path | None = None) -> None:
        self._path = path

    @property
    def path(self) -> Path:
        return self._path or rules_dir() / FILE_NAME

    @cached_property
    def classes(self) -> dict[str, frozenset[str]]:
        try:
            data = tomllib.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ModelError(f"{self.path}: cannot read the word classes: {exc}") from None
        return _validated(self.path, data)

    def get(self, name: str) -> frozenset[str]:
        try:
            return self.classes[name]
        except KeyError:
            raise ModelError(f"{self.path}: word class {name!r} is missing") from None


def _validated(path: Path, data: dict[str, Any]) -> dict[str, frozenset[str]]:
    unknown = sorted(set(data) - set(SECTIONS))
    if unknown:
        raise ModelError(f"{path}: unknown section [{unknown[0]}] (expected {', '.join(SECTIONS)})")
    result: dict[str, frozenset[str]] = {}
    for section, table in data.items():
        for name, words in table.items():
            if not isinstance(words, list) or not words or not all(isinstance(w, str) and w for w in words):
                raise ModelError(f"{path}: [{section}] {name}: expected a non-empty list of non-empty strings")
            if len(set(words)) != len(words):
                raise ModelError(f"{path}: [{section}] {name}: a word is listed twice")
            result[f"{section}.{name}"] = frozenset(words)
    return result


WORDS = WordClasses()
