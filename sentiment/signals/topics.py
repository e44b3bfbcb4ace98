"""Emergent topics and near-duplicate texts, the two content-based cluster kinds.

- ``topic``: negative documents no rule caught, in the lookback window (at most
  the `topic_max_docs` most recent, default 5,000). Vectors are binary TF-IDF
  over the stored tokens (1-char words dropped unless they carry meaning,
  punctuation, digits and stopwords dropped); cosine similarity; grouped
  greedily: the document with most neighbours above `topic_similarity` seeds a
  topic with its still unassigned neighbours (no chaining). Topics of at least
  `topic_min_size` are labeled with their top 3 keywords.
- ``duplicate``: non-placeholder reviews whose text, with punctuation and
  whitespace stripped, is identical, or near-identical (character 3-gram
  Jaccard >= `duplicate_similarity`, found with MinHash LSH and then checked
  exactly), at least `duplicate_min_chars` long; groups of at least
  `duplicate_min_size` documents. Near-identical matching covers the
  `duplicate_max_texts` most recent distinct texts; exact matching covers all.

Both are recomputed over the whole lookback on every update and deterministic:
same input, same groups, same order. A recomputed group keeps the id of the
stored cluster it shares most members with (`clusters.adopt_ids`).
"""
from __future__ import annotations

import json
import math
import re
from collections import Counter, defaultdict
from typing import Sequence

import numpy as np
import sqlite_utils

from sentiment.lang.segment import get_segmenter
from sentiment.signals.candidates import NOT_PLACEHOLDER, OWN_DATE, Candidate, ClusterOptions, cluster_id

# 1-char words that name a complaint on their own
MEANINGFUL_CHARS = frozenset("坏破烂脏臭漏假差慢贵丑硬软薄厚松紧痒疼痛霉馊酸苦咸腥潮湿旧歪裂断掉卡吵响短粗褪锈")
# generic words of complaints that would glue unrelated topics together
GENERIC_WORDS = frozenset(
    "一个 一下 一点 一样 一直 不是 什么 以后 但是 你们 其他 到底 可以 然后 而且 还是 还有 这个 那个 这样 "
    "这么 怎么 因为 所以 已经 就是 真的 非常 感觉 觉得 东西 宝贝 商品 产品 卖家 店家 商家 购买 收到 买家 我们 "
    "他们 自己 时候 没有 不能 不会 太差 差劲 垃圾 失望 不好 一般 完全 实在 简直 第一次 第二次 下次 评价 差评 "
    "好评".split()
)
_WORDLIKE = re.compile(r"[^\W\d_]")
_STRIP = re.compile(r"[\W_]+")
VOCAB_CAP = 4096  # matrix columns: the most frequent words shared by 2+ documents
BLOCK = 512


def topic_words(tokens_json: str | None, stopwords: frozenset[str]) -> list[str]:
    """Distinct content words of a stored token list (JSON [[word, start, end], ...])."""
    try:
        tokens = json.loads(tokens_json or "[]")
    except ValueError:
        return []
    words: dict[str, None] = {}
    for token in tokens:
        word = str(token[0] if isinstance(token, list) and token else token).strip().lower()
        if not _WORDLIKE.search(word) or word in stopwords or word in GENERIC_WORDS:
            continue
        if len(word) == 1 and word not in MEANINGFUL_CHARS:
            continue
        words[word] = None
    return list(words)


def group_topics(docs: Sequence[Sequence[str]], similarity: float, min_size: int
                 ) -> tuple[list[list[int]], dict[str, float]]:
    """Groups of document indexes (each sorted) and the words' idf; deterministic."""
    n = len(docs)
    df = Counter(w for words in docs for w in set(words))
    idf = {w: math.log((1 + n) / (1 + c)) + 1.0 for w, c in df.items()}
    shared = sorted((w for w, c in df.items() if c >= 2), key=lambda w: (-df[w], w))[:VOCAB_CAP]
    if n < min_size or not shared:
        return [], idf
    column = {w: i for i, w in enumerate(shared)}
    matrix = np.zeros((n, len(shared)), dtype=np.float32)
    for row, words in enumerate(docs):
        norm = math.sqrt(sum(idf[w] ** 2 for w in set(words))) or 1.0
        for w in set(words):
            if w in column:
                matrix[row, column[w]] = idf[w] / norm
    neighbours: list[np.ndarray] = []
    for start in range(0, n, BLOCK):
        sims = matrix[start:start + BLOCK] @ matrix.T
        for offset, row in enumerate(sims):
            row[start + offset] = 0.0
            neighbours.append(np.flatnonzero(row >= similarity - 1e-6))
    assigned = np.zeros(n, dtype=bool)
    groups = []
    for seed in sorted(range(n), key=lambda i: (-len(neighbours[i]), i)):
        if assigned[seed]:
            continue
        members = [seed, *(int(j) for j in neighbours[seed] if not assigned[j])]
        if len(members) >= min_size:
            assigned[members] = True
            groups.append(sorted(members))
    return groups, idf


