"""Triage: states, transitions, history, auto-reopen, CSV export and the digest helpers."""
from __future__ import annotations

import csv
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from sentiment import store
from sentiment.signals import triage

SH = ZoneInfo("Asia/Shanghai")
C_FAKE = "c0ffee0000000000000000000000000a"    # counterfeit cluster -> pr
C_QUAL = "c0ffee1111111111111111111111111b"    # quality cluster -> cs
D_NEG = "d0d0d0aaaa000000000000000000000001"   # negative, unanswered review
D_ANS = "d0d0d0bbbb000000000000000000000002"   # negative, answered by the seller
D_POS = "d0d0d0cccc000000000000000000000003"   # positive review
D_QA = "d0d0d0dddd000000000000000000000004"    # negative question
D_FORMULA = "d0d0d0eeee000000000000000000000005"  # negative, text starting with "="


def iso(dt: datetime) -> str:
    return dt.isoformat(timespec="seconds")


def add_doc(db: Any, doc_id: str, text: str, label: str, *, kind: str = "review",
            reply: str | None = None, category: str | None = None) -> None:
    db.execute("INSERT INTO documents (id, source, kind, item_id, item_title, text, rating, created_at,"
               " seller_reply) VALUES (?, 'tmall', ?, 'i1', '坚果礼盒', ?, NULL, ?, ?)",
               [doc_id, kind, text, "2026-11-20T10:00:00+08:00", reply])
    db.execute("INSERT INTO analyses (document_id, score, label) VALUES (?, ?, ?)",
               [doc_id, 0.1 if label == "negative" else 0.9, label])
    if category:
        db.execute("INSERT INTO rule_hits (document_id, rule_id, category, severity) VALUES (?, ?, ?, 'high')",
                   [doc_id, f"{category}.x", category])


def add_cluster(db: Any, cid: str, category: str, title: str, members: list[tuple[str, str]]) -> None:
    db.execute("INSERT INTO clusters (id, kind, item_id, item_title, category, rule_id, severity, title, size,"
               " first_seen, last_seen, status, created_at, updated_at) VALUES (?, 'rule', 'i1', '坚果礼盒',"
               " ?, ?, 'high', ?, ?, '2026-11-20T10:00:00+08:00', '2026-11-20T10:00:00+08:00', 'open',"
               " '2026-11-20T02:00:00+00:00', '2026-11-20T02:00:00+00:00')",
               [cid, category, f"{category}.x", title, len(members)])
    for doc_id, added_at in members:
        add_member(db, cid, doc_id, added_at)


def add_member(db: Any, cid: str, doc_id: str, added_at: str) -> None:
    db.execute("INSERT INTO cluster_members (cluster_id, document_id, added_at) VALUES (?, ?, ?)",
               [cid, doc_id, added_at])


@pytest.fixture
def db(db_path: Path) -> Any:
    """A real store file with two clusters and five documents."""
    database = store.open_db(db_path)
    add_doc(database, D_NEG, "收到就发霉了，吃了拉肚子", "negative", category="food_safety")
    add_doc(database, D_ANS, "包装破了", "negative", reply="亲，已为您补发")
    add_doc(database, D_POS, "很好吃，回购", "positive")
    add_doc(database, D_QA, "是不是假货？", "negative", kind="question", category="counterfeit")
    add_doc(database, D_FORMULA, '=HYPERLINK("http://x","点我")', "negative")
    add_cluster(database, C_FAKE, "counterfeit", "假货质疑 · 坚果礼盒", [(D_QA, "2026-11-20T02:00:00+00:00")])
    add_cluster(database, C_QUAL, "quality", "-质量问题 · 坚果礼盒", [(D_NEG, "2026-11-20T02:00:00+00:00")])
    return database


def items(run_cli: Any, *args: str) -> dict[str, dict[str, Any]]:
    result, data = run_cli.json("triage", "list", *args)
    assert result.exit_code == 0, result.stderr
    return {item["id"]: item for item in data}


