"""Triage actions as a signed-in user: `triage.apply_many` with `by=` the user's name, inside a write
transaction that waits only briefly for the worker, then the assignment mail.

A web request must not hang for minutes while the worker ingests a large file (the store's own
`transaction` waits up to 15 min for that): `writing` waits WRITE_WAIT_SECONDS and raises
StoreBusy, which the app answers with 503 and a "try again" page.
"""
from __future__ import annotations

import logging
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any, Sequence

import sqlite_utils

from sentiment.config import Settings
from sentiment.errors import SentimentError, StoreBusy
from sentiment.signals import triage
from sentiment.store import transaction
from sentiment.web import notify
from sentiment.web.users import User, get_user

log = logging.getLogger(__name__)

WRITE_WAIT_SECONDS = 8.0
ACTIONS = tuple(triage.TRANSITIONS)


class ActionError(SentimentError):
    """A request the triage library would not even look at: unknown action, missing input, unknown user."""


def writing(db: sqlite_utils.Database, wait: float | None = None) -> AbstractContextManager[None]:
    """One write transaction, waiting at most `wait` (WRITE_WAIT_SECONDS) for another writer, then
    StoreBusy."""
    return transaction(db, WRITE_WAIT_SECONDS if wait is None else wait)


def check_request(db: sqlite_utils.Database, action: str, assignee: str | None, note: str | None) -> None:
    """Refuse what is malformed before triage sees it (the API answers these with 400, not 409)."""
    if action not in ACTIONS:
        raise ActionError(f"unknown action {action!r}; one of {', '.join(ACTIONS)}")
    if action in ("ignore", "note") and not (note or "").strip():
        raise ActionError("ignore needs a note saying why (--note TEXT)" if action == "ignore" else "note needs a text")
    if action == "assign":
        if not (assignee or "").strip():
            raise ActionError("assign needs a person")
        user = get_user(db, assignee.strip())
        if user is None or not user.active:
            raise ActionError(f"no active user {assignee.strip()!r} to assign to (see `sentiment users list`)")


def perform(db: sqlite_utils.Database, settings: Settings, idents: Sequence[str], action: str, *, by: User,
            assignee: str | None = None, note: str | None = None, base_url: str | None = None,
            now: datetime | None = None) -> list[dict[str, Any]]:
    """Apply `action` to every item (all or none) as `by`; TriageError when refused. An incident
    assigned to a user with an e-mail address gets them a mail (outbox key
    assign:<incident>:<user>:<history id>); a mail that cannot be queued is logged, the action stays."""
    check_request(db, action, assignee, note)
    assignee = assignee.strip() if assignee else None
    with writing(db):
        entries = triage.apply_many(db, list(idents), action, by=by.name, note=note, assignee=assignee)
        if action == "assign":
            for entry in entries:
                entry["history_id"] = db.execute("SELECT max(id) FROM triage_log WHERE item_key = ?",
                                                 [entry["item_key"]]).fetchone()[0]
    if action == "assign":
        target = get_user(db, assignee or "")
        for entry in entries:
            if target is not None and target.email and entry["item_key"].startswith("incident:"):
                _notify(db, settings, entry, target, by, base_url, now)
    return entries


def _notify(db: sqlite_utils.Database, settings: Settings, entry: dict[str, Any], target: User, by: User,
            base_url: str | None, now: datetime | None) -> None:
    incident_id = entry["item_key"].partition(":")[2]
    try:
        entry["mail"] = notify.queue_assignment(db, settings, incident_id, target, by, entry["history_id"],
                                                base_url=base_url, now=now)
    except SentimentError as exc:
        log.warning("assignment mail for %s to %s not queued: %s", incident_id, target.name, exc)
