"""Labeled texts for training and evaluation, read in chunks: never all texts at once.

A corpus knows how many labeled texts it holds and yields them, as often as asked, in
chunks of `(raw texts, labels)`: the positive texts first, then the negative ones. A
`ListCorpus` wraps lists already in memory (a `--labeled` file, the builtin corpus); a
`RowidCorpus` holds only the store's rowids and fetches each chunk's texts when it is
read, so that `model train --from-db` keeps no more than one chunk of texts in memory.

    >>> corpus, held = ListCorpus(["好", "很好", "差", "太差"], [1, 1, 0, 0]).split(0.5)
    >>> len(corpus), len(held)
    (2, 2)
"""
from __future__ import annotations

import random
from array import array
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Protocol

from sentiment.errors import ModelError

__all__ = ["Corpus", "ListCorpus", "RowidCorpus", "held_indices", "CHUNK"]

CHUNK = 5_000  # texts a chunk holds
Chunk = tuple[list[str], list[int]]
Fetch = Callable[[Sequence[int]], Iterable[tuple[int, str]]]


class Corpus(Protocol):
    """Labeled texts (1 positive, 0 negative), read chunk by chunk, any number of times."""

    def __len__(self) -> int: ...

    def chunks(self) -> Iterator[Chunk]: ...

    def split(self, fraction: float, seed: int = ...) -> tuple[Corpus, Corpus]: ...


def held_indices(labels: Sequence[int], fraction: float, seed: int) -> set[int]:
    """Positions of `fraction` of each label, chosen by a seeded shuffle: the held-out share."""
    if not 0 <= fraction < 1:
        raise ModelError(f"holdout {fraction} must be at least 0 and below 1")
    rng = random.Random(seed)
    held: set[int] = set()
    for cls in (0, 1):
        idx = [i for i, lab in enumerate(labels) if lab == cls]
        rng.shuffle(idx)
        held.update(idx[:round(len(idx) * fraction)])
    return held


HOLDOUT_SEED = 20261206


class ListCorpus:
    """Texts and labels held in lists."""

    def __init__(self, texts: Sequence[str], labels: Sequence[int]) -> None:
        if len(texts) != len(labels):
            raise ModelError(f"{len(texts)} texts but {len(labels)} labels")
        self.texts, self.labels = texts, labels

    def __len__(self) -> int:
        return len(self.texts)

    def chunks(self) -> Iterator[Chunk]:
        for start in range(0, len(self.texts), CHUNK):
            yield list(self.texts[start:start + CHUNK]), [int(y) for y in self.labels[start:start + CHUNK]]

    def split(self, fraction: float, seed: int = HOLDOUT_SEED) -> tuple[ListCorpus, ListCorpus]:
        """(kept, held out): `fraction` of each label held out (`held_indices`), order kept."""
        held = held_indices(self.labels, fraction, seed)
        keep = [i for i in range(len(self.texts)) if i not in held]
        out = sorted(held)
        return (ListCorpus([self.texts[i] for i in keep], [self.labels[i] for i in keep]),
                ListCorpus([self.texts[i] for i in out], [self.labels[i] for i in out]))


class RowidCorpus:
    """Documents of the store by rowid, positive then negative: only the rowids are held, and
    each chunk's texts are fetched when it is read (`fetch`: rowids -> (rowid, text) pairs,
    such as `store.texts_by_rowid` bound to a database). A rowid no longer in the store is
    skipped. The caller binds `fetch` to its store: this package never reads one."""

    def __init__(self, fetch: Fetch, pos_ids: Sequence[int], neg_ids: Sequence[int]) -> None:
        self.fetch = fetch
        self.pos_ids, self.neg_ids = array("q", pos_ids), array("q", neg_ids)

    def __len__(self) -> int:
        return len(self.pos_ids) + len(self.neg_ids)

    def chunks(self) -> Iterator[Chunk]:
        for label, ids in ((1, self.pos_ids), (0, self.neg_ids)):
            for start in range(0, len(ids), CHUNK):
                texts = [text for _, text in self.fetch(ids[start:start + CHUNK])]
                yield texts, [label] * len(texts)

    def split(self, fraction: float, seed: int = HOLDOUT_SEED) -> tuple[RowidCorpus, RowidCorpus]:
        """As `ListCorpus.split` on the same documents: the same texts are held out as when
        their texts are read first and then split."""
        n_pos = len(self.pos_ids)
        held = held_indices([1] * n_pos + [0] * len(self.neg_ids), fraction, seed)
        parts: list[tuple[array[int], array[int]]] = []
        for ids, offset in ((self.pos_ids, 0), (self.neg_ids, n_pos)):
            parts.append((array("q", (r for i, r in enumerate(ids) if i + offset not in held)),
                          array("q", (r for i, r in enumerate(ids) if i + offset in held))))
        (pos_keep, pos_held), (neg_keep, neg_held) = parts
        return RowidCorpus(self.fetch, pos_keep, neg_keep), RowidCorpus(self.fetch, pos_held, neg_held)