def log(db: Any, key: str) -> list[dict[str, Any]]:
    return list(db.query("SELECT by, action, from_state, to_state, note FROM triage_log WHERE item_key = ?"
                         " ORDER BY id", [key]))


def ok(run_cli: Any, *args: str) -> str:
    result = run_cli("triage", *args)
    assert result.exit_code == 0, result.stderr
    return result.stdout


def fails(run_cli: Any, *args: str) -> str:
    result = run_cli("triage", *args)
    assert result.exit_code == 1, result.stdout
    assert result.stderr.startswith("Error: ")
    return result.stderr


# --- transitions ---------------------------------------------------------------------------------

def test_full_lifecycle_through_the_cli_is_logged(db: Any, run_cli: Any) -> None:
    assert items(run_cli)[C_FAKE]["state"] == "new"
    steps = [
        (("ack", C_FAKE), "acknowledged", None),
        (("assign", C_FAKE, "张三"), "acknowledged", "张三"),
        (("start", C_FAKE), "in_progress", "张三"),
        (("note", C_FAKE, "已联系 品牌方"), "in_progress", "张三"),
        (("resolve", C_FAKE, "--note", "已发检测报告"), "resolved", "张三"),
        (("reopen", C_FAKE), "acknowledged", "张三"),
        (("ignore", C_FAKE, "--note", "竞品刷差评"), "ignored", "张三"),
        (("reopen", C_FAKE), "acknowledged", "张三"),
    ]
    for args, state, assignee in steps:
        out = ok(run_cli, *args, "--by", "pr-lead")
        assert C_FAKE in out and "pr-lead" in out
        item = items(run_cli, "--state", "all")[C_FAKE]
        assert (item["state"], item["assignee"], item["updated_by"]) == (state, assignee, "pr-lead")
    assert [(e["action"], e["from_state"], e["to_state"]) for e in log(db, f"cluster:{C_FAKE}")] == [
        ("ack", "new", "acknowledged"), ("assign", "acknowledged", "acknowledged"),
        ("start", "acknowledged", "in_progress"), ("note", "in_progress", "in_progress"),
        ("resolve", "in_progress", "resolved"), ("reopen", "resolved", "acknowledged"),
        ("ignore", "acknowledged", "ignored"), ("reopen", "ignored", "acknowledged"),
    ]
    entries = log(db, f"cluster:{C_FAKE}")
    assert {e["by"] for e in entries} == {"pr-lead"}
    assert entries[1]["note"] == "assigned to 张三" and entries[4]["note"] == "已发检测报告"
    assert items(run_cli)[C_FAKE]["note"] == "竞品刷差评"  # the last note stays on the item


def test_assign_acknowledges_a_new_item_and_start_works_from_new(db: Any, run_cli: Any) -> None:
    ok(run_cli, "assign", D_NEG, "客服小王", "--by", "cs-lead")
    ok(run_cli, "start", C_QUAL, "--by", "cs-lead")
    listed = items(run_cli)
    assert (listed[D_NEG]["state"], listed[D_NEG]["assignee"]) == ("acknowledged", "客服小王")
    assert listed[C_QUAL]["state"] == "in_progress"
    ok(run_cli, "assign", D_NEG, "客服小李", "--by", "cs-lead")
    assert log(db, f"document:{D_NEG}")[-1]["note"] == "assigned to 客服小李 (was 客服小王)"


