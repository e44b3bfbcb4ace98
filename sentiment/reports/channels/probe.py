"""`sentiment channels test NAME` and `sentiment channels list`: check a robot without the outbox."""
from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlite_utils

from sentiment.config import ChannelSettings, Settings
from sentiment.errors import ConfigError
from sentiment.reports.channels import ratelimit
from sentiment.reports.channels.render import chat_test
from sentiment.reports.channels.transport import ChatError, ChatTransport


def channel(settings: Settings, name: str) -> ChannelSettings:
    found = settings.channels.get(name)
    if found is None:
        raise ConfigError(f"unknown channel {name!r} (configured: {', '.join(sorted(settings.channels)) or 'none'};"
                          " add [channels.<name>] to sentiment.toml)")
    return found


def list_channels(settings: Settings) -> list[dict[str, Any]]:
    """The configured channels without their secrets: name, type, host, signed, mentions, audiences."""
    return [{"name": c.name, "type": c.type, "url": c.safe_url, "signed": bool(c.secret),
             "mention": len(c.mention), "timeout": c.timeout,
             "audiences": sorted(a for a, names in settings.audience_channels.items() if c.name in names)}
            for c in sorted(settings.channels.values(), key=lambda c: c.name)]


def send_test(db: sqlite_utils.Database, settings: Settings, name: str, now: datetime,
              transport: ChatTransport | None = None) -> dict[str, Any]:
    """Post the test message to channel `name` now; the platform's answer, `ok` False when it refused.
    The request counts against the robot's rate limit like any other."""
    robot = channel(settings, name)
    transport = transport or ChatTransport(robot)
    wait = ratelimit.wait_seconds(db, robot.name, transport.limits)
    if wait > 0:
        raise ConfigError(f"channel {name!r}: the robot's rate limit allows the next message in {wait:.0f} s;"
                          " try again then")
    message = chat_test(settings, robot, now)
    result: dict[str, Any] = {"channel": robot.name, "type": robot.type, "url": robot.safe_url}
    posted = False

    def on_data() -> None:
        nonlocal posted
        posted = True

    with transport:
        try:
            answer = transport.post(message.payload, on_data)
        except ChatError as exc:
            answer = exc.answer
            result.update(ok=False, error=str(exc))
        else:
            result.update(ok=True, error=None)
        finally:
            if posted:
                ratelimit.record(db, robot.name, None)
    if answer is not None:
        result.update(status=answer.status, code=answer.code, message=answer.message, answer=answer.body)
    return result
