"""Signing in and out: nothing visible without it, the cookie (signed, HttpOnly, SameSite, Secure
over HTTPS, new at sign-in), CSRF on every form, no open redirect, the sign-in rate limit."""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from sentiment.web import users
from sentiment.web.app import create_app
from .web_fixtures import CS, PASSWORD, PR, csrf_of, make_settings, sign_in


def session_cookie(client: Any) -> Any:
    return client.get_cookie("sentiment_session")


def test_only_healthz_login_and_assets_answer_without_signing_in(app: Any, client: Any, ids: dict[str, str]) -> None:
    answered = {}
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods:
            continue
        values = {name: {"ident": ids["mould"], "fmt": "csv", "filename": "app.css"}.get(name, "x")
                  for name in rule.arguments}
        path = app.url_map.bind("localhost").build(rule.endpoint, values)
        answered[rule.endpoint] = (path, client.get(path).status_code)
    public = {e: v for e, v in answered.items() if v[1] == 200}
    assert set(public) == {"auth.login", "api.healthz", "static"}, answered
    for endpoint, (path, status) in answered.items():
        if endpoint not in public:
            assert status == (401 if path.startswith("/api/") else 302), (endpoint, path, status)
    for path in ("/actions", "/logout"):
        assert client.post(path, data={}).status_code == 302  # to the sign-in page


def test_a_page_asked_for_comes_back_after_signing_in(client: Any, ids: dict[str, str]) -> None:
    first = client.get(f"/incidents/{ids['mould']}?page=1")
    assert first.status_code == 302 and "/login?next=" in first.headers["Location"]
    response = sign_in(client, PR, next_url=f"/incidents/{ids['mould']}")
    assert response.status_code == 302 and response.headers["Location"] == f"/incidents/{ids['mould']}"
    assert client.get(f"/incidents/{ids['mould']}").status_code == 200


@pytest.mark.parametrize("target", ["//evil.example.com/", "https://evil.example.com/", "/\\evil.example.com",
                                    "javascript:alert(1)", "evil.example.com", "/%0d%0aSet-Cookie:x=1", "///x"])
def test_no_open_redirect_after_signing_in(client: Any, target: str) -> None:
    response = sign_in(client, PR, next_url=target)
    location = response.headers["Location"]
    assert location.startswith("/") and not location.startswith("//") and "evil" not in location
    assert "\n" not in location and "\r" not in location


def test_wrong_password_and_unknown_user_say_the_same(client: Any) -> None:
    for name, password in ((PR, "wrong password"), ("nobody", PASSWORD)):
        response = sign_in(client, name, password)
        assert response.status_code == 200 and "用户名或密码错误" in response.text
        assert client.get("/queue").status_code == 302


def test_the_cookie_is_new_at_sign_in_httponly_samesite(client: Any) -> None:
    client.get("/login")
    before = session_cookie(client)
    response = sign_in(client, PR)
    after = session_cookie(client)
    assert before is not None and after is not None and before.value != after.value
    header = [h for h in response.headers.getlist("Set-Cookie") if h.startswith("sentiment_session=")][-1]
    assert "HttpOnly" in header and "SameSite=Lax" in header
    # an attacker who planted the pre-login cookie holds nothing that signs in
    other = client.application.test_client()
    other.set_cookie("sentiment_session", before.value)
    assert other.get("/queue").status_code == 302


def test_the_cookie_is_secure_over_https(settings: Any, tmp_path: Any) -> None:
    https_app = create_app(settings, {"TESTING": True})  # base_url is https in the fixtures
    client = https_app.test_client()
    response = sign_in(client, PR)
    header = [h for h in response.headers.getlist("Set-Cookie") if h.startswith("sentiment_session=")][-1]
    assert "Secure" in header
    plain = make_settings(tmp_path, web={"base_url": "http://console.local"})
    plain_app = create_app(replace(plain, db=settings.db), {"TESTING": True})
    over_http = plain_app.test_client()
    response = sign_in(over_http, CS)
    header = [h for h in response.headers.getlist("Set-Cookie") if h.startswith("sentiment_session=")][-1]
    assert "Secure" not in header  # plain http (a console on localhost) keeps working
    over_https = plain_app.test_client()
    page = over_https.get("/login", base_url="https://console.local")
    response = over_https.post("/login", base_url="https://console.local",
                               data={"name": PR, "password": PASSWORD, "csrf_token": csrf_of(page.text)})
    header = [h for h in response.headers.getlist("Set-Cookie") if h.startswith("sentiment_session=")][-1]
    assert "Secure" in header


