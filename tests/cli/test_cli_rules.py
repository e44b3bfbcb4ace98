"""`sentiment rules check|test` and `sentiment rescan` through the CLI, on real SQLite files."""
from __future__ import annotations

import sqlite3
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from conftest import DATA, TABULAR

EXPORTS = [TABULAR / "评论数据_20240510.csv", DATA / "json" / "tmall_ratedetail_fragment.txt"]

EXTRA_RULE = """\
[[rule]]
id = "packaging.leak"
category = "packaging"
name = "漏液洒漏"
severity = "high"
owners = ["cs"]
query = '漏液 OR 洒了 OR 盖子松'
"""

# item, text, date: 3 documents hit packaging.leak; items and dates for --item/--since/--until
OWN_ROWS = [
    ("700001", "洗发水漏液了，瓶子外面全是", "2024-06-01 10:00:00"),
    ("700001", "收到时盖子松了，洒了一半", "2024-06-03 10:00:00"),
    ("700002", "质量很好，非常满意", "2024-06-05 10:00:00"),
    ("700002", "快递很快，包装完好", "2024-06-07 10:00:00"),
    ("700003", "漏液严重，差评", "2024-06-09 23:30:00"),
]

BROKEN = """\
# a broken rule file
[[rule]]
id = "custom.one"
category = "custom"
name = "一"
severity = "high"
owners = ["cs"]
query = '盖子'
severty = "low"

[[rule]]
id = "custom.two"
category = "custom"
name = "二"
severity = "urgent"
owners = ["cs"]
query = '漏液'

[[rule]]
id = "custom.three"
category = "custom"
name = "三"
severity = "low"
owners = ["cs"]
query = '(盖子 OR'

[[rule]]
id = "custom.one"
category = "custom"
name = "四"
severity = "low"
owners = ["cs"]
query = '瓶子'
"""


def query(db_path: Path, sql: str, params=()) -> list[tuple]:
    conn = sqlite3.connect(db_path)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def hits(db_path: Path) -> list[tuple]:
    return query(db_path, "SELECT document_id, rule_id, category, severity, terms, created_at"
                          " FROM rule_hits ORDER BY document_id, rule_id")


def analyses(db_path: Path) -> list[tuple]:
    return query(db_path, "SELECT document_id, score, label, tokens, model_version, rules_version"
                          " FROM analyses ORDER BY document_id")


@pytest.fixture
def extra(tmp_path: Path) -> Path:
    path = tmp_path / "extra.toml"
    path.write_text(EXTRA_RULE, encoding="utf-8")
    return path


@pytest.fixture
def own_export(tmp_path: Path) -> Path:
    path = tmp_path / "own.csv"
    lines = ["商品ID,评论内容,日期"] + [",".join(r) for r in OWN_ROWS]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def analyzed(run_cli, own_export) -> Path:
    """A store with realistic exports plus our own small export, analyzed on ingest."""
    result = run_cli("ingest", "--json", own_export, *EXPORTS)
    assert result.exit_code == 0, result.output
    return run_cli.db


# --- rules check ----------------------------------------------------------------------------------

def test_check_bundled_pack_ok(run_cli):
    result = run_cli("rules", "check")
    assert result.exit_code == 0
    assert result.stdout.startswith("ok: ")
    assert result.stderr == ""


def test_check_extra_file_ok(run_cli, extra):
    from sentiment.resources import rules_dir

    result = run_cli("rules", "check", extra)
    assert result.exit_code == 0
    assert result.stdout == f"ok: {rules_dir()}, {extra}\n"  # what ingest loads: the bundled pack first


def test_check_broken_file_reports_each_problem(run_cli, tmp_path):
    broken = tmp_path / "broken.toml"
    broken.write_text(BROKEN, encoding="utf-8")
    result = run_cli("rules", "check", broken)
    assert result.exit_code == 1
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert lines == [
        f'{broken}:9: rule "custom.one": unknown key "severty" (did you mean "severity"?)',
        f"{broken}:15: rule \"custom.two\": bad severity 'urgent' (expected one of critical, high, medium, low)",
        lines[2],
        f'{broken}:28: rule "custom.one": duplicate id (first defined at {broken}:2)',
    ]
    assert lines[2].startswith(f'{broken}:25: rule "custom.three": query: ')
    assert "position" in lines[2]


