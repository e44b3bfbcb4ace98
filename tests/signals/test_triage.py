"""Triage of incidents and documents: states, transitions (one id or several, all or nothing),
history, the queue and its filters, CS's reply backlog, CSV export and the digest helpers.

Fixtures write `incidents`, `incident_members`, documents, analyses and rule hits directly, as
docs/incidents.md describes them (the incident engine does not run here). Times are relative
to the real clock where the CLI compares them with now (due, overdue, age, the backlog window).
"""
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
TITLES = {"i1": "坚果礼盒", "i2": "手撕面包"}

# incidents; the queue order is the order below (see `db`)
I_MOLD = "inc-a1a1a1a1a1a1"  # food_safety, critical, 2 members, not overdue, cs+pr
I_SLOW = "inc-c0ffee11111b"  # logistics, high, size 1, overdue, cs
I_FAKE = "inc-c0ffee00000a"  # counterfeit, high, size 5, not overdue, cs+pr
I_QUAL = "inc-b2b2b2b2b2b2"  # quality, medium, size 9, cs
I_SERV = "inc-d3d3d3d3d3d3"  # service, medium, size 3, last seen 2h ago, cs
I_MISL = "inc-e4e4e4e4e4e4"  # misleading, medium, size 3, last seen 6h ago, cs+pr
QUEUE = [I_MOLD, I_SLOW, I_FAKE, I_QUAL, I_SERV, I_MISL]

# documents
D_NEG = "d0d0d0aaaa000000000000000000000001"     # negative review, unanswered, 3 days old (mould)
D_ANS = "d0d0d0bbbb000000000000000000000002"     # negative, answered by the seller
D_POS = "d0d0d0cccc000000000000000000000003"     # positive review
D_QA = "d0d0d0dddd000000000000000000000004"      # negative question (not a review)
D_FORMULA = "d0d0d0eeee000000000000000000000005"  # negative review starting with "=", 2 days old
D_OLD = "d0d0d0ffff000000000000000000000006"     # negative by the buyer's rating only, 5 days old
D_RECENT = "d0d0d01111000000000000000000000007"  # negative, 2 hours old: not yet in the backlog
D_PLACE = "d0d0d02222000000000000000000000008"   # negative placeholder (默认好评-style filler)
D_ANCIENT = "d0d0d03333000000000000000000000009"  # negative, 10 days old: past the backlog window
D_FOLLOW = "d0d0d0444400000000000000000000000a"  # negative follow-up, 25 hours old, blank reply
D_MOLD2 = "d0d0d0555500000000000000000000000b"   # mould, 1 day old, answered
BACKLOG = [D_OLD, D_NEG, D_FORMULA, D_FOLLOW]     # oldest first


def ago(**delta: float) -> str:
    """A stored time (+08:00) `delta` before now."""
    return (datetime.now(SH) - timedelta(**delta)).isoformat(timespec="seconds")


def ahead(**delta: float) -> str:
    return (datetime.now(SH) + timedelta(**delta)).isoformat(timespec="seconds")


def add_doc(db: Any, doc_id: str, text: str, label: str, *, created: str, kind: str = "review",
            item: str = "i1", reply: str | None = None, rating: str | None = None, placeholder: int = 0,
            hit: tuple[str, str] | None = None, author: str = "买家") -> None:
    db.execute("INSERT INTO documents (id, source, kind, item_id, item_title, author, text, rating, is_placeholder,"
               " created_at, seller_reply) VALUES (?, 'tmall', ?, ?, ?, ?, ?, ?, ?, ?, ?)",
               [doc_id, kind, item, TITLES[item], author, text, rating, placeholder, created, reply])
    db.execute("INSERT INTO analyses (document_id, score, label) VALUES (?, ?, ?)",
               [doc_id, 0.1 if label == "negative" else 0.9, label])
    if hit:
        category, severity = hit
        db.execute("INSERT INTO rule_hits (document_id, rule_id, category, severity, created_at)"
                   " VALUES (?, ?, ?, ?, ?)", [doc_id, f"{category}.x", category, severity, created])


def add_incident(db: Any, iid: str, category: str, *, item: str = "i1", severity: str = "high", size: int = 1,
                 owners: str = "cs", title: str | None = None, first: str, last: str, due_from: str, due_at: str,
                 members: tuple[str, ...] = (), kind: str = "rule") -> None:
    opened = datetime.now(timezone.utc).isoformat(timespec="seconds")
    db.execute(
        "INSERT INTO incidents (id, kind, shop, item_key, item_id, item_title, category, title, severity,"
        " base_severity, size, first_seen, last_seen, opened_at, due_from, due_at, owners, rules, meta,"
        " created_at, updated_at) VALUES (?, ?, '', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, '{}', ?, ?)",
        [iid, kind, item, item, TITLES[item], category, title or f"{category} · {TITLES[item]}", severity, severity,
         size, first, last, opened, due_from, due_at, owners, json.dumps({f"{category}.x": list(members)}),
         opened, opened])
    for doc_id in members:
        created = db.execute("SELECT created_at FROM documents WHERE id = ?", [doc_id]).fetchone()[0]
        db.execute("INSERT INTO incident_members (incident_id, document_id, created_at, severity, added_at)"
                   " VALUES (?, ?, ?, ?, ?)", [iid, doc_id, created, severity, opened])


