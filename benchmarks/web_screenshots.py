"""Screenshots of the web console for the docs: docs/web-queue.png and docs/web-incident.png.

Works on a copy of a store (default: the demo's, `make demo` first), adds two users, triages a
little (one incident acknowledged, one assigned and in progress), serves the console on a loopback
port and photographs the queue and the most urgent incident with Chromium (/usr/bin/chromium).

    make demo && .venv/bin/python benchmarks/web_screenshots.py [--db demo/sentiment.db] [--out docs]
"""
from __future__ import annotations

import argparse
import shutil
import sqlite3
import tempfile
from pathlib import Path

from playwright.sync_api import sync_playwright

from sentiment import store
from sentiment.config import build_settings
from sentiment.signals import triage
from sentiment.reports.search import update_index
from sentiment.web.server import Background
from sentiment.web.users import add_user

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "screenshot only"


def prepare(source: Path, target: Path) -> str:
    """A copy of `source` with users and some triage; returns the incident to photograph."""
    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst)
    db = store.open_db(target)
    add_user(db, "王小公", "pr", PASSWORD, email="pr@example.com")
    add_user(db, "李客服", "cs", PASSWORD, email="cs@example.com")
    queue = triage.list_incidents(db)
    if len(queue) < 3:
        raise SystemExit(f"{source} has {len(queue)} open incidents; run `make demo` first")
    triage.apply(db, queue[1]["id"], "ack", by="王小公")
    triage.apply(db, queue[2]["id"], "assign", by="王小公", assignee="李客服")
    triage.apply(db, queue[2]["id"], "start", by="李客服")
    triage.apply(db, queue[0]["id"], "assign", by="王小公", assignee="李客服")
    triage.apply(db, queue[0]["id"], "note", by="李客服", note="已电话联系买家，安排退款并回收样品")
    update_index(db)
    db.conn.close()
    return str(queue[0]["id"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", type=Path, default=ROOT / "demo" / "sentiment.db")
    parser.add_argument("--out", type=Path, default=ROOT / "docs")
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "shots.db"
        incident = prepare(opts.db, db)
        settings = build_settings({"store": {"db": str(db)}, "mail": {"outbox_dir": str(Path(tmp) / "outbox")}},
                                  None, {})
        server = Background(settings).start()
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=shutil.which("chromium") or "/usr/bin/chromium")
                page = browser.new_page(viewport={"width": 1280, "height": 760}, locale="zh-CN")
                page.goto(server.url + "/login")
                page.fill("input[name=name]", "王小公")
                page.fill("input[name=password]", PASSWORD)
                page.click("button[type=submit]")
                page.goto(server.url + "/queue?owner=")
                page.screenshot(path=str(opts.out / "web-queue.png"))
                page.goto(f"{server.url}/incidents/{incident}")
                page.set_viewport_size({"width": 1280, "height": 1100})
                page.screenshot(path=str(opts.out / "web-incident.png"))
                browser.close()
        finally:
            server.stop()
    for name in ("web-queue.png", "web-incident.png"):
        path = opts.out / name
        print(f"{path} ({path.stat().st_size // 1024} KB)")


if __name__ == "__main__":
    main()
