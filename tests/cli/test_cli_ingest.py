"""The `sentiment` CLI around ingestion: --json contract, garbage files, directories, --format,
status, init, configuration errors and usage errors. Real SQLite files in tmp_path."""
from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from conftest import GARBAGE, TABULAR
from helpers import opened

PLUGIN = TABULAR / "评论数据_20240510.csv"
SCRAPER = TABULAR / "scraper_gbk.csv"
WDJ = TABULAR / "问大家_752102501302.csv"
LEGACY = TABULAR / "legacy_rates.tsv"
BAD = TABULAR / "bad_rows.csv"
CUSTOM = TABULAR / "custom_header.csv"

FILE_KEYS = {"path", "format", "shape", "read", "new", "duplicates", "quarantined", "placeholders", "error"}
COUNT_KEYS = {"read", "new", "duplicates", "quarantined", "placeholders"}

GARBAGE_FILES = {
    "binary_nul.csv": "binary file",
    "empty.csv": "empty file",
    "bom_only.csv": "empty file",
    "truncated.json": "truncated JSON",
    "no_text_column.csv": "no recognizable text column",
    "legacy.xls": "legacy .xls",
}


def count(db_path: Path, sql: str, params=()) -> int:
    with opened(db_path) as db:
        return db.execute(sql, params).fetchone()[0]


def write_config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "sentiment.toml"
    path.write_text(text, encoding="utf-8")
    return path


# --- the --json contract ------------------------------------------------------------------------

def test_json_stdout_is_only_json(run_cli):
    result, data = run_cli.json("ingest", "--no-analyze", PLUGIN, WDJ)
    assert result.exit_code == 0
    assert result.stderr == ""
    assert set(data) == {"files", "totals"}
    assert [f["path"] for f in data["files"]] == [str(PLUGIN), str(WDJ)]
    for entry in data["files"]:
        assert FILE_KEYS <= set(entry)
        assert entry["error"] is None
    totals = data["totals"]
    assert COUNT_KEYS <= set(totals)
    for key in COUNT_KEYS:
        assert totals[key] == sum(f[key] for f in data["files"])
    assert (totals["read"], totals["new"], totals["duplicates"], totals["placeholders"]) == (25, 24, 1, 3)


def test_json_file_entry_has_exactly_the_documented_keys(run_cli):
    """The issue fixes the per-file keys: path, format, shape, read, new, duplicates,
    quarantined, placeholders, error. (files.py FileResult.to_json also emits batch_id.)"""
    _, data = run_cli.json("ingest", "--no-analyze", PLUGIN)
    assert set(data["files"][0]) == FILE_KEYS


def test_json_counts_are_integers_and_error_null(run_cli):
    _, data = run_cli.json("ingest", "--no-analyze", BAD)
    [entry] = data["files"]
    for key in COUNT_KEYS:
        assert type(entry[key]) is int
    assert (entry["format"], entry["shape"], entry["quarantined"]) == ("csv", "review-table", 4)


def test_text_output_summarises_each_file(run_cli):
    result = run_cli("ingest", "--no-analyze", PLUGIN)
    assert result.exit_code == 0
    assert f"{PLUGIN}: csv/review-table: read 15, new 14, duplicates 1" in result.stdout
    assert "total: 1 files" in result.stdout
    with pytest.raises(json.JSONDecodeError):
        json.loads(result.stdout)