@pytest.fixture
def db(db_path: Path) -> Any:
    """A real store file: six open incidents on two items and eleven documents."""
    database = store.open_db(db_path)
    add_doc(database, D_NEG, "收到就发霉了，吃了拉肚子", "negative", created=ago(days=3),
            hit=("food_safety", "critical"), author="小王")
    add_doc(database, D_ANS, "包装破了", "negative", created=ago(days=3), reply="亲，已为您补发")
    add_doc(database, D_POS, "很好吃，回购", "positive", created=ago(days=3))
    add_doc(database, D_QA, "是不是假货？", "negative", created=ago(days=3), kind="question",
            hit=("counterfeit", "high"))
    add_doc(database, D_FORMULA, '=HYPERLINK("http://x","点我")', "negative", created=ago(days=2))
    add_doc(database, D_OLD, "一般般，不会再买", "positive", created=ago(days=5), rating="negative")
    add_doc(database, D_RECENT, "太难吃了", "negative", created=ago(hours=2))
    add_doc(database, D_PLACE, "此用户没有填写评价。", "negative", created=ago(days=4), rating="negative",
            placeholder=1)
    add_doc(database, D_ANCIENT, "很久以前的差评", "negative", created=ago(days=10))
    add_doc(database, D_FOLLOW, "追评：快递一周才到", "negative", created=ago(hours=25), kind="followup",
            item="i2", reply="   ", hit=("logistics", "low"))
    add_doc(database, D_MOLD2, "又是发霉的，一股霉味", "negative", created=ago(days=1), reply="亲，已退款",
            hit=("food_safety", "critical"), author="坚果控")
    add_incident(database, I_MOLD, "food_safety", severity="critical", size=2, owners="cs,pr",
                 title="发霉变质 · 坚果礼盒", first=ago(days=3), last=ago(days=1), due_from=ago(minutes=30),
                 due_at=ahead(minutes=30), members=(D_NEG, D_MOLD2))
    add_incident(database, I_SLOW, "logistics", item="i2", severity="high", size=1, first=ago(hours=25),
                 last=ago(hours=25), due_from=ago(hours=25), due_at=ago(hours=21), members=(D_FOLLOW,))
    add_incident(database, I_FAKE, "counterfeit", severity="high", size=5, owners="cs,pr",
                 title="假货质疑 · 坚果礼盒", first=ago(days=3), last=ago(days=3), due_from=ago(hours=1),
                 due_at=ahead(hours=3), members=(D_QA,))
    add_incident(database, I_QUAL, "quality", item="i2", severity="medium", size=9, title="-质量问题 · 手撕面包",
                 first=ago(hours=4), last=ago(hours=3), due_from=ago(hours=4), due_at=ahead(hours=20))
    add_incident(database, I_SERV, "service", severity="medium", size=3, first=ago(hours=14), last=ago(hours=2),
                 due_from=ago(hours=14), due_at=ahead(hours=10))
    add_incident(database, I_MISL, "misleading", item="i2", severity="medium", size=3, owners="cs,pr",
                 first=ago(hours=14), last=ago(hours=6), due_from=ago(hours=14), due_at=ahead(hours=10))
    return database


def listed(run_cli: Any, *args: str) -> list[dict[str, Any]]:
    result, data = run_cli.json("triage", "list", *args)
    assert result.exit_code == 0, result.stderr
    return data


def items(run_cli: Any, *args: str) -> dict[str, dict[str, Any]]:
    return {item["id"]: item for item in listed(run_cli, *args)}


def ids(run_cli: Any, *args: str) -> list[str]:
    return [item["id"] for item in listed(run_cli, *args)]


def log(db: Any, key: str) -> list[dict[str, Any]]:
    return list(db.query("SELECT by, action, from_state, to_state, note FROM triage_log WHERE item_key = ?"
                         " ORDER BY id", [key]))


def snapshot(db: Any) -> tuple[list[tuple], list[tuple]]:
    """Every triage row and history entry: what a refused action must leave alone."""
    return (db.execute("SELECT * FROM triage ORDER BY item_key").fetchall(),
            db.execute("SELECT * FROM triage_log ORDER BY id").fetchall())


def ok(run_cli: Any, *args: str) -> str:
    result = run_cli("triage", *args)
    assert result.exit_code == 0, result.stderr
    return result.stdout


def fails(run_cli: Any, *args: str) -> str:
    """The one error line of a refused command (exit 1, `Error: ...` on stderr, nothing on stdout)."""
    result = run_cli("triage", *args)
    assert result.exit_code == 1, result.stdout
    assert result.stderr.startswith("Error: ") and result.stdout == ""
    return result.stderr.strip()


# --- transitions ---------------------------------------------------------------------------------

def test_full_lifecycle_through_the_cli_is_logged(db: Any, run_cli: Any) -> None:
    assert items(run_cli)[I_FAKE]["state"] == "new"
    steps = [
        (("ack", I_FAKE), "acknowledged", None, "new -> acknowledged"),
        (("assign", I_FAKE, "张三"), "acknowledged", "张三", "acknowledged"),
        (("start", I_FAKE), "in_progress", "张三", "acknowledged -> in_progress"),
        (("note", I_FAKE, "已联系 品牌方"), "in_progress", "张三", "in_progress"),
        (("resolve", I_FAKE, "--note", "已发检测报告"), "resolved", "张三", "in_progress -> resolved"),
        (("reopen", I_FAKE), "acknowledged", "张三", "resolved -> acknowledged"),
        (("ignore", I_FAKE, "--note", "竞品刷差评"), "ignored", "张三", "acknowledged -> ignored"),
        (("reopen", I_FAKE), "acknowledged", "张三", "ignored -> acknowledged"),
    ]
    for args, state, assignee, change in steps:
        out = ok(run_cli, *args, "--by", "pr-lead")
        assert out.startswith(f"incident:{I_FAKE} {args[0]} ({change}) by pr-lead"), out
        item = items(run_cli, "--state", "all")[I_FAKE]
        assert (item["state"], item["assignee"], item["updated_by"]) == (state, assignee, "pr-lead")
    entries = log(db, f"incident:{I_FAKE}")
    assert [(e["action"], e["from_state"], e["to_state"]) for e in entries] == [
        ("ack", "new", "acknowledged"), ("assign", "acknowledged", "acknowledged"),
        ("start", "acknowledged", "in_progress"), ("note", "in_progress", "in_progress"),
        ("resolve", "in_progress", "resolved"), ("reopen", "resolved", "acknowledged"),
        ("ignore", "acknowledged", "ignored"), ("reopen", "ignored", "acknowledged"),
    ]
    assert {e["by"] for e in entries} == {"pr-lead"}
    assert entries[1]["note"] == "assigned to 张三" and entries[3]["note"] == "已联系 品牌方"
    assert entries[4]["note"] == "已发检测报告"
    assert items(run_cli)[I_FAKE]["note"] == "竞品刷差评"  # the last note stays on the item
    history = triage.history(db, f"incident:{I_FAKE}")  # oldest first, with times
    assert [{k: h[k] for k in ("by", "action", "from_state", "to_state", "note")} for h in history] == entries
    assert [h["at"] for h in history] == sorted(h["at"] for h in history) and all(h["at"] for h in history)
    assert log(db, f"incident:{I_SLOW}") == []  # nothing else touched