def test_check_duplicate_of_a_bundled_id(run_cli, tmp_path):
    dup = tmp_path / "dup.toml"
    dup.write_text(EXTRA_RULE.replace("packaging.leak", "food_safety.spoiled"), encoding="utf-8")
    result = run_cli("rules", "check")
    assert result.exit_code == 0
    (tmp_path / "sentiment.toml").write_text('[rules]\npaths = ["dup.toml"]\n', encoding="utf-8")
    result = run_cli("rules", "check")
    assert result.exit_code == 1
    assert f'{dup}:2: rule "food_safety.spoiled": duplicate id (first defined at ' in result.stderr
    assert "food_safety.toml:" in result.stderr
    # and every command that loads the rules refuses them with a clean error
    result = run_cli("score", "坚果发霉了")
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: ") and "duplicate id" in result.stderr


def test_check_missing_path(run_cli, tmp_path):
    result = run_cli("rules", "check", tmp_path / "nope.toml")
    assert result.exit_code == 1
    assert f"{tmp_path / 'nope.toml'}: no such file or directory" in result.stderr


# --- rules test -----------------------------------------------------------------------------------

def test_rules_test_food_safety_hits_with_spans(run_cli):
    result, data = run_cli.json("rules", "test", "坚果发霉了，孩子吃了拉肚子")
    assert result.exit_code == 0
    food = {h["rule_id"]: h for h in data["hits"] if h["category"] == "food_safety"}
    assert set(food) == {"food_safety.spoiled", "food_safety.illness"}
    assert food["food_safety.spoiled"]["terms"] == [{"term": "发霉", "start": 2, "end": 4}]
    assert food["food_safety.illness"]["terms"] == [{"term": "拉肚子", "start": 10, "end": 13}]
    for hit in food.values():
        assert hit["severity"] == "critical" and hit["immediate"] is True
        for t in hit["terms"]:
            assert data["text"][t["start"]:t["end"]] == t["term"]
    fired = {e["rule_id"] for e in data["explain"] if e["fired"]}
    assert {"food_safety.spoiled", "food_safety.illness"} <= fired


def test_rules_test_negated_term_is_discarded(run_cli):
    result, data = run_cli.json("rules", "test", "没有发霉，很新鲜")
    assert result.exit_code == 0
    assert not [h for h in data["hits"] if h["category"] == "food_safety"]
    spoiled = [e for e in data["explain"] if e["rule_id"] == "food_safety.spoiled"]
    assert len(spoiled) == 1
    entry = spoiled[0]
    assert entry["fired"] is False
    assert entry["terms"] == []
    assert len(entry["discarded"]) == 1
    discarded = entry["discarded"][0]
    assert (discarded["term"], discarded["start"], discarded["end"]) == ("发霉", 2, 4)
    assert "negat" in discarded["reason"] and "没有" in discarded["reason"]


def test_rules_test_human_output(run_cli):
    result = run_cli("rules", "test", "没有发霉，很新鲜")
    assert result.exit_code == 0
    assert result.stdout.startswith("text: 没有发霉,很新鲜\n")
    assert "negated by 没有" in result.stdout
    result = run_cli("rules", "test", "今天天气不错")
    assert "no rule has a term in this text" in result.stdout


def test_rules_test_extra_rule_fires(run_cli, extra):
    text = "收到时盖子松了，洒了一半"
    _, without = run_cli.json("rules", "test", text)
    assert "packaging.leak" not in {h["rule_id"] for h in without["hits"]}
    result, data = run_cli.json("rules", "test", text, "--rules", extra)
    assert result.exit_code == 0
    leak = [h for h in data["hits"] if h["rule_id"] == "packaging.leak"]
    assert len(leak) == 1
    assert leak[0]["category"] == "packaging" and leak[0]["severity"] == "high"
    assert [(t["term"], t["start"], t["end"]) for t in leak[0]["terms"]] == [("盖子松", 3, 6), ("洒了", 8, 10)]
    # bundled rules still fire next to it
    assert len(data["hits"]) > 1


