"""A filtered rescan touches only the documents it selects."""
from __future__ import annotations

import sqlite_utils

EXTRA = """
[[rule]]
id = "quality.zipper"
category = "quality"
name = "拉链问题"
severity = "medium"
owners = ["cs"]
query = '拉链 AND 坏了'
"""


def zipper_store(run_cli, db_path, tmp_path, items: list[str]) -> tuple[sqlite_utils.Database, object]:
    """Reviews of zippers that broke, one per item in `items`, dated 2026-11-20..28 in turn, stored
    and analyzed; and the rule file that matches them (not yet applied)."""
    export = tmp_path / "reviews.csv"
    rows = [f"{700 + i},{item},拉链用了两天就坏了 第{i}件,2026-11-2{i % 9} 10:00:00" for i, item in enumerate(items)]
    export.write_text("评论ID,商品ID,评论内容,日期\n" + "\n".join(rows) + "\n", encoding="utf-8")
    assert run_cli("ingest", export).exit_code == 0
    rule = tmp_path / "extra.toml"
    rule.write_text(EXTRA, encoding="utf-8")
    return sqlite_utils.Database(db_path), rule


def test_item_filter_leaves_other_items_unmatched(run_cli, db_path, tmp_path):
    db, rule = zipper_store(run_cli, db_path, tmp_path, ["A" if i % 2 else "B" for i in range(10)])
    before = dict(db.execute("SELECT document_id, rules_version FROM analyses").fetchall())

    result = run_cli("rescan", "--item", "A", "--rules", rule, "--json")
    assert result.exit_code == 0, result.stderr
    by_item = {}
    for item, version, zipper in db.execute(
            "SELECT d.item_id, a.rules_version, (SELECT count(*) FROM rule_hits h WHERE h.document_id = d.id"
            " AND h.rule_id = 'quality.zipper') FROM documents d JOIN analyses a ON a.document_id = d.id"):
        by_item.setdefault(item, set()).add((version, zipper))
    old_version = next(iter(set(before.values())))
    assert by_item["B"] == {(old_version, 0)}          # not selected: untouched
    (new_version, hits), = by_item["A"]
    assert new_version != old_version and hits == 1   # selected: matched by the new rule


def test_date_filter_touches_only_its_days_and_finds_their_stored_hits(run_cli, db_path, tmp_path):
    """The selected documents interleave with the others by rowid: they are read, re-matched and
    bumped by their own rowids, and their stored hits found by document."""
    db, rule = zipper_store(run_cli, db_path, tmp_path, ["A"] * 18)
    old_version = db.execute("SELECT DISTINCT rules_version FROM analyses").fetchone()[0]

    _, report = run_cli.json("rescan", "--since", "2026-11-25", "--rules", rule)
    assert report["documents"] == 8 and report["hits_added"] == {"quality": 8}
    state = db.execute(
        "SELECT substr(d.created_at, 1, 10) >= '2026-11-25', a.rules_version != ?, (SELECT count(*) FROM rule_hits h"
        " WHERE h.document_id = d.id AND h.rule_id = 'quality.zipper') FROM documents d"
        " JOIN analyses a ON a.document_id = d.id", [old_version]).fetchall()
    assert sorted(set(state)) == [(0, 0, 0), (1, 1, 1)]
    # the same rescan again: the stored hits are found, nothing is added or removed
    _, again = run_cli.json("rescan", "--since", "2026-11-25", "--rules", rule, "--dry-run")
    assert again["documents"] == 8 and again["hits_added"] == {} and again["hits_removed"] == {}
