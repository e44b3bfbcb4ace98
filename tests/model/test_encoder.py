"""The optional pretrained encoder: BERT's tokenizer and forward pass in NumPy against what
Hugging Face transformers gave for the same texts (tests/data/tiny_bert: a randomly
initialised 2-layer BERT saved by transformers 5.24, both weight formats, and
reference.json with transformers' token ids and mean-pooled last hidden states), the
weight readers' refusals, and models trained with an encoder: save and load, a changed or
missing encoder, batched scoring equal to one by one, and the CLI."""
from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import pickle
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest

from sentiment.model import encoder as enc
from sentiment.model.encoder import Encoder, load_tensors
from sentiment.errors import ModelError
from sentiment.model.linear import Model
from sentiment.model.training import _own_reviews, evaluate, train
from sentiment.resources import rules_dir
from sentiment.lang.text import normalize

TINY = Path(__file__).resolve().parent.parent / "data" / "tiny_bert"
REFERENCE = json.loads((TINY / "reference.json").read_text(encoding="utf-8"))


def _copy(tmp_path: Path, drop: tuple[str, ...] = ()) -> Path:
    target = tmp_path / "encoder"
    shutil.copytree(TINY, target)
    for name in drop:
        (target / name).unlink()
    return target


def _unit(rows: list[list[float]]) -> np.ndarray:
    a = np.asarray(rows, dtype=np.float32)
    return a / np.linalg.norm(a, axis=1, keepdims=True)


# --- tokenizer and network -------------------------------------------------------------------------


@pytest.mark.parametrize("vocab_file", ["vocab.txt", "tokenizer.json"])
def test_token_ids_match_transformers(tmp_path, vocab_file):
    """CJK characters alone, lower-cased ASCII words in word pieces (GOOD goods -> good, good ##s),
    accents stripped (CAFÉ -> caf ##e), emoji and unknown words as [UNK], control characters and
    zero-width spaces dropped, truncation at max_tokens with [SEP] kept."""
    other = "tokenizer.json" if vocab_file == "vocab.txt" else "vocab.txt"
    tokenizer = Encoder(_copy(tmp_path, drop=(other,))).tokenizer
    ids = [tokenizer.encode(t, REFERENCE["max_tokens"]) for t in REFERENCE["texts"]]
    assert ids == REFERENCE["ids"]
    assert len(ids[REFERENCE["texts"].index("一" * 100)]) == REFERENCE["max_tokens"]


@pytest.mark.parametrize("weights", ["model.safetensors", "pytorch_model.bin"])
def test_vectors_match_transformers(tmp_path, monkeypatch, weights):
    drop = tuple(n for n in ("model.safetensors", "pytorch_model.bin") if n != weights)
    monkeypatch.setattr(enc, "MAX_TOKENS", REFERENCE["max_tokens"])
    monkeypatch.setattr(enc, "BATCH", 4)  # several batches of different widths, with padding
    vectors = Encoder(_copy(tmp_path, drop=drop)).encode(REFERENCE["texts"])
    np.testing.assert_allclose(vectors, _unit(REFERENCE["embeddings"]), atol=2e-6)


def test_gelu_is_exact():
    from scipy.special import erf

    x = np.linspace(-9, 9, 200_001, dtype=np.float32)
    exact = 0.5 * x.astype(np.float64) * (1 + erf(x.astype(np.float64) / np.sqrt(2)))
    np.testing.assert_allclose(enc._gelu(x.copy(), block=4096), exact, atol=1e-6)


def test_both_weight_files_hold_the_same_tensors():
    (safe, safe_sha), (torch_bin, bin_sha) = load_tensors(TINY / "model.safetensors"), load_tensors(TINY / "pytorch_model.bin")
    assert safe_sha == hashlib.sha256((TINY / "model.safetensors").read_bytes()).hexdigest() != bin_sha
    assert safe.keys() == torch_bin.keys() and len(safe) > 30
    for name in safe:
        np.testing.assert_array_equal(safe[name], torch_bin[name])


class _Exploit:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # unpickling this would create the marker file
        return (shutil.copyfile, (str(TINY / "config.json"), str(self.marker)))