def test_rules_test_broken_extra_file_is_a_clean_error(run_cli, tmp_path):
    broken = tmp_path / "broken.toml"
    broken.write_text(BROKEN, encoding="utf-8")
    result = run_cli("rules", "test", "盖子", "--rules", broken)
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: ")
    assert f'{broken}:15: rule "custom.two": bad severity' in result.stderr


# --- rescan ---------------------------------------------------------------------------------------

def test_rescan_new_rule_is_rules_only(analyzed, run_cli, extra):
    docs = query(analyzed, "SELECT count(*) FROM documents")[0][0]
    before = hits(analyzed)
    old_versions = {r[5] for r in analyses(analyzed)}
    assert not [h for h in before if h[2] == "packaging"]
    result, report = run_cli.json("rescan", "--rules", extra)
    assert result.exit_code == 0, result.output
    assert report["documents"] == docs
    assert report["rules_only"] == docs
    assert report["reanalyzed"] == 0
    assert report["labels_changed"] == 0
    assert report["hits_added"] == {"packaging": 3}
    assert report["hits_removed"] == {}
    assert report["dry_run"] is False
    after = hits(analyzed)
    leak = [h for h in after if h[1] == "packaging.leak"]
    assert len(leak) == 3
    assert {h[3] for h in leak} == {"high"}
    # the other hits are untouched
    assert [h for h in after if h[1] != "packaging.leak"] == before
    # the analyses record the new rules version
    versions = {r[5] for r in analyses(analyzed)}
    assert len(old_versions) == len(versions) == 1
    assert versions != old_versions


def test_rescan_rules_only_does_not_segment(analyzed, run_cli, extra, monkeypatch):
    from sentiment.lang.segment import Segmenter

    def fail(self, text):  # noqa: ANN001
        raise AssertionError(f"segmented again: {text!r}")

    monkeypatch.setattr(Segmenter, "tokenize", fail)
    monkeypatch.setattr(Segmenter, "cut", fail)
    result, report = run_cli.json("rescan", "--rules", extra)
    assert result.exit_code == 0
    assert report["hits_added"] == {"packaging": 3}


def test_rescan_hits_match_a_fresh_ingest_with_the_same_rules(analyzed, run_cli, extra, own_export, tmp_path):
    run_cli("rescan", "--rules", extra)
    from conftest import CliCall

    (tmp_path / "sentiment.toml").write_text('[rules]\npaths = ["extra.toml"]\n', encoding="utf-8")
    fresh = CliCall(tmp_path / "fresh.db")
    assert fresh("ingest", own_export, *EXPORTS).exit_code == 0
    assert hits(fresh.db) == hits(analyzed)
    assert [r[0] for r in analyses(fresh.db)] == [r[0] for r in analyses(analyzed)]
    assert {r[5] for r in analyses(fresh.db)} == {r[5] for r in analyses(analyzed)}  # same rules version


def test_rescan_dry_run_writes_nothing(analyzed, run_cli, extra):
    before = hits(analyzed), analyses(analyzed)
    result, report = run_cli.json("rescan", "--rules", extra, "--dry-run")
    assert result.exit_code == 0
    assert report["dry_run"] is True
    assert report["hits_added"] == {"packaging": 3}
    assert report["incidents"] == {}
    assert (hits(analyzed), analyses(analyzed)) == before
    # the dry run did not mark anything done: the real run still adds the hits
    _, real = run_cli.json("rescan", "--rules", extra)
    assert real["hits_added"] == {"packaging": 3}


def test_rescan_twice_changes_nothing_more(analyzed, run_cli, extra):
    run_cli("rescan", "--rules", extra)
    state = hits(analyzed), analyses(analyzed)
    counts = query(analyzed, "SELECT (SELECT count(*) FROM rule_hits), (SELECT count(*) FROM analyses),"
                             " (SELECT count(*) FROM incidents), (SELECT count(*) FROM incident_members)")
    _, second = run_cli.json("rescan", "--rules", extra)
    assert second["hits_added"] == {} and second["hits_removed"] == {}
    assert second["labels_changed"] == 0
    assert second["rules_only"] == second["documents"]
    assert hits(analyzed) == state[0]
    assert [r[:6] for r in analyses(analyzed)] == [r[:6] for r in state[1]]
    assert query(analyzed, "SELECT (SELECT count(*) FROM rule_hits), (SELECT count(*) FROM analyses),"
                           " (SELECT count(*) FROM incidents), (SELECT count(*) FROM incident_members)") == counts


