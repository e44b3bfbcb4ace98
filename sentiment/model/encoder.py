"""An optional pretrained text encoder (a BERT-style model directory) run with NumPy.

An adapted model may add a logistic regression on an encoder's mean-pooled sentence
vectors to its own logit (`sentiment model train ... --encoder DIR`). The directory is
what Hugging Face's `save_pretrained` writes for a BERT model: `config.json`, the
vocabulary (`vocab.txt` or `tokenizer.json`) and the weights (`model.safetensors` or
`pytorch_model.bin`). No PyTorch is needed: the forward pass is a few NumPy matrix
products, and a `.bin` file is read as the zip of pickled tensors it is, without
running any of the pickle's code.

Nothing ships with the package: a shop brings an encoder whose licence suits it
(BAAI's bge-small-zh, MIT, is one; m3e-small, which our benchmark used, is for research only).
"""
from __future__ import annotations

import hashlib
import io
import json
import math
import pickle
import struct
import unicodedata
import zipfile
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from sentiment.errors import ModelError

MAX_TOKENS = 160     # longer texts are cut (review texts are rarely longer), as are texts
                     # longer than the encoder's position table
BATCH = 64           # texts per forward pass (sorted by length, so little padding)
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")


class Encoder:
    """Mean-pooled, L2-normalized sentence vectors of a BERT model directory."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        if not self.path.is_dir():
            raise ModelError(f"{self.path}: no encoder directory there")
        self.config = _read_config(self.path / "config.json")
        self.tokenizer = WordPiece.from_dir(self.path)
        weights_file = next((self.path / n for n in WEIGHT_FILES if (self.path / n).is_file()), None)
        if weights_file is None:
            raise ModelError(f"{self.path}: no encoder weights ({' or '.join(WEIGHT_FILES)})")
        tensors, self.fingerprint = load_tensors(weights_file)
        self._bert = _Bert(tensors, self.config, weights_file)
        self.dim = self._bert.hidden
        if max(self.tokenizer.vocab.values()) >= len(self._bert.word):
            raise ModelError(f"{self.path}: its vocabulary has more tokens than its weights"
                             f" ({len(self._bert.word)} embeddings)")

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """An (n, dim) float32 array: one unit-length vector per text."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        longest = min(MAX_TOKENS, self._bert.position.shape[0])
        ids = [self.tokenizer.encode(t, longest) for t in texts]
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        for start in range(0, len(order), BATCH):
            chunk = order[start:start + BATCH]
            width = max(len(ids[i]) for i in chunk)
            batch = np.zeros((len(chunk), width), dtype=np.int64)
            mask = np.zeros((len(chunk), width), dtype=np.float32)
            for row, i in enumerate(chunk):
                batch[row, :len(ids[i])] = ids[i]
                mask[row, :len(ids[i])] = 1.0
            out[chunk] = self._bert.pooled(batch, mask)
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.where(norms > 0, norms, 1.0)


# ---------------------------------------------------------------- tokenizer


