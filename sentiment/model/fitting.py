"""Out-of-core fitting of the adapted models (`training.train_corpus`): memory flat in the number
of training texts.

1. One pass over the texts, chunk by chunk (`corpus.CHUNK`): normalize, segment, extract the
   features, l2-normalize each document over all its features and spill its row to a temporary
   file as (64-bit feature hash, float32 value) pairs. Document frequencies are counted per
   hash in sorted NumPy arrays (16 bytes a distinct feature, not a dict entry and a string);
   a feature's name is written to a names file once, when it is seen in a second document (or
   is one of the lexicon sums): the names of one-off features are never held.
2. The vocabulary is the hashes seen in at least `min_count` documents; a second pass over the
   spill rewrites the rows with int32 column ids and counts each column's documents per class
   (the naive-Bayes ratios).
3. The logistic regression is fitted by L-BFGS (SciPy's, with scikit-learn's objective and
   stopping rule: mean sample-weighted log-loss plus an L2 penalty of 1 / (C * sum of weights),
   unpenalized intercept), each evaluation of the loss and its gradient reading the rows back
   chunk by chunk. The NB scaling multiplies the weights, not a copy of the data.

With `base="builtin"` the shop's texts, the builtin corpus and the lexicon documents are spilled
once and both fits (the shop's texts alone, and with the corpus) read the same rows: the shop's
fit masks the columns its own texts do not reach `min_count` in (scale 0: their weights stay 0).

Memory: a chunk of texts and of rows, about 30 bytes per document (labels, weights, the
per-document terms of the loss), and per distinct feature 16 bytes while counting, then per
vocabulary column about 300 bytes (the L-BFGS history of 10 pairs, NB counts, weights). Disk:
about 20 bytes per feature occurrence in the temporary directory (`tempfile`, so TMPDIR).
"""
from __future__ import annotations

import hashlib
import pickle
import tempfile
from array import array
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from operator import mul
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from sentiment.errors import ModelError
from sentiment.lang.text import normalize
from sentiment.model import features

if TYPE_CHECKING:
    import numpy as np

    from sentiment.lang.segment import Segmenter
    from sentiment.model.corpus import Corpus
    from sentiment.model.training import TrainParams

__all__ = ["OWN", "BASE", "LEXICON", "Source", "Featurized"]

OWN, BASE, LEXICON = 0, 1, 2  # row groups: the shop's texts, the builtin corpus, lexicon documents
ROWS_PER_CHUNK = 5_000  # documents in one chunk of rows on disk
CACHE_BYTES = 128 * 2**20  # rows the loss keeps in memory between evaluations; the rest is re-read
MAX_ITER = 2000  # as training._fit's LogisticRegression(max_iter=2000), with its default tol
TOL = 1e-4


@dataclass(frozen=True)
class Source:
    """Texts for one group of rows; `normalized`: already normalized (the builtin corpus)."""

    corpus: Corpus
    group: int
    normalized: bool = False


def feature_hash(name: str) -> int:
    """A stable 64-bit key of a feature name (the same in every process, unlike `hash`): it
    orders the columns, so that floating-point sums over them are the same in every run."""
    digest = hashlib.blake2b(name.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "little", signed=True)


LENGTH_MIX = 0x9E3779B97F4A7C15 - 2**64  # odd; see `_key`


def _key(name: str) -> int:
    """A feature's id while training: Python's string hash (free for dict keys, whose hash is
    cached; fixed within a process) plus its length times an odd constant, as an int64. The hash
    reads the string's raw buffer, so 爱 (UCS-2 bytes 31 72) and "1r" (Latin-1 31 72) share it;
    their lengths differ. Otherwise 64 bits: odds of about 1e-7 of any collision among millions."""
    return (hash(name) + len(name) * LENGTH_MIX + 2**63) % 2**64 - 2**63


