"""Each robot's rate limit, kept in the store: every request sent to a channel is a `channel_sends`
row (wall-clock time, taken when the answer came back, so never earlier than the platform saw it).
Before a send, `wait_seconds` says how long until every limit of the platform (a sliding window:
at most `count` requests in any `seconds`) allows one more. Worker cycles, `outbox send` runs and
a restart all read the same rows, so none of them can exceed the limit.
"""
from __future__ import annotations

import time
from typing import Sequence

import sqlite_utils

from sentiment.reports.channels.platforms import Limit
from sentiment.store import transaction

KEEP_SECONDS = 86_400.0  # rows older than this are dropped (the longest window is a minute)
EPSILON = 0.001


def wait_seconds(db: sqlite_utils.Database, channel: str, limits: Sequence[Limit], at: float | None = None) -> float:
    """Seconds from `at` (now) until one more request to `channel` stays within every limit."""
    at = time.time() if at is None else at
    if not limits:
        return 0.0
    longest = max(limit.seconds for limit in limits)
    recent = [r[0] for r in db.execute("SELECT at FROM channel_sends WHERE channel = ? AND at > ? ORDER BY at DESC",
                                       [channel, at - longest]).fetchall()]
    wait = 0.0
    for limit in limits:
        inside = [t for t in recent if t > at - limit.seconds]
        if len(inside) >= limit.count:  # the count-th newest must leave the window first
            wait = max(wait, inside[limit.count - 1] + limit.seconds - at + EPSILON)
    return wait


def record(db: sqlite_utils.Database, channel: str, outbox_id: int | None, at: float | None = None) -> None:
    """One request was sent to `channel` (call it when its answer arrived, or it failed after sending)."""
    at = time.time() if at is None else at
    with transaction(db):
        db.execute("INSERT INTO channel_sends (channel, at, outbox_id) VALUES (?, ?, ?)", [channel, at, outbox_id])
        db.execute("DELETE FROM channel_sends WHERE channel = ? AND at < ?", [channel, at - KEEP_SECONDS])