def test_rescan_brings_incidents_in_line_with_the_new_hits(analyzed, run_cli, extra):
    """The new high rule's hits join incidents (one per item: 700001 twice, 700003 once, all
    back-filled since 2024, so resolved at once); a rescan without it empties them."""
    _, report = run_cli.json("rescan", "--rules", extra)
    members = query(analyzed, "SELECT i.item_id, count(*) FROM incident_members m JOIN incidents i"
                              " ON i.id = m.incident_id WHERE i.category = 'packaging' GROUP BY i.item_id")
    assert sorted(map(tuple, members)) == [("700001", 2), ("700003", 1)]
    assert report["incidents"]["opened"] == 0  # the evidence is from 2024: resolved at once, not queued
    _, again = run_cli.json("rescan")
    assert query(analyzed, "SELECT count(*) FROM incident_members m JOIN incidents i ON i.id = m.incident_id"
                           " WHERE i.category = 'packaging'")[0][0] == 0
    assert query(analyzed, "SELECT count(*) FROM incidents WHERE category = 'packaging' AND size = 0")[0][0] == 2


def test_rescan_without_the_extra_rule_removes_its_hits(analyzed, run_cli, extra):
    original = hits(analyzed)
    run_cli("rescan", "--rules", extra)
    _, report = run_cli.json("rescan")
    assert report["hits_removed"] == {"packaging": 3}
    assert report["hits_added"] == {}
    assert hits(analyzed) == original


def test_rescan_human_output(analyzed, run_cli, extra):
    result = run_cli("rescan", "--rules", extra, "--dry-run")
    assert result.exit_code == 0
    first = result.stdout.splitlines()[0]
    docs = query(analyzed, "SELECT count(*) FROM documents")[0][0]
    assert first.startswith(f"documents {docs}: rules only {docs}, re-analyzed 0")
    assert "(dry run: nothing written)" in first
    assert "  packaging: +3 -0" in result.stdout.splitlines()


def expected_documents(db_path: Path, since: str | None, until: str | None, item: str | None) -> list[str]:
    """Ids of the documents a filter should select, computed with aware datetimes (not strings)."""
    tz = ZoneInfo("Asia/Shanghai")

    def moment(value: str) -> datetime:
        parsed = datetime.fromisoformat(value)
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=tz)

    ids = []
    for doc_id, created, doc_item in query(db_path, "SELECT id, created_at, item_id FROM documents"):
        if item is not None and doc_item != item:
            continue
        if (since or until) and created is None:
            continue
        if since and moment(created) < moment(since):
            continue
        if until and moment(created) >= moment(until):
            continue
        ids.append(doc_id)
    return ids


LEAK_TEXT_DATES = {"2024-06-01T10:00:00+08:00", "2024-06-03T10:00:00+08:00", "2024-06-09T23:30:00+08:00"}


@pytest.mark.parametrize("since, until, item, expected, leaks", [
    (None, None, "700001", 2, 2),
    (None, None, "700003", 1, 1),
    (None, None, "999", 0, 0),
    # +3 with no upper bound: the realistic export's three dateless follow-ups, dated when first seen (today)
    ("2024-06-03", None, None, 7, 2),                      # on or after, in the configured time zone
    ("2024-06-02", "2024-06-08", None, 3, 1),              # until is exclusive
    (None, "2024-06-03", "700001", 1, 1),
    ("2024-06-09T23:00:00+08:00", None, None, 4, 1),
    ("2024-06-09T23:31:00", None, None, 3, 0),
    ("2024-06-01", None, "700002", 2, 0),
    ("2024-05-07", "2024-05-08", None, 1, 0),              # documents of the realistic export
    (None, "2017-11-25", None, 4, 0),
])
def test_rescan_filters_limit_documents(analyzed, run_cli, extra, since, until, item, expected, leaks):
    args = [*(("--since", since) if since else ()), *(("--until", until) if until else ()),
            *(("--item", item) if item else ())]
    assert len(expected_documents(analyzed, since, until, item)) == expected
    result, report = run_cli.json("rescan", "--rules", extra, "--dry-run", *args)
    assert result.exit_code == 0, result.output
    assert report["documents"] == expected
    assert report["rules_only"] == expected
    assert report["hits_added"] == ({"packaging": leaks} if leaks else {})


