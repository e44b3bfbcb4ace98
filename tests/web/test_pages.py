"""The console's pages through Flask's test client: the queue (order and filters of `triage list`),
an incident, the reply backlog, search with its downloads, the dashboard; untrusted text escaped
on every one of them."""
from __future__ import annotations

import csv
import io
import re
from typing import Any

import pytest
from openpyxl import load_workbook

from sentiment.signals import triage
from .web_fixtures import ADMIN, CS, FORMULA, PR, XSS_NICK, XSS_TEXT, XSS_TITLE, csrf_of, sign_in

PAGES = ("/queue?owner=", "/unanswered", "/search?q=过敏", "/search?q=<img", "/dashboard", "/queue?state=all&owner=")


def queue_ids(html: str) -> list[str]:
    return re.findall(r'<tr class="[^"]*" data-id="([^"]+)"', html)


def act(client: Any, ids: list[str], action: str, back: str = "/queue", **fields: str) -> Any:
    token = csrf_of(client.get("/queue").text)
    return client.post("/actions", data={"ids": ids, "action": action, "back": back, "csrf_token": token, **fields})


@pytest.fixture
def signed(client: Any) -> Any:
    sign_in(client, ADMIN)
    return client


def test_the_queue_has_triage_lists_order(signed: Any, db: Any) -> None:
    html = signed.get("/queue").text
    assert queue_ids(html) == [i["id"] for i in triage.list_incidents(db)]
    assert len(queue_ids(html)) == 5


@pytest.mark.parametrize("query, kwargs", [
    ("severity=critical", {"severity": "critical"}),
    ("overdue=1", {"overdue": True}),
    ("owner=pr", {"owner": "pr"}),
    ("item=600100200302", {"item": "600100200302"}),
    ("category=counterfeit", {"category": "counterfeit"}),
    ("state=all", {"states": None}),
])
def test_the_queue_filters_as_triage_list_does(signed: Any, db: Any, query: str, kwargs: dict[str, Any]) -> None:
    html = signed.get(f"/queue?{query}").text
    assert queue_ids(html) == [i["id"] for i in triage.list_incidents(db, **kwargs)]


def test_a_cs_or_pr_user_sees_their_audiences_queue_unless_they_choose(client: Any, db: Any) -> None:
    sign_in(client, CS)
    assert queue_ids(client.get("/queue").text) == [i["id"] for i in triage.list_incidents(db, owner="cs")]
    assert len(queue_ids(client.get("/queue?owner=").text)) == 5


def test_overdue_incidents_are_highlighted_and_the_page_refreshes(signed: Any, ids: dict[str, str]) -> None:
    html = signed.get("/queue").text
    row = re.search(rf'<tr class="([^"]*)" data-id="{ids["mould"]}"', html)
    assert row and row.group(1) == "overdue" and "已逾期" in html
    assert re.search(rf'<tr class="" data-id="{ids["slow"]}"', html)
    assert 'data-refresh="60"' in html


def test_bulk_actions_from_the_queue(signed: Any, db: Any, ids: dict[str, str]) -> None:
    response = act(signed, [ids["fake"], ids["slow"]], "ack", back="/queue?severity=high")
    assert response.status_code == 302 and response.headers["Location"] == "/queue?severity=high"
    page = signed.get("/queue").text
    assert "已确认 2 项（操作人 管理员）" in page
    assert {r[0] for r in db.execute("SELECT updated_by FROM triage")} == {ADMIN}
    refused = act(signed, [ids["fake"], ids["mould"]], "ack")  # all or none
    assert refused.status_code == 302
    assert "未做任何更改" in signed.get("/queue").text
    assert triage.open_state(db, f"incident:{ids['mould']}")[0] == "new"


def test_ignore_without_a_note_is_refused_in_chinese(signed: Any, ids: dict[str, str]) -> None:
    act(signed, [ids["slow"]], "ignore")
    assert "忽略需要填写原因" in signed.get("/queue").text


def test_the_incident_page_shows_the_evidence_and_the_history(signed: Any, ids: dict[str, str]) -> None:
    html = signed.get(f"/incidents/{ids['mould']}").text
    for text in ("发霉、拉肚子", "1234567890123456789", "小王", "差评", "<mark>发霉</mark>", "<mark>拉肚子</mark>",
                 "商家回复：亲，已为您退款", "https://rate.tmall.com/r?id=1",
                 "https://detail.tmall.com/item.htm?id=600100200301", "已逾期", "处理记录", "系统"):
        assert text in html, text
    waits = [int(h) for h in re.findall(r"未回复 (\d+) 小时", html)]
    assert sorted(waits) == [20, 30]
    assert signed.get("/incidents/inc-000000000000").status_code == 404


