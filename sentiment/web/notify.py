"""The mail an assignee gets: rendered in Chinese with the incident's link, queued in the outbox
once per assignment (key `assign:<incident id>:<user>:<history id>`), delivered by the worker."""
from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any, Mapping

import jinja2
import sqlite_utils

from sentiment.config import Settings
from sentiment.reports import outbox
from sentiment.reports.render import (RenderedMessage, category_name, header_text, highlight, item_link,
                                      local_minute, make_env, render_pair, state_name)
from sentiment.signals import triage
from sentiment.web.text import KIND_NAMES, SEVERITY_NAMES
from sentiment.web.users import User

MAIL_TEMPLATES = Path(__file__).resolve().parent / "templates" / "mail"
DOCUMENTS = 3  # the newest documents the mail shows


def incident_url(base_url: str | None, incident_id: str) -> str | None:
    return f"{base_url.rstrip('/')}/incidents/{incident_id}" if base_url else None


def assignment_data(db: sqlite_utils.Database, settings: Settings, incident_id: str, target: User, by: User,
                    base_url: str | None) -> dict[str, Any]:
    """Plain data of the mail: the incident, who assigned it, its newest documents, its link."""
    item = triage.get_item(db, triage.ItemRef("incident", incident_id), members=DOCUMENTS)
    tz = settings.tz
    return {
        "id": incident_id, "assignee": target.name, "by": by.name, "url": incident_url(base_url, incident_id),
        "category_name": category_name(item["category"]), "title": item["title"],
        "severity_name": SEVERITY_NAMES.get(item["severity"] or "", "—"),
        "item_title": item["item_title"] or item["item_id"] or "（未知商品）", "link": item_link(item["item_id"]),
        "size": item["size"] or 0, "state_name": state_name(item["state"]),
        "first_seen": local_minute(item["first_seen"], tz), "last_seen": local_minute(item["last_seen"], tz),
        "due_at": local_minute(item["due_at"], tz) or None, "overdue": item["overdue"], "timezone": settings.timezone,
        "documents": [{"created_at": local_minute(m["created_at"], tz),
                       "kind_name": KIND_NAMES.get(m["kind"], m["kind"]), "author": m["author"],
                       "parts": highlight(m["text"])} for m in item["members"]],
    }


def subject(data: Mapping[str, Any]) -> str:
    return header_text(f"【指派】{data['by']} 把事件指派给你：{data['category_name']} · {data['item_title']}"
                       f"（{data['size']} 条）", limit=150)


def render_assignment(data: Mapping[str, Any]) -> RenderedMessage:
    """Text and inlined HTML (the digests' look: it extends their base template)."""
    env = make_env()
    env.loader = jinja2.ChoiceLoader([jinja2.FileSystemLoader(str(MAIL_TEMPLATES)), env.loader])
    text, html = render_pair(env, "assign", {"a": data, "subject": subject(data)})
    return RenderedMessage(subject(data), text, html)


def queue_assignment(db: sqlite_utils.Database, settings: Settings, incident_id: str, target: User, by: User,
                     history_id: int, *, base_url: str | None = None, now: datetime | None = None) -> int:
    """Queue the mail to `target` (who has an e-mail address); returns its outbox id."""
    assert target.email
    data = assignment_data(db, settings, incident_id, target, by, base_url)
    return outbox.enqueue(db, settings, key=f"assign:{incident_id}:{target.name}:{history_id}", kind="assign",
                          audience=target.audience, recipients=[target.email], message=render_assignment(data),
                          now=now, meta={"incident": incident_id, "assignee": target.name, "by": by.name})