def test_assign_acknowledges_a_new_item_and_keeps_later_states(db: Any, run_cli: Any) -> None:
    ok(run_cli, "assign", I_MOLD, "张三", "--by", "cs-lead")
    ok(run_cli, "start", I_SERV, "--by", "cs-lead")  # start straight from new
    ok(run_cli, "assign", I_SERV, "王五", "--by", "cs-lead")
    ok(run_cli, "assign", D_NEG, "客服小王", "--by", "cs-lead")  # documents too
    queue = items(run_cli)
    assert (queue[I_MOLD]["state"], queue[I_MOLD]["assignee"]) == ("acknowledged", "张三")
    assert (queue[I_SERV]["state"], queue[I_SERV]["assignee"]) == ("in_progress", "王五")
    assert triage.open_state(db, f"document:{D_NEG}") == ("acknowledged", "客服小王")
    ok(run_cli, "assign", I_MOLD, "李四", "--by", "cs-lead")
    assert items(run_cli)[I_MOLD]["assignee"] == "李四"
    assert [(e["action"], e["from_state"], e["to_state"], e["note"]) for e in log(db, f"incident:{I_MOLD}")] == [
        ("assign", "new", "acknowledged", "assigned to 张三"),
        ("assign", "acknowledged", "acknowledged", "assigned to 李四 (was 张三)")]
    assert log(db, f"incident:{I_SERV}")[-1]["to_state"] == "in_progress"


REOPEN_HINT = "; reopen it first: sentiment triage reopen {id}"


@pytest.mark.parametrize("setup, args, message", [
    ([("resolve",)], ("start",), "cannot start incident:{id}: it is resolved" + REOPEN_HINT),
    ([("ignore", "--note", "x")], ("resolve",), "cannot resolve incident:{id}: it is ignored" + REOPEN_HINT),
    ([("resolve",)], ("assign", "张三"), "cannot assign incident:{id}: it is resolved" + REOPEN_HINT),
    ([("resolve",)], ("ignore", "--note", "x"), "cannot ignore incident:{id}: it is resolved" + REOPEN_HINT),
    ([("ack",)], ("ack",), "cannot ack incident:{id}: it is acknowledged; ack is allowed from new"),
    ([("start",)], ("start",),
     "cannot start incident:{id}: it is in_progress; start is allowed from new or acknowledged"),
    ([("start",)], ("ack",), "cannot ack incident:{id}: it is in_progress; ack is allowed from new"),
    ([], ("reopen",), "cannot reopen incident:{id}: it is new; only resolved or ignored items can be reopened"),
    ([("ack",)], ("reopen",),
     "cannot reopen incident:{id}: it is acknowledged; only resolved or ignored items can be reopened"),
    ([("assign", "张三")], ("assign", "张三"), "incident:{id} is already assigned to 张三"),
    ([], ("assign", "  "), "assign needs a person"),
    ([], ("ignore", "--note", "  "), "ignore needs a note saying why (--note TEXT)"),
    ([], ("note", " "), "note needs a text"),
    ([], ("ack", "--by", ""), "--by must not be empty"),
])
def test_illegal_transitions_fail_and_change_nothing(db: Any, run_cli: Any, setup: list[tuple[str, ...]],
                                                     args: tuple[str, ...], message: str) -> None:
    for action, *rest in setup:
        ok(run_cli, action, I_FAKE, *rest, "--by", "a")
    before = (snapshot(db), items(run_cli, "--state", "all")[I_FAKE])
    action, *rest = args
    assert fails(run_cli, action, I_FAKE, *rest) == "Error: " + message.format(id=I_FAKE)
    assert (snapshot(db), items(run_cli, "--state", "all")[I_FAKE]) == before


def test_ignore_without_note_is_a_usage_error(db: Any, run_cli: Any) -> None:
    result = run_cli("triage", "ignore", I_FAKE)
    assert result.exit_code == 2 and "--note" in result.stderr
    assert snapshot(db) == ([], [])