def test_rescan_item_filter_only_writes_that_item(analyzed, run_cli, extra):
    _, report = run_cli.json("rescan", "--rules", extra, "--item", "700001")
    assert report["hits_added"] == {"packaging": 2}
    items = query(analyzed, "SELECT d.item_id FROM rule_hits h JOIN documents d ON d.id = h.document_id"
                            " WHERE h.rule_id = 'packaging.leak'")
    assert sorted(items) == [("700001",), ("700001",)]


@pytest.mark.parametrize("option, value", [("--since", "yesterday"), ("--until", "2024-13-01"),
                                           ("--since", "06/01/2024")])
def test_rescan_bad_date_is_a_usage_error(analyzed, run_cli, option, value):
    before = hits(analyzed)
    result = run_cli("rescan", option, value)
    assert result.exit_code == 2
    assert "is not a date (use YYYY-MM-DD)" in result.stderr
    assert hits(analyzed) == before


def test_rescan_without_a_store_is_a_clean_error(run_cli):
    result = run_cli("rescan")
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: ") and "does not exist" in result.stderr
    assert not run_cli.db.exists()


def test_rescan_analyzes_unanalyzed_documents(run_cli, own_export):
    run_cli("ingest", "--no-analyze", own_export)
    assert analyses(run_cli.db) == []
    _, report = run_cli.json("rescan")
    assert report["reanalyzed"] == report["documents"] == len(OWN_ROWS)
    assert report["rules_only"] == 0
    assert len(analyses(run_cli.db)) == len(OWN_ROWS)


# --- bugs -----------------------------------------------------------------------------------------

def test_rescan_raises_no_deprecation_warning(analyzed, run_cli):
    """rescan once called click.get_text_stream, which click 8.5 (allowed by setup.cfg:
    click>=8.1,<9) deprecates; with `filterwarnings = error` it raised instead of rescanning."""
    result = run_cli("rescan", "--json")
    assert result.exit_code == 0


def test_rescan_rules_only_keeps_stale_severity_and_terms_of_a_changed_rule(run_cli, tmp_path, own_export):
    """A rule edited in place (same id, new severity / query) is not rewritten by a rules-only
    rescan: sentiment/pipeline/rescan.py rescan() only replaces a document's hits when the *set of rule
    ids* changed (`changed={h.rule_id for h in hits} != old.keys()`, _stored_hits reads only rule_id
    and category), so rule_hits keeps the old severity and terms,
    unlike a fresh ingest with the same rules (one analysis path)."""
    rule = tmp_path / "extra.toml"
    rule.write_text(EXTRA_RULE.replace('"high"', '"low"').replace("'漏液 OR 洒了 OR 盖子松'", "'盖子松'"),
                    encoding="utf-8")
    run_cli("ingest", own_export)
    run_cli("rescan", "--rules", rule)
    assert query(run_cli.db, "SELECT severity, terms FROM rule_hits WHERE rule_id = 'packaging.leak'") == [
        ("low", '[["盖子松", 3, 6]]')]
    rule.write_text(EXTRA_RULE, encoding="utf-8")  # severity high; also matches 洒了 and 漏液
    _, report = run_cli.json("rescan", "--rules", rule)
    assert report["hits_added"] == {"packaging": 2}
    assert query(run_cli.db, "SELECT severity, terms FROM rule_hits WHERE rule_id = 'packaging.leak'"
                             " AND terms LIKE '%盖子松%'") == [("high", '[["盖子松", 3, 6], ["洒了", 8, 10]]')]