class _Counts:
    """Document frequency per feature id (`_key`), own rows (with the lexicon's) and base rows
    apart, in sorted arrays; `named`: the feature's name has been written."""

    def __init__(self, np: Any) -> None:
        self.np = np
        self.hashes = np.empty(0, np.int64)
        self.own = np.empty(0, np.int32)
        self.base = np.empty(0, np.int32)
        self.named = np.empty(0, bool)

    def add(self, unique: np.ndarray, counts: np.ndarray, base: bool) -> np.ndarray:
        """Count a chunk's distinct hashes; their positions in `hashes`."""
        np = self.np
        pos = np.searchsorted(self.hashes, unique)
        hit = pos < len(self.hashes)
        hit[hit] = self.hashes[pos[hit]] == unique[hit]
        if not hit.all():
            at = pos[~hit]
            self.hashes = np.insert(self.hashes, at, unique[~hit])
            self.own, self.base = np.insert(self.own, at, 0), np.insert(self.base, at, 0)
            self.named = np.insert(self.named, at, False)
            pos = np.searchsorted(self.hashes, unique)
        (self.base if base else self.own)[pos] += counts.astype(np.int32)
        return pos


@dataclass
class _Chunk:
    """The rows being collected: feature hashes, raw values, each row's length and l2 scale, and
    the chunk's feature names (the dict keys, for the names file)."""

    group: int
    hashes: array[int]
    lengths: array[int]
    values: array[float]
    row_nnz: array[int]
    scales: array[float]
    names: dict[str, float]


@dataclass
class _Block:
    """One chunk of rows in a file: where, how many rows and values, its first row, its group."""

    offset: int
    rows: int
    nnz: int
    first: int
    group: int


class _RowFile:
    """Chunks of sparse rows appended to a binary file and read back one at a time: per chunk,
    the int32 row offsets (CSR indptr), then the feature ids, then the float32 values."""

    def __init__(self, path: Path, index_dtype: str, np: Any) -> None:
        self.path, self.index_dtype, self.np = path, index_dtype, np
        self.blocks: list[_Block] = []
        self._out: IO[bytes] | None = path.open("wb")

    def append(self, row_nnz: np.ndarray, index: np.ndarray, values: np.ndarray, first: int, group: int) -> None:
        np = self.np
        assert self._out is not None
        self.blocks.append(_Block(self._out.tell(), len(row_nnz), len(index), first, group))
        indptr = np.zeros(len(row_nnz) + 1, np.int32)
        np.cumsum(row_nnz, out=indptr[1:])
        for part in (indptr, index.astype(self.index_dtype, copy=False), values.astype(np.float32, copy=False)):
            part.tofile(self._out)

    def close(self) -> None:
        if self._out is not None:
            self._out.close()
            self._out = None

    def open(self) -> IO[bytes]:
        self.close()
        return self.path.open("rb")

    def read(self) -> Iterator[tuple[_Block, Any, Any, Any]]:
        """(block, indptr, index, values) of each block, in file order."""
        with self.open() as fh:
            for b in self.blocks:
                yield (b, *self.read_block(fh, b))

    def read_block(self, fh: IO[bytes], b: _Block) -> tuple[Any, Any, Any]:
        np = self.np
        fh.seek(b.offset)
        indptr = np.fromfile(fh, np.int32, b.rows + 1)
        return indptr, np.fromfile(fh, self.index_dtype, b.nnz), np.fromfile(fh, np.float32, b.nnz)