def test_every_form_needs_the_csrf_token(client: Any, ids: dict[str, str], db: Any) -> None:
    page = client.get("/login")
    assert client.post("/login", data={"name": PR, "password": PASSWORD}).status_code == 400
    assert client.post("/login", data={"name": PR, "password": PASSWORD, "csrf_token": "x"}).status_code == 400
    sign_in(client, PR)
    form = {"ids": ids["mould"], "action": "ack", "back": "/queue"}
    assert client.post("/actions", data=form).status_code == 400
    assert client.post("/actions", data={**form, "csrf_token": csrf_of(page.text)}).status_code == 400  # old token
    assert db.execute("SELECT count(*) FROM triage").fetchone()[0] == 0
    ok = client.post("/actions", data={**form, "csrf_token": csrf_of(client.get("/queue").text)})
    assert ok.status_code == 302
    assert db.execute("SELECT state, updated_by FROM triage").fetchone() == ("acknowledged", PR)


def test_signing_out_ends_the_session_for_a_copied_cookie_too(client: Any) -> None:
    sign_in(client, CS)
    stolen = session_cookie(client).value
    client.post("/logout", data={"csrf_token": csrf_of(client.get("/queue").text)})
    assert client.get("/queue").status_code == 302
    thief = client.application.test_client()
    thief.set_cookie("sentiment_session", stolen)
    assert thief.get("/queue").status_code == 302


def test_a_new_password_ends_sessions(client: Any, db: Any) -> None:
    sign_in(client, CS)
    users.set_password(db, CS, "another password")
    assert client.get("/queue").status_code == 302
    assert sign_in(client, CS, "another password").status_code == 302


def test_failed_sign_ins_are_limited_per_user_and_survive_a_restart(client: Any, settings: Any, db: Any) -> None:
    for _ in range(users.USER_FAILURES):
        assert sign_in(client, PR, "wrong").status_code == 200
    refused = sign_in(client, PR, PASSWORD)
    assert refused.status_code == 429 and "登录失败次数过多" in refused.text
    restarted = create_app(settings, {"TESTING": True}).test_client()
    assert sign_in(restarted, PR, PASSWORD).status_code == 429
    assert sign_in(restarted, CS, PASSWORD).status_code == 302  # another user is not held up
    later = datetime.now(timezone.utc) + users.WINDOW + timedelta(seconds=5)
    assert users.rate_limited(db, PR, "127.0.0.1", later) is None


def test_failed_sign_ins_are_limited_per_address(db: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(users, "IP_FAILURES", 8)  # fewer argon2 verifications than the real 20
    for n in range(users.IP_FAILURES):
        with pytest.raises(users.SignInError):
            users.authenticate(db, f"guess{n}", "x", "10.9.9.9")
    with pytest.raises(users.SignInError) as refused:
        users.authenticate(db, CS, PASSWORD, "10.9.9.9")
    assert refused.value.retry_after and refused.value.retry_after <= users.WINDOW.total_seconds() + 1
    assert users.authenticate(db, CS, PASSWORD, "10.1.1.1").name == CS


def test_passwords_are_argon2_and_tokens_and_sessions_stored_hashed(client: Any, db: Any) -> None:
    (hashed,) = db.execute("SELECT password_hash FROM users WHERE name = ?", [PR]).fetchone()
    assert hashed.startswith("$argon2id$") and PASSWORD not in hashed
    token = users.new_token(db, PR)
    assert db.execute("SELECT count(*) FROM api_tokens WHERE token_hash LIKE ?", [f"%{token}%"]).fetchone()[0] == 0
    sign_in(client, PR)
    (stored,) = db.execute("SELECT id_hash FROM web_sessions").fetchone()
    assert len(stored) == 64


def test_security_headers(client: Any) -> None:
    response = client.get("/login")
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