def test_rescan_since_with_another_utc_offset_compares_strings(analyzed, run_cli, extra):
    """sentiment/pipeline/rescan.py _filters() compares `d.created_at >= since.isoformat()` as strings.
    created_at is stored with +08:00, so a bound with another offset selects the wrong documents:
    --since 2024-06-09T16:00:00+00:00 (= 2024-06-10 00:00 +08:00) still selects the document
    created 2024-06-09T23:30:00+08:00 (= 15:30 UTC). Expected 0 documents, got 1."""
    since, until = "2024-06-09T16:00:00+00:00", "2025-01-01"  # until: not the follow-ups first seen today
    assert expected_documents(analyzed, since, until, None) == []
    _, report = run_cli.json("rescan", "--rules", extra, "--dry-run", "--since", since, "--until", until)
    assert report["documents"] == 0


def test_rescan_since_date_in_configured_timezone_compared_as_string(analyzed, run_cli, extra, tmp_path):
    """With `[general] timezone = "Asia/Tokyo"`, --since 2024-06-10 means 2024-06-10T00:00:00+09:00
    (= 2024-06-09T23:00:00+08:00). The document created 2024-06-09T23:30:00+08:00 is after it, but
    sentiment/pipeline/rescan.py _filters() compares ISO strings ("2024-06-09T23:30..." < "2024-06-10T00:00...")
    and leaves it out. Expected 1 document, got 0."""
    (tmp_path / "sentiment.toml").write_text('[general]\ntimezone = "Asia/Tokyo"\n', encoding="utf-8")
    assert len(expected_documents(analyzed, "2024-06-10T00:00:00+09:00", "2025-01-01T00:00:00+09:00", None)) == 1
    _, report = run_cli.json("rescan", "--rules", extra, "--dry-run", "--since", "2024-06-10", "--until", "2025-01-01")
    assert report["documents"] == 1


def test_rules_only_rescan_keeps_tokens_and_score_a_fresh_ingest_would_change(
        analyzed, run_cli, extra, own_export, tmp_path):
    """Rule terms go into jieba's user dictionary (Pipeline.__init__: get_segmenter(rules.terms())),
    so adding a rule changes segmentation and therefore the model score of new documents.
    A rescan with the same rules takes the rules-only path (same model_version, sentiment/pipeline/rescan.py
    _rules_only) and keeps the old tokens and score: for 收到时盖子松了，洒了一半 a fresh ingest
    stores tokens [...,"盖子松",...] and score ~0.136, the rescanned store ["盖子","松"] and ~0.080,
    both with identical model_version and rules_version."""
    run_cli("rescan", "--rules", extra)
    from conftest import CliCall

    (tmp_path / "sentiment.toml").write_text('[rules]\npaths = ["extra.toml"]\n', encoding="utf-8")
    fresh = CliCall(tmp_path / "fresh.db")
    assert fresh("ingest", own_export, *EXPORTS).exit_code == 0
    assert analyses(fresh.db) == analyses(analyzed)


def test_rescan_with_rules_outside_the_configured_paths_warns(analyzed, run_cli, extra, tmp_path, monkeypatch):
    """Alerts, digests and the worker match with [rules] paths only: a rescan that writes hits of
    other rules says so (a dry run writes nothing and does not)."""
    result = run_cli("rescan", "--rules", extra)
    assert result.exit_code == 0
    assert "Warning: --rules" in result.stderr and "[rules] paths" in result.stderr
    assert "Warning" not in run_cli("rescan", "--rules", extra, "--dry-run").stderr
    monkeypatch.setenv("SENTIMENT_RULES", str(extra))
    assert "Warning" not in run_cli("rescan", "--rules", extra).stderr


# --- overrides: rules check / list, ingest ---------------------------------------------------------

OVERRIDES = """\
[[rule]]
id = "quality.defect"
extend = true
severity = "high"
query = "面膜发黏 OR 盖子松"

[[rule]]
id = "logistics.slow"
disable = true
"""


@pytest.fixture
def rules_d(tmp_path: Path) -> Path:
    folder = tmp_path / "rules.d"
    folder.mkdir()
    return folder


