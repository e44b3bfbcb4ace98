"""Chat messages into the outbox: one row per channel of an audience, beside its mail.

The key is the mail's key with `:chat:<channel>` appended (`alert:<incident>:<window>:cs:chat:cs-dingtalk`,
`digest:cs:2024-05-01:chat:cs-dingtalk`), so it is queued once, like the mail; the row holds the
platform's payload as rendered at that moment (not yet signed: the signature is made when it is sent)
in `message`, the channel in `channel`, and goes through the outbox's states like mail.
"""
from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import Any, Callable, Mapping

import sqlite_utils

from sentiment.config import ChannelSettings, Settings
from sentiment.reports import outbox as mailer
from sentiment.reports.channels.render import ChatMessage
from sentiment.store import transaction

log = logging.getLogger(__name__)


def channels_of(settings: Settings, audience: str) -> tuple[ChannelSettings, ...]:
    """The channels an audience's alerts and digests go to ([audiences.<name>] channels)."""
    return tuple(settings.channels[n] for n in settings.audience_channels.get(audience, ()) if n in settings.channels)


def chat_key(key: str, channel: str) -> str:
    return f"{key}:chat:{channel}"


def enqueue_chat(db: sqlite_utils.Database, *, key: str, kind: str, audience: str, channel: ChannelSettings,
                 message: ChatMessage, now: datetime, meta: Mapping[str, Any] | None = None) -> int:
    """Store one rendered chat message once under `key`; returns its outbox id."""
    with transaction(db):
        existing = mailer.find(db, key)
        if existing is not None:
            return existing
        cur = db.execute(
            "INSERT INTO outbox (key, kind, audience, recipients, subject, message, status, attempts,"
            " next_attempt_at, created_at, meta, channel) VALUES (?, ?, ?, '[]', ?, ?, 'pending', 0, ?, ?, ?, ?)",
            [key, kind, audience, message.title,
             json.dumps(message.payload, ensure_ascii=False), mailer.iso(now), mailer.iso(now),
             json.dumps({**dict(meta or {}), "platform": message.platform, "mentions": len(message.mentions)},
                        ensure_ascii=False), channel.name])
        outbox_id = int(cur.lastrowid)
    log.info("queued %s as outbox #%d", key, outbox_id)
    return outbox_id


def queue_chat(db: sqlite_utils.Database, settings: Settings, *, key: str, kind: str, audience: str, now: datetime,
               render: Callable[[ChannelSettings], ChatMessage], meta: Mapping[str, Any] | None = None,
               skip: set[str] | None = None) -> list[int]:
    """One message per channel of `audience` not in `skip` (channels already served in this round, which
    are added to it); rendered only for channels whose key is not queued yet. Returns the new ids."""
    ids = []
    for channel in channels_of(settings, audience):
        if skip is not None:
            if channel.name in skip:
                continue
            skip.add(channel.name)
        ckey = chat_key(key, channel.name)
        if mailer.find(db, ckey) is not None:
            continue
        ids.append(enqueue_chat(db, key=ckey, kind=kind, audience=audience, channel=channel, message=render(channel),
                                now=now, meta=meta))
    return ids