def test_batches_row_per_file_with_sha256(run_cli, db_path):
    run_cli("ingest", "--no-analyze", PLUGIN, SCRAPER)
    with opened(db_path) as db:
        batches = list(db.query("SELECT * FROM batches ORDER BY id"))
    assert [b["path"] for b in batches] == [str(PLUGIN), str(SCRAPER)]
    for batch, path in zip(batches, (PLUGIN, SCRAPER)):
        assert batch["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
        assert batch["size"] == path.stat().st_size
        assert batch["status"] == "ok"
        assert count(db_path, "SELECT count(*) FROM documents WHERE batch_id = ?", [batch["id"]]) == batch["new"]


# --- garbage files ------------------------------------------------------------------------------

@pytest.mark.parametrize("name, reason", GARBAGE_FILES.items())
def test_garbage_file_errors_while_good_file_lands(run_cli, db_path, name, reason):
    garbage = GARBAGE / name
    result, data = run_cli.json("ingest", "--no-analyze", garbage, PLUGIN)
    assert result.exit_code == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1
    assert errors[0].startswith(f"Error: {garbage}: ")
    assert reason in errors[0]
    bad, good = data["files"]
    assert bad["path"] == str(garbage)
    assert bad["error"] and reason in bad["error"]
    assert (bad["read"], bad["new"], bad["quarantined"]) == (0, 0, 0)
    assert good["error"] is None and good["new"] == 14
    assert data["totals"]["new"] == 14
    # nothing stored from the garbage file, but its failure is recorded as a batch
    with opened(db_path) as db:
        [failed] = list(db.query("SELECT * FROM batches WHERE path = ?", [str(garbage)]))
    assert failed["status"] == "error" and reason in failed["error"]
    assert count(db_path, "SELECT count(*) FROM documents WHERE batch_id = ?", [failed["id"]]) == 0
    assert count(db_path, "SELECT count(*) FROM quarantine WHERE path = ?", [str(garbage)]) == 0
    assert count(db_path, "SELECT count(*) FROM documents") == 14


def test_all_garbage_at_once_in_text_mode(run_cli, db_path):
    files = [GARBAGE / name for name in GARBAGE_FILES]
    result = run_cli("ingest", "--no-analyze", *files, SCRAPER)
    assert result.exit_code == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == len(files)
    for path, line in zip(files, errors):
        assert line.startswith(f"Error: {path}: ")
    assert "failed files 6" in result.stdout
    assert count(db_path, "SELECT count(*) FROM documents") == 10


def test_missing_file_is_a_file_error(run_cli, db_path, tmp_path):
    missing = tmp_path / "nope.csv"
    result = run_cli("ingest", "--no-analyze", missing, WDJ)
    assert result.exit_code == 1
    assert f"Error: {missing}: no such file" in result.stderr
    assert count(db_path, "SELECT count(*) FROM documents") == 10


def test_no_text_column_without_alias(run_cli, db_path):
    result = run_cli("ingest", "--no-analyze", CUSTOM)
    assert result.exit_code == 1
    assert result.stderr.strip().endswith("in sentiment.toml") or "[ingest.aliases]" in result.stderr
    assert f"Error: {CUSTOM}: no recognizable text column" in result.stderr
    assert count(db_path, "SELECT count(*) FROM documents") == 0


# --- directories and --format -------------------------------------------------------------------

def test_directory_is_walked(run_cli, db_path, tmp_path):
    inbox = tmp_path / "inbox"
    (inbox / "2024" / "05").mkdir(parents=True)
    (inbox / ".hidden").mkdir()
    shutil.copy(PLUGIN, inbox / PLUGIN.name)
    shutil.copy(WDJ, inbox / "2024" / "05" / WDJ.name)
    shutil.copy(LEGACY, inbox / "2024" / LEGACY.name)
    shutil.copy(SCRAPER, inbox / ".hidden" / "skip.csv")           # hidden folder: skipped
    shutil.copy(SCRAPER, inbox / "upload.csv.part")                 # still uploading: skipped
    (inbox / "README.md").write_text("not an export", encoding="utf-8")
    result, data = run_cli.json("ingest", "--no-analyze", inbox)
    assert result.exit_code == 0, result.stderr
    paths = sorted(Path(f["path"]).name for f in data["files"])
    assert paths == sorted([PLUGIN.name, WDJ.name, LEGACY.name])
    assert data["totals"]["new"] == 14 + 10 + 8
    assert count(db_path, "SELECT count(*) FROM documents") == 32


def test_format_forces_the_container(run_cli, db_path, tmp_path):
    # comma-separated content in a file named .tsv: read as TSV it has no text column
    misnamed = tmp_path / "export.tsv"
    shutil.copy(WDJ, misnamed)
    result = run_cli("ingest", "--no-analyze", misnamed)
    assert result.exit_code == 1
    assert f"Error: {misnamed}: no recognizable text column" in result.stderr
    result, data = run_cli.json("ingest", "--no-analyze", "--format", "csv", misnamed)
    assert result.exit_code == 0, result.stderr
    assert (data["files"][0]["format"], data["files"][0]["new"]) == ("csv", 10)


def test_format_forces_tsv_on_a_txt_file(run_cli, tmp_path):
    txt = tmp_path / "rates.txt"
    shutil.copy(LEGACY, txt)
    result, data = run_cli.json("ingest", "--no-analyze", "--format", "tsv", txt)
    assert result.exit_code == 0, result.stderr
    assert (data["files"][0]["format"], data["files"][0]["shape"], data["files"][0]["new"]) == ("tsv", "legacy-tsv", 8)


def test_format_table_shape(run_cli, db_path):
    result, data = run_cli.json("ingest", "--no-analyze", "--format", "wdj-table", WDJ)
    assert result.exit_code == 0 and data["files"][0]["shape"] == "wdj-table"
    result, data = run_cli.json("ingest", "--no-analyze", "--format", "wdj-table", PLUGIN)
    assert result.exit_code == 1
    assert f"Error: {PLUGIN}: --format wdj-table" in result.stderr
    assert data["files"][0]["error"]
    assert count(db_path, "SELECT count(*) FROM documents WHERE kind = 'review'") == 0


def test_unknown_format_is_a_usage_error(run_cli, db_path):
    result = run_cli("ingest", "--no-analyze", "--format", "xls", PLUGIN)
    assert result.exit_code == 2
    assert "--format" in result.stderr and "unknown format" in result.stderr
    assert result.stdout == ""


# --- status -----------------------------------------------------------------------------------

def test_status_json_counts(run_cli, db_path):
    run_cli("ingest", "--no-analyze", PLUGIN, WDJ, LEGACY, BAD, GARBAGE / "empty.csv")
    result, data = run_cli.json("status")
    assert result.exit_code == 0 and result.stderr == ""
    assert data["documents"] == 14 + 10 + 8 + 4
    assert data["by_kind"] == {"answer": 6, "followup": 5, "question": 4, "review": 21}
    assert data["by_source"] == {"csv": 18, "tmall": 8, "wdj": 10}
    assert data["placeholders"] == 3 + 1
    assert data["batches"]["total"] == 5 and data["batches"]["failed"] == 1
    assert data["quarantine"]["total"] == 4
    assert data["quarantine"]["by_reason"]["no text"] == 2
    assert data["by_day"]["2026-03-02"] == 2          # two answers that day (latest 14 days shown)


def test_status_counts_do_not_change_on_reingest(run_cli):
    run_cli("ingest", "--no-analyze", PLUGIN, BAD)
    _, before = run_cli.json("status")
    run_cli("ingest", "--no-analyze", PLUGIN, BAD)
    _, after = run_cli.json("status")
    for key in ("documents", "by_kind", "by_source", "placeholders"):
        assert after[key] == before[key]
    assert after["quarantine"]["total"] == before["quarantine"]["total"] == 4
    assert after["batches"]["total"] == before["batches"]["total"] + 2


def test_status_without_a_database(run_cli, db_path):
    result = run_cli("status")
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: ")
    assert not db_path.exists()


# --- init ---------------------------------------------------------------------------------------

def test_init_writes_config_and_inbox_and_refuses_to_overwrite(run_cli, tmp_path):
    result = run_cli("init")
    assert result.exit_code == 0, result.stderr
    config = tmp_path / "sentiment.toml"
    assert config.is_file() and (tmp_path / "inbox").is_dir()
    assert "[ingest.aliases]" in config.read_text(encoding="utf-8")
    config.write_text("# mine\n", encoding="utf-8")
    again = run_cli("init")
    assert again.exit_code == 1
    assert again.stderr.startswith("Error: ") and "already exists" in again.stderr
    assert config.read_text(encoding="utf-8") == "# mine\n"
    forced = run_cli("init", "--force")
    assert forced.exit_code == 0
    assert config.read_text(encoding="utf-8") != "# mine\n"


def test_init_config_is_valid_and_ingest_works_with_it(run_cli, tmp_path):
    run_cli("init")
    result, data = run_cli.json("ingest", "--no-analyze", WDJ)
    assert result.exit_code == 0, result.stderr
    assert data["files"][0]["new"] == 10


# --- configuration ------------------------------------------------------------------------------

@pytest.mark.parametrize("toml, fragment", [
    ('[general]\ntimezone = "Mars/Base"\n', "Mars/Base"),
    ('[general]\ncolour = "blue"\n', "colour"),
    ('[nonsense]\nx = 1\n', "nonsense"),
    ('[general\ntimezone = ', "invalid TOML"),
])
def test_bad_config_is_an_error(run_cli, db_path, tmp_path, toml, fragment):
    write_config(tmp_path, toml)
    result = run_cli("ingest", "--no-analyze", PLUGIN)
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: ")
    assert fragment in result.stderr
    assert result.stdout == ""
    assert not db_path.exists() or count(db_path, "SELECT count(*) FROM documents") == 0


def test_missing_config_flag_file(run_cli, tmp_path):
    result = run_cli("--config", tmp_path / "nope.toml", "status")
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: ") and "nope.toml" in result.stderr


def test_alias_config_makes_a_custom_header_ingest(run_cli, db_path, tmp_path):
    write_config(tmp_path, '[ingest.aliases]\ntext = ["买家心得"]\ndate = ["心得时间"]\nauthor = "买家"\n')
    result, data = run_cli.json("ingest", "--no-analyze", CUSTOM)
    assert result.exit_code == 0, result.stderr
    [entry] = data["files"]
    assert (entry["shape"], entry["new"], entry["error"]) == ("review-table", 2, None)
    with opened(db_path) as db:
        docs = list(db.query("SELECT * FROM documents ORDER BY created_at"))
    assert [(d["text"], d["created_at"], d["author"]) for d in docs] == [
        ("宝贝收到了,跟图片一样,很喜欢", "2024-06-01T10:00:00+08:00", "m**1"),
        ("客服态度差,问什么都不回", "2024-06-02T11:00:00+08:00", "n**2"),
    ]


def test_alias_config_via_config_flag(run_cli, tmp_path):
    elsewhere = tmp_path / "conf"
    elsewhere.mkdir()
    config = elsewhere / "shop.toml"
    config.write_text('[ingest.aliases]\ntext = ["买家心得"]\n', encoding="utf-8")
    result, data = run_cli.json("--config", config, "ingest", "--no-analyze", CUSTOM)
    assert result.exit_code == 0, result.stderr
    assert data["files"][0]["new"] == 2


def test_alias_for_unknown_field_is_an_error(run_cli, tmp_path):
    write_config(tmp_path, '[ingest.aliases]\nbody = ["买家心得"]\n')
    result = run_cli("ingest", "--no-analyze", CUSTOM)
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: ") and "body" in result.stderr


def test_sentiment_db_env_is_overridden_by_flag(run_cli, db_path, tmp_path, monkeypatch):
    other = tmp_path / "env.db"
    monkeypatch.setenv("SENTIMENT_DB", str(other))
    result = run_cli("ingest", "--no-analyze", WDJ)
    assert result.exit_code == 0
    assert db_path.exists() and not other.exists()


def test_default_db_is_in_the_working_directory(tmp_path):
    from click.testing import CliRunner

    from sentiment.cli import cli

    result = CliRunner().invoke(cli, ["ingest", "--no-analyze", str(WDJ)])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "sentiment.db").is_file()


# --- usage errors -------------------------------------------------------------------------------

@pytest.mark.parametrize("args", [
    ("ingest",),                         # no paths
    ("ingest", "--bogus", str(PLUGIN)),
    ("frobnicate",),
    ("status", "--json", "extra"),
])
def test_usage_errors_exit_2(run_cli, db_path, args):
    result = run_cli(*args)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert "Usage:" in result.stderr or "Error:" in result.stderr
    assert not db_path.exists()
