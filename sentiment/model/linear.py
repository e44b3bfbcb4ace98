"""The linear sentiment model: a weight per feature, scored with dict lookups (no scikit-learn).

File format (gzip-compressed JSON, written deterministically)::

    {"format": MODEL_FORMAT, "kind": "sentiment-linear", "version": "...",
     "bias": float, "norm": "l2" | "none", "params": {...},
     "lexicon": {word: polarity}, "weights": {feature: weight}}

A model adapted with a pretrained encoder (`sentiment.model.encoder`) is format
ENCODER_FORMAT and has one more key, "encoder": the encoder directory, its weights'
sha256, and the regression on its vectors (older versions refuse such a file rather
than score it without its encoder).

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
from typing import TYPE_CHECKING, Any, Sequence

from sentiment.model import features
from sentiment.errors import ModelError
from sentiment.lang.segment import Segmenter
from sentiment.rules.terms import analysis_segmenter

if TYPE_CHECKING:
    from sentiment.model.encoder import EncoderHead

MODEL_FORMAT = 1
ENCODER_FORMAT = 2
MODEL_KIND = "sentiment-linear"
PRIMED_LIMIT = 50_000  # texts whose encoder logits `prime` may hold at once
# what must follow a mock complaint for it to be read as one: on the dev splits, 15 texts open
# with such a word and go on with a positive logit, all of them real complaints; 2 above 1.0
MOCK_MARGIN = 1.0


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
        head: EncoderHead | None = None,
    ) -> None:
        self.weights = weights  # every feature, as saved
        self.bias = bias
        self.lexicon = lexicon
        self.version = version
        self.norm = norm
        self.params = dict(params or {})
        self.chars = int(self.params.get("chars", 0))  # character n-grams (0 in models before them)
        self.later_weight = float(self.params.get("later_weight", 0.0))  # 0 in models before it
        # two smaller dicts look up faster than one (fewer cache misses)
        self._word_weights, self._char_weights = _split_chars(weights) if self.chars else (weights, {})
        self.path = path
        self._segmenter = segmenter
        self.head = head
        self._primed: dict[str, float] = {}

    def __repr__(self) -> str:
        return f"Model(version={self.version!r}, features={len(self.weights)}, path={self.path})"

    @property
    def segmenter(self) -> Segmenter:
        if self._segmenter is None:
            self._segmenter = analysis_segmenter()
        return self._segmenter

    def score(self, text: str) -> tuple[float, list[str]]:
        """Probability that normalized `text` is positive, and the tokens it was scored on."""
        tokens = self.segmenter.cut(text)
        return self.score_tokens(tokens, text), tokens

    def score_tokens(self, tokens: list[str], text: str = "") -> float:
        """Probability of positive for an already segmented text (`text`: the normalized
        text the tokens came from, which a model with an encoder also reads)."""
        logit = self.logit_tokens(tokens)
        if self.head is not None:
            text = text or "".join(tokens)
            encoded = self._primed.pop(text, None)
            if encoded is None:
                encoded = float(self.head.logits([text])[0])
            logit = self.head.combine(logit, encoded)
        return _sigmoid(logit)

    def prime(self, texts: Sequence[str]) -> None:
        """Run the encoder (if any) over many normalized texts at once, ahead of scoring
        them one by one: batched, it is many times faster than text by text."""
        if self.head is None:
            return
        todo = sorted({t for t in texts if t and t not in self._primed})[:PRIMED_LIMIT]
        if len(self._primed) + len(todo) > PRIMED_LIMIT:
            self._primed.clear()  # primed texts never scored: no unbounded growth
        self._primed.update(zip(todo, map(float, self.head.logits(todo))))

    def logit_tokens(self, tokens: list[str]) -> float:
        """The bag-of-words logit of `tokens`; after an opening clause that praises (好评，),
        clauses that complain add `later_weight` times their own logit: praise, then the
        facts against it (好吃，送了两个小时，全凉了), is read by the facts. The same after
        a mock complaint (后悔，, 投诉！: `features.mock_complaint`) when what follows is
        plainly praise (logit above MOCK_MARGIN): 投诉！这床太舒服，我连续三天上班迟到."""
        logit = self._bow_logit(tokens)
        if self.later_weight:
            end = features.opening_clause(tokens)
            if end:
                opening = self._bow_logit(tokens[:end])
                if opening > 0 or features.mock_complaint(tokens, end):
                    rest = self._bow_logit(tokens[end + 1:])
                    if rest < 0 < opening or opening < 0 and rest > MOCK_MARGIN:
                        logit += self.later_weight * rest
        return logit

    def _bow_logit(self, tokens: list[str]) -> float:
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

    def to_dict(self, path: Path | None = None) -> dict[str, Any]:
        """The model as its file holds it; `path`, where that file goes, decides whether an
        encoder directory beside it is recorded by a relative path."""
        data = {
            "format": ENCODER_FORMAT if self.head is not None else MODEL_FORMAT,
            "kind": MODEL_KIND,
            "version": self.version,
            "bias": round(self.bias, 6),
            "norm": self.norm,
            "params": self.params,
            "lexicon": self.lexicon.entries,
            "weights": {k: round(v, 4) for k, v in sorted(self.weights.items())},
        }
        if self.head is not None:
            data["encoder"] = self.head.to_dict(path)
        return data

    def save(self, path: Path) -> None:
        """Write the model (gzip JSON, byte-for-byte reproducible)."""
        path = Path(path)
        data = json.dumps(self.to_dict(path), ensure_ascii=False, sort_keys=True, separators=(",", ":"))
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
        if data.get("format") not in (MODEL_FORMAT, ENCODER_FORMAT):
            raise ModelError(
                f"{path}: not a sentiment model file (format {data.get('format')!r}, this version"
                f" reads formats {MODEL_FORMAT} and {ENCODER_FORMAT}); retrain it with `sentiment model train`"
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
        if data["format"] == ENCODER_FORMAT:
            from sentiment.model.encoder import EncoderHead

            if not isinstance(data.get("encoder"), dict):
                raise ModelError(f"{path}: not a sentiment model file (format {ENCODER_FORMAT} without its encoder)")
            model.head = EncoderHead.from_dict(data["encoder"], path)
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
