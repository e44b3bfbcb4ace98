"""The console in a real browser: Playwright driving Debian's Chromium (/usr/bin/chromium; `make
install` installs it) against `sentiment web`'s server (waitress) on a loopback port. Sign in,
work an incident from the queue to resolved, bulk-ack, search and download, see the chart; hostile
review text never runs; the queue refreshes itself unless someone is working in it.

Not skipped when Chromium is missing: it fails, saying how to install it. With
SENTIMENT_SCREENSHOTS=DIR set, the queue and an incident page are saved there as PNG."""
from __future__ import annotations

import csv
import os
import shutil
import socket
from pathlib import Path
from typing import Any, Iterator

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from sentiment import store
from sentiment.signals import triage
from sentiment.web.server import Background
from .web_fixtures import ADMIN, CS, PASSWORD, PR, XSS_TEXT, build_store, make_settings

CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    assert CHROMIUM.exists(), "Chromium is missing: apt-get install -y chromium (`make install` does it)"
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM))
        yield launched
        launched.close()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def seeded_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    path = tmp_path_factory.mktemp("browser") / "web.db"
    return path, build_store(path)


@pytest.fixture
def console(tmp_path: Path, seeded_store: tuple[Path, dict[str, str]]
            ) -> Iterator[tuple[Background, Any, dict[str, str]]]:
    """A copy of the seeded store served on a free port; its base_url is the server's own address."""
    port = _free_port()
    settings = make_settings(tmp_path, web={"base_url": f"http://127.0.0.1:{port}"})
    shutil.copyfile(seeded_store[0], settings.db)
    ids = seeded_store[1]
    server = Background(settings, port=port).start()
    yield server, settings, ids
    server.stop()


@pytest.fixture
def page(browser: Browser, console: Any) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 860}, locale="zh-CN", accept_downloads=True)
    tab = context.new_page()
    tab.set_default_timeout(10_000)
    dialogs: list[str] = []
    tab.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    yield tab
    context.close()
    assert not dialogs, f"a script ran: {dialogs}"  # alert(1) from a review would land here


def sign_in(page: Page, base: str, name: str = PR, password: str = PASSWORD, path: str = "/queue") -> None:
    page.goto(base + path)
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")


def history(settings: Any, iid: str) -> list[tuple[str, str]]:
    db = store.open_db(settings.db)
    try:
        return [tuple(r) for r in db.execute("SELECT by, action FROM triage_log WHERE item_key = ? AND by != 'system'"
                                             " ORDER BY id", [f"incident:{iid}"])]
    finally:
        db.conn.close()


def test_sign_in_then_the_page_asked_for(page: Page, console: Any) -> None:
    server, _, ids = console
    page.goto(f"{server.url}/incidents/{ids['mould']}")
    expect(page).to_have_url(f"{server.url}/login?next=/incidents/{ids['mould']}")
    page.fill("input[name=name]", PR)
    page.fill("input[name=password]", "wrong password")
    page.click("button[type=submit]")
    expect(page.locator(".flash-error")).to_have_text("用户名或密码错误。")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    expect(page).to_have_url(f"{server.url}/incidents/{ids['mould']}")
    expect(page.locator(".who")).to_contain_text(PR)


def test_work_an_incident_from_the_queue_to_resolved(page: Page, console: Any) -> None:
    server, settings, ids = console
    sign_in(page, server.url)
    row = page.locator(f"tr[data-id='{ids['mould']}']")
    expect(row).to_have_class("overdue")
    shots = os.environ.get("SENTIMENT_SCREENSHOTS")
    if shots:
        page.screenshot(path=str(Path(shots) / "web-queue.png"), full_page=True)
    row.locator("a.incident-link").click()
    expect(page).to_have_url(f"{server.url}/incidents/{ids['mould']}")
    expect(page.locator(".doc mark").first).to_have_text("发霉")
    expect(page.locator(".waiting").first).to_contain_text("未回复")
    page.click("button[data-action=ack]")
    expect(page.locator(".flash-ok")).to_contain_text(f"已确认 1 项（操作人 {PR}）")
    page.select_option("select[name=assignee]", CS)
    page.click("button[data-action=assign]")
    expect(page.locator(".assignee")).to_have_text(CS)
    page.click("button[data-action=start]")
    expect(page.locator(".incident-head .state")).to_have_text("处理中")
    if shots:
        page.screenshot(path=str(Path(shots) / "web-incident.png"), full_page=True)
    page.fill("form:has(button[data-action=resolve]) input[name=note]", "已退款并致歉")
    page.click("button[data-action=resolve]")
    expect(page.locator(".incident-head .state")).to_have_text("已解决")
    expect(page.locator(".history-list")).to_contain_text("已退款并致歉")
    expect(page.locator("button[data-action=reopen]")).to_be_visible()
    assert history(settings, ids["mould"]) == [(PR, "ack"), (PR, "assign"), (PR, "start"), (PR, "resolve")]
    page.goto(server.url + "/queue")
    expect(page.locator(f"tr[data-id='{ids['mould']}']")).to_have_count(0)


