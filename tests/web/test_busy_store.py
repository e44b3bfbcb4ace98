"""The console over a store the worker is writing to: pages read (WAL), an action waits briefly and
then asks to try again instead of hanging the request."""
from __future__ import annotations

import sqlite3
import time
from typing import Any, Iterator

import pytest

from sentiment.web import actions
from .web_fixtures import PR, csrf_of, sign_in


@pytest.fixture
def worker_writing(settings: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Another connection holds the write lock (the worker ingesting a large file)."""
    monkeypatch.setattr(actions, "WRITE_WAIT_SECONDS", 0.3)
    writer = sqlite3.connect(str(settings.db), isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("UPDATE documents SET seller_reply = '处理中' WHERE rowid = 1")
    yield
    writer.execute("ROLLBACK")
    writer.close()


def test_signing_in_while_the_worker_writes_asks_to_retry(client: Any, worker_writing: None) -> None:
    sign_in_started = time.monotonic()
    page = client.get("/login")  # readable
    # signing in writes (the attempt, the session): it waits briefly, then says so
    response = client.post("/login", data={"name": PR, "password": "x" * 10, "csrf_token": csrf_of(page.text)})
    assert response.status_code == 503 and "数据库正忙" in response.text
    assert time.monotonic() - sign_in_started < 5


def test_a_signed_in_user_reads_and_is_told_to_retry_an_action(app: Any, ids: dict[str, str],
                                                               settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    client = app.test_client()
    sign_in(client, PR)
    monkeypatch.setattr(actions, "WRITE_WAIT_SECONDS", 0.3)
    writer = sqlite3.connect(str(settings.db), isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("UPDATE documents SET seller_reply = '处理中' WHERE rowid = 1")
    try:
        started = time.monotonic()
        for path in ("/queue", f"/incidents/{ids['mould']}", "/search?q=发霉", "/dashboard", "/api/triage"):
            assert client.get(path).status_code == 200, path
        token = csrf_of(client.get("/queue").text)
        busy = client.post("/actions", data={"ids": ids["mould"], "action": "ack", "back": "/queue",
                                             "csrf_token": token})
        assert busy.status_code == 503 and "稍后重试" in busy.text
        api = client.post(f"/api/triage/{ids['mould']}", json={"action": "ack"}, headers={"X-CSRF-Token": token})
        assert api.status_code == 503 and "busy" in api.get_json()["error"]
        assert time.monotonic() - started < 10
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    assert client.post("/actions", data={"ids": ids["mould"], "action": "ack", "back": "/queue",
                                         "csrf_token": token}).status_code == 302
