"""Console users: accounts, passwords, API tokens, sessions and the sign-in rate limit.

- Passwords: argon2id (argon2-cffi's defaults), rehashed on sign-in when the parameters change.
- API tokens and session ids are 256-bit random strings; the store keeps only their SHA-256, so a
  copy of the store signs no one in. A token is shown once, when made.
- Sessions are rows: the signed cookie carries a session id, each request looks it up with its
  user, so signing out, `users disable` or a password change ends them at once.
- Failed sign-ins are rows too (the limit survives a restart): USER_FAILURES for one
  name or IP_FAILURES from one address within WINDOW refuse further tries until they age out.

Library code: named errors, no Flask. Writes happen in the caller's transaction when there is one.
"""
from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import sqlite_utils
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from sentiment.config import address_problem
from sentiment.errors import SentimentError
from sentiment.store import transaction

AUDIENCES = ("cs", "pr", "admin")
NAME_RE = re.compile(r"[^\W_][\w.\-]{0,39}")  # letters (Chinese too), digits, _ . -; no spaces
MIN_PASSWORD = 8
MAX_PASSWORD = 1024
TOKEN_PREFIX = "snt_"
SESSION_LIFETIME = timedelta(hours=12)
WINDOW = timedelta(minutes=15)
USER_FAILURES = 5
IP_FAILURES = 20
KEEP_ATTEMPTS = timedelta(days=1)
# a hash of a random password: unknown names cost a verification too (no timing difference)
_DUMMY_HASH = ("$argon2id$v=19$m=65536,t=3,p=4$AE7M6WzqxYhlCeREtHg90g$"
               "XRet7fGwLr5vC13Km3Z4H9pu/7B2OfC41ALR3P0TzFg")


class UserError(SentimentError):
    """An unknown or duplicate user, a bad name, audience, e-mail or password."""


class SignInError(SentimentError):
    """A refused sign-in. `retry_after` (seconds) is set when the rate limit refused it."""

    def __init__(self, message: str, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True)
class User:
    name: str
    audience: str
    email: str | None
    disabled_at: str | None
    created_at: str
    tokens: int = 0
    sessions: int = 0

    @property
    def active(self) -> bool:
        return self.disabled_at is None

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "audience": self.audience, "email": self.email, "active": self.active,
                "disabled_at": self.disabled_at, "created_at": self.created_at, "tokens": self.tokens,
                "sessions": self.sessions}


def _now(now: datetime | None) -> datetime:
    return now if now is not None else datetime.now(timezone.utc)


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat(timespec="seconds")


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def _hasher() -> PasswordHasher:
    return PasswordHasher()


# --- accounts ----------------------------------------------------------------------------------

def check_name(name: str) -> str:
    name = (name or "").strip()
    if not NAME_RE.fullmatch(name):
        raise UserError(f"invalid user name {name!r}: 1-40 letters (Chinese too), digits, '_', '.' or '-',"
                        " starting with a letter or digit")
    if name == "system":
        raise UserError("'system' is the incident engine's name; choose another")
    return name


def check_password(password: str) -> str:
    if not MIN_PASSWORD <= len(password or "") <= MAX_PASSWORD:
        raise UserError(f"the password must have {MIN_PASSWORD} to {MAX_PASSWORD} characters")
    if not password.strip():
        raise UserError("the password must not be blank")
    return password


def _row(db: sqlite_utils.Database, name: str) -> dict[str, Any] | None:
    rows = list(db.query("SELECT * FROM users WHERE name = ?", [name]))
    return rows[0] if rows else None


def _user(row: dict[str, Any], tokens: int = 0, sessions: int = 0) -> User:
    return User(row["name"], row["audience"], row["email"], row["disabled_at"], row["created_at"], tokens, sessions)


def get_user(db: sqlite_utils.Database, name: str) -> User | None:
    row = _row(db, name)
    return _user(row) if row else None


def require_user(db: sqlite_utils.Database, name: str) -> User:
    user = get_user(db, name)
    if user is None:
        raise UserError(f"no user {name!r} (see `sentiment users list`)")
    return user


