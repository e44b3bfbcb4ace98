"""Triage in the daily digest: an incident's triage state decides its list (open ones in 新增 /
增长 / 逾期, resolved ones in 昨日关闭, ignored ones nowhere), every row shows state and
assignee, documents resolved during the day make the "昨日已处理差评" line, and replies and
triage empty the unanswered list. Triage rows are written as the triage module stores them
(`incident:<id>` / `document:<id>`); built on the constructed day of digest_fixtures.py."""
from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from digest_fixtures import DAY, INC, RULES, XSS, add, incident, make_settings, parse, seed_day, set_triage
from sentiment import store
from sentiment.reports import digest

ON_DAY = "2024-05-01T04:00:00+00:00"  # 12:00 in Shanghai on DAY
NEXT_DAY = "2024-05-02T02:00:00+00:00"  # 10:00 in Shanghai the morning after the day


@pytest.fixture
def settings(tmp_path: Path) -> Any:
    return make_settings(tmp_path)


@pytest.fixture
def db(settings: Any) -> Any:
    db = store.open_db(settings.db)
    seed_day(db)
    return db


def render(db: Any, settings: Any, audience: str = "cs", day: date = DAY) -> tuple[dict[str, Any], Any]:
    data = digest.build_digest(db, settings, audience, day, RULES)
    return data, digest.render_digest(data)


def ids(data: dict[str, Any], group: str) -> list[str]:
    return [c["id"] for c in data["incidents"][group]["items"]]


def open_ids(data: dict[str, Any]) -> set[str]:
    return {i for group in ("new", "growing", "overdue") for i in ids(data, group)}


def row(data: dict[str, Any], iid: str) -> dict[str, Any]:
    return next(c for group, _ in digest.GROUPS for c in data["incidents"][group]["items"] if c["id"] == iid)


def unanswered_ids(data: dict[str, Any]) -> list[str]:
    return [u["id"] for u in data["unanswered"]["items"]]


def resolved_line(text: str) -> str | None:
    found = [line for line in text.splitlines() if line.startswith("昨日已处理差评")]
    assert len(found) <= 1
    return found[0] if found else None


def html_resolved_line(html: str) -> str | None:
    found = re.findall(r'<div class="resolved"[^>]*>(昨日已处理差评.*?)</div>', html)
    assert len(found) <= 1
    return found[0] if found else None


def incident_block(text: str, iid: str) -> str:
    """The plain-text lines of one incident row (its header line, then its indented lines)."""
    lines = text.splitlines()
    at = next(n for n, line in enumerate(lines) if line.startswith(f"    事件 {iid} "))
    end = at + 1
    while end < len(lines) and lines[end].startswith("    "):
        end += 1
    return "\n".join(lines[at - 1:end])


# ------------------------------------------------------------------ closing and reopening

def test_resolving_an_incident_moves_it_to_the_closed_list(db: Any, settings: Any) -> None:
    data, before = render(db, settings)
    assert INC["mould"] in ids(data, "new") and INC["mould"] not in ids(data, "closed")
    set_triage(db, f"incident:{INC['mould']}", "resolved", at=ON_DAY, note="已召回该批次", owner="cs,pr")
    data, after = render(db, settings)
    assert INC["mould"] not in open_ids(data) and ids(data, "closed")[0] == INC["mould"]  # latest closed first
    assert data["incidents"]["counts"] == {"new": 2, "growing": 1, "overdue": 3, "open": 6, "closed": 3}
    assert after.subject == "【舆情日报】2024-05-01 客服：2 个新事件，3 个逾期，6 个待处理"
    block = incident_block(after.text, INC["mould"])
    assert "已解决 · 2024-05-01 12:00 · 处理人 李四 · 备注：已召回该批次" in block and "已逾期" not in block
    assert "-- 昨日关闭 · 3 个 --" in after.text and "-- 昨日关闭 · 2 个 --" in before.text
    pr, _ = render(db, settings, "pr")  # owned by both: closed for PR too
    assert ids(pr, "closed") == [INC["mould"], INC["misleading"]]


def test_closed_since_the_day_started_by_people_and_by_the_engine(db: Any, settings: Any) -> None:
    data, message = render(db, settings)
    logistics, misleading = row(data, INC["logistics"]), row(data, INC["misleading"])
    assert (logistics["state_name"], logistics["closed_at"], logistics["closed_by"], logistics["note"]) == (
        "已解决", "2024-05-01 12:00", "李四", "已补发")
    assert (misleading["closed_by"], misleading["note"]) == ("系统", "无新证据 14 天，自动关闭")
    assert "处理人 系统 · 备注：无新证据 14 天，自动关闭" in incident_block(message.text, INC["misleading"])
    assert INC["old"] not in ids(data, "closed")  # resolved on 04-30: before the day
    # resolved the next morning, before the digest went out: closed since yesterday
    set_triage(db, f"incident:{INC['quality']}", "resolved", at=NEXT_DAY, owner="cs")
    data, _ = render(db, settings)
    assert ids(data, "closed") == [INC["quality"], INC["logistics"], INC["misleading"]]
    assert INC["quality"] not in open_ids(data)


