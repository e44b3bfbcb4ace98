"""The linear sentiment model: a weight per feature, scored with dict lookups (no scikit-learn).

File format (gzip-compressed JSON, written deterministically)::

    {"format": MODEL_FORMAT, "kind": "sentiment-linear", "version": "...",
     "bias": float, "norm": "l2" | "none", "params": {...},
     "lexicon": {word: polarity}, "weights": {feature: weight}}

The lexicon is stored in the model so that a model scores the same way after
rules/lexicon.txt is edited; retrain to pick up lexicon changes.
"""
from __future__ import annotations

import gzip
import json
import math
import zlib
from itertools import repeat
from operator import mul
from pathlib import Path
from typing import Any

from sentiment import features
from sentiment.errors import ModelError
from sentiment.segment import Segmenter, get_segmenter

MODEL_FORMAT = 1
MODEL_KIND = "sentiment-linear"


class Model:
    """Logistic model over `features.extract` features; `score()` gives p(positive)."""

    def __init__(
        self,
        weights: dict[str, float],
        bias: float,
        lexicon: features.Lexicon,
        version: str,
        *,
        norm: str = "l2",
        params: dict[str, Any] | None = None,
        path: Path | None = None,
        segmenter: Segmenter | None = None,
    ) -> None:
        self.weights = weights  # every feature, as saved
        self.bias = bias
        self.lexicon = lexicon
        self.version = version
        self.norm = norm
        self.params = dict(params or {})
        self.chars = int(self.params.get("chars", 0))  # character n-grams (0 in models before them)
        # two smaller dicts look up faster than one (fewer cache misses)
        self._word_weights, self._char_weights = _split_chars(weights) if self.chars else (weights, {})
        self.path = path
        self._segmenter = segmenter

    def __repr__(self) -> str:
        return f"Model(version={self.version!r}, features={len(self.weights)}, path={self.path})"

    @property
    def segmenter(self) -> Segmenter:
        if self._segmenter is None:
            self._segmenter = get_segmenter()
        return self._segmenter

    def score(self, text: str) -> tuple[float, list[str]]:
        """Probability that normalized `text` is positive, and the tokens it was scored on."""
        tokens = self.segmenter.cut(text)
        return self.score_tokens(tokens, text), tokens

    def score_tokens(self, tokens: list[str], text: str = "") -> float:
        """Probability of positive for an already segmented text."""
        return _sigmoid(self.logit_tokens(tokens))

    def logit_tokens(self, tokens: list[str]) -> float:
        """`logit(features.extract(tokens, ..., chars))`, with the character n-grams summed at C speed."""
        feats = features.extract(tokens, self.lexicon)
        if not self.chars or not tokens:
            return self.logit(feats)
        grams = features.char_grams("".join(tokens), self.chars)
        total = self._sum(feats, self._word_weights) + sum(map(self._char_weights.get, grams, repeat(0.0)))
        if self.norm == "l2":
            values = feats.values()
            total /= math.sqrt(sum(map(mul, values, values)) + len(grams))
        return self.bias + total

    def logit(self, feats: features.Features) -> float:
        """The logit of any feature dict (character n-grams included, prefixed)."""
        total = self._sum(feats, self.weights)
        if self.norm == "l2" and feats:
            values = feats.values()
            total /= math.sqrt(sum(map(mul, values, values)))
        return self.bias + total

    @staticmethod
    def _sum(feats: features.Features, weights: dict[str, float]) -> float:
        return sum(map(mul, map(weights.get, feats, repeat(0.0)), feats.values()))

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": MODEL_FORMAT,
            "kind": MODEL_KIND,
            "version": self.version,
            "bias": round(self.bias, 6),
            "norm": self.norm,
            "params": self.params,
            "lexicon": self.lexicon.entries,
            "weights": {k: round(v, 4) for k, v in sorted(self.weights.items())},
        }

    def save(self, path: Path) -> None:
        """Write the model (gzip JSON, byte-for-byte reproducible)."""
        path = Path(path)
        data = json.dumps(self.to_dict(), ensure_ascii=False, sort_keys=True, separators=(",", ":"))
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as gz:
            gz.write(data.encode("utf-8"))
        tmp.replace(path)
        self.path = path

    @classmethod
    def load(cls, path: Path) -> Model:
        """Read a model file; ModelError names the file and what is wrong with it."""
        path = Path(path)
        data = _read_json(path)
        if not isinstance(data, dict) or data.get("kind") != MODEL_KIND:
            raise ModelError(f"{path}: not a sentiment model file (no '{MODEL_KIND}' header)")
        if data.get("format") != MODEL_FORMAT:
            raise ModelError(
                f"{path}: not a sentiment model file (format {data.get('format')!r}, this version"
                f" reads format {MODEL_FORMAT}); retrain it with `sentiment model train`"
            )
        try:
            weights = {str(k): float(v) for k, v in data["weights"].items()}
            lexicon = {str(k): float(v) for k, v in data["lexicon"].items()}
            model = cls(
                weights, float(data["bias"]),
                features.Lexicon(lexicon),
                str(data["version"]), norm=str(data.get("norm", "l2")),
                params=dict(data.get("params") or {}), path=path,
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ModelError(f"{path}: not a sentiment model file (bad field: {exc})") from exc
        return model


def _split_chars(weights: dict[str, float]) -> tuple[dict[str, float], dict[str, float]]:
    """Word-feature weights, and character n-gram weights keyed without their prefix."""
    words, chars = {}, {}
    cut = len(features.CHAR_PREFIX)
    for name, value in weights.items():
        if name.startswith(features.CHAR_PREFIX):
            chars[name[cut:]] = value
        else:
            words[name] = value
    return words, chars


def _read_json(path: Path) -> Any:
    if not path.is_file():
        raise ModelError(
            f"{path}: not a sentiment model file (missing); train one with"
            " `sentiment model train --builtin` or `--labeled FILE`"
        )
    try:
        with gzip.open(path, "rb") as fh:
            return json.loads(fh.read().decode("utf-8"))
    except (OSError, EOFError, zlib.error, UnicodeDecodeError, ValueError) as exc:
        raise ModelError(f"{path}: not a sentiment model file (corrupt: {exc})") from exc


def _sigmoid(x: float) -> float:
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    z = math.exp(x)
    return z / (1.0 + z)