def test_torch_bin_with_code_is_refused(tmp_path):
    """A .bin file is a pickle: one naming anything but tensors and storages never runs."""
    marker = tmp_path / "pwned"
    path = _copy(tmp_path, drop=("model.safetensors",))
    with zipfile.ZipFile(path / "pytorch_model.bin", "w") as archive:
        archive.writestr("archive/data.pkl", pickle.dumps({"x": _Exploit(marker)}, protocol=4))
    with pytest.raises(ModelError, match=r"not a readable PyTorch weights file .*refusing to load shutil\.copyfile"):
        Encoder(path)
    assert not marker.exists()
    pickle.loads(pickle.dumps(_Exploit(marker)))  # the exploit is real: plain pickle runs it
    assert marker.exists()


def test_torch_bin_tensor_outside_its_storage_is_refused(tmp_path, monkeypatch):
    """A tensor whose size and stride reach past its storage would make NumPy read foreign memory."""
    import collections
    import sys
    import types

    torch, utils = types.ModuleType("torch"), types.ModuleType("torch._utils")

    class FloatStorage:  # only pickled by name
        pass

    def _rebuild_tensor_v2(*args):
        raise AssertionError("never called: this only names the function for pickle")

    FloatStorage.__module__, _rebuild_tensor_v2.__module__ = "torch", "torch._utils"
    FloatStorage.__qualname__, _rebuild_tensor_v2.__qualname__ = "FloatStorage", "_rebuild_tensor_v2"
    torch.FloatStorage, utils._rebuild_tensor_v2 = FloatStorage, _rebuild_tensor_v2
    monkeypatch.setitem(sys.modules, "torch", torch)
    monkeypatch.setitem(sys.modules, "torch._utils", utils)

    class Storage:
        pass

    class Tensor:
        def __init__(self, size, stride):
            self.size, self.stride = size, stride

        def __reduce__(self):
            return (_rebuild_tensor_v2, (Storage(), 0, self.size, self.stride, False, collections.OrderedDict()))

    class Writer(pickle.Pickler):
        def persistent_id(self, obj):
            return ("storage", FloatStorage, "0", "cpu", 4) if isinstance(obj, Storage) else None

    for size, stride, ok in [((4,), (1,), True), ((2, 2), (2, 1), True), ((1000,), (1,), False),
                             ((2, 2), (1, 1000), False), ((4,), (-1,), False)]:
        buffer = io.BytesIO()
        Writer(buffer, protocol=2).dump(collections.OrderedDict(w=Tensor(size, stride)))
        path = tmp_path / "pytorch_model.bin"
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("archive/data.pkl", buffer.getvalue())
            archive.writestr("archive/data/0", np.arange(4, dtype=np.float32).tobytes())
        if ok:
            np.testing.assert_array_equal(load_tensors(path)[0]["w"], np.arange(4, dtype=np.float32).reshape(size))
        else:
            with pytest.raises(ModelError, match="not a readable PyTorch weights file .*(outside its storage|negative)"):
                load_tensors(path)


