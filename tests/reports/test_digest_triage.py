"""Triage in the daily digest: closed items leave it, open clusters show state and assignee,
a "昨日已解决" line names what was resolved during the day, replies and triage empty the
unanswered list. Built on the constructed day of test_digest.py."""
from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from sentiment import store
from sentiment.reports import digest
from sentiment.signals import triage
from sentiment.cli import cli
from test_digest import DAY, RULES, XSS, add, cluster, make_settings, parse, seed_day, write_config

MOLD = "食品安全：发霉、拉肚子"  # the digest title of cluster c-mold (food_safety: owned by cs and pr)
FAKE = "假货质疑：假货"  # c-fake (counterfeit: owned by cs and pr)
ON_DAY = "2024-05-01T04:00:00+00:00"  # 12:00 in Shanghai on DAY
NEXT_DAY = "2024-05-02T02:00:00+00:00"  # 10:00 in Shanghai the morning after


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


def cluster_ids(data: dict[str, Any]) -> list[str]:
    return [c["id"] for c in data["clusters"]["items"]]


def unanswered_ids(data: dict[str, Any]) -> list[str]:
    return [u["id"] for u in data["unanswered"]["items"]]


def resolved_line(text: str) -> str | None:
    found = [line for line in text.splitlines() if line.startswith("昨日已解决")]
    assert len(found) <= 1
    return found[0] if found else None


def html_resolved_line(html: str) -> str | None:
    found = re.findall(r'<div class="resolved"[^>]*>(.*?)</div>', html)
    assert len(found) <= 1
    return found[0] if found else None


def html_cluster_titles(html: str) -> list[str]:
    return re.findall(r'<span class="item-title"[^>]*>(.*?)</span>', html)


def text_cluster_titles(text: str) -> list[str]:
    return [m.group(1) for m in re.finditer(r"^\[[^\]]+\]\[[^\]]+\] (.*)$", text, re.M)]


# ------------------------------------------------------------------ clusters and the resolved line

def test_resolving_a_cluster_removes_it_and_the_resolved_line_names_it(db: Any, settings: Any) -> None:
    data, before = render(db, settings)
    assert "c-mold" in cluster_ids(data) and data["clusters"]["total"] == 4
    assert MOLD in text_cluster_titles(before.text) and MOLD in html_cluster_titles(before.html)
    assert resolved_line(before.text) is None and html_resolved_line(before.html) is None  # zero: no line

    triage.apply(db, "c-mold", "resolve", by="李四", note="已召回该批次", now=ON_DAY)

    data, after = render(db, settings)
    assert "c-mold" not in cluster_ids(data) and data["clusters"]["total"] == 3
    assert MOLD not in text_cluster_titles(after.text) and MOLD not in html_cluster_titles(after.html)
    assert "3 个风险簇" in after.subject
    assert resolved_line(after.text) == f"昨日已解决 1 项：{MOLD}"
    assert html_resolved_line(after.html) == f"昨日已解决 1 项：{MOLD}"
    assert [(r["kind"], r["id"]) for r in data["resolved"]["items"]] == [("cluster", "c-mold")]


def test_resolved_line_follows_the_audience(db: Any, settings: Any) -> None:
    triage.apply(db, "c-quality", "resolve", by="李四", now=ON_DAY)  # quality: its rules name cs only
    triage.apply(db, "c-fake", "resolve", by="王五", now=ON_DAY)  # counterfeit: its rules name cs and pr
    cs, cs_message = render(db, settings, "cs")
    pr, pr_message = render(db, settings, "pr")
    assert resolved_line(cs_message.text).startswith("昨日已解决 2 项：") and FAKE in resolved_line(cs_message.text)
    assert resolved_line(pr_message.text) == f"昨日已解决 1 项：{FAKE}"
    # hidden from both audiences all the same
    assert not {"c-quality", "c-fake"} & set(cluster_ids(cs)) and not {"c-quality", "c-fake"} & set(cluster_ids(pr))


def test_resolved_line_counts_only_the_digest_day_in_the_configured_timezone(db: Any, tmp_path: Path) -> None:
    shanghai, utc = make_settings(tmp_path), make_settings(tmp_path, general={"timezone": "UTC"})
    triage.apply(db, "c-mold", "resolve", by="李四", now="2024-04-30T17:00:00+00:00")  # 05-01 01:00 Shanghai
    triage.apply(db, "c-quality", "resolve", by="李四", now=NEXT_DAY)  # after the day: hidden, not listed
    data, message = render(db, shanghai)
    assert resolved_line(message.text) == f"昨日已解决 1 项：{MOLD}"
    assert not {"c-mold", "c-quality"} & set(cluster_ids(data))
    assert digest.build_digest(db, utc, "cs", DAY, RULES)["resolved"]["total"] == 0  # 04-30 in UTC
    assert digest.build_digest(db, utc, "cs", date(2024, 4, 30), RULES)["resolved"]["total"] == 1