def keywords(docs: Sequence[Sequence[str]], members: Sequence[int], idf: dict[str, float], k: int = 3) -> list[str]:
    """Words shared most within the group, weighted by idf."""
    counts = Counter(w for i in members for w in set(docs[i]))
    score = {w: c * idf.get(w, 1.0) for w, c in counts.items() if c >= 2} or {
        w: c * idf.get(w, 1.0) for w, c in counts.items()}
    return sorted(score, key=lambda w: (-score[w], w))[:k]


def topic_candidates(db: sqlite_utils.Database, opts: ClusterOptions, start: str, end: str, *,
                     own_dates: bool = False) -> list[Candidate]:
    """Topic clusters among unmatched negatives created in [start, end] (`own_dates`: only
    documents with a date of their own, not follow-ups dated when first seen)."""
    rows = db.execute(  # +a.label: the window's documents by date, not every negative in the store
        "SELECT d.id, d.created_at, d.item_id, d.item_title, a.tokens FROM documents d"
        " JOIN analyses a ON a.document_id = d.id WHERE d.created_at >= ? AND d.created_at <= ?"
        f" AND +a.label = 'negative' AND {NOT_PLACEHOLDER}{' AND ' + OWN_DATE if own_dates else ''}"
        " AND NOT EXISTS (SELECT 1 FROM rule_hits h WHERE h.document_id = d.id)"
        " ORDER BY d.created_at DESC, d.id DESC LIMIT ?", [start, end, opts.topic_max_docs]).fetchall()
    rows.reverse()
    stopwords = get_segmenter().stopwords
    docs = [topic_words(r[4], stopwords) for r in rows]
    groups, idf = group_topics(docs, opts.topic_similarity, opts.topic_min_size)
    candidates = []
    for members in groups:
        picked = [rows[i] for i in members]
        words = keywords(docs, members, idf)
        items = Counter(r[2] or r[3] or "unknown" for r in picked)
        single = picked[-1] if len(items) == 1 else None
        candidates.append(Candidate(
            id=cluster_id("topic", picked[0][1], picked[0][0]), kind="topic",
            members=[(r[0], r[1]) for r in picked], severity="medium", title="、".join(words),
            item_id=single[2] if single else None, item_title=single[3] if single else None,
            meta={"keywords": words, "items": dict(items.most_common(5)), "candidates": len(rows)},
        ))
    return sorted(candidates, key=lambda c: (c.first_seen, c.id))


# -- near-duplicates ------------------------------------------------------------
def text_key(text: str | None) -> str:
    """The text with punctuation, symbols and whitespace stripped, lower-cased."""
    return _STRIP.sub("", (text or "").lower())


def shingles(key: str) -> set[str]:
    return {key[i:i + 3] for i in range(max(1, len(key) - 2))}


