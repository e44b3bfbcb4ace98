"""Which model scores: the bundled default or a trained file, loaded once per process."""
from __future__ import annotations

import threading
from pathlib import Path

from sentiment.model.linear import Model
from sentiment.resources import models_dir

DEFAULT_MODEL_NAME = "default.json.gz"

_cache: dict[Path, Model] = {}
_cache_lock = threading.Lock()


def default_model_path() -> Path:
    return models_dir() / DEFAULT_MODEL_NAME


def load_model(path: Path | None = None) -> Model:
    """The model at `path` (None: the bundled default), loaded once per process."""
    key = Path(path).resolve() if path is not None else default_model_path()
    model = _cache.get(key)
    if model is None:
        with _cache_lock:
            model = _cache.get(key)
            if model is None:
                model = _cache[key] = Model.load(key)
    return model