def add_user(db: sqlite_utils.Database, name: str, audience: str, password: str, *, email: str | None = None,
             now: datetime | None = None) -> User:
    """A new console user; UserError when the name is taken or a value is invalid."""
    name, password = check_name(name), check_password(password)
    if audience not in AUDIENCES:
        raise UserError(f"unknown audience {audience!r}; one of {', '.join(AUDIENCES)}")
    email = (email or "").strip() or None
    if email is not None and (problem := address_problem(email)):
        raise UserError(f"invalid e-mail address {email!r}: {problem}")
    at = _iso(_now(now))
    hashed = _hasher().hash(password)
    with transaction(db):
        if _row(db, name) is not None:
            raise UserError(f"user {name!r} exists (`sentiment users passwd {name}` sets a new password)")
        db.execute("INSERT INTO users (name, audience, email, password_hash, disabled_at, created_at, updated_at)"
                   " VALUES (?, ?, ?, ?, NULL, ?, ?)", [name, audience, email, hashed, at, at])
    return require_user(db, name)


def list_users(db: sqlite_utils.Database, *, active_only: bool = False, now: datetime | None = None) -> list[User]:
    """Every user by name, with counts of API tokens and live sessions."""
    at = _iso(_now(now))
    sql = ("SELECT u.*, (SELECT count(*) FROM api_tokens t WHERE t.user_name = u.name) AS tokens,"
           " (SELECT count(*) FROM web_sessions s WHERE s.user_name = u.name AND s.expires_at > ?) AS sessions"
           " FROM users u" + (" WHERE u.disabled_at IS NULL" if active_only else "") + " ORDER BY u.name")
    return [_user(r, r["tokens"], r["sessions"]) for r in db.query(sql, [at])]


def _end_all(db: sqlite_utils.Database, name: str, tokens: bool) -> None:
    db.execute("DELETE FROM web_sessions WHERE user_name = ?", [name])
    if tokens:
        db.execute("DELETE FROM api_tokens WHERE user_name = ?", [name])


def disable_user(db: sqlite_utils.Database, name: str, *, now: datetime | None = None) -> User:
    """Disable a user: their sessions and API tokens are deleted, so they stop working at once."""
    with transaction(db):
        user = require_user(db, name)
        if user.active:
            db.execute("UPDATE users SET disabled_at = ?, updated_at = ? WHERE name = ?",
                       [_iso(_now(now)), _iso(_now(now)), name])
        _end_all(db, name, tokens=True)
    return require_user(db, name)


def enable_user(db: sqlite_utils.Database, name: str, *, now: datetime | None = None) -> User:
    """Let a disabled user sign in again (their old tokens stay revoked)."""
    with transaction(db):
        require_user(db, name)
        db.execute("UPDATE users SET disabled_at = NULL, updated_at = ? WHERE name = ?", [_iso(_now(now)), name])
    return require_user(db, name)


def set_password(db: sqlite_utils.Database, name: str, password: str, *, now: datetime | None = None) -> User:
    """A new password; the user's sessions end (their API tokens stay)."""
    hashed = _hasher().hash(check_password(password))
    with transaction(db):
        require_user(db, name)
        db.execute("UPDATE users SET password_hash = ?, updated_at = ? WHERE name = ?",
                   [hashed, _iso(_now(now)), name])
        _end_all(db, name, tokens=False)
    return require_user(db, name)


# --- API tokens ----------------------------------------------------------------------------------