def minhash(keys: Sequence[str], perms: int = 32, seed: int = 20240501) -> np.ndarray:
    """(len(keys), perms) MinHash signatures of the keys' character 3-grams, vectorized."""
    codes = np.frombuffer("".join(keys).encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    lengths = np.array([len(k) for k in keys], dtype=np.int64)
    ends = np.cumsum(lengths)
    grams = (codes[:-2] * np.uint64(0x9E3779B1) ^ codes[1:-1] * np.uint64(0x85EBCA77)
             ^ codes[2:] * np.uint64(0xC2B2AE3D)) if len(codes) >= 3 else np.zeros(0, np.uint64)
    valid = np.ones(len(grams), dtype=bool)
    for delta in (1, 2):  # a 3-gram must not cross into the next key
        cut = ends[:-1] - delta
        valid[cut[(cut >= 0) & (cut < len(grams))]] = False
    grams = grams[valid]
    starts = np.concatenate(([0], np.cumsum(lengths - 2)[:-1]))
    rng = np.random.default_rng(seed)
    a = rng.integers(1, 2**63 - 1, size=perms, dtype=np.uint64) | np.uint64(1)
    b = rng.integers(0, 2**63 - 1, size=perms, dtype=np.uint64)
    out = np.empty((len(keys), perms), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for p in range(perms):
            out[:, p] = np.minimum.reduceat((grams * a[p] + b[p]) >> np.uint64(16), starts)
    return out


def near_groups(keys: Sequence[str], threshold: float, bands: int = 8) -> list[list[int]]:
    """Indexes of keys grouped by 3-gram Jaccard >= threshold (LSH candidates, checked exactly)."""
    if len(keys) < 2:
        return []
    sig = minhash(keys, perms=bands * 4)
    parent = list(range(len(keys)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    cache: dict[int, set[str]] = {}

    def similar(i: int, j: int) -> bool:
        si = cache.setdefault(i, shingles(keys[i]))
        sj = cache.setdefault(j, shingles(keys[j]))
        return len(si & sj) >= threshold * len(si | sj)

    rows = 4
    mix = np.array([1, 0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9], dtype=np.uint64)
    for band in range(bands):
        with np.errstate(over="ignore"):
            code = np.bitwise_xor.reduce(sig[:, band * rows:(band + 1) * rows] * mix, axis=1)
        order = np.argsort(code, kind="stable")
        cuts = np.flatnonzero(np.diff(code[order])) + 1
        starts, ends = np.concatenate(([0], cuts)), np.concatenate((cuts, [len(order)]))
        for lo, hi in zip(starts[ends - starts > 1].tolist(), ends[ends - starts > 1].tolist()):
            bucket = order[lo:hi].tolist()
            for prev, j in zip(bucket, bucket[1:]):
                for i in sorted({bucket[0], prev}):
                    if find(i) != find(j) and similar(i, j):
                        parent[find(j)] = find(i)
    groups: dict[int, list[int]] = defaultdict(list)
    for i in range(len(keys)):
        groups[find(i)].append(i)
    return [g for g in groups.values() if len(g) > 1]


def duplicate_candidates(db: sqlite_utils.Database, opts: ClusterOptions, start: str, end: str) -> list[Candidate]:
    """Duplicate clusters among the reviews created in [start, end] (reviews carry their own date)."""
    by_key: dict[str, list[tuple]] = defaultdict(list)
    rows = db.execute(
        "SELECT d.id, d.created_at, d.item_id, d.item_title, d.author, d.text FROM documents d"
        " WHERE d.created_at >= ? AND d.created_at <= ? AND d.kind = 'review'"
        f" AND {NOT_PLACEHOLDER} AND length(d.text) >= ? ORDER BY d.created_at, d.id",
        [start, end, opts.duplicate_min_chars]).fetchall()
    for row in rows:
        key = text_key(row[5])
        if len(key) >= opts.duplicate_min_chars:
            by_key[key].append(row)
    keys = list(by_key)
    if len(keys) > opts.duplicate_max_texts:  # near-identical matching: the most recent texts
        keys = sorted(keys, key=lambda k: (by_key[k][-1][1], k), reverse=True)[:opts.duplicate_max_texts]
    merged = {k: [k] for k in by_key if len(by_key[k]) >= opts.duplicate_min_size}
    for group in near_groups(keys, opts.duplicate_similarity):
        texts = sorted(keys[i] for i in group)
        for k in texts:
            merged.pop(k, None)
        merged[texts[0]] = texts
    candidates = []
    for texts in merged.values():
        members = sorted((r for k in texts for r in by_key[k]), key=lambda r: (r[1], r[0]))
        if len(members) >= opts.duplicate_min_size:
            candidates.append(_duplicate(members, len(texts)))
    return sorted(candidates, key=lambda c: (c.first_seen, c.id))


def _duplicate(rows: list[tuple], texts: int) -> Candidate:
    items = Counter(r[2] or r[3] or "unknown" for r in rows)
    single = rows[-1] if len(items) == 1 else None
    return Candidate(
        id=cluster_id("duplicate", text_key(rows[0][5])), kind="duplicate",
        members=[(r[0], r[1]) for r in rows], severity="low", title=rows[0][5][:30],
        item_id=single[2] if single else None, item_title=single[3] if single else None,
        meta={"distinct_authors": len({r[4] for r in rows if r[4]}), "distinct_texts": texts,
              "items": dict(items.most_common(5))},
    )