def test_closed_list_counts_from_the_day_start_in_the_configured_timezone(db: Any, tmp_path: Path) -> None:
    shanghai, utc = make_settings(tmp_path), make_settings(tmp_path, general={"timezone": "UTC"})
    set_triage(db, f"incident:{INC['quality']}", "resolved", at="2024-04-30T17:00:00+00:00")  # 05-01 01:00 Shanghai
    data, _ = render(db, shanghai)
    assert INC["quality"] in ids(data, "closed")
    assert INC["quality"] not in ids(digest.build_digest(db, utc, "cs", DAY, RULES), "closed")  # 04-30 in UTC
    assert INC["quality"] in ids(digest.build_digest(db, utc, "cs", date(2024, 4, 30), RULES), "closed")


def test_closed_list_follows_the_owners(db: Any, settings: Any) -> None:
    set_triage(db, f"incident:{INC['quality']}", "resolved", at=ON_DAY)  # owners: cs
    set_triage(db, f"incident:{INC['fake']}", "resolved", at=ON_DAY)  # owners: cs, pr
    cs, _ = render(db, settings, "cs")
    pr, _ = render(db, settings, "pr")
    assert {INC["quality"], INC["fake"]} <= set(ids(cs, "closed"))
    assert INC["fake"] in ids(pr, "closed") and INC["quality"] not in ids(pr, "closed")
    unowned = incident(db, "1003", "quality", ["h5-0"], severity="low", owners="",
                       opened="2024-04-26T02:00:00+00:00", due="2024-04-29T10:00:00+08:00")
    set_triage(db, f"incident:{unowned}", "resolved", at=ON_DAY, by="system")
    assert unowned in ids(render(db, settings, "cs")[0], "closed")  # no owners: every audience
    assert unowned in ids(render(db, settings, "pr")[0], "closed")


def test_ignored_incidents_leave_every_list_and_reopened_ones_return(db: Any, settings: Any) -> None:
    data, _ = render(db, settings)
    assert INC["ignored"] not in open_ids(data) | set(ids(data, "closed"))  # ignored in the seed
    set_triage(db, f"incident:{INC['quality']}", "ignored", at=ON_DAY, note="测试单")
    data, message = render(db, settings)
    assert INC["quality"] not in open_ids(data) | set(ids(data, "closed"))
    assert INC["quality"] not in message.text and data["incidents"]["counts"]["open"] == 6
    # the engine reopens a resolved incident on new evidence: open again, in the day's lists
    set_triage(db, f"incident:{INC['logistics']}", "new", at=NEXT_DAY, by="system", action="reopen")
    data, _ = render(db, settings)
    assert INC["logistics"] in ids(data, "new") and INC["logistics"] not in ids(data, "closed")


# ------------------------------------------------------------------ state and assignee

def test_open_incidents_show_state_and_assignee(db: Any, settings: Any) -> None:
    data, message = render(db, settings)
    shown = {c["id"]: (c["state"], c["state_name"], c["assignee"]) for group in ("new", "growing", "overdue")
             for c in data["incidents"][group]["items"]}
    assert shown == {INC["mould"]: ("new", "新", None), INC["fake"]: ("acknowledged", "已确认", "张三"),
                     INC["quality"]: ("new", "新", None), INC["spike"]: ("in_progress", "处理中", "李四"),
                     INC["service"]: ("acknowledged", "已确认", "王五"), INC["topic"]: ("new", "新", None)}
    text = message.text
    assert "状态：已确认 · 负责人：张三 · 处理时限 2024-05-02 01:05" in incident_block(text, INC["fake"])
    assert "状态：处理中 · 负责人：李四 · 处理时限 2024-04-30 10:00（已逾期）" in incident_block(text, INC["spike"])
    assert text.count("状态：新 · 负责人：未分配") == 3
    html = re.sub(r' style="[^"]*"', "", message.html)
    assert '状态：<span class="state-acknowledged">已确认</span> · 负责人：张三' in html
    assert '状态：<span class="state-in_progress">处理中</span> · 负责人：李四' in html
    assert html.count('状态：<span class="state-new">新</span> · 负责人：未分配') == 3