def new_token(db: sqlite_utils.Database, name: str, *, replace: bool = False, now: datetime | None = None) -> str:
    """A new API token for an active user (shown once; the store keeps its SHA-256). `replace`:
    revoke the user's other tokens."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with transaction(db):
        user = require_user(db, name)
        if not user.active:
            raise UserError(f"user {name!r} is disabled (`sentiment users enable {name}` first)")
        if replace:
            db.execute("DELETE FROM api_tokens WHERE user_name = ?", [name])
        db.execute("INSERT INTO api_tokens (user_name, token_hash, created_at) VALUES (?, ?, ?)",
                   [name, _digest(token), _iso(_now(now))])
    return token


def token_user(db: sqlite_utils.Database, token: str) -> User | None:
    """The active user an API token belongs to, or None."""
    if not token or not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        return None
    rows = list(db.query("SELECT u.* FROM api_tokens t JOIN users u ON u.name = t.user_name"
                         " WHERE t.token_hash = ? AND u.disabled_at IS NULL", [_digest(token)]))
    return _user(rows[0]) if rows else None


# --- sign-in and sessions ------------------------------------------------------------------------

def _failures(db: sqlite_utils.Database, column: str, value: str, since: str) -> list[str]:
    return [r[0] for r in db.execute(
        f"SELECT at FROM signin_attempts WHERE {column} = ? AND at >= ? AND ok = 0 ORDER BY at", [value, since])]


def _retry_after(failures: list[str], limit: int, now: datetime) -> int | None:
    """Seconds until the failures inside the window drop to `limit - 1`, when there are `limit`+."""
    if len(failures) < limit:
        return None
    oldest_counted = datetime.fromisoformat(failures[len(failures) - limit])
    return max(1, int((oldest_counted + WINDOW - now).total_seconds()) + 1)


def rate_limited(db: sqlite_utils.Database, name: str, ip: str, now: datetime | None = None) -> int | None:
    """Seconds to wait before the next try for this name or address, or None when it may try."""
    now = _now(now)
    since = _iso(now - WINDOW)
    waits = [_retry_after(_failures(db, "user_name", name, since), USER_FAILURES, now),
             _retry_after(_failures(db, "ip", ip, since), IP_FAILURES, now)]
    found = [w for w in waits if w is not None]
    return max(found) if found else None


def authenticate(db: sqlite_utils.Database, name: str, password: str, ip: str, *,
                 now: datetime | None = None) -> User:
    """The active user with this name and password; SignInError otherwise (rate limit first, then
    one message for an unknown name, a wrong password and a disabled user). Every try is recorded:
    inside the caller's transaction, the caller must commit it when this raises."""
    now = _now(now)
    name = (name or "").strip()[:80]
    with transaction(db):
        wait = rate_limited(db, name, ip, now)
        if wait is not None:
            raise SignInError("too many failed sign-ins; try again later", retry_after=wait)
        row = _row(db, name)
        ok = _verify(row["password_hash"] if row else _DUMMY_HASH, password) and row is not None \
            and row["disabled_at"] is None
        db.execute("INSERT INTO signin_attempts (at, user_name, ip, ok) VALUES (?, ?, ?, ?)",
                   [_iso(now), name, ip, int(ok)])
        db.execute("DELETE FROM signin_attempts WHERE at < ?", [_iso(now - KEEP_ATTEMPTS)])
        if ok and _hasher().check_needs_rehash(row["password_hash"]):
            db.execute("UPDATE users SET password_hash = ? WHERE name = ?", [_hasher().hash(password), name])
    if not ok or row is None:  # raised after the attempt is committed: it counts
        raise SignInError("wrong user name or password")
    return _user(row)


def _verify(hashed: str, password: str) -> bool:
    try:
        return _hasher().verify(hashed, (password or "")[:MAX_PASSWORD])
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def create_session(db: sqlite_utils.Database, user: User, *, now: datetime | None = None) -> str:
    """A new session for `user`; returns its id (for the signed cookie; the store keeps its SHA-256)."""
    now = _now(now)
    sid = secrets.token_urlsafe(32)
    with transaction(db):
        db.execute("DELETE FROM web_sessions WHERE expires_at <= ?", [_iso(now)])
        db.execute("INSERT INTO web_sessions (id_hash, user_name, created_at, expires_at) VALUES (?, ?, ?, ?)",
                   [_digest(sid), user.name, _iso(now), _iso(now + SESSION_LIFETIME)])
    return sid


def session_user(db: sqlite_utils.Database, sid: str, *, now: datetime | None = None) -> User | None:
    """The active user of a live session, or None (unknown, expired, ended or user disabled)."""
    if not sid or len(sid) > 100:
        return None
    rows = list(db.query("SELECT u.* FROM web_sessions s JOIN users u ON u.name = s.user_name"
                         " WHERE s.id_hash = ? AND s.expires_at > ? AND u.disabled_at IS NULL",
                         [_digest(sid), _iso(_now(now))]))
    return _user(rows[0]) if rows else None


def end_session(db: sqlite_utils.Database, sid: str) -> None:
    with transaction(db):
        db.execute("DELETE FROM web_sessions WHERE id_hash = ?", [_digest(sid)])


def secret_key(db: sqlite_utils.Database) -> str:
    """The key that signs session cookies: made once per store (`engine_state` key `web.secret_key`),
    so sessions outlive a restart of `sentiment web` and every process serving the store agrees."""
    row = db.execute("SELECT value FROM engine_state WHERE key = 'web.secret_key'").fetchone()
    if row:
        return str(row[0])
    with transaction(db):
        db.execute("INSERT OR IGNORE INTO engine_state (key, value) VALUES ('web.secret_key', ?)",
                   [secrets.token_hex(32)])
        return str(db.execute("SELECT value FROM engine_state WHERE key = 'web.secret_key'").fetchone()[0])
