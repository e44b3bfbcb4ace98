"""The JSON API: the queue as `triage list --json` gives it, actions as the authenticated user with
the CLI's refusals as 409, Bearer tokens and sessions, and /healthz."""
from __future__ import annotations

import json
from email import message_from_bytes
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from sentiment.cli import cli
from sentiment.web import users
from .web_fixtures import ADMIN, BASE_URL, CS, PR, csrf_of, sign_in


def cli_json(settings: Any, *args: str) -> Any:
    result = CliRunner().invoke(cli, ["--db", str(settings.db), *args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def cli_error(settings: Any, *args: str) -> str:
    result = CliRunner().invoke(cli, ["--db", str(settings.db), *args])
    assert result.exit_code == 1
    line = result.stderr.strip()
    assert line.startswith("Error: ")
    return line[len("Error: "):]


def without_age(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """age_hours moves with the clock between two calls."""
    return [{k: v for k, v in i.items() if k != "age_hours"} for i in items]


@pytest.fixture
def token(db: Any) -> str:
    return users.new_token(db, PR)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_healthz_answers_ok_without_signing_in(client: Any) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200 and response.text == "ok\n"


def test_the_api_needs_a_session_or_a_token(client: Any) -> None:
    assert client.get("/api/triage").status_code == 401
    assert client.get("/api/triage", headers=bearer("snt_not-a-token")).status_code == 401
    assert client.get("/api/triage", headers={"Authorization": "Basic eDp5"}).status_code == 401
    assert client.post("/api/triage/inc-x", json={"action": "ack"}).status_code == 401


@pytest.mark.parametrize("query, flags", [
    ("", []),
    ("?severity=critical", ["--severity", "critical"]),
    ("?overdue=1", ["--overdue"]),
    ("?owner=pr&state=all", ["--owner", "pr", "--state", "all"]),
    ("?item=600100200303&limit=1", ["--item", "600100200303", "--limit", "1"]),
    ("?category=logistics", ["--category", "logistics"]),
    ("?unanswered=1", ["--unanswered"]),
])
def test_get_triage_is_what_triage_list_json_prints(client: Any, settings: Any, token: str, query: str,
                                                    flags: list[str]) -> None:
    response = client.get(f"/api/triage{query}", headers=bearer(token))
    assert response.status_code == 200 and response.mimetype == "application/json"
    expected = cli_json(settings, "triage", "list", *flags)
    assert without_age(response.get_json()) == without_age(expected)
    assert expected or query == "?category=logistics&owner=pr"


def test_bad_query_parameters_are_refused_with_400(client: Any, token: str) -> None:
    for query in ("?severity=urgent", "?state=done", "?limit=0", "?overdue=maybe", "?colour=red",
                  "?unanswered=1&severity=high"):
        response = client.get(f"/api/triage{query}", headers=bearer(token))
        assert response.status_code == 400, query
        assert response.get_json()["error"]


def test_an_action_is_recorded_under_the_tokens_user(client: Any, db: Any, ids: dict[str, str], token: str) -> None:
    response = client.post(f"/api/triage/{ids['mould']}", json={"action": "ack"}, headers=bearer(token))
    assert response.status_code == 200, response.text
    entry = response.get_json()
    assert entry["by"] == PR and entry["action"] == "ack" and entry["to_state"] == "acknowledged"
    last = db.execute("SELECT by, action FROM triage_log WHERE item_key = ? ORDER BY id DESC LIMIT 1",
                      [f"incident:{ids['mould']}"]).fetchone()
    assert tuple(last) == (PR, "ack")
    assert db.execute("SELECT count(*) FROM triage_log WHERE by IN ('root', 'unknown')").fetchone()[0] == 0


def test_a_refused_transition_is_409_with_the_clis_message(client: Any, settings: Any, ids: dict[str, str],
                                                           token: str) -> None:
    iid = ids["fake"]
    for action, note in (("resolve", "已退款"), ("ack", None)):
        body = {"action": action, **({"note": note} if note else {})}
        response = client.post(f"/api/triage/{iid}", json=body, headers=bearer(token))
        assert response.status_code == (200 if action == "resolve" else 409)
    message = response.get_json()["error"]
    assert message == cli_error(settings, "triage", "ack", iid, "--by", "someone")
    assert message.startswith(f"cannot ack incident:{iid}: it is resolved")


def test_every_action_from_new_to_resolved_and_back(client: Any, db: Any, ids: dict[str, str], token: str) -> None:
    iid = ids["escalation"]
    steps = [({"action": "ack"}, "acknowledged"), ({"action": "assign", "assignee": CS}, "acknowledged"),
             ({"action": "start"}, "in_progress"), ({"action": "note", "note": "已联系买家"}, "in_progress"),
             ({"action": "resolve", "note": "已退款并致歉"}, "resolved"), ({"action": "reopen"}, "acknowledged"),
             ({"action": "ignore", "note": "重复投诉"}, "ignored")]
    for body, state in steps:
        response = client.post(f"/api/triage/{iid}", json=body, headers=bearer(token))
        assert response.status_code == 200, (body, response.text)
        assert response.get_json()["to_state"] == state
    shown = client.get(f"/api/triage/{iid}", headers=bearer(token)).get_json()
    assert shown["state"] == "ignored" and shown["assignee"] == CS
    assert [h["by"] for h in shown["history"][1:]] == [PR] * len(steps)


@pytest.mark.parametrize("body, status, text", [
    ({"action": "fly"}, 400, "unknown action 'fly'"),
    ({"action": "ignore"}, 400, "ignore needs a note"),
    ({"action": "assign"}, 400, "assign needs a person"),
    ({"action": "assign", "assignee": "nobody"}, 400, "no active user 'nobody'"),
    ({"action": 3}, 400, "must be strings"),
    ([], 400, "JSON object"),
])
def test_malformed_requests_are_400(client: Any, ids: dict[str, str], token: str, body: Any, status: int,
                                    text: str) -> None:
    response = client.post(f"/api/triage/{ids['slow']}", json=body, headers=bearer(token))
    assert response.status_code == status and text in response.get_json()["error"]


def test_an_unknown_id_is_404(client: Any, token: str) -> None:
    response = client.post("/api/triage/inc-000000000000", json={"action": "ack"}, headers=bearer(token))
    assert response.status_code == 404
    assert client.get("/api/triage/nope", headers=bearer(token)).status_code == 404


def test_documents_of_the_backlog_take_actions_too(client: Any, db: Any, token: str) -> None:
    backlog = client.get("/api/triage?unanswered=1", headers=bearer(token)).get_json()
    doc_id = backlog[0]["id"]
    response = client.post(f"/api/triage/document:{doc_id}", json={"action": "resolve", "note": "已回复"},
                           headers=bearer(token))
    assert response.status_code == 200 and response.get_json()["item_key"] == f"document:{doc_id}"
    assert doc_id not in [d["id"] for d in client.get("/api/triage?unanswered=1", headers=bearer(token)).get_json()]


def test_assigning_mails_the_assignee_with_the_link(client: Any, db: Any, settings: Any, ids: dict[str, str],
                                                    token: str) -> None:
    iid = ids["allergy"]
    response = client.post(f"/api/triage/{iid}", json={"action": "assign", "assignee": CS}, headers=bearer(token))
    assert response.status_code == 200
    hid = db.execute("SELECT max(id) FROM triage_log WHERE item_key = ?", [f"incident:{iid}"]).fetchone()[0]
    (row,) = db.execute("SELECT key, kind, recipients, message FROM outbox").fetchall()
    assert row[0] == f"assign:{iid}:{CS}:{hid}" and row[1] == "assign" and json.loads(row[2]) == ["cs@example.com"]
    mail = message_from_bytes(row[3].encode(), policy=default_policy)
    assert "指派" in mail["Subject"] and PR in mail["Subject"]
    text = mail.get_body(("plain",)).get_content()
    html = mail.get_body(("html",)).get_content()
    assert f"{BASE_URL}/incidents/{iid}" in text and f'href="{BASE_URL}/incidents/{iid}"' in html
    assert "<img src=x" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html  # the review, escaped
    eml = sorted(Path(settings.mail.outbox_dir).glob("*.eml"))
    assert len(eml) == 1
    # an assignee without e-mail gets none; assigning again to the same person is refused (409)
    client.post(f"/api/triage/{iid}", json={"action": "assign", "assignee": ADMIN}, headers=bearer(token))
    assert db.execute("SELECT count(*) FROM outbox").fetchone()[0] == 1
    again = client.post(f"/api/triage/{iid}", json={"action": "assign", "assignee": ADMIN}, headers=bearer(token))
    assert again.status_code == 409 and "already assigned" in again.get_json()["error"]


def test_a_session_works_for_the_api_with_its_csrf_header(client: Any, ids: dict[str, str]) -> None:
    sign_in(client, CS)
    assert client.get("/api/triage").status_code == 200
    refused = client.post(f"/api/triage/{ids['slow']}", json={"action": "ack"})
    assert refused.status_code == 403
    token = csrf_of(client.get("/queue").text)
    ok = client.post(f"/api/triage/{ids['slow']}", json={"action": "ack"}, headers={"X-CSRF-Token": token})
    assert ok.status_code == 200 and ok.get_json()["by"] == CS


def test_a_disabled_users_token_and_session_stop_at_once(client: Any, app: Any, db: Any, token: str) -> None:
    other = app.test_client()
    sign_in(other, PR)
    assert client.get("/api/triage", headers=bearer(token)).status_code == 200
    assert other.get("/queue").status_code == 200
    users.disable_user(db, PR)
    assert client.get("/api/triage", headers=bearer(token)).status_code == 401
    assert other.get("/queue").status_code == 302
    users.enable_user(db, PR)
    assert client.get("/api/triage", headers=bearer(token)).status_code == 401  # revoked for good
    assert other.get("/queue").status_code == 302  # sign in again


def test_replacing_a_token_revokes_the_old_one(client: Any, db: Any, token: str) -> None:
    second = users.new_token(db, PR, replace=True)
    assert client.get("/api/triage", headers=bearer(token)).status_code == 401
    assert client.get("/api/triage", headers=bearer(second)).status_code == 200
    assert db.execute("SELECT count(*) FROM api_tokens WHERE token_hash = ?", [second]).fetchone()[0] == 0  # hashed
