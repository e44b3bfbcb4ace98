"""The JSON API for automation (a session, or `Authorization: Bearer <token>`):

- `GET /api/triage`: what `sentiment triage list --json` prints, with its filters as query
  parameters (`state`, `owner`, `assignee`, `severity`, `item`, `category`, `overdue=1`,
  `unanswered=1`, `limit`);
- `GET /api/triage/<id>`: what `sentiment triage show ID --json` prints;
- `POST /api/triage/<id>` with `{"action": ..., "assignee": ..., "note": ...}`: the action as the
  authenticated user; the history entry, as `sentiment triage ACTION ID --json` prints it. A refused
  transition answers 409 with the CLI's message, an unknown id 404, a malformed request 400;
- `GET /healthz`: `ok` (no sign-in), 503 when the store cannot be read.
"""
from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, Response, g, request

from sentiment.signals import triage
from sentiment.web.actions import ActionError, perform
from sentiment.web.context import get_db, settings
from sentiment.web.queue import QueryError, QueueQuery

bp = Blueprint("api", __name__)

ENTRY_KEYS = ("item_key", "at", "by", "action", "from_state", "to_state", "note")


def _json(data: Any, status: int = 200) -> Response:
    """JSON as the CLI's --json writes it (non-ASCII kept, dates as strings)."""
    return Response(json.dumps(data, ensure_ascii=False, indent=2, default=str), status=status,
                    mimetype="application/json")


def _error(message: str, status: int) -> Response:
    return _json({"error": message}, status)


@bp.get("/healthz")
def healthz() -> Response:
    try:
        get_db().execute("SELECT 1 FROM _migrations LIMIT 1").fetchone()
    except Exception as exc:  # any failure to read the store: say so, do not raise
        return Response(f"store unavailable: {type(exc).__name__}\n", status=503, mimetype="text/plain")
    return Response("ok\n", mimetype="text/plain")


@bp.get("/api/triage")
def triage_list() -> Response:
    try:
        query = QueueQuery.from_args(request.args)
    except QueryError as exc:
        return _error(str(exc), 400)
    items, _ = query.run(get_db(), settings())
    return _json(items)


@bp.get("/api/triage/<ident>")
def triage_show(ident: str) -> Response:
    try:
        return _json(triage.get_item(get_db(), ident))
    except triage.TriageError as exc:
        return _error(str(exc), 404)


@bp.post("/api/triage/<ident>")
def triage_act(ident: str) -> Response:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return _error('send a JSON object: {"action": "ack", "assignee": ..., "note": ...}', 400)
    action, assignee, note = body.get("action"), body.get("assignee"), body.get("note")
    if not isinstance(action, str) or not all(v is None or isinstance(v, str) for v in (assignee, note)):
        return _error("action, assignee and note must be strings", 400)
    db = get_db()
    try:
        triage.find_item(db, ident)
    except triage.TriageError as exc:
        return _error(str(exc), 404)
    base_url = settings().web.base_url or request.url_root.rstrip("/")
    try:
        entries = perform(db, settings(), [ident], action, by=g.user, assignee=assignee, note=note,
                          base_url=base_url)
    except ActionError as exc:
        return _error(str(exc), 400)
    except triage.TriageError as exc:
        return _error(str(exc), 409)
    return _json({k: entries[0][k] for k in ENTRY_KEYS})