@pytest.mark.parametrize("breakage, message", [
    ("no-dir", "no encoder directory there"),
    ("no-weights", r"no encoder weights \(model\.safetensors or pytorch_model\.bin\)"),
    ("no-vocab", r"no encoder vocabulary \(vocab\.txt or tokenizer\.json\)"),
    ("no-config", "no encoder config.json"),
    ("truncated", "not a readable safetensors file"),
    ("roberta", "a 'roberta' model; only BERT encoders are supported"),
    ("hidden", r"weights do not match config\.json"),
    ("no-unk", r"the encoder's vocabulary has no \[UNK\] token"),
    ("big-vocab", r"its vocabulary has more tokens than its weights \(446 embeddings\)"),
])
def test_broken_encoder_directories_are_clean_errors(tmp_path, breakage, message):
    path = _copy(tmp_path, drop=("pytorch_model.bin", "tokenizer.json"))
    if breakage == "no-dir":
        shutil.rmtree(path)
    elif breakage == "no-weights":
        (path / "model.safetensors").unlink()
    elif breakage == "no-vocab":
        (path / "vocab.txt").unlink()
    elif breakage == "no-config":
        (path / "config.json").unlink()
    elif breakage == "truncated":
        data = (path / "model.safetensors").read_bytes()
        (path / "model.safetensors").write_bytes(data[:len(data) // 2])
    elif breakage in ("roberta", "hidden"):
        config = json.loads((path / "config.json").read_text(encoding="utf-8"))
        config.update({"model_type": "roberta"} if breakage == "roberta" else {"hidden_size": 64, "num_attention_heads": 4})
        (path / "config.json").write_text(json.dumps(config), encoding="utf-8")
    elif breakage == "big-vocab":
        with (path / "vocab.txt").open("a", encoding="utf-8") as fh:
            fh.write("新词\n")
    else:
        vocab = (path / "vocab.txt").read_text(encoding="utf-8").replace("[UNK]\n", "[UNKNOWN]\n")
        (path / "vocab.txt").write_text(vocab, encoding="utf-8")
    with pytest.raises(ModelError, match=message):
        Encoder(path)


# --- models with an encoder ------------------------------------------------------------------------


def _examples(per_label: int = 40) -> tuple[list[str], list[int]]:
    reviews = _own_reviews(rules_dir() / "reviews.txt")
    pos = [t for t, lab in reviews if lab == 1][:per_label]
    neg = [t for t, lab in reviews if lab == 0][:per_label]
    return pos + neg, [1] * len(pos) + [0] * len(neg)


@pytest.fixture(scope="module")
def encoder_model(tmp_path_factory):
    folder = tmp_path_factory.mktemp("enc")
    path = folder / "encoder"
    shutil.copytree(TINY, path)
    texts, labels = _examples()
    model = train(texts, labels, base="none", encoder=path)
    plain = train(texts, labels, base="none")
    out = folder / "shop.json.gz"
    model.save(out)
    return model, plain, out, path


def test_encoder_model_round_trip(encoder_model):
    model, plain, out, path = encoder_model
    assert model.version.startswith(plain.version + "-enc-")
    assert model.weights == plain.weights and model.bias == plain.bias  # the same bag-of-words part
    with gzip.open(out, "rt", encoding="utf-8") as fh:
        saved = json.load(fh)
    assert saved["format"] == 2
    assert saved["encoder"]["path"] == "encoder"  # beside the model file: relative
    assert len(saved["encoder"]["weights"]) == 32 and len(saved["encoder"]["mix"]) == 3
    loaded = Model.load(out)
    texts = [normalize(t) for t in ("质量很好，物流也快", "用了两天就坏了，差评", "还行吧")]
    for text in texts:
        p = model.score(text)[0]
        assert loaded.score(text)[0] == pytest.approx(p, abs=1e-4)  # saved weights are rounded
        tokens = model.segmenter.cut(text)
        head = model.head
        expected = head.combine(model.logit_tokens(tokens), float(head.logits([text])[0]))
        assert p == pytest.approx(1 / (1 + np.exp(-expected)), abs=1e-6)
        assert p != pytest.approx(plain.score(text)[0], abs=1e-4)  # the encoder part counts


def test_encoder_model_evaluates(encoder_model):
    model, _, _, _ = encoder_model
    texts, labels = _examples()
    metrics = evaluate(model, texts, labels)
    assert set(metrics) == {"n", "accuracy", "macro_f1", "neg_precision", "neg_recall", "texts_per_s"}
    assert metrics["n"] == len(texts) and metrics["accuracy"] > 0.8  # its own training texts
    assert not model._primed  # every primed text was scored


def test_encoder_path_is_relative_only_beside_the_model(encoder_model, tmp_path):
    """A model saved beside its encoder directory moves with it; saved elsewhere, it keeps
    the encoder's absolute path and still finds it."""
    model, _, out, path = encoder_model
    text = normalize("质量很好，物流也快")
    moved = tmp_path / "moved"
    shutil.copytree(out.parent, moved)
    loaded = Model.load(moved / out.name)
    assert loaded.head.encoder.path == moved / "encoder"
    assert loaded.score(text)[0] == pytest.approx(model.score(text)[0], abs=1e-4)
    elsewhere = tmp_path / "models" / "shop.json.gz"
    Model.load(out).save(elsewhere)  # not the shared fixture's model: save() records its path
    saved = json.loads(gzip.decompress(elsewhere.read_bytes()))
    assert saved["encoder"]["path"] == str(path.resolve())
    assert Model.load(elsewhere).head.encoder.path == path.resolve()


def test_changed_or_missing_encoder_is_refused(encoder_model, tmp_path):
    _, _, out, path = encoder_model
    data = json.loads(gzip.decompress(out.read_bytes()))
    moved = tmp_path / "other"
    shutil.copytree(path, moved)
    weights, _ = load_tensors(moved / "model.safetensors")
    weights["embeddings.word_embeddings.weight"] = weights["embeddings.word_embeddings.weight"] * 1.01
    _write_safetensors(moved / "model.safetensors", weights)
    data["encoder"]["path"] = str(moved)
    changed = tmp_path / "changed.json.gz"
    changed.write_bytes(gzip.compress(json.dumps(data).encode()))
    with pytest.raises(ModelError, match=r"changed\.json\.gz: the encoder at .*other is not the one it was trained with"):
        Model.load(changed)
    data["encoder"]["path"] = str(tmp_path / "gone")
    changed.write_bytes(gzip.compress(json.dumps(data).encode()))
    with pytest.raises(ModelError, match=r"its encoder cannot be loaded: .*gone: no encoder directory there"):
        Model.load(changed)
    del data["encoder"]
    changed.write_bytes(gzip.compress(json.dumps(data).encode()))
    with pytest.raises(ModelError, match="format 2 without its encoder"):
        Model.load(changed)


def _write_safetensors(path: Path, tensors: dict[str, np.ndarray]) -> None:
    header, blobs, offset = {}, [], 0
    for name, array in tensors.items():
        raw = np.ascontiguousarray(array, dtype=np.float32).tobytes()
        header[name] = {"dtype": "F32", "shape": list(array.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    head = json.dumps(header).encode()
    path.write_bytes(len(head).to_bytes(8, "little") + head + b"".join(blobs))


def test_batched_analysis_scores_as_one_by_one(encoder_model):
    """Ingest and rescan run the encoder over a batch first; the scores are those of single texts."""
    from sentiment.pipeline.analysis import Pipeline

    model, _, _, _ = encoder_model
    pipeline = Pipeline(model, None)
    texts = ["质量很好，物流也快", "用了两天就坏了，差评", "还行吧", "好评", "", "收到了，还没用",
             "一" * 300, "包装破损，东西洒了一地😡", "质量很好，物流也快。用了两天就坏了，差评！" * 10]
    docs = [{"id": str(i), "text": normalize(t), "kind": "review", "created_at": "2026-01-01"} for i, t in enumerate(texts)]
    rows, _ = pipeline.analysis_rows(docs, "2026-12-02T00:00:00Z")
    assert not model._primed
    single = [pipeline.analyze(t).score for t in texts]
    for row, expected in zip(rows, single):
        assert (row["score"] is None) == (expected is None)
        if expected is not None:
            assert row["score"] == pytest.approx(expected, abs=1e-6)


def test_too_few_examples_for_an_encoder(tmp_path):
    texts, labels = _examples(per_label=3)
    with pytest.raises(ModelError, match="at least 4 examples of each label"):
        train(texts, labels, base="none", encoder=_copy(tmp_path))


# --- CLI -------------------------------------------------------------------------------------------


def test_cli_trains_and_scores_with_an_encoder(run_cli, tmp_path):
    texts, labels = _examples()
    labeled = tmp_path / "labeled.csv"
    with labeled.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["text", "label"])
        writer.writerows(zip(texts, labels))
    path = _copy(tmp_path)
    out = tmp_path / "shop.json.gz"
    result, report = run_cli.json("model", "train", "--labeled", labeled, "--base", "none",
                                  "--encoder", path, "--out", out)
    assert result.exit_code == 0, result.output
    assert "-enc-" in report["version"] and out.exists()
    (tmp_path / "sentiment.toml").write_text(f'[model]\npath = "{out}"\n', encoding="utf-8")
    result = run_cli("score", "--json", "质量很好，物流也快", "用了两天就坏了")
    assert result.exit_code == 0, result.output
    scores = [json.loads(line)["score"] for line in result.stdout.splitlines()]
    model = Model.load(out)
    assert scores == [pytest.approx(model.score(normalize(t))[0], abs=1e-3)
                      for t in ("质量很好，物流也快", "用了两天就坏了")]
    result, metrics = run_cli.json("model", "evaluate", labeled, "--model", out)
    assert metrics["n"] == len(texts)


def test_cli_encoder_errors(run_cli, tmp_path):
    result = run_cli("model", "train", "--builtin", "--encoder", _copy(tmp_path))
    assert result.exit_code == 2 and "--encoder adapts a shop's model" in result.stderr
    labeled = tmp_path / "labeled.csv"
    labeled.write_text("text,label\n好,1\n差,0\n", encoding="utf-8")
    result = run_cli("model", "train", "--labeled", labeled, "--encoder", tmp_path / "nowhere")
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: ") and "nowhere: no encoder directory there" in result.stderr



def test_rescan_with_an_encoder_model(run_cli, db_path, tmp_path, encoder_model):
    """Ingested under the default model, rescanned under an encoder model: every stored score is
    the encoder model's score of that text (the rescan runs the encoder over each chunk first)."""
    import sqlite_utils

    from sentiment.pipeline.analysis import Pipeline

    model, _, out, _ = encoder_model
    texts = ["拉链用了两天就坏了", "质量很好，物流也快", "还行吧，一般般", "发霉了，吃了拉肚子", "好评"]
    export = tmp_path / "reviews.csv"
    export.write_text("评论ID,商品ID,评论内容,日期\n" + "\n".join(
        f"{900 + i},A,{t} 第{i}件,2026-11-2{i} 10:00:00" for i, t in enumerate(texts)) + "\n", encoding="utf-8")
    assert run_cli("ingest", export).exit_code == 0
    (tmp_path / "sentiment.toml").write_text(f'[model]\npath = "{out}"\n', encoding="utf-8")
    result = run_cli("rescan", "--json")
    assert result.exit_code == 0, result.stderr
    db = sqlite_utils.Database(db_path)
    rows = list(db.query("SELECT d.text, a.score, a.model_version FROM documents d JOIN analyses a"
                         " ON a.document_id = d.id"))
    assert len(rows) == len(texts)
    pipeline = Pipeline(model, None)
    for row in rows:
        assert row["model_version"] == model.version
        assert row["score"] == pytest.approx(pipeline.analyze(row["text"], normalized=True).score, abs=1e-3)


def test_worker_processes_score_with_the_encoder(tmp_path, encoder_model):
    """`ingest --jobs 2` loads the encoder model in each spawned worker: it stores the scores the
    ingest process stores by itself."""
    import sqlite_utils
    from conftest import TABULAR, CliCall

    exports = [TABULAR / "评论数据_20240510.csv", TABULAR / "问大家_752102501302.csv", TABULAR / "merged_followup.csv"]
    _, _, out, _ = encoder_model
    (tmp_path / "sentiment.toml").write_text(f'[model]\npath = "{out}"\n', encoding="utf-8")
    stored = []
    for jobs in ("0", "2"):
        db = tmp_path / f"jobs{jobs}.db"
        result = CliCall(db)("ingest", "--jobs", jobs, *exports)
        assert result.exit_code == 0, result.stderr
        conn = sqlite_utils.Database(db)
        stored.append(conn.execute("SELECT document_id, score, model_version FROM analyses"
                                   " ORDER BY document_id").fetchall())
        conn.conn.close()
    inline, pooled = stored
    assert len(inline) > 20 and {v for _, _, v in inline} == {Model.load(out).version}
    assert [(d, v) for d, _, v in pooled] == [(d, v) for d, _, v in inline]
    for (_, a, _), (_, b, _) in zip(pooled, inline):
        assert (a is None) == (b is None) and (a is None or a == pytest.approx(b, abs=1e-6))