def test_check_given_dir_with_a_bundled_duplicate_fails(run_cli, rules_d):
    """`rules check rules.d/` checks what ingest loads (bundled pack first): it used to say ok."""
    (rules_d / "dup.toml").write_text(EXTRA_RULE.replace("packaging.leak", "food_safety.spoiled"), encoding="utf-8")
    result = run_cli("rules", "check", rules_d)
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.startswith(f'{rules_d / "dup.toml"}:2: rule "food_safety.spoiled": duplicate id'
                                    f' (first defined at ')
    assert "food_safety.toml:" in result.stderr


def test_check_overrides_ok(run_cli, rules_d):
    (rules_d / "shop.toml").write_text(OVERRIDES, encoding="utf-8")
    result = run_cli("rules", "check", rules_d)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("ok: ") and str(rules_d) in result.stdout


def test_override_of_unknown_id_fails_in_check_and_ingest(run_cli, rules_d, tmp_path, own_export):
    bad = rules_d / "shop.toml"
    bad.write_text(OVERRIDES.replace("logistics.slow", "logistics.nope"), encoding="utf-8")
    expected = f'{bad}:9: rule "logistics.nope": disable: no earlier rule has this id'
    result = run_cli("rules", "check", rules_d)
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [expected]
    (tmp_path / "sentiment.toml").write_text('[rules]\npaths = ["rules.d"]\n', encoding="utf-8")
    assert run_cli("rules", "check").stderr.splitlines() == [expected]   # configured: same error
    result = run_cli("ingest", own_export)
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: ") and expected in result.stderr
    assert not run_cli.db.exists() or query(run_cli.db, "SELECT count(*) FROM documents") == [(0,)]


def test_rules_list_shows_overrides_and_disabled(run_cli, rules_d, tmp_path):
    over = rules_d / "shop.toml"
    over.write_text(OVERRIDES, encoding="utf-8")
    _, plain = run_cli.json("rules", "list")
    (tmp_path / "sentiment.toml").write_text('[rules]\npaths = ["rules.d"]\n', encoding="utf-8")
    result, data = run_cli.json("rules", "list")
    assert result.exit_code == 0
    by_id = {r["id"]: r for r in data["rules"]}
    assert [r["id"] for r in data["rules"]] == [r["id"] for r in plain["rules"]]  # same rules, same order
    slow, defect = by_id["logistics.slow"], by_id["quality.defect"]
    assert slow["enabled"] is False and slow["origin"].endswith("rules/logistics.toml:3")
    assert slow["overrides"] == [{"action": "disable", "at": f"{over}:7"}]
    assert defect == {"id": "quality.defect", "name": "质量故障", "category": "quality", "severity": "high",
                      "owners": ["cs"], "immediate": False, "enabled": True, "origin": defect["origin"],
                      "overrides": [{"action": "extend", "at": f"{over}:1"}]}
    assert defect["origin"].endswith("rules/quality.toml:6")
    assert all(r["enabled"] and r["overrides"] == [] for r in plain["rules"])
    lines = run_cli("rules", "list").stdout.splitlines()
    assert len(lines) == len(data["rules"])
    (slow_line,) = [line for line in lines if line.startswith("logistics.slow  ")]
    assert "  disabled  " in slow_line and slow_line.endswith(f"logistics.toml:3  disable {over}:7")


def test_rules_test_uses_the_override(run_cli, rules_d):
    (rules_d / "shop.toml").write_text(OVERRIDES, encoding="utf-8")
    _, before = run_cli.json("rules", "test", "面膜发黏，不好用")
    assert before["hits"] == []
    _, after = run_cli.json("rules", "test", "面膜发黏，不好用", "--rules", rules_d)
    assert [(h["rule_id"], h["severity"]) for h in after["hits"]] == [("quality.defect", "high")]
    _, slow = run_cli.json("rules", "test", "物流太慢了", "--rules", rules_d)
    assert "logistics.slow" not in {h["rule_id"] for h in slow["hits"]}


# --- rescan: the documents that change ------------------------------------------------------------

def own_ids(db_path: Path) -> dict[str, tuple[str, str, str]]:
    """text -> (document id, created_at, item id) of our own export's documents."""
    rows = query(db_path, "SELECT text_raw, id, created_at, item_id FROM documents")
    return {text: (doc_id, created, item) for text, doc_id, created, item in rows}


