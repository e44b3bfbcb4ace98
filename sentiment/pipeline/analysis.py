"""The one analysis path: normalize -> segment -> score -> match rules (storing is `writer`).

`sentiment.analyze()`, `sentiment score`, ingestion, the worker and
`sentiment rescan` all go through `Pipeline`, so they give identical rows.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

from sentiment.lang import text as textmod
from sentiment.config import DEFAULT_NEGATIVE_BELOW, DEFAULT_POSITIVE_ABOVE, Settings
from sentiment.lang.jsontext import compact
from sentiment.lang.segment import Segmenter, Token
from sentiment.rules.terms import analysis_segmenter

from sentiment.model.linear import Model
from sentiment.model.loading import load_model
from sentiment.rules.loader import load_ruleset
from sentiment.rules.records import Hit, MatchInput
from sentiment.rules.ruleset import RuleSet


@dataclass
class Analysis:
    """What `analyze()` returns: `score` is p(positive); `label` is None for placeholder texts."""

    text: str
    score: float | None
    label: str | None
    tokens: list[str]
    hits: list[Hit] = field(default_factory=list)
    is_placeholder: bool = False
    spans: list[Token] = field(default_factory=list, repr=False)

    def to_json(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "score": None if self.score is None else round(self.score, 4),
            "label": self.label,
            "is_placeholder": self.is_placeholder,
            "tokens": self.tokens,
            "hits": [hit_json(h) for h in self.hits],
        }


def hit_json(hit: Hit) -> dict[str, Any]:
    return {
        "rule_id": hit.rule_id, "category": hit.category, "severity": hit.severity,
        "owners": list(hit.owners), "immediate": hit.immediate,
        "terms": [{"term": t, "start": s, "end": e} for t, s, e in hit.terms],
    }


QUESTION_NEGATIVE_FACTOR = 0.5


class Pipeline:
    """Model, segmenter and compiled rules, loaded once and reused for every text."""

    def __init__(self, model: Model, rules: RuleSet | None, *,
                 negative_below: float = DEFAULT_NEGATIVE_BELOW,
                 positive_above: float = DEFAULT_POSITIVE_ABOVE) -> None:
        self.model = model
        self.rules = rules
        self.negative_below = negative_below
        self.positive_above = positive_above
        self.segmenter: Segmenter = analysis_segmenter()
        self.rule_digests: dict[str, str] = rules.digests() if rules is not None else {}

    @classmethod
    def from_settings(cls, settings: Settings, rules_paths: Sequence[Path] | None = None) -> "Pipeline":
        model = load_model(settings.model_path)
        rules = load_ruleset(rules_paths if rules_paths is not None else settings.rules_paths)
        return cls(model, rules, negative_below=settings.negative_below,
                   positive_above=settings.positive_above)

    @property
    def rules_version(self) -> str | None:
        return self.rules.version if self.rules is not None else None

    def label(self, score: float, *, question: bool = False) -> str:
        """negative / neutral / positive by the thresholds; a question is never positive.

        会不会过敏？ or 穿着舒服吗 asks rather than praises, though its words may score high,
        and 质量好不好 is no complaint though 不好 scores low: a question is negative only
        below half the negative threshold (为什么还不发货？客服也不理人？ is).
        """
        if question:
            return "negative" if score < self.negative_below * QUESTION_NEGATIVE_FACTOR else "neutral"
        if score < self.negative_below:
            return "negative"
        if score > self.positive_above:
            return "positive"
        return "neutral"

    def analyze(self, raw: str, *, kind: str = "review", rating: str | None = None,
                item_id: str | None = None, sku: str | None = None, normalized: bool = False) -> Analysis:
        """Score one text and match the rules against it.

        normalized=True: `raw` is already a stored document's canonical text (normalized,
        phone numbers masked); it is analyzed as it is, so token offsets point into it.
        """
        text = raw if normalized else textmod.normalize(raw)
        spans = self.segmenter.tokenize(text) if text else []
        words = [w for w, _, _ in spans]
        if not text or textmod.is_placeholder(text):
            return Analysis(text, None, None, words, [], bool(text), spans)
        score = self.model.score_tokens(words, text)
        hits = self.match(text, spans, kind=kind, rating=rating, score=score, item_id=item_id, sku=sku)
        question = kind == "question" or text.endswith(("?", "？"))
        return Analysis(text, score, self.label(score, question=question), words, hits, False, spans)

    def match(self, text: str, spans: list[Token], **fields: Any) -> list[Hit]:
        if self.rules is None:
            return []
        return self.rules.match(MatchInput(text=text, tokens=spans, **fields))

    def prime(self, texts: Iterable[str]) -> None:
        """Run a model's encoder (if it has one) over stored texts at once, before they are
        analyzed one by one; without an encoder, nothing to do."""
        if self.model.head is not None:
            self.model.prime([t for t in texts if t and not textmod.is_placeholder(t)])

    def analyze_document(self, doc: dict[str, Any]) -> Analysis:
        return self.analyze(doc["text"], kind=doc["kind"], rating=doc.get("rating"),
                            item_id=doc.get("item_id"), sku=doc.get("sku"), normalized=True)

    def rows(self, doc: dict[str, Any], analysis: Analysis, now: str) -> tuple[dict, list[dict]]:
        """The `analyses` row and the `rule_hits` rows of one document."""
        row = {
            "document_id": doc["id"],
            "score": analysis.score,
            "label": analysis.label,
            "tokens": compact(analysis.spans),
            "model_version": self.model.version,
            "rules_version": self.rules_version,
            "analyzed_at": now,
        }
        return row, self.hit_rows(doc, analysis.hits)

    @staticmethod
    def hit_rows(doc: dict[str, Any], hits: Sequence[Hit]) -> list[dict[str, Any]]:
        """The `rule_hits` rows of one document."""
        return [{
            "document_id": doc["id"], "rule_id": h.rule_id, "category": h.category, "severity": h.severity,
            "terms": json.dumps([list(t) for t in h.terms], ensure_ascii=False),
            "created_at": doc["created_at"],
        } for h in hits]

    def analysis_rows(self, docs: Iterable[dict[str, Any]], now: str) -> tuple[list[dict], list[dict]]:
        """The `analyses` rows and all `rule_hits` rows of stored documents."""
        rows, hits = [], []
        docs = list(docs)
        self.prime(d["text"] for d in docs)
        for doc in docs:
            row, doc_hits = self.rows(doc, self.analyze_document(doc), now)
            rows.append(row)
            hits.extend(doc_hits)
        return rows, hits


