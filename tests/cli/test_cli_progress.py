"""Progress on long work: the CLI passes a progress callback into the ingest library (which never
prints), shows bars on stderr only when stderr is a terminal, and --json output stays pure JSON."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import click.testing
import pytest

from conftest import TABULAR


@pytest.fixture
def tty(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the runner's stderr (and stdout) claim to be a terminal."""
    monkeypatch.setattr(click.testing._NamedTextIOWrapper, "isatty", lambda self: True, raising=False)


def big_export(path: Path, rows: int) -> Path:
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["评论内容", "评价类型", "日期"])
        for i in range(rows):
            writer.writerow([f"质量很好，第{i}次购买" if i % 3 else f"质量太差了，第{i}次购买",
                             "好评" if i % 3 else "差评", f"2024-05-{1 + i % 28:02d} 10:00:00"])
    return path


def labeled(path: Path) -> Path:
    rows = [f"质量很好，第{i}次" for i in range(30)], [f"质量太差，第{i}次" for i in range(30)]
    path.write_text("text,label\n" + "".join(f"{t},1\n" for t in rows[0]) + "".join(f"{t},0\n" for t in rows[1]),
                    encoding="utf-8")
    return path


def test_ingest_cli_passes_a_progress_callback(run_cli, tmp_path, monkeypatch):
    import sentiment.pipeline.files as files

    seen: list = []
    real = files.ingest_paths

    def spy(*args, **kwargs):
        seen.append(kwargs.get("progress"))
        return real(*args, **kwargs)

    monkeypatch.setattr(files, "ingest_paths", spy)
    result = run_cli("ingest", "--no-analyze", TABULAR / "评论数据_20240510.csv")
    assert result.exit_code == 0, result.output
    assert len(seen) == 1 and callable(seen[0])


def test_ingest_library_reports_rows_per_chunk_and_prints_nothing(tmp_path, capsys):
    from sentiment import store
    from sentiment.pipeline.files import CHUNK, ingest_paths

    calls: list[int] = []
    db = store.open_db(tmp_path / "lib.db", create=True)
    results = ingest_paths(db, [big_export(tmp_path / "big.csv", CHUNK * 2 + 500)], progress=calls.append)
    assert results[0].read == CHUNK * 2 + 500
    assert calls == [CHUNK, CHUNK, 500]
    assert capsys.readouterr() == ("", "")


def test_ingest_shows_rows_bar_on_a_terminal(run_cli, tmp_path, tty):
    result = run_cli("ingest", "--no-analyze", big_export(tmp_path / "big.csv", 4500))
    assert result.exit_code == 0, result.output
    assert "ingest" in result.stderr and "4500 rows" in result.stderr and "rows/s" in result.stderr
    assert "total: 1 files, read 4500" in result.stdout


def test_ingest_json_is_pure_even_on_a_terminal(run_cli, tmp_path, tty):
    result = run_cli("ingest", "--no-analyze", "--json", big_export(tmp_path / "big.csv", 4500))
    assert result.exit_code == 0
    assert result.stderr == ""
    assert json.loads(result.stdout)["totals"]["new"] == 4500


def test_ingest_no_bar_when_not_a_terminal(run_cli, tmp_path):
    result = run_cli("ingest", "--no-analyze", big_export(tmp_path / "big.csv", 4500))
    assert result.exit_code == 0 and result.stderr == ""


def test_model_train_shows_stages_on_a_terminal(run_cli, tmp_path, tty):
    result = run_cli("model", "train", "--labeled", labeled(tmp_path / "l.csv"), "--base", "none",
                     "--out", tmp_path / "m.json.gz")
    assert result.exit_code == 0, result.output
    for stage in ("model train", "reading", "fitting", "evaluating"):
        assert stage in result.stderr
    assert "held out 12 texts" in result.stdout


def test_model_train_json_is_pure_even_on_a_terminal(run_cli, tmp_path, tty):
    result = run_cli("model", "train", "--labeled", labeled(tmp_path / "l.csv"), "--base", "none",
                     "--out", tmp_path / "m.json.gz", "--json")
    assert result.exit_code == 0
    assert result.stderr == ""
    assert json.loads(result.stdout)["holdout"]["n"] == 12