def test_rescan_dry_run_json_lists_added_documents_with_excerpts(analyzed, run_cli, extra):
    result, report = run_cli.json("rescan", "--rules", extra, "--dry-run")
    assert result.exit_code == 0
    ids = own_ids(analyzed)
    expected = []
    for text in ("洗发水漏液了，瓶子外面全是", "收到时盖子松了，洒了一半", "漏液严重，差评"):
        doc_id, created, item = ids[text]
        expected.append({"rule_id": "packaging.leak", "category": "packaging", "change": "added",
                         "document_id": doc_id, "created_at": created, "item_id": item,
                         "excerpt": text.replace("，", ",")})  # the normalized text
    key = lambda c: c["document_id"]  # noqa: E731
    assert sorted(report["changes"], key=key) == sorted(expected, key=key)
    assert report["changes_truncated"] is False


def test_rescan_lists_documents_an_override_adds_and_removes(analyzed, run_cli, rules_d):
    (rules_d / "shop.toml").write_text(OVERRIDES, encoding="utf-8")  # extends quality.defect, disables logistics.slow
    before = {(h[0], h[1]) for h in hits(analyzed)}
    slow_docs = {d for d, r in before if r == "logistics.slow"}
    _, report = run_cli.json("rescan", "--rules", rules_d)
    loosened = own_ids(analyzed)["收到时盖子松了，洒了一半"][0]
    added = [c for c in report["changes"] if c["change"] == "added"]
    removed = [c for c in report["changes"] if c["change"] == "removed"]
    assert [(c["rule_id"], c["document_id"]) for c in added] == [("quality.defect", loosened)]
    assert "盖子松" in added[0]["excerpt"]
    assert slow_docs and {c["document_id"] for c in removed} == slow_docs
    assert {(c["rule_id"], c["category"]) for c in removed} == {("logistics.slow", "logistics")}
    assert report["hits_removed"] == {"logistics": len(slow_docs)}
    # the real run wrote what it listed
    after = {(h[0], h[1]) for h in hits(analyzed)}
    assert after == (before - {(d, "logistics.slow") for d in slow_docs}) | {(loosened, "quality.defect")}


def test_rescan_human_output_lists_documents_per_rule(analyzed, run_cli, extra, monkeypatch):
    import sentiment.cli.rules as cli_rules

    ids = own_ids(analyzed)
    lines = run_cli("rescan", "--rules", extra, "--dry-run").stdout.splitlines()
    start = lines.index("packaging.leak (packaging):")
    doc_id, _, _ = ids["收到时盖子松了，洒了一半"]
    assert f"  + {doc_id}  2024-06-03 10:00  700001  收到时盖子松了,洒了一半" in lines[start + 1:start + 4]
    assert not any(line.startswith("  … and") for line in lines)
    monkeypatch.setattr(cli_rules, "SHOWN_CHANGES", 1)
    lines = run_cli("rescan", "--rules", extra, "--dry-run").stdout.splitlines()
    start = lines.index("packaging.leak (packaging):")
    assert lines[start + 1].startswith("  + ") and lines[start + 2] == "  … and 2 more"


def test_rescan_change_log_is_bounded(analyzed, extra):
    """JSON keeps every change up to a limit, then says it truncated; counts stay exact."""
    from sentiment.config import load_settings
    from sentiment.pipeline.analysis import Pipeline
    from sentiment.pipeline.rescan import ChangeLog, rescan
    from sentiment.store import open_db

    settings = load_settings(None, str(analyzed))
    pipeline = Pipeline.from_settings(settings, [extra])
    db = open_db(settings.db, create=False)
    report = rescan(db, pipeline, dry_run=True, changes=ChangeLog(limit=2))
    assert len(report.to_json()["changes"]) == 2 and report.to_json()["changes_truncated"] is True
    assert report.changes.counts == {"packaging.leak": 3}
    report = rescan(db, pipeline, dry_run=True, changes=ChangeLog(per_rule=1))
    assert len(report.changes.kept) == 1 and report.changes.truncated is False
    assert rescan(db, pipeline, dry_run=True).to_json()["changes_truncated"] is False