def test_reopened_or_ignored_clusters_are_not_resolved_yesterday(db: Any, settings: Any) -> None:
    triage.apply(db, "c-mold", "resolve", by="李四", now=ON_DAY)
    triage.apply(db, "c-mold", "reopen", by="李四", now="2024-05-01T05:00:00+00:00")
    triage.apply(db, "c-quality", "ignore", by="李四", note="测试单", now=ON_DAY)
    data, message = render(db, settings)
    assert resolved_line(message.text) is None and html_resolved_line(message.html) is None
    assert "c-mold" in cluster_ids(data) and "c-quality" not in cluster_ids(data)  # ignored: hidden
    mold = data["clusters"]["items"][0]
    assert (mold["id"], mold["state"], mold["state_name"]) == ("c-mold", "acknowledged", "已确认")


def test_resolved_line_lists_five_titles_then_etc(db: Any, settings: Any) -> None:
    for i in range(7):
        add(db, f"r{i}", f"第{i}条差评 " + "很长" * 40, f"2024-04-30T0{i}:00:00+08:00")
        triage.apply(db, f"document:r{i}", "resolve", by="李四", now=f"2024-05-01T0{i}:00:00+00:00")
    data, message = render(db, settings)
    line = resolved_line(message.text)
    assert line is not None and line.startswith("昨日已解决 7 项：评价「第0条差评")
    assert line.count("；") == 4 and line.endswith(" 等")
    assert "第4条差评" in line and "第5条差评" not in line
    assert all(len(r["title"]) <= 40 for r in data["resolved"]["items"])
    assert html_resolved_line(message.html) == line
    assert render(db, settings, "pr")[0]["resolved"]["total"] == 0  # documents are CS's queue


# ------------------------------------------------------------------ state and assignee

def test_open_clusters_show_state_and_assignee(db: Any, settings: Any) -> None:
    triage.apply(db, "c-fake", "assign", by="组长", assignee="张三", now=ON_DAY)  # new -> acknowledged
    triage.apply(db, "c-spike", "start", by="李四", now=ON_DAY)
    triage.apply(db, "c-spike", "assign", by="李四", assignee="王五", now=ON_DAY)
    data, message = render(db, settings)
    shown = {c["id"]: (c["state"], c["state_name"], c["assignee"]) for c in data["clusters"]["items"]}
    assert shown == {"c-mold": ("new", "新", None), "c-fake": ("acknowledged", "已确认", "张三"),
                     "c-spike": ("in_progress", "处理中", "王五"), "c-quality": ("new", "新", None)}
    text = message.text
    assert text.index("状态：已确认 · 负责人：张三") > text.index(FAKE)
    assert text.index("状态：处理中 · 负责人：王五") > text.index("差评激增 2024-05-01")
    assert text.count("状态：新 · 负责人：未分配") == 2
    html = re.sub(r' style="[^"]*"', "", message.html)
    assert '状态：<span class="state-acknowledged">已确认</span> · 负责人：张三' in html
    assert '状态：<span class="state-in_progress">处理中</span> · 负责人：王五' in html
    assert html.count('状态：<span class="state-new">新</span> · 负责人：未分配') == 2


def test_assignee_and_resolved_titles_are_escaped(db: Any, settings: Any) -> None:
    triage.apply(db, "c-fake", "assign", by="组长", assignee="<b onclick=x>赵六</b>", now=ON_DAY)
    add(db, "xss", XSS, "2024-04-30T09:00:00+08:00")
    triage.apply(db, "document:xss", "resolve", by="李四", now=ON_DAY)
    data, message = render(db, settings)
    assert "负责人：&lt;b onclick=x&gt;赵六&lt;/b&gt;" in message.html
    assert "&lt;script&gt;alert(" in html_resolved_line(message.html)
    tags = parse(message.html)
    assert "script" not in tags.tags and "b" not in tags.tags and "img" not in tags.tags
    assert "负责人：<b onclick=x>赵六</b>" in message.text  # plain text keeps it as written
    assert "<script>alert('x')</script>" in resolved_line(message.text)


# ------------------------------------------------------------------ unanswered list