@pytest.mark.parametrize("setup, args, message", [
    ([("resolve",)], ("start",), "cannot start cluster:{id}: it is resolved; reopen it first"),
    ([("ignore", "--note", "x")], ("resolve",), "cannot resolve cluster:{id}: it is ignored"),
    ([("resolve",)], ("assign", "张三"), "cannot assign cluster:{id}: it is resolved"),
    ([("ack",)], ("ack",), "cannot ack cluster:{id}: it is acknowledged; ack is allowed from new"),
    ([("start",)], ("start",), "cannot start cluster:{id}: it is in_progress"),
    ([("start",)], ("ack",), "cannot ack cluster:{id}: it is in_progress"),
    ([], ("reopen",), "cannot reopen cluster:{id}: it is new; only resolved or ignored items"),
    ([("assign", "张三")], ("assign", "张三"), "cluster:{id} is already assigned to 张三"),
    ([], ("ignore", "--note", "  "), "ignore needs a note saying why"),
    ([], ("note", " "), "note needs a text"),
    ([], ("ack", "--by", ""), "--by must not be empty"),
])
def test_illegal_transitions_fail_and_change_nothing(db: Any, run_cli: Any, setup: list[tuple[str, ...]],
                                                     args: tuple[str, ...], message: str) -> None:
    for action, *rest in setup:
        ok(run_cli, action, C_FAKE, *rest, "--by", "a")
    before = (log(db, f"cluster:{C_FAKE}"), items(run_cli, "--state", "all")[C_FAKE])
    action, *rest = args
    err = fails(run_cli, action, C_FAKE, *rest)
    assert message.format(id=C_FAKE) in err
    assert (log(db, f"cluster:{C_FAKE}"), items(run_cli, "--state", "all")[C_FAKE]) == before


def test_ignore_without_note_is_a_usage_error(db: Any, run_cli: Any) -> None:
    result = run_cli("triage", "ignore", C_FAKE)
    assert result.exit_code == 2 and "--note" in result.stderr
    assert log(db, f"cluster:{C_FAKE}") == []


