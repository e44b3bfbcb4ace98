"""The Flask application: `create_app(settings)` (an app factory, as in Flask's tutorial).

One store connection per request (WAL: pages read while the worker writes); who is signed in is
looked up on every request (`auth.load_user`); every POST form carries the session's CSRF token;
responses carry a strict Content-Security-Policy (no inline script, nothing from elsewhere), so
even a text that escaped escaping could not run.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Mapping

from flask import Flask, Response, jsonify, render_template, request
from flask.sessions import SecureCookieSessionInterface
from werkzeug.exceptions import HTTPException

from sentiment import __version__, store
from sentiment.config import Settings
from sentiment.web import api, auth, text, users, views
from sentiment.web.actions import StoreBusy
from sentiment.web.context import close_db, wants_json

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none';"
       " base-uri 'none'; frame-ancestors 'none'; form-action 'self'")


class SessionInterface(SecureCookieSessionInterface):
    """Flask's signed cookie session, marked Secure when the console is served over HTTPS (a
    `https://` base_url, or the request itself)."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return bool(app.config["SESSION_COOKIE_SECURE"] or (request and request.is_secure))


def create_app(settings: Settings, test_config: Mapping[str, Any] | None = None) -> Flask:
    """The console over `settings.db` (created and migrated if needed)."""
    app = Flask("sentiment.web", root_path=str(HERE), template_folder="templates", static_folder="static")
    db = store.open_db(settings.db)
    try:
        secret = users.secret_key(db)
    finally:
        db.conn.close()
    https = bool(settings.web.base_url and settings.web.base_url.startswith("https://"))
    app.config.update(
        SETTINGS=settings, SECRET_KEY=secret, SESSION_COOKIE_NAME="sentiment_session",
        SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax", SESSION_COOKIE_SECURE=https,
        PERMANENT_SESSION_LIFETIME=users.SESSION_LIFETIME, MAX_CONTENT_LENGTH=1024 * 1024,
        BASE_URL=settings.web.base_url, REFRESH_SECONDS=60,
    )
    app.config.update(test_config or {})
    app.session_interface = SessionInterface()
    app.before_request(auth.load_user)
    app.after_request(_headers)
    app.teardown_appcontext(close_db)
    app.register_blueprint(auth.bp)
    app.register_blueprint(views.bp)
    app.register_blueprint(api.bp)
    app.register_error_handler(StoreBusy, _busy)
    app.register_error_handler(HTTPException, _http_error)
    app.jinja_env.globals.update(names=text.names(), csrf_token=auth.csrf_token, version=__version__)
    tz = settings.tz
    app.jinja_env.filters.update(
        local=lambda v, fmt="%Y-%m-%d %H:%M": text.local(v, tz, fmt), hours=text.hours, who=text.who,
        category=text.category_name)
    return app


def _headers(response: Response) -> Response:
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "same-origin"
    if request.endpoint != "static":
        response.headers["Cache-Control"] = "no-store"
    return response


def _busy(exc: StoreBusy) -> tuple[Any, int]:
    if wants_json():
        return jsonify(error=str(exc)), 503
    return render_template("error.html", code=503,
                           message="数据库正忙：工作进程正在写入（例如导入大文件），请稍后重试。"), 503


ERROR_MESSAGES = {400: "请求无效", 403: "没有权限", 404: "页面不存在", 405: "不支持的请求方式",
                  413: "请求太大", 429: "请求太频繁，请稍后再试", 500: "服务器内部错误"}


def _http_error(exc: HTTPException) -> Any:
    code = exc.code or 500
    if wants_json():
        return jsonify(error=exc.description or exc.name), code
    return render_template("error.html", code=code, message=ERROR_MESSAGES.get(code, exc.name)), code
