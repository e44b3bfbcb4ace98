"""What a request handler reaches for: the settings and this request's store connection."""
from __future__ import annotations

import sqlite_utils
from flask import current_app, g, request

from sentiment import store
from sentiment.config import Settings


def settings() -> Settings:
    return current_app.config["SETTINGS"]


def get_db() -> sqlite_utils.Database:
    """This request's store connection (closed when the request ends)."""
    if "db" not in g:
        g.db = store.open_db(settings().db)
    return g.db


def close_db(_exc: BaseException | None = None) -> None:
    db = g.pop("db", None)
    if db is not None:
        db.conn.close()


def wants_json() -> bool:
    return request.path.startswith("/api/") or request.path == "/healthz"