class WordPiece:
    """BERT's tokenizer: basic splitting (each CJK character alone, punctuation apart,
    optional lower-casing without accents), then greedy longest-match word pieces."""

    def __init__(self, vocab: dict[str, int], lowercase: bool = True) -> None:
        self.vocab = vocab
        self.lowercase = lowercase
        try:
            self.unk, self.cls, self.sep = vocab["[UNK]"], vocab["[CLS]"], vocab["[SEP]"]
        except KeyError as exc:
            raise ModelError(f"the encoder's vocabulary has no {exc.args[0]} token") from None

    @classmethod
    def from_dir(cls, path: Path) -> WordPiece:
        lowercase = True
        config = path / "tokenizer_config.json"
        if config.is_file():
            lowercase = bool(_read_json(config).get("do_lower_case", True))
        if (path / "vocab.txt").is_file():
            lines = (path / "vocab.txt").read_text(encoding="utf-8").split("\n")
            if lines and lines[-1] == "":
                lines.pop()
            return cls({tok: i for i, tok in enumerate(lines)}, lowercase)
        if (path / "tokenizer.json").is_file():
            spec = _read_json(path / "tokenizer.json")
            try:
                model = spec["model"]
                if model.get("type", "WordPiece") != "WordPiece":
                    raise ModelError(f"{path / 'tokenizer.json'}: a {model.get('type')} tokenizer, not WordPiece")
                normalizer = spec.get("normalizer") or {}
                if normalizer.get("type") == "BertNormalizer":
                    lowercase = bool(normalizer.get("lowercase", lowercase))
                return cls({str(k): int(v) for k, v in model["vocab"].items()}, lowercase)
            except (KeyError, TypeError, AttributeError, ValueError) as exc:
                raise ModelError(f"{path / 'tokenizer.json'}: not a WordPiece tokenizer ({exc})") from None
        raise ModelError(f"{path}: no encoder vocabulary (vocab.txt or tokenizer.json)")

    def encode(self, text: str, max_tokens: int) -> list[int]:
        ids = [self.cls]
        for word in self._basic(text):
            ids.extend(self._pieces(word))
            if len(ids) >= max_tokens - 1:
                del ids[max_tokens - 1:]
                break
        ids.append(self.sep)
        return ids

    def _basic(self, text: str) -> list[str]:
        chars = []
        for ch in text:
            cp = ord(ch)
            if cp == 0 or cp == 0xFFFD or _is_control(ch):
                continue
            if _is_whitespace(ch):
                chars.append(" ")
            elif _is_cjk(cp):
                chars.extend((" ", ch, " "))
            else:
                chars.append(ch)
        words = []
        for word in "".join(chars).split():
            if self.lowercase:
                word = "".join(c for c in unicodedata.normalize("NFD", word.lower())
                               if unicodedata.category(c) != "Mn")
            current = ""
            for ch in word:
                if _is_punctuation(ch):
                    if current:
                        words.append(current)
                        current = ""
                    words.append(ch)
                else:
                    current += ch
            if current:
                words.append(current)
        return words

    def _pieces(self, word: str) -> list[int]:
        if len(word) > 100:
            return [self.unk]
        out, start = [], 0
        while start < len(word):
            end = len(word)
            while end > start:
                piece = word[start:end] if start == 0 else "##" + word[start:end]
                found = self.vocab.get(piece)
                if found is not None:
                    out.append(found)
                    break
                end -= 1
            else:
                return [self.unk]
            start = end
        return out


def _is_whitespace(ch: str) -> bool:
    return ch in " \t\n\r" or unicodedata.category(ch) == "Zs"


def _is_control(ch: str) -> bool:
    return ch not in "\t\n\r" and unicodedata.category(ch) in ("Cc", "Cf")


def _is_punctuation(ch: str) -> bool:
    cp = ord(ch)
    return 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126 \
        or unicodedata.category(ch).startswith("P")


def _is_cjk(cp: int) -> bool:
    return (0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or 0x20000 <= cp <= 0x2A6DF
            or 0x2A700 <= cp <= 0x2B73F or 0x2B740 <= cp <= 0x2B81F or 0x2B820 <= cp <= 0x2CEAF
            or 0xF900 <= cp <= 0xFAFF or 0x2F800 <= cp <= 0x2FA1F)


# ---------------------------------------------------------------- the network


