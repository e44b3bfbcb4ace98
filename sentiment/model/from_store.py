"""Training data from the store: the shop's own rated reviews."""
from __future__ import annotations

import random
from pathlib import Path

import sqlite_utils

from sentiment.model import training as nlp
from sentiment.errors import ModelError
from sentiment.model.linear import Model

MIN_PER_CLASS = 20


def rated_texts(db: sqlite_utils.Database) -> tuple[list[str], list[int]]:
    """Texts of rated reviews and follow-ups (positive=1, negative=0), placeholders excluded, balanced.

    The larger class is down-sampled (seeded, so the same store gives the same model).
    """
    rows = db.execute(
        "SELECT text, rating FROM documents WHERE rating IN ('positive', 'negative')"
        " AND is_placeholder = 0 AND kind IN ('review', 'followup') ORDER BY id"
    ).fetchall()
    pos = [t for t, r in rows if r == "positive"]
    neg = [t for t, r in rows if r == "negative"]
    if min(len(pos), len(neg)) < MIN_PER_CLASS:
        raise ModelError(
            f"the store has {len(pos)} positive and {len(neg)} negative rated reviews; "
            f"training needs at least {MIN_PER_CLASS} of each (ingest exports with ratings first)"
        )
    size = min(len(pos), len(neg))
    rng = random.Random(20261125)
    pos, neg = sorted(rng.sample(pos, size)), sorted(rng.sample(neg, size))
    return pos + neg, [1] * size + [0] * size


def train_from_db(db: sqlite_utils.Database, base: str = "builtin",
                  encoder: Path | None = None) -> tuple[Model, int]:
    texts, labels = rated_texts(db)
    return nlp.train(texts, labels, base=base, encoder=encoder), len(texts)
