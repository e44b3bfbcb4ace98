"""Signing in and out, who is signed in, and the CSRF check.

- The session cookie (Flask's, signed, HttpOnly, SameSite=Lax, Secure over HTTPS) carries a
  random session id and the CSRF token; the id's SHA-256 is a `web_sessions` row. Signing in
  clears the session and starts a new one (a new id and token: the cookie changes); signing
  out, disabling the user or a new password deletes the rows, so the cookie stops working.
- `/api/` also takes `Authorization: Bearer <token>` (`sentiment users token NAME`).
- Every POST must carry the session's CSRF token: the `csrf_token` form field, or the
  `X-CSRF-Token` header for the API with a session (a Bearer token needs none).
- Nothing but `/healthz`, the sign-in page and the static CSS/JS answers without a user.
"""
from __future__ import annotations

import hmac
import secrets
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, abort, flash, g, jsonify, redirect, render_template, request, session, url_for

from sentiment.web import users
from sentiment.web.actions import writing
from sentiment.web.context import get_db

bp = Blueprint("auth", __name__)

PUBLIC = frozenset({"auth.login", "api.healthz", "static"})


def csrf_token() -> str:
    """The session's CSRF token (made on first use)."""
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(32)
    return str(session["csrf"])


def _csrf_ok(sent: str | None) -> bool:
    expected = session.get("csrf")
    return bool(expected and sent and hmac.compare_digest(str(expected), str(sent)))


def load_user() -> Any:
    """Before every request: g.user from the Bearer token or the session; refuse what needs one."""
    g.user, g.via_token = None, False
    if request.endpoint == "static":
        return None
    api = request.path.startswith("/api/")
    header = request.headers.get("Authorization", "")
    if api and header:
        scheme, _, token = header.partition(" ")
        g.user = users.token_user(get_db(), token.strip()) if scheme.lower() == "bearer" else None
        if g.user is None:
            return jsonify(error="invalid or revoked API token"), 401
        g.via_token = True
    elif session.get("sid"):
        g.user = users.session_user(get_db(), str(session["sid"]))
        if g.user is None:
            session.clear()
    public = request.endpoint in PUBLIC
    if request.method == "POST" and not g.via_token and (g.user is not None or public):
        sent = request.headers.get("X-CSRF-Token") if api else request.form.get("csrf_token")
        if not _csrf_ok(sent):
            if api:
                return jsonify(error="missing or wrong X-CSRF-Token header (or use a Bearer token)"), 403
            return render_template("error.html", code=400, message="页面已过期（CSRF 校验失败），请返回刷新后重试。"), 400
    if public or g.user is not None:
        return None
    if api:
        return jsonify(error="sign in, or send Authorization: Bearer <token>"), 401
    if request.endpoint is None:
        abort(404)
    wanted = request.full_path if request.query_string else request.path
    return redirect(url_for("auth.login", next=wanted))


def safe_next(value: str | None) -> str:
    """Where to go after signing in: a path on this site only (never another host)."""
    default = url_for("views.queue")
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return default
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or any(ord(c) < 32 for c in value):
        return default
    return value


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    target = safe_next(request.values.get("next"))
    if request.method == "GET":
        if g.user is not None:
            return redirect(target)
        return render_template("login.html", next=target, error=None, name="")
    name = (request.form.get("name") or "").strip()
    password = request.form.get("password") or ""
    db = get_db()
    with writing(db):  # a refused try is committed too: it counts against the limit
        try:
            sid = users.create_session(db, users.authenticate(db, name, password, request.remote_addr or "-"))
        except users.SignInError as exc:
            refused = exc
        else:
            refused = None
    if refused is not None and refused.retry_after is not None:
        minutes = max(1, -(-refused.retry_after // 60))
        return render_template("login.html", next=target, name=name,
                               error=f"登录失败次数过多，请 {minutes} 分钟后再试。"), 429
    if refused is not None:
        return render_template("login.html", next=target, name=name, error="用户名或密码错误。"), 200
    session.clear()
    session.permanent = True
    session["sid"] = sid
    session["csrf"] = secrets.token_urlsafe(32)
    return redirect(target)


@bp.post("/logout")
def logout() -> Any:
    sid = session.get("sid")
    if sid:
        with writing(get_db()):
            users.end_session(get_db(), str(sid))
    session.clear()
    flash("已退出登录。", "ok")
    return redirect(url_for("auth.login"))
