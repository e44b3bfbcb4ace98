"""The inbox ingests with the same options as `sentiment ingest`: [ingest] aliases and shop."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from sentiment import store
from sentiment.config import load_settings
from sentiment.errors import ConfigError
from sentiment.worker.inbox import InboxState, poll_inbox

CUSTOM = Path(__file__).resolve().parent.parent / "data" / "tabular" / "custom_header.csv"
CONFIG = """[store]
db = "w.db"

[ingest]
shop = "松鼠小铺旗舰店"

[ingest.aliases]
text = ["买家心得"]
date = ["心得时间"]
author = ["买家"]
"""


def test_inbox_honours_configured_aliases_and_shop(tmp_path: Path) -> None:
    (tmp_path / "sentiment.toml").write_text(CONFIG, encoding="utf-8")
    settings = load_settings(config=tmp_path / "sentiment.toml", env={})
    inbox = settings.paths["inbox"]
    inbox.mkdir()
    shutil.copy(CUSTOM, inbox / CUSTOM.name)
    db = store.open_db(settings.db)
    results = poll_inbox(db, settings, InboxState(), None, settle_seconds=0)
    assert [r.error for r in results] == [None]
    rows = list(db.query("SELECT text, shop, author FROM documents ORDER BY created_at"))
    assert rows[0]["text"].startswith("宝贝收到了") and rows[0]["author"] == "m**1"
    assert {r["shop"] for r in rows} == {"松鼠小铺旗舰店"}
    assert (settings.paths["processed"] / CUSTOM.name).exists()


def test_cli_flag_shop_wins_over_configured_shop(tmp_path: Path, run_cli) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "sentiment.toml").write_text(CONFIG.replace('db = "w.db"\n', ""), encoding="utf-8")
    result = run_cli("ingest", "--no-analyze", "--shop", "另一家店", str(CUSTOM))
    assert result.exit_code == 0, result.output
    shops = {r["shop"] for r in store.open_db(tmp_path / "t.db").query("SELECT shop FROM documents")}
    assert shops == {"另一家店"}
    other = tmp_path / "again.csv"
    other.write_text(CUSTOM.read_text(encoding="utf-8").replace("很喜欢", "非常喜欢"), encoding="utf-8")
    assert run_cli("ingest", "--no-analyze", str(other)).exit_code == 0
    shops = {r["shop"] for r in store.open_db(tmp_path / "t.db").query("SELECT shop FROM documents")}
    assert shops == {"另一家店", "松鼠小铺旗舰店"}


@pytest.mark.parametrize("snippet, message", [
    ('[ingest.aliases]\nnot_a_field = ["x"]\n', "unknown field 'not_a_field'"),
    ('[ingest.aliases]\ntext = [1]\n', "[ingest.aliases] text: expected a list of header names"),
    ('[ingest]\nshopp = "x"\n', "[ingest]: unknown key 'shopp'"),
])
def test_bad_ingest_settings_are_refused_at_load(tmp_path: Path, snippet: str, message: str) -> None:
    (tmp_path / "sentiment.toml").write_text(snippet, encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_settings(config=tmp_path / "sentiment.toml", env={})
    assert message in str(err.value)