def test_default_actor_is_the_login_name(db: Any, run_cli: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("getpass.getuser", lambda: "alice")
    ok(run_cli, "ack", C_FAKE)

    def no_user() -> str:
        raise OSError("no login name")

    monkeypatch.setattr("getpass.getuser", no_user)
    ok(run_cli, "start", C_FAKE)
    assert [e["by"] for e in log(db, f"cluster:{C_FAKE}")] == ["alice", "unknown"]


# --- ids -------------------------------------------------------------------------------------------

def test_ids_by_unique_prefix_with_clear_errors(db: Any, run_cli: Any) -> None:
    ok(run_cli, "ack", D_NEG[:10])
    assert items(run_cli)[D_NEG]["state"] == "acknowledged"
    assert "ambiguous" in fails(run_cli, "ack", "c0ffee")
    assert "ambiguous" in fails(run_cli, "ack", "d0d0d0")
    assert "at least 6 characters" in fails(run_cli, "ack", "c0ffe")
    assert "no cluster or document with id 'abcdef12'" in fails(run_cli, "ack", "abcdef12")
    ok(run_cli, "ack", "c0ffee1")
    assert items(run_cli)[C_QUAL]["state"] == "acknowledged"


def test_an_id_that_is_both_cluster_and_document_needs_a_kind(db: Any, run_cli: Any) -> None:
    add_doc(db, C_FAKE, "同 id 的文档", "negative")
    assert f"write cluster:{C_FAKE} or document:{C_FAKE}" in fails(run_cli, "ack", C_FAKE)
    ok(run_cli, "ack", f"document:{C_FAKE}")
    assert triage.open_state(db, f"document:{C_FAKE}") == ("acknowledged", None)
    assert triage.open_state(db, f"cluster:{C_FAKE}") == ("new", None)


def test_missing_database_is_an_error(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from sentiment.cli import cli

    result = CliRunner().invoke(cli, ["--db", str(tmp_path / "none.db"), "triage", "list"])
    assert result.exit_code == 1 and "does not exist" in result.stderr
    assert not (tmp_path / "none.db").exists()


# --- list and show -----------------------------------------------------------------------------------

def test_list_shows_clusters_and_unanswered_negatives_with_owners(db: Any, run_cli: Any) -> None:
    listed = items(run_cli)
    assert set(listed) == {C_FAKE, C_QUAL, D_NEG, D_QA, D_FORMULA}  # not answered, not positive
    fake, qa = listed[C_FAKE], listed[D_QA]
    for key in ("id", "kind", "state", "owner", "assignee", "category", "title", "updated_at"):
        assert key in fake and key in qa
    assert (fake["kind"], fake["owner"], fake["category"], fake["title"]) == (
        "cluster", "cs,pr", "counterfeit", "假货质疑 · 坚果礼盒")
    assert listed[C_QUAL]["owner"] == "cs"
    assert (qa["kind"], qa["subkind"], qa["owner"], qa["category"], qa["text"]) == (
        "document", "question", "cs", "counterfeit", "是不是假货？")
    assert [i["kind"] for i in listed.values()] == ["cluster"] * 2 + ["document"] * 3  # clusters first
    assert set(items(run_cli, "--owner", "pr")) == {C_FAKE}
    assert set(items(run_cli, "--kind", "document", "--owner", "cs")) == {D_NEG, D_QA, D_FORMULA}


def test_list_filters_by_state_and_assignee(db: Any, run_cli: Any) -> None:
    ok(run_cli, "assign", C_FAKE, "张三")
    ok(run_cli, "assign", D_NEG, "李四")
    ok(run_cli, "resolve", C_QUAL)
    ok(run_cli, "ignore", D_FORMULA, "--note", "广告")
    assert set(items(run_cli)) == {C_FAKE, D_NEG, D_QA}
    assert set(items(run_cli, "--assignee", "张三")) == {C_FAKE}
    assert set(items(run_cli, "--state", "resolved")) == {C_QUAL}
    assert set(items(run_cli, "--state", "closed")) == {C_QUAL, D_FORMULA}
    assert set(items(run_cli, "--state", "new")) == {D_QA}
    assert len(items(run_cli, "--state", "all")) == 5
    text = ok(run_cli, "list", "--owner", "pr")
    assert "张三" in text and "假货质疑" in text and "1 item (open)" in text


def test_a_triaged_document_stays_listed_after_the_seller_replies(db: Any, run_cli: Any) -> None:
    ok(run_cli, "start", D_NEG)
    db.execute("UPDATE documents SET seller_reply = '亲，已退款' WHERE id = ?", [D_NEG])
    listed = items(run_cli)
    assert listed[D_NEG]["answered"] is True and listed[D_NEG]["state"] == "in_progress"
    assert triage.document_hidden(db, D_NEG) and not triage.document_hidden(db, D_QA)


def test_show_prints_the_history(db: Any, run_cli: Any) -> None:
    ok(run_cli, "ack", C_FAKE, "--by", "pr-lead")
    ok(run_cli, "resolve", C_FAKE, "--by", "pr-lead", "--note", "已澄清")
    out = ok(run_cli, "show", C_FAKE[:8])
    assert "state:    resolved" in out
    assert "pr-lead  ack  new -> acknowledged" in out
    assert "pr-lead  resolve  acknowledged -> resolved  已澄清" in out
    assert "是不是假货" in out  # a member
    result, data = run_cli.json("triage", "show", C_FAKE)
    assert [h["action"] for h in data["history"]] == ["ack", "resolve"]
    assert data["member_count"] == 1 and data["resolved_at"]
    assert "history: none (new)" in ok(run_cli, "show", D_NEG)


# --- auto-reopen --------------------------------------------------------------------------------------

def test_resolved_cluster_reopens_when_documents_join_later(db: Any, run_cli: Any) -> None:
    ok(run_cli, "resolve", C_FAKE, "--by", "pr-lead")
    ok(run_cli, "resolve", C_QUAL, "--by", "cs-lead")
    resolved_at = datetime.fromisoformat(db.execute(
        "SELECT resolved_at FROM triage WHERE item_key = ?", [f"cluster:{C_FAKE}"]).fetchone()[0])
    # joined earlier than the resolution (expressed in +08:00): no reopen
    add_member(db, C_QUAL, D_FORMULA, iso((resolved_at - timedelta(minutes=5)).astimezone(SH)))
    assert triage.reopen_on_new_members(db) == []
    # joined after it: reopened to new by "system", assignee kept, logged with the count
    add_member(db, C_FAKE, D_NEG, iso((resolved_at + timedelta(minutes=1)).astimezone(SH)))
    add_member(db, C_FAKE, D_ANS, iso(resolved_at + timedelta(minutes=2)))
    assert triage.reopen_on_new_members(db) == [C_FAKE]
    assert triage.reopen_on_new_members(db) == []  # once
    entry = log(db, f"cluster:{C_FAKE}")[-1]
    assert entry == {"by": "system", "action": "reopen", "from_state": "resolved", "to_state": "new",
                     "note": "2 new documents joined after it was resolved"}
    assert items(run_cli)[C_FAKE]["state"] == "new"
    assert items(run_cli, "--state", "resolved").keys() == {C_QUAL}


def test_list_reopens_and_ignored_clusters_stay_ignored(db: Any, run_cli: Any) -> None:
    ok(run_cli, "resolve", C_FAKE)
    ok(run_cli, "ignore", C_QUAL, "--note", "不处理")
    later = iso(datetime.now(timezone.utc) + timedelta(hours=1))
    add_member(db, C_FAKE, D_NEG, later)
    add_member(db, C_QUAL, D_FORMULA, later)
    listed = items(run_cli)
    assert listed[C_FAKE]["state"] == "new" and listed[C_FAKE]["resolved_at"] is None
    assert C_QUAL not in listed
    assert triage.open_state(db, C_QUAL) == ("ignored", None)


# --- export ----------------------------------------------------------------------------------------------

def test_export_csv_has_bom_and_neutralized_formulas(db: Any, run_cli: Any, tmp_path: Path) -> None:
    ok(run_cli, "assign", D_NEG, "@客服")
    ok(run_cli, "note", D_NEG, "+86 电话回访")
    db.execute("UPDATE documents SET text = ? WHERE id = ?", ["\t=1+1 藏在制表符后", D_QA])
    db.execute("UPDATE documents SET text = ? WHERE id = ?", ["＝SUM(A1) 全角", D_POS])
    out = tmp_path / "triage.csv"
    assert "wrote 5 items" in ok(run_cli, "export", str(out), "--headers", "en")
    assert out.read_bytes().startswith(b"\xef\xbb\xbf")
    with open(out, encoding="utf-8-sig", newline="") as fh:
        rows = {r["id"]: r for r in csv.DictReader(fh)}
    assert set(rows) == {C_FAKE, C_QUAL, D_NEG, D_QA, D_FORMULA}
    assert rows[D_FORMULA]["title"] == "'" + '=HYPERLINK("http://x","点我")'
    assert rows[D_QA]["title"] == "'\t=1+1 藏在制表符后"
    assert rows[C_QUAL]["title"] == "'-质量问题 · 坚果礼盒"
    assert (rows[D_NEG]["assignee"], rows[D_NEG]["note"]) == ("'@客服", "'+86 电话回访")
    assert rows[D_NEG]["title"] == "收到就发霉了，吃了拉肚子" and rows[D_NEG]["state"] == "acknowledged"
    assert rows[C_FAKE]["owner"] == "cs,pr" and rows[C_FAKE]["kind"] == "cluster"
    assert all(not v.startswith(("=", "+", "-", "@", "\t", "\r", "＝")) for r in rows.values() for v in r.values())
    assert triage.neutralize("＝SUM(A1)") == "'＝SUM(A1)" and triage.neutralize("\rx") == "'\rx"
    ok(run_cli, "resolve", C_FAKE)
    result, data = run_cli.json("triage", "export", str(out), "--state", "closed", "--headers", "en")
    assert data["rows"] == 1
    with open(out, encoding="utf-8-sig", newline="") as fh:
        assert [r["id"] for r in csv.DictReader(fh)] == [C_FAKE]


def test_export_csv_has_chinese_headers_and_local_times_by_default(db: Any, run_cli: Any,
                                                                    tmp_path: Path) -> None:
    ok(run_cli, "resolve", C_FAKE, "--note", "已处理")
    db.execute("UPDATE triage SET updated_at = '2026-11-20T17:30:05+00:00', resolved_at = '2026-11-20T17:30:05+00:00'")
    out = tmp_path / "triage.csv"
    ok(run_cli, "export", str(out))
    with open(out, encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == list(triage.EXPORT_HEADERS_ZH) and rows[0][:3] == ["ID", "类型", "状态"]
    fake = {h: v for h, v in zip(rows[0], next(r for r in rows if r[0] == C_FAKE))}
    # UTC bookkeeping times and +08:00 document times, both shown in Asia/Shanghai without offset
    assert (fake["更新时间"], fake["解决时间"]) == ("2026-11-21 01:30:05", "2026-11-21 01:30:05")
    assert fake["创建时间"] == "2026-11-20 10:00:00" and fake["状态"] == "resolved"
    assert not any("+08:00" in v or "+00:00" in v for r in rows[1:] for v in r)
    (tmp_path / "sentiment.toml").write_text('[general]\ntimezone = "Europe/Berlin"\n', encoding="utf-8")
    ok(run_cli, "export", str(out))
    with open(out, encoding="utf-8-sig", newline="") as fh:
        berlin = {r["ID"]: r for r in csv.DictReader(fh)}
    assert berlin[C_FAKE]["创建时间"] == "2026-11-20 03:00:00"


def test_export_to_an_unwritable_path_is_an_error(db: Any, run_cli: Any, tmp_path: Path) -> None:
    assert "cannot write" in fails(run_cli, "export", str(tmp_path / "missing" / "t.csv"))
    assert not (tmp_path / "missing").exists()


# --- digest helpers ---------------------------------------------------------------------------------------

def test_digest_helpers_before_and_after_resolving(db: Any, run_cli: Any) -> None:
    now = datetime.now(SH)
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    ok(run_cli, "assign", C_FAKE, "张三")
    assert triage.open_state(db, f"cluster:{C_FAKE}") == ("acknowledged", "张三")
    assert not triage.is_hidden(db, C_FAKE)
    assert triage.resolved_between(db, today, today + timedelta(days=1)) == []

    ok(run_cli, "resolve", C_FAKE, "--by", "pr-lead", "--note", "已发检测报告")
    assert triage.is_hidden(db, C_FAKE) and not triage.is_hidden(db, C_QUAL)
    assert triage.open_state(db, C_FAKE) == ("resolved", "张三")
    assert triage.states(db) == {f"cluster:{C_FAKE}": ("resolved", "张三")}
    done = triage.resolved_between(db, today, today + timedelta(days=1))
    assert [(d["id"], d["kind"], d["updated_by"], d["assignee"], d["note"], d["title"]) for d in done] == [
        (C_FAKE, "cluster", "pr-lead", "张三", "已发检测报告", "假货质疑 · 坚果礼盒")]
    # "resolved yesterday" seen the next day; the day before has nothing
    assert triage.resolved_between(db, today - timedelta(days=1), today) == []
    assert [d["id"] for d in triage.resolved_between(db, iso(today.astimezone(timezone.utc)),
                                                     iso(now + timedelta(minutes=1)))] == [C_FAKE]
    with pytest.raises(triage.TriageError):
        triage.resolved_between(db, datetime(2026, 1, 1), datetime(2026, 1, 2))
    ok(run_cli, "reopen", C_FAKE)
    assert items(run_cli)[C_FAKE]["resolved_at"] is None
    assert triage.resolved_between(db, today, today + timedelta(days=1)) == []
    assert not triage.is_hidden(db, C_FAKE)


def test_owner_mapping_can_be_passed_in(db: Any) -> None:
    listed = {i["id"]: i for i in triage.list_items(db, owners={"quality": ("cs", "pr")})}
    assert listed[C_QUAL]["owner"] == "cs,pr" and listed[C_FAKE]["owner"] == "cs"
    assert {i["id"] for i in triage.list_items(db, owner="pr", owners={"quality": ("cs", "pr")})} == {C_QUAL}
    assert json.dumps(listed, ensure_ascii=False)  # JSON-serializable