def test_bulk_ack_from_the_queue(page: Page, console: Any) -> None:
    server, settings, ids = console
    sign_in(page, server.url, ADMIN)
    for name in ("fake", "escalation"):
        page.check(f"tr[data-id='{ids[name]}'] input[name=ids]")
    page.select_option("#bulk-form select[name=action]", "ack")
    page.click("#bulk-form button.primary")
    expect(page.locator(".flash-ok")).to_contain_text("已确认 2 项")
    for name in ("fake", "escalation"):
        expect(page.locator(f"tr[data-id='{ids[name]}'] .state")).to_have_text("已确认")
        assert history(settings, ids[name]) == [(ADMIN, "ack")]
    page.check("#select-all")
    assert all(page.locator("input[name=ids]").evaluate_all("els => els.map(e => e.checked)"))


def test_search_and_download(page: Page, console: Any, tmp_path: Path) -> None:
    server, _, _ = console
    sign_in(page, server.url, CS, path="/search")
    page.fill("input[name=q]", "哈喇味")
    page.click("#search-form button[type=submit]")
    expect(page.locator("#result-count")).to_have_text("找到 1 条")
    expect(page.locator(".doc mark")).to_have_text("哈喇味")
    with page.expect_download() as info:
        page.click("text=下载 CSV")
    saved = tmp_path / "result.csv"
    info.value.save_as(saved)
    rows = list(csv.reader(saved.read_text(encoding="utf-8-sig").splitlines()))
    assert len(rows) == 2 and "哈喇味" in rows[1][8]


def test_the_dashboard_chart(page: Page, console: Any) -> None:
    server, _, _ = console
    sign_in(page, server.url, path="/dashboard")
    chart = page.locator("#share-chart")
    expect(chart).to_be_visible()
    box = chart.bounding_box()
    assert box and box["width"] > 600 and box["height"] > 150
    assert page.locator("#share-chart circle.point").count() >= 20
    assert len(page.locator("#share-chart polyline.share").get_attribute("points").split()) >= 20
    expect(page.locator("svg.bars rect.bar").first).to_be_visible()


def test_hostile_text_is_shown_as_text_and_never_runs(page: Page, console: Any) -> None:
    server, _, ids = console
    sign_in(page, server.url, path=f"/incidents/{ids['allergy']}")
    expect(page.locator(".doc-text").first).to_have_text(XSS_TEXT)
    assert page.locator("main img").count() == 0 and page.locator("main script").count() == 0
    expect(page.locator(".incident-title")).to_have_text("<b>过敏</b>起红疹")
    for path in ("/queue?owner=", "/search?q=onerror", "/unanswered", "/dashboard"):
        page.goto(server.url + path)
        assert page.locator("main img").count() == 0
    expect(page.locator("body")).not_to_contain_text("undefined")


def test_the_queue_refreshes_unless_someone_is_working_in_it(page: Page, console: Any) -> None:
    server, settings, ids = console
    sign_in(page, server.url, ADMIN)
    page.clock.install()
    page.goto(server.url + "/queue?owner=")
    expect(page.locator(f"tr[data-id='{ids['slow']}'] .state")).to_have_text("新")
    db = store.open_db(settings.db)
    triage.apply(db, ids["slow"], "ack", by="李客服")  # someone else, elsewhere
    db.conn.close()
    page.clock.run_for(61_000)
    expect(page.locator(f"tr[data-id='{ids['slow']}'] .state")).to_have_text("已确认")
    page.check(f"tr[data-id='{ids['fake']}'] input[name=ids]")
    page.clock.run_for(121_000)
    expect(page.locator(f"tr[data-id='{ids['fake']}'] input[name=ids]")).to_be_checked()  # not reloaded
