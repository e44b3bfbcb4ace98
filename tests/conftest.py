"""Shared fixtures: an isolated working directory, a database path and a CLI runner."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any, Callable

import pytest
from click.testing import CliRunner, Result

DATA = Path(__file__).resolve().parent / "data"
TABULAR = DATA / "tabular"
GARBAGE = DATA / "garbage"


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No SENTIMENT_* variable from the caller's shell, and cwd in tmp_path.

    ./sentiment.db and ./sentiment.toml therefore never leak into or out of a test.
    """
    for name in list(os.environ):
        if name.startswith("SENTIMENT_"):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "t.db"


class CliCall:
    """`run_cli(*args)`: `sentiment --db <db_path> *args` in-process, stdout and stderr apart."""

    def __init__(self, db: Path) -> None:
        self.db = db

    def __call__(self, *args: Any, input: str | bytes | None = None) -> Result:
        from sentiment.cli import cli

        result = CliRunner().invoke(cli, ["--db", str(self.db), *[str(a) for a in args]], input=input)
        # An exception other than SystemExit is a traceback the user would see: fail loudly with it.
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception
        for stream in (result.stdout, result.stderr):
            assert "Traceback" not in stream
        return result

    def json(self, *args: Any) -> tuple[Result, dict[str, Any]]:
        """Run with --json appended; stdout must be a single JSON document."""
        result = self(*args, "--json")
        return result, json.loads(result.stdout)


@pytest.fixture
def run_cli(db_path: Path) -> CliCall:
    return CliCall(db_path)


@pytest.fixture
def copy_data(tmp_path: Path) -> Callable[..., Path]:
    """Copy a data file into tmp_path (optionally under another name) and return the copy."""

    def copy(source: Path, name: str | None = None, folder: Path | None = None) -> Path:
        target_dir = folder or tmp_path / "in"
        target_dir.mkdir(parents=True, exist_ok=True)
        target = target_dir / (name or source.name)
        shutil.copyfile(source, target)
        return target

    return copy