class Featurized:
    """The training rows of one `train_corpus` call, on disk: build with `featurize`, then
    `fit` once per model. Use as a context manager (the temporary directory goes at exit)."""

    def __init__(self, params: TrainParams, lexicon: features.Lexicon, segmenter: Segmenter) -> None:
        import numpy as np

        self.np, self.params, self.lexicon, self.seg = np, params, lexicon, segmenter
        self._tmp = tempfile.TemporaryDirectory(prefix="sentiment-train-")
        tmp = Path(self._tmp.name)
        self._spill = _RowFile(tmp / "spill.bin", "int64", np)
        self._rows = _RowFile(tmp / "rows.bin", "int32", np)
        self._names_path = tmp / "names.pickle"
        self._names = self._names_path.open("wb")
        self._counts: _Counts | None = _Counts(np)
        self._special = np.array(sorted({_key(features.LEX_POS), _key(features.LEX_NEG)}), np.int64)
        self._name_from = max(1, min(params.min_count, 2))  # count at which a feature's name is kept
        self.labels, self.groups, self.plain = array("b"), array("b"), array("b")
        self._chunk: _Chunk | None = None
        self.vocab: Any = None  # the columns' hashes, sorted
        self.column: Any = None  # vocab position -> column (columns in `feature_hash` order)
        self.own_columns: Any = None  # by column: in the fit without the base rows
        self.special: Any = None  # by column: a lexicon sum
        self.present: dict[tuple[int, int], Any] = {}
        self._cache: dict[int, Any] = {}  # block number -> its rows as a float64 CSR matrix
        self._cached = 0  # bytes

    def __enter__(self) -> Featurized:
        return self

    def __exit__(self, *exc: object) -> None:
        self._names.close()
        self._spill.close()
        self._rows.close()
        self._tmp.cleanup()

    # ------------------------------------------------------------ pass 1: texts -> spilled rows

    def featurize(self, sources: Sequence[Source], on_text: Callable[[int, str, int], None],
                  lexicon_docs: tuple[list[features.Features], list[int]]) -> None:
        """Spill the rows of every source (in order), then of `lexicon_docs` (feature dicts and
        labels); `on_text` sees each kept (normalized, non-empty) text with its group and label.
        ModelError when the shop's own texts lack a label."""
        lexicon, seg, chars = self.lexicon, self.seg, self.params.chars
        for source in sources:
            seen: set[int] = set()
            for texts, labels in source.corpus.chunks():
                for raw, label in zip(texts, labels):
                    text = raw if source.normalized else normalize(raw)
                    if not text:
                        continue
                    on_text(source.group, text, label)
                    seen.add(label)
                    self._add(features.extract(seg.cut(text), lexicon, chars), label, source.group)
            self._flush()
            if source.group == OWN and len(seen) < 2:
                raise ModelError("training needs both positive and negative examples")
        for d, label in zip(*lexicon_docs):
            self._add(d, label, LEXICON)
        self._flush()
        self._spill.close()
        self._names.close()
        self._vocabulary()
        self._rewrite()

    def _add(self, d: features.Features, label: int, group: int) -> None:
        chunk = self._chunk
        if chunk is None or group != chunk.group:
            self._flush()
            chunk = self._chunk = _Chunk(group, array("q"), array("q"), array("d"), array("i"), array("d"), {})
        values = d.values()
        if self.params.norm == "l2" and d:
            total = sum(map(mul, values, values))  # in insertion order, as training._CompactDocs
            chunk.scales.append(total ** -0.5 if total > 0 else 1.0)
        else:
            chunk.scales.append(1.0)
        chunk.hashes.extend(map(hash, d))  # typed arrays: 8 bytes a value, not a Python int or float
        chunk.lengths.extend(map(len, d))
        chunk.values.extend(values)
        chunk.names.update(d)
        chunk.row_nnz.append(len(d))
        self.labels.append(1 if label else 0)
        self.groups.append(group)
        self.plain.append(group != LEXICON and features.LEX_POS not in d and features.LEX_NEG not in d)
        if len(chunk.row_nnz) >= ROWS_PER_CHUNK:
            self._flush()

    def _flush(self) -> None:
        """Spill the collected rows (values times their row's scale, in float64, then float32) and
        count their features; write the names of those now seen in enough documents."""
        chunk, np = self._chunk, self.np
        self._chunk = None
        if chunk is None or not chunk.row_nnz:
            return
        h = np.frombuffer(chunk.hashes, np.int64) + np.frombuffer(chunk.lengths, np.int64) * LENGTH_MIX  # `_key`
        row_nnz = np.frombuffer(chunk.row_nnz, np.int32)
        values = np.frombuffer(chunk.values, np.float64) * np.repeat(np.frombuffer(chunk.scales, np.float64), row_nnz)
        self._spill.append(row_nnz, h, values, len(self.labels) - len(row_nnz), chunk.group)
        counts = self._counts
        assert counts is not None
        unique, df = np.unique(h, return_counts=True)  # a document's names are distinct: counts are documents
        pos = counts.add(unique, df, base=chunk.group == BASE)
        new = ~counts.named[pos] & ((counts.own[pos] + counts.base[pos] >= self._name_from)
                                    | np.isin(unique, self._special))
        if new.any():
            counts.named[pos[new]] = True
            names = list(chunk.names)
            keys = np.array(list(map(hash, names)), np.int64) + np.array(list(map(len, names)), np.int64) * LENGTH_MIX
            found = np.flatnonzero(np.isin(keys, unique[new]))
            named = list(zip(keys[found].tolist(), [names[i] for i in found.tolist()]))
            pickle.dump(named, self._names, protocol=pickle.HIGHEST_PROTOCOL)

    def _names_read(self) -> Iterator[tuple[Any, list[str], Any]]:
        """(vocabulary positions, names, found) of each batch in the names file: `found` marks
        the names in the vocabulary (the others were seen in too few documents)."""
        np, vocab = self.np, self.vocab
        with self._names_path.open("rb") as fh:
            while True:
                try:
                    named = pickle.load(fh)
                except EOFError:
                    return
                hashes = np.fromiter((h for h, _ in named), np.int64, len(named))
                pos = np.searchsorted(vocab, hashes)
                found = pos < len(vocab)
                found[found] = vocab[pos[found]] == hashes[found]
                yield pos, [name for _, name in named], found

    # ------------------------------------------------------------ vocabulary, rows with column ids

    def _vocabulary(self) -> None:
        """Columns: the features seen in at least `min_count` documents, and the lexicon sums,
        ordered by `feature_hash` of their names (the same order in every process)."""
        np, counts = self.np, self._counts
        assert counts is not None
        lexicon_sums = np.isin(counts.hashes, self._special)
        mc = self.params.min_count
        keep = (counts.own + counts.base >= mc) | lexicon_sums
        self.vocab = counts.hashes[keep]
        own = ((counts.own >= mc) | lexicon_sums)[keep]
        self._counts = None  # the counts of every distinct feature are no longer needed
        key = np.zeros(len(self.vocab), np.int64)
        special = np.zeros(len(self.vocab), bool)
        for pos, names, found in self._names_read():
            for i in np.flatnonzero(found).tolist():
                key[pos[i]] = feature_hash(names[i])
                special[pos[i]] = names[i].startswith("<")  # as training._fit: no NB scaling
        self.column = np.empty(len(key), np.int64)
        self.column[np.argsort(key, kind="stable")] = np.arange(len(key))
        self.own_columns, self.special = np.empty_like(own), np.empty_like(special)
        self.own_columns[self.column], self.special[self.column] = own, special

    def _rewrite(self) -> None:
        """The spilled rows with column ids (int32), unknown features dropped; NB counts per class."""
        np, vocab, column = self.np, self.vocab, self.column
        n = len(vocab)
        labels = np.frombuffer(self.labels, np.int8)
        self.present = {(g, y): np.zeros(n, np.int64) for g in (OWN, BASE) for y in (0, 1)}
        for b, indptr, hashes, values in self._spill.read():
            pos = np.searchsorted(vocab, hashes)
            ok = pos < n
            ok[ok] = vocab[pos[ok]] == hashes[ok]
            row = np.repeat(np.arange(b.rows), np.diff(indptr))[ok]
            col, values = column[pos[ok]].astype(np.int32), values[ok]
            self._rows.append(np.bincount(row, minlength=b.rows), col, values, b.first, b.group)
            positive = labels[b.first + row] == 1
            present = values > 0
            group = BASE if b.group == BASE else OWN
            self.present[group, 1] += np.bincount(col[present & positive], minlength=n)
            self.present[group, 0] += np.bincount(col[present & ~positive], minlength=n)
        self._rows.close()
        self._spill.path.unlink()

    # ------------------------------------------------------------ fitting

    def fit(self, with_base: bool) -> tuple[np.ndarray, float, np.ndarray]:
        """(weights by column, intercept, which weights to keep: at least `min_weight`, in the
        fit's columns) of the logistic model on the own and lexicon rows, and with `with_base`
        the base rows too: `training._fit`'s model. `named` turns the weights into a dict."""
        np, params = self.np, self.params
        columns = np.ones(len(self.vocab), bool) if with_base else self.own_columns
        groups = frozenset({OWN, BASE, LEXICON} if with_base else {OWN, LEXICON})
        y = np.frombuffer(self.labels, np.int8).astype(np.float64)
        sw = self._sample_weights(groups, y)
        ratios = self._nb_ratios(columns, with_base)
        scale = np.where(self.special, 1.0, np.abs(ratios)) if params.nb else np.ones(len(self.vocab))
        scale[~columns] = 0.0
        coef, intercept = _lbfgs(lambda: self._matrices(groups), y, sw, scale, params.C, np)
        coef = coef * scale + params.nb_interp * ratios
        return coef, intercept, columns & (np.abs(coef) >= params.min_weight)

    def _matrices(self, groups: frozenset[int]) -> Iterator[tuple[_Block, Any]]:
        """The blocks of rows of `groups` as float64 CSR matrices: the first ones, up to
        CACHE_BYTES, kept in memory from one loss evaluation to the next, the others re-read."""
        from scipy import sparse

        np, cache, n = self.np, self._cache, len(self.vocab)
        with self._rows.open() as fh:
            for i, b in enumerate(self._rows.blocks):
                if b.group not in groups:
                    continue
                x = cache.get(i)
                if x is None:
                    indptr, index, values = self._rows.read_block(fh, b)
                    x = sparse.csr_matrix((values.astype(np.float64), index, indptr), shape=(b.rows, n))
                    size = x.data.nbytes + x.indices.nbytes + x.indptr.nbytes
                    if self._cached + size <= CACHE_BYTES:
                        cache[i], self._cached = x, self._cached + size
                yield b, x

    def _sample_weights(self, groups: frozenset[int], y: np.ndarray) -> np.ndarray:
        """Per row: 1, `base_weight` or `lexicon_weight` by group, times `plain_weight` without a
        lexicon hit, 0 outside `groups`; then the classes balanced by total weight."""
        np, params = self.np, self.params
        group = np.frombuffer(self.groups, np.int8)
        sw = np.where(group == BASE, params.base_weight, np.where(group == LEXICON, params.lexicon_weight, 1.0))
        sw = np.where(np.frombuffer(self.plain, np.int8) == 1, sw * params.plain_weight, sw)
        sw[~np.isin(group, list(groups))] = 0.0
        for cls in (0, 1):  # as training._fit, one class after the other
            sw[y == cls] *= sw.sum() / (2 * sw[y == cls].sum())
        return sw

    def _nb_ratios(self, columns: np.ndarray, with_base: bool) -> np.ndarray:
        """`training._nb_ratios` over the fit's rows and columns (0 elsewhere and for the lexicon sums)."""
        np, alpha = self.np, self.params.nb_alpha
        pos = self.present[OWN, 1] + (self.present[BASE, 1] if with_base else 0)
        neg = self.present[OWN, 0] + (self.present[BASE, 0] if with_base else 0)
        pos, neg = pos[columns] + alpha, neg[columns] + alpha
        ratios = np.zeros(len(self.vocab))
        ratios[columns] = np.log((pos / pos.sum()) / (neg / neg.sum()))
        ratios[self.special] = 0.0
        return ratios

    def named(self, coef: np.ndarray, kept: np.ndarray) -> dict[str, float]:
        """{name: weight} of the kept columns, names read back from the names file."""
        out: dict[str, float] = {}
        for pos, names, found in self._names_read():
            for i, c in zip(self.np.flatnonzero(found).tolist(), self.column[pos[found]].tolist()):
                if kept[c]:
                    out[names[i]] = float(coef[c])
        return out


