"""Locations of bundled data: rule pack, templates and the default model (work from a wheel too).

`rules/` and `reports/templates/` live at the top of the repository and are
mapped into this package by setup.cfg, so an installed wheel carries them.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path


def _package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(f"sentiment.resources.{name}")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"bundled {name} directory is missing from the installation")
    return Path(list(spec.submodule_search_locations)[0])


def rules_dir() -> Path:
    """The bundled default rule pack, user dictionary and stopwords (repo: rules/)."""
    return _package_dir("rules")


def templates_dir() -> Path:
    """Bundled Jinja templates (repo: reports/templates/)."""
    return _package_dir("templates")


def models_dir() -> Path:
    """The trained default model that ships with the package (repo: sentiment/models/)."""
    return Path(__file__).resolve().parent.parent / "models"


def default_config_text() -> str:
    """The commented sentiment.toml that `sentiment init` writes."""
    return (Path(__file__).resolve().parent.parent / "default_config.toml").read_text(encoding="utf-8")