def test_assignee_note_and_resolved_titles_are_escaped(db: Any, settings: Any) -> None:
    set_triage(db, f"incident:{INC['fake']}", "acknowledged", at=ON_DAY, assignee="<b onclick=x>赵六</b>")
    set_triage(db, f"incident:{INC['quality']}", "resolved", at=ON_DAY, note="<script>x()</script>已处理")
    add(db, "xss", XSS, "2024-04-30T09:00:00+08:00")
    set_triage(db, "document:xss", "resolved", at=ON_DAY, owner="cs")
    _, message = render(db, settings)
    assert "负责人：&lt;b onclick=x&gt;赵六&lt;/b&gt;" in message.html
    assert "备注：&lt;script&gt;x()&lt;/script&gt;已处理" in message.html
    assert "&lt;script&gt;alert(" in html_resolved_line(message.html)
    tags = parse(message.html)
    assert "script" not in tags.tags and "b" not in tags.tags and "img" not in tags.tags
    assert "负责人：<b onclick=x>赵六</b>" in message.text  # plain text keeps it as written
    assert "<script>alert('x')</script>" in resolved_line(message.text)


# ------------------------------------------------------------------ documents: resolved line and unanswered

def test_resolved_documents_line_lists_five_then_etc(db: Any, settings: Any) -> None:
    for i in range(7):
        add(db, f"r{i}", f"第{i}条差评 " + "很长" * 40, f"2024-04-30T0{i}:00:00+08:00")
        set_triage(db, f"document:r{i}", "resolved", at=f"2024-05-01T0{i}:00:00+00:00", owner="cs")
    data, message = render(db, settings)
    line = resolved_line(message.text)
    assert line is not None and line.startswith("昨日已处理差评 7 条：评价「第0条差评")
    assert line.count("；") == 4 and line.endswith(" 等")
    assert "第4条差评" in line and "第5条差评" not in line
    assert html_resolved_line(message.html) == line
    assert render(db, settings, "pr")[0]["resolved"]["total"] == 0  # documents are CS's queue


def test_seller_reply_takes_a_negative_review_off_the_unanswered_list(db: Any, settings: Any) -> None:
    data, message = render(db, settings)
    assert unanswered_ids(data) == ["u1", "u2"]
    assert "少发了一袋，联系客服没人理" in message.text.split("== 超过")[1]
    with store.transaction(db):
        db.execute("UPDATE documents SET seller_reply = ? WHERE id = 'u1'", ["亲，已为您补发"])
    data, message = render(db, settings)
    assert unanswered_ids(data) == ["u2"] and data["unanswered"]["total"] == 1
    unanswered = message.text.split("== 超过")[1].split("\n== ")[0]
    assert "少发了一袋" not in unanswered and "包装漏气" in unanswered
    with store.transaction(db):  # a blank reply is no reply
        db.execute("UPDATE documents SET seller_reply = '  ' WHERE id = 'u2'")
    assert unanswered_ids(render(db, settings)[0]) == ["u2"]


def test_ignored_or_resolved_documents_leave_the_unanswered_list(db: Any, settings: Any) -> None:
    set_triage(db, "document:u1", "ignored", at=ON_DAY, note="职业差评师", owner="cs")
    data, message = render(db, settings)
    assert unanswered_ids(data) == ["u2"]
    assert resolved_line(message.text) is None  # ignored is not resolved
    set_triage(db, "document:u2", "resolved", at=ON_DAY, owner="cs")
    data, message = render(db, settings)
    assert unanswered_ids(data) == [] and "没有超时未回复的差评。" in message.text
    assert resolved_line(message.text) == "昨日已处理差评 1 条：评价「包装漏气，面包硬了」"
    set_triage(db, "document:u1", "acknowledged", at=NEXT_DAY, owner="cs", action="reopen")
    assert unanswered_ids(render(db, settings)[0]) == ["u1"]


def test_triage_is_read_by_a_fixed_number_of_queries(db: Any, settings: Any) -> None:
    def triage_queries() -> int:
        seen: list[str] = []
        db.conn.set_trace_callback(seen.append)
        try:
            digest.build_digest(db, settings, "cs", DAY, RULES)
        finally:
            db.conn.set_trace_callback(None)
        return sum("triage" in sql for sql in seen)

    few = triage_queries()
    for i in range(15):
        add(db, f"k{i:02d}", "质量不行", f"2024-05-01T1{i % 10}:00:00+08:00", item=str(8000 + i))
        iid = incident(db, str(8000 + i), "quality", [f"k{i:02d}"], severity="low",
                       opened="2024-05-01T02:00:00+00:00", due="2024-05-04T10:00:00+08:00")
        set_triage(db, f"incident:{iid}", "acknowledged", at=ON_DAY, assignee=f"客服{i}")
    assert triage_queries() == few <= 4