def test_seller_reply_takes_a_negative_review_off_the_unanswered_list(db: Any, settings: Any) -> None:
    data, message = render(db, settings)
    assert unanswered_ids(data) == ["u1", "u2"]
    assert "少发了一袋，联系客服没人理" in message.text
    with store.transaction(db):
        db.execute("UPDATE documents SET seller_reply = ? WHERE id = 'u1'", ["亲，已为您补发"])
    data, message = render(db, settings)
    assert unanswered_ids(data) == ["u2"] and data["unanswered"]["total"] == 1
    unanswered = message.text.split("== 超过")[1].split("==\n", 1)[1].split("==")[0]
    assert "少发了一袋" not in unanswered and "包装漏气" in unanswered
    with store.transaction(db):  # a blank reply is no reply
        db.execute("UPDATE documents SET seller_reply = '  ' WHERE id = 'u2'")
    assert unanswered_ids(render(db, settings)[0]) == ["u2"]


def test_ignored_or_resolved_documents_leave_the_unanswered_list(db: Any, settings: Any) -> None:
    triage.apply(db, "document:u1", "ignore", by="李四", note="职业差评师", now=ON_DAY)
    data, message = render(db, settings)
    assert unanswered_ids(data) == ["u2"]
    assert resolved_line(message.text) is None  # ignored is not resolved
    triage.apply(db, "document:u2", "resolve", by="李四", now=ON_DAY)
    data, message = render(db, settings)
    assert unanswered_ids(data) == [] and "没有超时未回复的差评。" in message.text
    assert resolved_line(message.text) == "昨日已解决 1 项：评价「包装漏气，面包硬了」"
    triage.apply(db, "document:u1", "reopen", by="李四", now=NEXT_DAY)
    assert unanswered_ids(render(db, settings)[0]) == ["u1"]


def test_digest_agrees_with_triage_helpers_on_what_is_hidden(db: Any, tmp_path: Path) -> None:
    settings = make_settings(tmp_path, digest={"unanswered_hours": 1})
    triage.apply(db, "c-mold", "resolve", by="a", now=ON_DAY)
    triage.apply(db, "c-quality", "ignore", by="a", note="n", now=ON_DAY)
    triage.apply(db, "c-fake", "ack", by="a", now=ON_DAY)
    triage.apply(db, "document:u1", "ignore", by="a", note="n", now=ON_DAY)
    triage.apply(db, "document:m1", "resolve", by="a", now=ON_DAY)
    triage.apply(db, "document:x1", "start", by="a", now=ON_DAY)
    data = digest.build_digest(db, settings, "cs", DAY, RULES)
    for cid in ("c-mold", "c-fake", "c-quality", "c-spike"):
        assert (cid in cluster_ids(data)) is not triage.is_hidden(db, cid), cid
    # every negative, non-placeholder review of the window: listed exactly when triage does not hide it
    candidates = ["u1", "u2", "u3", "m1", "m2", "x1", "l1", "f1"]
    for doc in candidates:
        assert (doc in unanswered_ids(data)) is not triage.document_hidden(db, doc), doc


def test_one_triage_read_per_build(db: Any, settings: Any) -> None:
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
        cluster(db, f"k{i:02d}", "rule", ["x1"], item="1002", category="quality", severity="low")
        triage.apply(db, f"cluster:k{i:02d}", "ack", by="a", now=ON_DAY)
    assert triage_queries() == few <= 2


# ------------------------------------------------------------------ CLI

def test_cli_resolve_then_digest_preview(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    seed_day(store.open_db(tmp_path / "s.db"))
    runner = CliRunner()
    base = ["--config", str(config)]

    def preview(name: str) -> tuple[str, str]:
        out = tmp_path / name
        result = runner.invoke(cli, [*base, "digest", "--date", "2024-05-01", "--audience", "cs", "--out", str(out)])
        assert result.exit_code == 0, result.output
        return ((out / "digest_cs_2024-05-01.txt").read_text(encoding="utf-8"),
                (out / "digest_cs_2024-05-01.html").read_text(encoding="utf-8"))

    text, html = preview("before")
    assert MOLD in text_cluster_titles(text) and MOLD in html_cluster_titles(html)
    result = runner.invoke(cli, [*base, "triage", "resolve", "c-mold", "--by", "李四"])
    assert result.exit_code == 0, result.output
    text, html = preview("after")
    assert MOLD not in text_cluster_titles(text) and MOLD not in html_cluster_titles(html)
    assert resolved_line(text) is None  # resolved today (wall clock), not on 2024-05-01