def _lbfgs(matrices: Callable[[], Iterator[tuple[_Block, Any]]], y: Any, sw: Any, scale: Any, C: float, np: Any,
           ) -> tuple[Any, float]:
    """Weights and intercept minimizing scikit-learn's LogisticRegression(C) objective on the rows
    `matrices` yields (block by block, at each evaluation of the loss), columns scaled by `scale`."""
    from scipy import optimize
    from scipy.special import expit

    n = len(scale)
    sw_sum = float(sw.sum())
    l2 = 1.0 / (C * sw_sum)

    def loss_grad(wb: Any) -> tuple[float, Any]:
        w, b = wb[:-1], wb[-1]
        ws = scale * w
        grad_x = np.zeros(n)
        loss = grad_b = 0.0
        for block, x in matrices():
            z = x @ ws + b
            part = slice(block.first, block.first + block.rows)
            yc, swc = y[part], sw[part]
            loss += float(swc @ (np.logaddexp(0.0, z) - yc * z))
            g = swc * (expit(z) - yc)
            grad_x += x.T @ g
            grad_b += float(g.sum())
        grad = np.empty(n + 1)
        grad[:n] = scale * grad_x / sw_sum + l2 * w
        grad[n] = grad_b / sw_sum
        return loss / sw_sum + 0.5 * l2 * float(w @ w), grad

    result = optimize.minimize(loss_grad, np.zeros(n + 1), method="L-BFGS-B", jac=True,
                               options={"maxiter": MAX_ITER, "maxls": 50, "gtol": TOL,
                                        "ftol": 64 * np.finfo(float).eps})
    return result.x[:n], float(result.x[n])