def test_working_an_incident_to_resolved_from_its_page(signed: Any, db: Any, ids: dict[str, str]) -> None:
    iid, back = ids["mould"], f"/incidents/{ids['mould']}"
    for action, extra in (("ack", {}), ("assign", {"assignee": PR}), ("start", {}),
                          ("resolve", {"note": "已退款并致歉"})):
        assert act(signed, [iid], action, back=back, **extra).headers["Location"] == back
    html = signed.get(back).text
    assert "已解决" in html and "已退款并致歉" in html and f"指派给 {PR}" in html
    assert "重新打开" in html and 'data-action="ack"' not in html  # only what the state allows
    history = [tuple(r) for r in db.execute("SELECT by, action FROM triage_log WHERE item_key = ? AND by != 'system'"
                                            " ORDER BY id", [f"incident:{iid}"])]
    assert history == [(ADMIN, "ack"), (ADMIN, "assign"), (ADMIN, "start"), (ADMIN, "resolve")]
    mail = db.execute("SELECT key FROM outbox").fetchone()
    assert mail and mail[0].startswith(f"assign:{iid}:{PR}:")


def test_the_reply_backlog_page(signed: Any, db: Any) -> None:
    html = signed.get("/unanswered").text
    backlog = triage.unanswered(db, hours=24, days=7)
    assert backlog and re.findall(r'name="ids" value="document:([^"]+)"', html) == [d["id"] for d in backlog]
    assert html.count("未回复 ") == len(backlog) and "保温杯漏水了" in html


@pytest.mark.parametrize("path", PAGES)
def test_untrusted_text_is_escaped_everywhere(signed: Any, ids: dict[str, str], path: str) -> None:
    for page in (path, f"/incidents/{ids['allergy']}"):
        html = signed.get(page).text
        assert "<img src=x" not in html and "<script>alert" not in html and "<b>过敏</b>" not in html
    html = signed.get(f"/incidents/{ids['allergy']}").text
    assert "&lt;img src=x onerror=alert(1)&gt;" in html  # shown as text
    assert "&lt;script&gt;alert(2)&lt;/script&gt;" in html and "&lt;img src=x onerror=alert(3)&gt;" in html


def test_search_full_text_and_filters(signed: Any) -> None:
    html = signed.get("/search?q=哈喇味").text
    assert "找到 1 条" in html and "<mark>哈喇味</mark>" in html
    two = signed.get("/search?q=发霉").text  # two characters: scanned over the last 90 days
    assert "找到 4 条" in two and "最近 90 天" in two and "很久以前" not in two
    older = signed.get("/search?q=发霉&since=2020-01-01").text
    assert "找到 5 条" in older and "很久以前" in older
    assert "找到 1 条" in signed.get("/search?q=发霉+拉肚子&rating=negative&item=600100200301&kind=review"
                                     "&label=negative&category=食品安全&until=2999-01-01&since=2000-01-01").text
    assert "找到 4 条" in signed.get("/search?q=发霉&category=food_safety&since=2000-01-01").text
    assert signed.get("/search?since=yesterday").status_code == 400
    assert "找到 0 条" in signed.get('/search?q=%25"*+OR+NEAR(').text  # operators are text


def test_search_downloads_csv_and_xlsx_of_the_result(signed: Any) -> None:
    response = signed.get("/search/export.csv?q=发霉&since=2020-01-01")
    assert response.status_code == 200 and "attachment" in response.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.data.decode("utf-8-sig"))))
    assert rows[0][0] == "日期" and len(rows) == 6
    texts = [r[8] for r in rows[1:]]
    assert "'" + FORMULA in texts  # neutralized for Excel
    assert "1234567890123456789" in [r[5] for r in rows]
    book = load_workbook(io.BytesIO(signed.get("/search/export.xlsx?q=哈喇味").data), read_only=True)
    sheet = list(book.active.iter_rows(values_only=True))
    assert len(sheet) == 2 and sheet[1][5] == "2234567890123456789"
    book.close()


def test_the_dashboard_draws_its_charts(signed: Any) -> None:
    html = signed.get("/dashboard").text
    assert '<svg class="chart" id="share-chart"' in html and '<polyline class="share" points="' in html
    assert '<polyline class="baseline"' in html and html.count('<circle class="point') >= 20
    assert "按风险类别" in html and "食品安全" in html and "按商品" in html and "每日坚果礼盒" in html
    assert "本周投诉热词" in html and "保温" in html


def test_names_are_never_root(signed: Any, db: Any, ids: dict[str, str]) -> None:
    act(signed, [ids["escalation"]], "note", note="已记录")
    assert [r[0] for r in db.execute("SELECT DISTINCT by FROM triage_log WHERE by != 'system'")] == [ADMIN]


def test_xss_constants_are_what_the_store_holds(db: Any) -> None:
    assert db.execute("SELECT count(*) FROM documents WHERE text = ? AND author = ? AND item_title = ?",
                      [XSS_TEXT, XSS_NICK, XSS_TITLE]).fetchone()[0] == 1