class _Bert:
    """BertModel's forward pass (absolute positions, post-layer-norm, exact GELU)."""

    def __init__(self, tensors: dict[str, np.ndarray], config: dict[str, Any], source: Path) -> None:
        prefix = "bert." if any(k.startswith("bert.") for k in tensors) else ""

        def get(name: str) -> np.ndarray:
            for key in (prefix + name, prefix + name.replace("LayerNorm.weight", "LayerNorm.gamma")
                        .replace("LayerNorm.bias", "LayerNorm.beta")):
                if key in tensors:
                    return np.ascontiguousarray(tensors[key], dtype=np.float32)
            raise ModelError(f"{source}: no tensor {prefix + name} (not a BERT model)")

        try:
            self.hidden = int(config["hidden_size"])
            self.heads = int(config["num_attention_heads"])
            layers = int(config["num_hidden_layers"])
            self.eps = float(config.get("layer_norm_eps", 1e-12))
            act = config.get("hidden_act", "gelu")
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(f"{source.parent / 'config.json'}: not a BERT config ({exc})") from None
        if act != "gelu" or config.get("position_embedding_type", "absolute") != "absolute":
            raise ModelError(f"{source.parent / 'config.json'}: unsupported BERT variant"
                             f" (hidden_act {act!r}, position_embedding_type"
                             f" {config.get('position_embedding_type')!r})")
        self.word = get("embeddings.word_embeddings.weight")
        self.position = get("embeddings.position_embeddings.weight")
        self.token_type = get("embeddings.token_type_embeddings.weight")[0]
        self.emb_norm = (get("embeddings.LayerNorm.weight"), get("embeddings.LayerNorm.bias"))
        self.layers = []
        for i in range(layers):
            p = f"encoder.layer.{i}."
            qkv_w = np.concatenate([get(p + f"attention.self.{n}.weight") for n in ("query", "key", "value")])
            qkv_b = np.concatenate([get(p + f"attention.self.{n}.bias") for n in ("query", "key", "value")])
            self.layers.append((
                np.ascontiguousarray(qkv_w.T), qkv_b,
                np.ascontiguousarray(get(p + "attention.output.dense.weight").T), get(p + "attention.output.dense.bias"),
                (get(p + "attention.output.LayerNorm.weight"), get(p + "attention.output.LayerNorm.bias")),
                np.ascontiguousarray(get(p + "intermediate.dense.weight").T), get(p + "intermediate.dense.bias"),
                np.ascontiguousarray(get(p + "output.dense.weight").T), get(p + "output.dense.bias"),
                (get(p + "output.LayerNorm.weight"), get(p + "output.LayerNorm.bias")),
            ))
        if self.word.shape[1] != self.hidden or self.hidden % self.heads:
            raise ModelError(f"{source}: weights do not match config.json (hidden size {self.hidden})")

    def _norm(self, x: np.ndarray, params: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
        x -= x.mean(-1, keepdims=True)
        scale = np.sqrt(np.einsum("ij,ij->i", x, x)[:, None] / np.float32(x.shape[-1]) + np.float32(self.eps))
        x /= scale
        x *= params[0]
        x += params[1]
        return x

    def pooled(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Mean of the last hidden states over the unmasked positions."""
        n, width = ids.shape
        if width > self.position.shape[0]:
            raise ModelError(f"texts of {width} tokens are longer than the encoder's {self.position.shape[0]}")
        # (n * width, hidden) rows: one 2-D matrix product per layer is faster than a stacked one
        x = self._norm(self.word[ids.ravel()] + np.tile(self.position[:width], (n, 1)) + self.token_type,
                       self.emb_norm)
        d = self.hidden // self.heads
        attend = ((1.0 - mask) * np.float32(-1e9))[:, None, None, :]
        for qkv_w, qkv_b, out_w, out_b, norm1, in_w, in_b, ff_w, ff_b, norm2 in self.layers:
            qkv = x @ qkv_w
            qkv += qkv_b
            qkv = qkv.reshape(n, width, 3, self.heads, d).transpose(2, 0, 3, 1, 4)
            scores = qkv[0] @ qkv[1].transpose(0, 1, 3, 2)
            scores *= np.float32(1.0 / math.sqrt(d))
            scores += attend
            scores -= scores.max(-1, keepdims=True)
            np.exp(scores, out=scores)
            scores /= scores.sum(-1, keepdims=True)
            context = (scores @ qkv[2]).transpose(0, 2, 1, 3).reshape(n * width, self.hidden)
            y = context @ out_w
            y += out_b
            y += x
            x = self._norm(y, norm1)
            h = x @ in_w
            h += in_b
            _gelu(h)
            y = h @ ff_w
            y += ff_b
            y += x
            x = self._norm(y, norm2)
        m = mask.reshape(n, width, 1)
        return (x.reshape(n, width, self.hidden) * m).sum(1) / m.sum(1)


def _gelu(h: np.ndarray, block: int = 1 << 16) -> np.ndarray:
    """BERT's exact GELU, x * (1 + erf(x / sqrt 2)) / 2, in place. erf is Abramowitz and
    Stegun 7.1.26 (error under 1.5e-7), computed in cache-sized blocks with no temporaries
    the size of `h`: three times faster than whole-array NumPy and ten times scipy's erf."""
    flat = h.reshape(-1)
    for start in range(0, flat.size, block):
        x = flat[start:start + block]
        a = np.abs(x)
        a *= np.float32(1.0 / math.sqrt(2.0))
        t = a * np.float32(0.3275911)
        t += 1.0
        np.reciprocal(t, out=t)
        p = t * np.float32(1.061405429)
        for c in (-1.453152027, 1.421413741, -0.284496736, 0.254829592):
            p += np.float32(c)
            p *= t
        a *= a
        np.negative(a, out=a)
        np.exp(a, out=a)
        p *= a                      # 1 - erf(|x| / sqrt 2)
        np.subtract(1.0, p, out=p)  # erf(|x| / sqrt 2)
        np.copysign(p, x, out=p)
        p += 1.0
        p *= 0.5
        x *= p
    return h


# ---------------------------------------------------------------- weight files


_DTYPES = {"F32": np.float32, "F16": np.float16, "BF16": None, "F64": np.float64, "I64": np.int64}


def load_tensors(path: Path) -> tuple[dict[str, np.ndarray], str]:
    """The tensors of a weights file (by its suffix: safetensors, else a PyTorch zip
    checkpoint) and the file's sha256, from one read of it."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ModelError(f"{path}: cannot read the encoder weights ({exc.strerror})") from None
    digest = hashlib.sha256(raw).hexdigest()
    return (_safetensors(raw, path) if path.suffix == ".safetensors" else _torch_zip(raw, path)), digest


def _safetensors(raw: bytes, path: Path) -> dict[str, np.ndarray]:
    """8-byte header size, JSON header, raw data (tensors are views of `raw`, not copies)."""
    try:
        (size,) = struct.unpack("<Q", raw[:8])
        header = json.loads(raw[8:8 + size])
        data = memoryview(raw)[8 + size:]
        out = {}
        for name, spec in header.items():
            if name == "__metadata__":
                continue
            begin, end = spec["data_offsets"]
            if not 0 <= begin <= end <= len(data):
                raise ValueError(f"tensor {name} lies outside the file")
            out[name] = _array(data[begin:end], spec["dtype"], spec["shape"])
        return out
    except (struct.error, ValueError, KeyError, TypeError) as exc:
        raise ModelError(f"{path}: not a readable safetensors file ({exc})") from None


def _array(data: bytes | memoryview, dtype: str, shape: list[int]) -> np.ndarray:
    if dtype == "BF16":  # the top half of a float32
        halves = np.frombuffer(data, dtype=np.uint16).astype(np.uint32) << 16
        return halves.view(np.float32).reshape(shape)
    if dtype not in _DTYPES:
        raise ValueError(f"unsupported dtype {dtype}")
    return np.frombuffer(data, dtype=_DTYPES[dtype]).reshape(shape)


_STORAGES = {"FloatStorage": "F32", "HalfStorage": "F16", "BFloat16Storage": "BF16",
             "DoubleStorage": "F64", "LongStorage": "I64"}


class _TorchUnpickler(pickle.Unpickler):
    """Reads PyTorch's data.pkl with only the globals a state dict needs; anything else
    (code a malicious file could carry) is refused."""

    def __init__(self, fh: Any, archive: zipfile.ZipFile, root: str) -> None:
        super().__init__(fh)
        self.archive, self.root = archive, root

    def find_class(self, module: str, name: str) -> Any:
        if module == "torch._utils" and name == "_rebuild_tensor_v2":
            return _rebuild_tensor
        if module == "torch" and name in _STORAGES:
            return _STORAGES[name]
        if module == "collections" and name == "OrderedDict":
            import collections

            return collections.OrderedDict
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}")

    def persistent_load(self, pid: Any) -> Any:
        kind, dtype, key, _location, _numel = pid
        if kind != "storage":
            raise pickle.UnpicklingError(f"unknown persistent id {kind!r}")
        return _array(self.archive.read(f"{self.root}/data/{key}"), dtype, [-1])


def _rebuild_tensor(storage: np.ndarray, offset: int, size: tuple[int, ...], stride: tuple[int, ...],
                    *_: Any) -> np.ndarray:
    # a hostile file could point outside its storage: as_strided would read any memory
    if offset < 0 or len(size) != len(stride) or any(n < 0 for n in size) or any(s < 0 for s in stride):
        raise ValueError("a tensor with a negative offset, size or stride")
    if 0 not in size and offset + sum((n - 1) * s for n, s in zip(size, stride)) >= len(storage):
        raise ValueError("a tensor that lies outside its storage")
    if not size:
        return storage[offset:offset + 1].reshape(())
    item = storage.itemsize
    return np.lib.stride_tricks.as_strided(storage[offset:], shape=size,
                                           strides=[s * item for s in stride]).copy()


def _torch_zip(raw: bytes, path: Path) -> dict[str, np.ndarray]:
    """A PyTorch zip checkpoint (`torch.save` since 1.6) read without PyTorch."""
    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as archive:
            pkl = next(n for n in archive.namelist() if n.endswith("/data.pkl"))
            with archive.open(pkl) as fh:
                state = _TorchUnpickler(fh, archive, pkl[:-len("/data.pkl")]).load()
    except (zipfile.BadZipFile, StopIteration, pickle.UnpicklingError, ValueError,
            KeyError, TypeError, EOFError) as exc:
        raise ModelError(f"{path}: not a readable PyTorch weights file ({type(exc).__name__}: {exc})") from None
    if not isinstance(state, dict):
        raise ModelError(f"{path}: not a PyTorch state dict")
    return dict(state)


def _read_config(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ModelError(f"{path.parent}: no encoder config.json")
    data = _read_json(path)
    if data.get("model_type", "bert") != "bert":
        raise ModelError(f"{path}: a {data.get('model_type')!r} model; only BERT encoders are supported")
    return data


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ModelError(f"{path}: not readable JSON ({exc})") from None
    if not isinstance(data, dict):
        raise ModelError(f"{path}: not a JSON object")
    return data


# ---------------------------------------------------------------- the head a model adds


class EncoderHead:
    """What an adapted model adds to its own logit: a logistic regression on the encoder's
    vectors, mixed with the bag-of-words logit by a second, stacked regression fitted on
    out-of-fold logits of both (`logit = bow_scale * bow + encoder_scale * enc + offset`)."""

    def __init__(self, encoder: Encoder, weights: np.ndarray, bias: float,
                 bow_scale: float, encoder_scale: float, offset: float) -> None:
        if len(weights) != encoder.dim:
            raise ModelError(f"the model's encoder weights have {len(weights)} dimensions,"
                             f" the encoder at {encoder.path} has {encoder.dim}")
        self.encoder = encoder
        self.weights = np.asarray(weights, dtype=np.float32)
        self.bias = float(bias)
        self.bow_scale, self.encoder_scale, self.offset = float(bow_scale), float(encoder_scale), float(offset)

    def logits(self, texts: Sequence[str]) -> np.ndarray:
        """The encoder part's logit of each (normalized) text."""
        if not texts:
            return np.zeros(0)
        return self.encoder.encode(texts) @ self.weights + self.bias

    def combine(self, bow: float, encoded: float) -> float:
        return self.bow_scale * bow + self.encoder_scale * encoded + self.offset

    def to_dict(self, beside: Path | None = None) -> dict[str, Any]:
        """The head as a model file keeps it. The encoder's path is absolute, or relative
        when the encoder directory lies beside `beside` (the model file): the two can then
        move together."""
        path = self.encoder.path.resolve()
        if beside is not None and path.parent == Path(beside).resolve().parent:
            path = Path(path.name)
        return {
            "path": str(path),
            "fingerprint": self.encoder.fingerprint,
            "weights": [round(float(w), 6) for w in self.weights],
            "bias": round(self.bias, 6),
            "mix": [round(self.bow_scale, 6), round(self.encoder_scale, 6), round(self.offset, 6)],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], model_path: Path) -> EncoderHead:
        try:
            path, fingerprint = Path(str(data["path"])), str(data["fingerprint"])
            if not path.is_absolute():
                path = model_path.parent / path
            weights = np.asarray([float(w) for w in data["weights"]], dtype=np.float32)
            bias = float(data["bias"])
            bow_scale, encoder_scale, offset = (float(v) for v in data["mix"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(f"{model_path}: not a sentiment model file (bad encoder field: {exc})") from None
        try:
            encoder = Encoder(path)
        except ModelError as exc:
            raise ModelError(f"{model_path}: its encoder cannot be loaded: {exc}") from None
        if encoder.fingerprint != fingerprint:
            raise ModelError(f"{model_path}: the encoder at {path} is not the one it was trained with"
                             f" (weights sha256 {encoder.fingerprint[:12]}, expected {fingerprint[:12]});"
                             " retrain the model with this encoder")
        return cls(encoder, weights, bias, bow_scale, encoder_scale, offset)