def test_default_actor_is_the_login_name(db: Any, run_cli: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("LOGNAME", "USER", "LNAME", "USERNAME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LOGNAME", "alice")  # getpass.getuser reads it first
    ok(run_cli, "ack", I_FAKE)

    def no_user() -> str:  # a container without a login name or passwd entry
        raise OSError("no login name")

    monkeypatch.setattr("getpass.getuser", no_user)
    ok(run_cli, "start", I_FAKE)
    assert [e["by"] for e in log(db, f"incident:{I_FAKE}")] == ["alice", "unknown"]
    assert items(run_cli)[I_FAKE]["updated_by"] == "unknown"


# --- several ids at once ------------------------------------------------------------------------------

def test_bulk_ack_acts_on_every_id_and_logs_each(db: Any, run_cli: Any) -> None:
    out = ok(run_cli, "ack", I_FAKE, I_SLOW[:11], D_NEG, "--by", "pr-lead")
    assert out.splitlines() == [f"incident:{I_FAKE} ack (new -> acknowledged) by pr-lead",
                                f"incident:{I_SLOW} ack (new -> acknowledged) by pr-lead",
                                f"document:{D_NEG} ack (new -> acknowledged) by pr-lead"]
    queue = items(run_cli)
    assert queue[I_FAKE]["state"] == queue[I_SLOW]["state"] == "acknowledged"
    assert queue[I_MOLD]["state"] == "new"
    for key in (f"incident:{I_FAKE}", f"incident:{I_SLOW}", f"document:{D_NEG}"):
        assert log(db, key) == [{"by": "pr-lead", "action": "ack", "from_state": "new",
                                 "to_state": "acknowledged", "note": None}]
    # assign, note and resolve take several ids too; JSON gives one entry per id
    ok(run_cli, "assign", I_FAKE, I_SLOW, "张三")
    ok(run_cli, "note", I_FAKE, I_SLOW, "已联系快递和品牌方")
    result, data = run_cli.json("triage", "resolve", I_FAKE, I_SLOW, "--note", "已处理", "--by", "pr-lead")
    assert [(e["item_key"], e["from_state"], e["to_state"], e["note"]) for e in data] == [
        (f"incident:{I_FAKE}", "acknowledged", "resolved", "已处理"),
        (f"incident:{I_SLOW}", "acknowledged", "resolved", "已处理")]
    closed = items(run_cli, "--state", "resolved")
    assert set(closed) == {I_FAKE, I_SLOW} and {c["assignee"] for c in closed.values()} == {"张三"}
    assert [e["action"] for e in log(db, f"incident:{I_SLOW}")] == ["ack", "assign", "note", "resolve"]


def test_the_same_item_twice_in_one_command_acts_once(db: Any, run_cli: Any) -> None:
    ok(run_cli, "ack", I_FAKE, I_FAKE[:12], f"incident:{I_FAKE}")
    assert [e["action"] for e in log(db, f"incident:{I_FAKE}")] == ["ack"]


@pytest.mark.parametrize("bad, refusal", [
    ("inc-ffffffffffff", "no incident or document with id 'inc-ffffffffffff' (see `sentiment triage list "
                         "--state all`)"),
    (I_SLOW, f"cannot ack incident:{I_SLOW}: it is in_progress; ack is allowed from new"),
    ("inc-c0ffee", "id prefix 'inc-c0ffee' is ambiguous"),
])
def test_bulk_with_one_refused_id_changes_nothing(db: Any, run_cli: Any, bad: str, refusal: str) -> None:
    ok(run_cli, "start", I_SLOW, "--by", "a")
    before = (snapshot(db), items(run_cli))
    err = fails(run_cli, "ack", I_MOLD, bad, I_QUAL, "--by", "pr-lead")
    assert err.startswith("Error: nothing changed (1 of 3 refused): " + refusal), err
    assert (snapshot(db), items(run_cli)) == before
    assert items(run_cli)[I_MOLD]["state"] == "new" and log(db, f"incident:{I_MOLD}") == []


def test_bulk_names_every_refused_id(db: Any, run_cli: Any) -> None:
    ok(run_cli, "resolve", I_FAKE)
    before = snapshot(db)
    err = fails(run_cli, "start", I_FAKE, I_MOLD, "inc-0000000000ff")
    assert err == (f"Error: nothing changed (2 of 3 refused): cannot start incident:{I_FAKE}: it is resolved; "
                   f"reopen it first: sentiment triage reopen {I_FAKE}; no incident or document with id "
                   "'inc-0000000000ff' (see `sentiment triage list --state all`)")
    assert snapshot(db) == before
    with pytest.raises(triage.TriageError, match=r"nothing changed \(1 of 2 refused\)"):
        triage.apply_many(db, [I_MOLD, I_FAKE], "ignore", by="x", note="why")
    assert snapshot(db) == before
    with pytest.raises(triage.TriageError, match="give at least one id"):
        triage.apply_many(db, [], "ack", by="x")
    with pytest.raises(triage.TriageError, match="unknown action 'close'"):
        triage.apply(db, I_MOLD, "close", by="x")
    assert snapshot(db) == before


# --- ids -------------------------------------------------------------------------------------------

def test_ids_by_unique_prefix_with_clear_errors(db: Any, run_cli: Any) -> None:
    ok(run_cli, "ack", D_NEG[:10])
    assert triage.open_state(db, f"document:{D_NEG}") == ("acknowledged", None)
    ok(run_cli, "ack", "inc-a1a1a1")
    assert items(run_cli)[I_MOLD]["state"] == "acknowledged"
    assert fails(run_cli, "ack", "inc-c0ffee") == (
        f"Error: id prefix 'inc-c0ffee' is ambiguous (incident:{I_FAKE}, incident:{I_SLOW}); give more characters")
    assert "ambiguous (document:d0d0d0" in fails(run_cli, "ack", "d0d0d0")
    assert ", ...); give more characters" in fails(run_cli, "ack", "d0d0d0")  # more than four
    assert fails(run_cli, "ack", "inc-a") == (
        "Error: no incident or document 'inc-a'; give the full id or at least 6 characters")
    assert fails(run_cli, "ack", "abcdef12") == (
        "Error: no incident or document with id 'abcdef12' (see `sentiment triage list --state all`)")
    assert "give an incident or document id" in fails(run_cli, "ack", "incident:")
    ok(run_cli, "ack", "inc-c0ffee1")
    assert items(run_cli)[I_SLOW]["state"] == "acknowledged"
    assert items(run_cli)[I_FAKE]["state"] == "new"


def test_an_id_that_is_both_incident_and_document_needs_a_kind(db: Any, run_cli: Any) -> None:
    add_doc(db, I_FAKE, "同 id 的文档", "negative", created=ago(days=2))
    assert fails(run_cli, "ack", I_FAKE) == (
        f"Error: {I_FAKE} is both an incident and a document id; write incident:{I_FAKE} or document:{I_FAKE}")
    ok(run_cli, "ack", f"document:{I_FAKE}")
    assert triage.open_state(db, f"document:{I_FAKE}") == ("acknowledged", None)
    assert triage.open_state(db, f"incident:{I_FAKE}") == ("new", None)
    ok(run_cli, "start", f"incident:{I_FAKE}")
    assert triage.open_state(db, f"incident:{I_FAKE}") == ("in_progress", None)
    assert triage.open_state(db, f"document:{I_FAKE}") == ("acknowledged", None)
    # the kind restricts the search, prefixes included
    assert "no incident or document with id 'd0d0d0aaaa'" in fails(run_cli, "ack", "incident:d0d0d0aaaa")
    assert triage.find_item(db, "document: d0d0d0aaaa") == triage.ItemRef("document", D_NEG)


def test_cluster_ids_are_refused_with_a_pointer_to_incidents(db: Any, run_cli: Any) -> None:
    message = "Error: clusters became incidents: find the item with `sentiment triage list --state all`"
    assert fails(run_cli, "ack", "cluster:c0ffee0000000000000000000000000a") == message
    assert fails(run_cli, "show", "cluster:c0ffee0000000000000000000000000a") == message
    assert fails(run_cli, "resolve", I_FAKE, "cluster:c0ffee00").startswith("Error: nothing changed (1 of 2")
    assert snapshot(db) == ([], [])


def test_missing_database_is_an_error(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from sentiment.cli import cli

    result = CliRunner().invoke(cli, ["--db", str(tmp_path / "none.db"), "triage", "list"])
    assert result.exit_code == 1 and "does not exist" in result.stderr
    assert not (tmp_path / "none.db").exists()


# --- the queue -----------------------------------------------------------------------------------------

def test_queue_order_severity_then_overdue_then_size_then_latest(db: Any, run_cli: Any) -> None:
    # critical (size 2) before a bigger high; the overdue high (size 1) before the bigger high (5);
    # mediums by size, equal sizes by last_seen (newest first)
    assert ids(run_cli) == QUEUE
    # an overdue medium moves ahead of the bigger mediums, never ahead of a high
    db.execute("UPDATE incidents SET due_at = ? WHERE id = ?", [ago(minutes=5), I_MISL])
    assert ids(run_cli) == [I_MOLD, I_SLOW, I_FAKE, I_MISL, I_QUAL, I_SERV]
    # triage state does not change the order
    ok(run_cli, "start", I_FAKE)
    ok(run_cli, "ack", I_MOLD)
    assert ids(run_cli) == [I_MOLD, I_SLOW, I_FAKE, I_MISL, I_QUAL, I_SERV]
    assert [i["id"] for i in triage.list_incidents(db)] == ids(run_cli)


def test_list_json_contract(db: Any, run_cli: Any) -> None:
    queue = items(run_cli)
    fields = ("id", "type", "kind", "state", "severity", "category", "item_id", "item_title", "size", "owners",
              "assignee", "first_seen", "last_seen", "due_at", "overdue", "age_hours")
    for item in queue.values():
        assert all(f in item for f in fields), item
        assert item["type"] == "incident" and item["kind"] == "rule" and isinstance(item["owners"], list)
    stored = db.execute("SELECT first_seen, last_seen, due_from, due_at FROM incidents WHERE id = ?",
                        [I_SLOW]).fetchone()
    slow = queue[I_SLOW]
    assert {f: slow[f] for f in fields} == {
        "id": I_SLOW, "type": "incident", "kind": "rule", "state": "new", "severity": "high",
        "category": "logistics", "item_id": "i2", "item_title": "手撕面包", "size": 1, "owners": ["cs"],
        "assignee": None, "first_seen": stored[0], "last_seen": stored[1], "due_at": stored[3], "overdue": True,
        "age_hours": slow["age_hours"]}
    assert abs(slow["age_hours"] - 25) <= 0.1  # hours since due_from
    mold = queue[I_MOLD]
    assert (mold["overdue"], mold["owners"], mold["size"], mold["severity"]) == (False, ["cs", "pr"], 2, "critical")
    assert abs(mold["age_hours"] - 0.5) <= 0.1
    assert [queue[i]["overdue"] for i in QUEUE] == [False, True, False, False, False, False]
    # due_at is compared with now: a due time a minute ago is overdue now, a minute ahead is not
    db.execute("UPDATE incidents SET due_at = ? WHERE id = ?", [ago(minutes=1), I_FAKE])
    db.execute("UPDATE incidents SET due_at = ? WHERE id = ?", [ahead(minutes=1), I_SLOW])
    queue = items(run_cli)
    assert (queue[I_FAKE]["overdue"], queue[I_SLOW]["overdue"]) == (True, False)
    # a closed incident is never overdue
    ok(run_cli, "resolve", I_FAKE)
    assert items(run_cli, "--state", "all")[I_FAKE]["overdue"] is False


def test_list_filters(db: Any, run_cli: Any) -> None:
    assert ids(run_cli, "--severity", "high") == [I_SLOW, I_FAKE]
    assert ids(run_cli, "--severity", "critical") == [I_MOLD]
    assert ids(run_cli, "--severity", "low") == []
    assert ids(run_cli, "--item", "i2") == [I_SLOW, I_QUAL, I_MISL]
    assert ids(run_cli, "--item", "手撕面包") == [I_SLOW, I_QUAL, I_MISL]
    assert ids(run_cli, "--item", "i3") == []
    assert ids(run_cli, "--category", "food_safety") == [I_MOLD]
    assert ids(run_cli, "--category", "food") == []  # a category, not a substring
    assert ids(run_cli, "--overdue") == [I_SLOW]
    assert ids(run_cli, "--owner", "pr") == [I_MOLD, I_FAKE, I_MISL]
    assert ids(run_cli, "--owner", "cs") == QUEUE
    assert ids(run_cli, "--owner", "c") == []  # an audience, not a substring of "cs,pr"
    assert ids(run_cli, "--severity", "medium", "--owner", "pr") == [I_MISL]
    assert ids(run_cli, "--item", "i1", "--severity", "high") == [I_FAKE]
    ok(run_cli, "assign", I_FAKE, I_SERV, "张三")
    ok(run_cli, "assign", I_QUAL, "李四")
    assert ids(run_cli, "--assignee", "张三") == [I_FAKE, I_SERV]
    assert ids(run_cli, "--assignee", "李四", "--owner", "pr") == []
    result = run_cli("triage", "list", "--severity", "urgent")
    assert result.exit_code == 2


def test_list_filters_by_state(db: Any, run_cli: Any) -> None:
    ok(run_cli, "ack", I_MOLD)
    ok(run_cli, "start", I_SERV)
    ok(run_cli, "resolve", I_FAKE)
    ok(run_cli, "resolve", I_SLOW)
    ok(run_cli, "ignore", I_QUAL, "--note", "广告")
    assert ids(run_cli) == [I_MOLD, I_SERV, I_MISL]
    assert ids(run_cli, "--state", "open") == [I_MOLD, I_SERV, I_MISL]
    # a closed incident is not overdue: the resolved logistics one sorts by size again
    assert ids(run_cli, "--state", "closed") == [I_FAKE, I_SLOW, I_QUAL]
    assert ids(run_cli, "--state", "all") == [I_MOLD, I_FAKE, I_SLOW, I_QUAL, I_SERV, I_MISL]
    assert ids(run_cli, "--state", "resolved") == [I_FAKE, I_SLOW]
    assert ids(run_cli, "--state", "ignored") == [I_QUAL]
    assert ids(run_cli, "--state", "new") == [I_MISL]
    assert ids(run_cli, "--state", "in_progress") == [I_SERV]
    assert ids(run_cli, "--state", "all", "--overdue") == []  # the overdue one was resolved
    assert ids(run_cli, "--state", "closed", "--owner", "pr") == [I_FAKE]


def test_list_text_output(db: Any, run_cli: Any) -> None:
    ok(run_cli, "assign", I_FAKE, "张三")
    lines = ok(run_cli, "list").splitlines()
    assert [line.split()[0] for line in lines[:-1]] == QUEUE
    assert lines[-1] == "6 incidents (open)"
    mold, slow, fake = lines[0], lines[1], lines[2]
    assert "紧急" in mold and "food_safety" in mold and "坚果礼盒" in mold and "发霉变质 · 坚果礼盒" in mold
    assert "高" in slow and "! " in slow and "手撕面包" in slow
    assert "!" not in fake and "张三" in fake and "acknowledged" in fake
    assert ok(run_cli, "list", "--limit", "2").splitlines()[-1] == "2 of 6 incidents (open)"
    assert ids(run_cli, "--limit", "2") == QUEUE[:2]
    assert ok(run_cli, "list", "--severity", "low").strip() == "no open incidents"
    assert ok(run_cli, "list", "--severity", "critical").splitlines()[-1] == "1 incident (open)"
    assert ok(run_cli, "list", "--state", "closed").strip() == "no closed incidents"


# --- CS's reply backlog ----------------------------------------------------------------------------------

def test_unanswered_lists_negative_unreplied_reviews_oldest_first(db: Any, run_cli: Any) -> None:
    # not: answered (D_ANS, D_MOLD2), positive (D_POS), a question (D_QA), a placeholder (D_PLACE),
    # younger than unanswered_hours (D_RECENT), older than unanswered_days (D_ANCIENT)
    backlog = listed(run_cli, "--unanswered")
    assert [b["id"] for b in backlog] == BACKLOG
    neg = backlog[1]
    assert (neg["type"], neg["kind"], neg["state"], neg["owners"], neg["category"], neg["incidents"],
            neg["answered"], neg["due_at"], neg["overdue"], neg["text"]) == (
        "document", "review", "new", ["cs"], "food_safety", [I_MOLD], False, None, False, "收到就发霉了，吃了拉肚子")
    assert abs(backlog[0]["age_hours"] - 120) <= 0.1 and backlog[0]["rating"] == "negative"
    assert backlog[3]["kind"] == "followup" and backlog[3]["item_id"] == "i2"  # a blank reply is no reply
    assert [b["id"] for b in listed(run_cli, "--unanswered", "--item", "i2")] == [D_FOLLOW]
    # triaged documents: closed ones leave the backlog, a reply takes it out of it
    ok(run_cli, "assign", D_NEG, "客服小王")
    ok(run_cli, "resolve", D_FORMULA, "--note", "广告")
    assert [b["id"] for b in listed(run_cli, "--unanswered")] == [D_OLD, D_NEG, D_FOLLOW]
    assert [b["id"] for b in listed(run_cli, "--unanswered", "--assignee", "客服小王")] == [D_NEG]
    assert [b["id"] for b in listed(run_cli, "--unanswered", "--state", "all")] == BACKLOG
    assert [b["id"] for b in listed(run_cli, "--unanswered", "--state", "resolved")] == [D_FORMULA]
    db.execute("UPDATE documents SET seller_reply = '亲，已退款' WHERE id = ?", [D_NEG])
    assert [b["id"] for b in listed(run_cli, "--unanswered")] == [D_OLD, D_FOLLOW]
    # the reply window comes from [digest]
    Path("sentiment.toml").write_text("[digest]\nunanswered_hours = 1\nunanswered_days = 4\n", encoding="utf-8")
    assert [b["id"] for b in listed(run_cli, "--unanswered")] == [D_FOLLOW, D_RECENT]


def test_unanswered_text_and_usage(db: Any, run_cli: Any) -> None:
    lines = ok(run_cli, "list", "--unanswered").splitlines()
    assert [line.split()[0] for line in lines[:-1]] == [d[:14] for d in BACKLOG]
    assert "收到就发霉了，吃了拉肚子" in lines[1] and "5d" in lines[0]
    assert lines[-1] == "4 unanswered reviews (open)"
    assert ok(run_cli, "list", "--unanswered", "--item", "i2").splitlines()[-1] == "1 unanswered review (open)"
    for option in (("--severity", "high"), ("--category", "logistics"), ("--overdue",), ("--owner", "cs")):
        result = run_cli("triage", "list", "--unanswered", *option)
        assert result.exit_code == 2 and "--unanswered takes" in result.stderr


# --- show --------------------------------------------------------------------------------------------------

def test_show_an_incident_with_members_and_history(db: Any, run_cli: Any) -> None:
    ok(run_cli, "ack", I_MOLD, "--by", "pr-lead")
    ok(run_cli, "resolve", I_MOLD, "--by", "pr-lead", "--note", "已澄清")
    out = ok(run_cli, "show", I_MOLD[:8])
    assert out.startswith(f"incident {I_MOLD} (rule, 2 documents)\n")
    assert "severity: critical   category: food_safety   item: 坚果礼盒" in out
    assert "title:    发霉变质 · 坚果礼盒" in out
    assert "state:    resolved   owner: cs,pr   assignee: -" in out
    assert "note:     已澄清" in out
    assert "pr-lead  ack  new -> acknowledged" in out
    assert "pr-lead  resolve  acknowledged -> resolved  已澄清" in out
    # members, newest first
    assert f"document {D_MOLD2[:14]}" in out and f"document {D_NEG[:14]}" in out
    assert out.index("又是发霉的，一股霉味") < out.index("收到就发霉了，吃了拉肚子")
    assert "(overdue)" not in out
    result, data = run_cli.json("triage", "show", I_MOLD)
    assert [h["action"] for h in data["history"]] == ["ack", "resolve"]
    assert [m["id"] for m in data["members"]] == [D_MOLD2, D_NEG]
    assert data["member_count"] == 2 and data["resolved_at"] and data["state"] == "resolved"
    assert data["rules"] == {"food_safety.x": [D_NEG, D_MOLD2]}
    slow = ok(run_cli, "show", I_SLOW)
    assert "(overdue)" in slow and "history: none (new)" in slow and "追评：快递一周才到" in slow
    serv = ok(run_cli, "show", I_SERV)
    assert serv.startswith(f"incident {I_SERV} (rule, 3 documents)") and "  document " not in serv  # none stored


def test_show_a_document(db: Any, run_cli: Any) -> None:
    out = ok(run_cli, "show", D_NEG)
    assert out.startswith(f"document {D_NEG} (review)\n")
    assert "text:     收到就发霉了，吃了拉肚子" in out
    assert f"answered: no   incidents: {I_MOLD}" in out
    assert "state:    new   owner: cs   assignee: -" in out and "history: none (new)" in out
    assert "answered: yes   incidents: -" in ok(run_cli, "show", D_ANS)
    assert fails(run_cli, "show", "inc-ffffffffffff").startswith("Error: no incident or document with id")


# --- export ------------------------------------------------------------------------------------------------

def read_csv(path: Path) -> dict[str, dict[str, str]]:
    with open(path, encoding="utf-8-sig", newline="") as fh:
        return {r["id"]: r for r in csv.DictReader(fh)}


def test_export_csv_has_bom_and_neutralized_formulas(db: Any, run_cli: Any, tmp_path: Path) -> None:
    ok(run_cli, "assign", I_MOLD, "@客服")
    ok(run_cli, "note", I_MOLD, "+86 电话回访")
    db.execute("UPDATE incidents SET title = ? WHERE id = ?", ['=HYPERLINK("http://x","点我")', I_SERV])
    db.execute("UPDATE incidents SET title = ? WHERE id = ?", ["\t=1+1 藏在制表符后", I_MISL])
    db.execute("UPDATE incidents SET title = ? WHERE id = ?", ["＝SUM(A1) 全角", I_SLOW])
    out = tmp_path / "triage.csv"
    assert ok(run_cli, "export", str(out), "--headers", "en") == f"wrote 6 items to {out}\n"
    assert out.read_bytes().startswith(b"\xef\xbb\xbf")
    rows = read_csv(out)
    assert list(rows) == QUEUE  # queue order
    assert rows[I_SERV]["title"] == "'" + '=HYPERLINK("http://x","点我")'
    assert rows[I_MISL]["title"] == "'\t=1+1 藏在制表符后"
    assert rows[I_SLOW]["title"] == "'＝SUM(A1) 全角"
    assert rows[I_QUAL]["title"] == "'-质量问题 · 手撕面包"
    assert (rows[I_MOLD]["assignee"], rows[I_MOLD]["note"]) == ("'@客服", "'+86 电话回访")
    assert (rows[I_MOLD]["state"], rows[I_MOLD]["owner"], rows[I_MOLD]["kind"], rows[I_MOLD]["size"]) == (
        "acknowledged", "cs,pr", "rule", "2")
    assert (rows[I_SLOW]["overdue"], rows[I_FAKE]["overdue"]) == ("是", "")
    assert (rows[I_FAKE]["title"], rows[I_FAKE]["item_title"], rows[I_FAKE]["category"]) == (
        "假货质疑 · 坚果礼盒", "坚果礼盒", "counterfeit")
    assert all(not v.startswith(("=", "+", "-", "@", "\t", "\r", "＝")) for r in rows.values() for v in r.values())
    ok(run_cli, "resolve", I_FAKE)
    result, data = run_cli.json("triage", "export", str(out), "--state", "closed", "--headers", "en")
    assert data == {"path": str(out), "rows": 1} and list(read_csv(out)) == [I_FAKE]
    assert ok(run_cli, "export", str(out), "--state", "open", "--owner", "pr", "--headers", "en") == (
        f"wrote 2 items to {out}\n")
    assert list(read_csv(out)) == [I_MOLD, I_MISL]
    ok(run_cli, "export", str(out), "--headers", "en")  # all states by default
    assert len(read_csv(out)) == 6


def test_export_csv_has_chinese_headers_and_local_times_by_default(db: Any, run_cli: Any,
                                                                    tmp_path: Path) -> None:
    ok(run_cli, "resolve", I_FAKE, "--note", "已处理")
    db.execute("UPDATE triage SET updated_at = '2026-11-20T17:30:05+00:00', resolved_at = '2026-11-20T17:30:05+00:00'")
    db.execute("UPDATE incidents SET first_seen = '2026-11-20T10:00:00+08:00', last_seen = '2026-11-21T09:15:00+08:00',"
               " due_at = '2026-11-20T14:00:00+08:00' WHERE id = ?", [I_FAKE])
    out = tmp_path / "triage.csv"
    ok(run_cli, "export", str(out))
    with open(out, encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == list(triage.EXPORT_HEADERS_ZH) and rows[0][:4] == ["ID", "类型", "状态", "严重程度"]
    fake = dict(zip(rows[0], next(r for r in rows if r[0] == I_FAKE)))
    # UTC bookkeeping times and +08:00 evidence times, both shown in Asia/Shanghai without offset
    assert (fake["更新时间"], fake["解决时间"]) == ("2026-11-21 01:30:05", "2026-11-21 01:30:05")
    assert (fake["首次出现"], fake["最近出现"], fake["处理时限"]) == (
        "2026-11-20 10:00:00", "2026-11-21 09:15:00", "2026-11-20 14:00:00")
    assert (fake["状态"], fake["是否逾期"], fake["备注"], fake["负责方"]) == ("resolved", "", "已处理", "cs,pr")
    assert not any("+08:00" in v or "+00:00" in v for r in rows[1:] for v in r)
    Path("sentiment.toml").write_text('[general]\ntimezone = "Europe/Berlin"\n', encoding="utf-8")
    ok(run_cli, "export", str(out))
    with open(out, encoding="utf-8-sig", newline="") as fh:
        berlin = {r["ID"]: r for r in csv.DictReader(fh)}
    assert (berlin[I_FAKE]["首次出现"], berlin[I_FAKE]["更新时间"]) == ("2026-11-20 03:00:00", "2026-11-20 18:30:05")


def test_export_to_an_unwritable_path_is_an_error(db: Any, run_cli: Any, tmp_path: Path) -> None:
    assert "cannot write" in fails(run_cli, "export", str(tmp_path / "missing" / "t.csv"))
    assert not (tmp_path / "missing").exists()
    assert list(tmp_path.glob(".*.tmp")) == []


# --- digest helpers ---------------------------------------------------------------------------------------

def test_digest_helpers_before_and_after_resolving(db: Any, run_cli: Any) -> None:
    now = datetime.now(SH)
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    key = f"incident:{I_FAKE}"
    ok(run_cli, "assign", I_FAKE, "张三")
    assert triage.open_state(db, key) == ("acknowledged", "张三")
    assert triage.open_state(db, f"incident:{I_SLOW}") == ("new", None)
    assert not triage.is_hidden(db, key)
    assert triage.resolved_between(db, today, today + timedelta(days=1)) == []

    ok(run_cli, "resolve", I_FAKE, "--by", "pr-lead", "--note", "已发检测报告")
    ok(run_cli, "ignore", I_QUAL, "--note", "不处理")
    assert triage.is_hidden(db, key) and triage.is_hidden(db, f"incident:{I_QUAL}")
    assert not triage.is_hidden(db, f"incident:{I_SLOW}")
    assert triage.open_state(db, key) == ("resolved", "张三")
    assert triage.states(db) == {key: ("resolved", "张三"), f"incident:{I_QUAL}": ("ignored", None)}
    done = triage.resolved_between(db, today, today + timedelta(days=1))  # not the ignored one
    assert [(d["id"], d["type"], d["updated_by"], d["assignee"], d["note"], d["title"]) for d in done] == [
        (I_FAKE, "incident", "pr-lead", "张三", "已发检测报告", "假货质疑 · 坚果礼盒")]
    assert "history" not in done[0] and "members" not in done[0]
    # "resolved yesterday" seen the next day; the day before has nothing
    assert triage.resolved_between(db, today - timedelta(days=1), today) == []
    assert [d["id"] for d in triage.resolved_between(
        db, today.astimezone(timezone.utc).isoformat(), (now + timedelta(minutes=1)).isoformat())] == [I_FAKE]
    with pytest.raises(triage.TriageError):
        triage.resolved_between(db, datetime(2026, 1, 1), datetime(2026, 1, 2))
    # a triage row left from a cluster that never became an incident is no item of the digest
    db.execute("INSERT INTO triage (item_key, kind, state, resolved_at, updated_at, updated_by) VALUES"
               " ('cluster:c0ffee0000000000000000000000000a', 'cluster', 'resolved', ?, ?, 'x')",
               [now.isoformat(), now.isoformat()])
    assert [d["id"] for d in triage.resolved_between(db, today, today + timedelta(days=1))] == [I_FAKE]
    ok(run_cli, "reopen", I_FAKE)
    assert items(run_cli)[I_FAKE]["resolved_at"] is None
    assert triage.resolved_between(db, today, today + timedelta(days=1)) == []
    assert not triage.is_hidden(db, key)


def test_engine_quiet_close_counts_as_resolved(db: Any, run_cli: Any) -> None:
    # the incident engine closes a quiet incident as `system` with set_state + log_entry
    ok(run_cli, "assign", I_SERV, "王五")
    at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    key = f"incident:{I_SERV}"
    triage.set_state(db, key, "incident", "resolved", at, triage.SYSTEM, owners="cs")
    triage.log_entry(db, key, at, triage.SYSTEM, "resolve", "acknowledged", "resolved", "无新证据 14 天，自动关闭")
    assert triage.open_state(db, key) == ("resolved", "王五")  # assignee kept
    today = datetime.now(SH).replace(hour=0, minute=0, second=0, microsecond=0)
    done = triage.resolved_between(db, today, today + timedelta(days=1))
    assert [(d["id"], d["updated_by"], d["resolved_at"]) for d in done] == [(I_SERV, "system", at)]
    assert I_SERV not in items(run_cli)
    assert "system  resolve  acknowledged -> resolved  无新证据 14 天，自动关闭" in ok(run_cli, "show", I_SERV)
    # reopened by evidence: back to new, resolved_at cleared, still assigned
    triage.set_state(db, key, "incident", "new", at, triage.SYSTEM)
    assert items(run_cli)[I_SERV]["state"] == "new" and items(run_cli)[I_SERV]["resolved_at"] is None
    assert items(run_cli)[I_SERV]["assignee"] == "王五"


def test_document_hidden_by_reply_or_closed_triage(db: Any, run_cli: Any) -> None:
    assert not triage.document_hidden(db, D_NEG) and not triage.document_hidden(db, D_FOLLOW)  # blank reply
    assert triage.document_hidden(db, D_ANS)
    ok(run_cli, "start", D_NEG)
    assert not triage.document_hidden(db, D_NEG)  # in progress: still in the backlog
    db.execute("UPDATE documents SET seller_reply = '亲，已退款' WHERE id = ?", [D_NEG])
    assert triage.document_hidden(db, D_NEG)
    ok(run_cli, "ignore", D_FORMULA, "--note", "广告")
    assert triage.document_hidden(db, D_FORMULA)
    ok(run_cli, "reopen", D_FORMULA)
    assert not triage.document_hidden(db, D_FORMULA)


def test_owner_mapping(db: Any) -> None:
    # an incident's own owners win; without them the mapping passed in, else the bundled catalogue
    add_incident(db, "inc-0a0a0a0a0a01", "quality", owners="", first=ago(hours=1), last=ago(hours=1),
                 due_from=ago(hours=1), due_at=ahead(hours=23))
    add_incident(db, "inc-0a0a0a0a0a02", "counterfeit", owners="", first=ago(hours=1), last=ago(hours=1),
                 due_from=ago(hours=1), due_at=ahead(hours=3))
    add_incident(db, "inc-0a0a0a0a0a03", "topic:发霉 变质", kind="topic", owners="", first=ago(hours=1),
                 last=ago(hours=1), due_from=ago(hours=1), due_at=ahead(hours=3))
    mapping = {"quality": ("cs", "pr"), "counterfeit": ("pr",)}
    for iid in ("inc-0a0a0a0a0a01", "inc-0a0a0a0a0a02", "inc-0a0a0a0a0a03", I_SLOW, I_FAKE):
        triage.apply(db, iid, "ack", by="x", owners=mapping)
    triage.apply(db, D_NEG, "ack", by="x", owners=mapping)
    owner = dict(db.execute("SELECT item_key, owner FROM triage").fetchall())
    assert owner == {"incident:inc-0a0a0a0a0a01": "cs,pr", "incident:inc-0a0a0a0a0a02": "pr",
                     "incident:inc-0a0a0a0a0a03": "cs", f"incident:{I_SLOW}": "cs",
                     f"incident:{I_FAKE}": "cs,pr", f"document:{D_NEG}": "cs"}
    # without a mapping: the bundled catalogue (quality -> cs, counterfeit -> cs, pr)
    triage.apply(db, "inc-0a0a0a0a0a01", "note", by="x", note="无映射")
    triage.apply(db, "inc-0a0a0a0a0a02", "start", by="x")
    owner = dict(db.execute("SELECT item_key, owner FROM triage").fetchall())
    assert (owner["incident:inc-0a0a0a0a0a01"], owner["incident:inc-0a0a0a0a0a02"]) == ("cs", "cs,pr")
    assert triage.cluster_owners("quality", mapping) == ("cs", "pr")
    assert triage.cluster_owners("logistics", mapping) == ("cs",)  # not mapped: the fallback
    assert triage.cluster_owners("food_safety") == ("cs", "pr")  # bundled
    queue = {i["id"]: i for i in triage.list_incidents(db, owner="pr")}
    assert set(queue) == {I_MOLD, I_FAKE, I_MISL}  # the incidents' owners column
    assert json.dumps(triage.list_incidents(db), ensure_ascii=False)  # JSON-serializable
