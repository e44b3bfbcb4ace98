"""Chat messages from the same data as the mail (`build_alert`, `build_summary`, `build_digest`):
the compact `reports/templates/chat_*.md` templates, then the platform's payload, shortened until it
fits the platform's size limit (fewer listed items, their "另有 N 条" growing; as a last resort
lines are dropped from the end, the links line kept).

Untrusted text reaches the templates only through the `md` and `excerpt` filters
(`channels.text`). Mentions are added here, after rendering, from the channel's configuration:
only for critical items, never from anything a review says.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable, Mapping, Sequence

import jinja2

from sentiment.config import ChannelSettings, Settings
from sentiment.reports.channels.platforms import COLORS, PLATFORMS, Platform
from sentiment.reports.channels.text import ELLIPSIS, excerpt, link_target, plain
from sentiment.reports.render import local_minute, make_env

ALERT_KEEP = (5, 3, 1, 0)              # evidence listed in an alert
SUMMARY_KEEP = (15, 10, 5, 2, 0)       # incidents listed in a summary
DIGEST_KEEP = (8, 5, 3, 1, 0)          # incidents listed in a digest
DIGEST_GROUPS = (("new", "新增"), ("growing", "增长"), ("overdue", "逾期"))
CUT_NOTE = "…（内容过长，已截断）"


@dataclass(frozen=True)
class ChatMessage:
    """One rendered chat message: what the outbox stores for a channel."""

    title: str
    payload: dict[str, Any]
    platform: str
    mentions: tuple[str, ...]


def chat_env() -> jinja2.Environment:
    """The mail templates' environment, keeping the line break after a block tag (empty lines are dropped
    after rendering), with the `md` and `excerpt` filters."""
    env = make_env()
    env.trim_blocks = False
    env.filters.update(md=plain, excerpt=excerpt)
    return env


def console_url(settings: Settings, path: str = "") -> str | None:
    """`[web] base_url` + path, as a link target (None when the console has no public address)."""
    base = settings.web.base_url
    return link_target(f"{base.rstrip('/')}{path}") if base else None


def incident_url(settings: Settings, incident_id: str) -> str | None:
    return console_url(settings, f"/incidents/{incident_id}")


def _lines(text: str) -> str:
    return "\n".join(line.rstrip() for line in text.splitlines() if line.strip())


def _cut(platform: Platform, build: Callable[[str], dict[str, Any]], markdown: str) -> dict[str, Any]:
    """Drop lines from the end (the last line, the links, stays) until the payload fits; then cut the first."""
    lines = markdown.split("\n")
    head, tail = lines[:-1], lines[-1:]
    while head:
        head.pop()
        payload = build("\n".join([*head, CUT_NOTE, *tail]))
        if platform.fits(payload):
            return payload
    first = markdown.split("\n")[0]
    while len(first) > 1:
        first = first[: len(first) // 2]
        payload = build(first + ELLIPSIS)
        if platform.fits(payload):
            return payload
    return build(CUT_NOTE)


def fit(channel: ChannelSettings, title: str, render: Callable[[int], str], keeps: Sequence[int], *,
        link: str | None = None, color: str = "blue", mention: bool = False) -> ChatMessage:
    """Render with the most items in `keeps` whose payload fits the channel's platform."""
    platform = PLATFORMS[channel.type]
    mentions = channel.mention if mention else ()
    head = plain(title, 60)

    def build(markdown: str) -> dict[str, Any]:
        return platform.build(head, markdown, mentions, link, color)

    markdown = ""
    for keep in keeps:
        markdown = _lines(render(keep))
        payload = build(markdown)
        if platform.fits(payload):
            return ChatMessage(head, payload, platform.name, tuple(mentions))
    return ChatMessage(head, _cut(platform, build, markdown), platform.name, tuple(mentions))


def _keep(section: Mapping[str, Any], keep: int) -> dict[str, Any]:
    items = list(section["items"])
    return {**section, "items": items[:keep], "more": section["more"] + max(len(items) - keep, 0)}


def chat_alert(data: Mapping[str, Any], title: str, settings: Settings, channel: ChannelSettings) -> ChatMessage:
    """An incident alert (`alerts.build_alert`): chat_alert.md, or chat_update.md for an update; the
    configured people are @-mentioned when it is critical."""
    env = chat_env()
    template = env.get_template("chat_update.md" if data["is_update"] else "chat_alert.md")
    url = incident_url(settings, data["id"])
    context = {"url": url, "item_url": link_target(data.get("link")), "title": title}

    def render(keep: int) -> str:
        return template.render(a={**data, "documents": _keep(data["documents"], keep)}, **context)

    return fit(channel, title, render, ALERT_KEEP, link=url, color=COLORS.get(data["severity"] or "", "blue"),
               mention=data["severity"] == "critical")


def chat_summary(data: Mapping[str, Any], title: str, settings: Settings, channel: ChannelSettings) -> ChatMessage:
    """An alert summary (`alerts.build_summary`): the incidents, critical first, each with its link."""
    template = chat_env().get_template("chat_summary.md")
    urls = {i["id"]: incident_url(settings, i["id"]) for i in data["index"]["items"]}
    base = console_url(settings)

    def render(keep: int) -> str:
        return template.render(s={**data, "index": _keep(data["index"], keep)}, title=title, urls=urls, base=base)

    critical = bool(data["critical"])
    return fit(channel, title, render, SUMMARY_KEEP, link=base, color="red" if critical else "orange",
               mention=critical)


def _digest_top(data: Mapping[str, Any]) -> tuple[list[dict[str, Any]], int]:
    """The open incidents the digest lists, most urgent list first, each with its list's name; and how
    many open incidents that leaves out."""
    incidents = data.get("incidents")
    if not incidents:
        return [], 0
    names = dict(DIGEST_GROUPS)
    top = [{**c, "group": names[g]} for g in incidents.get("order", []) if g in names
           for c in incidents[g]["items"]]
    return top, max(incidents["counts"]["open"] - len(top), 0)


def chat_digest(data: Mapping[str, Any], title: str, settings: Settings, channel: ChannelSettings) -> ChatMessage:
    """The daily digest (`digest.build_digest`) as a summary: numbers, the top incidents, the console link."""
    template = chat_env().get_template("chat_digest.md")
    top, unlisted = _digest_top(data)
    urls = {c["id"]: incident_url(settings, c["id"]) for c in top}
    base = console_url(settings)

    def render(keep: int) -> str:
        return template.render(d=data, title=title, top=top[:keep], more=unlisted + max(len(top) - keep, 0),
                               urls=urls, base=base)

    return fit(channel, title, render, DIGEST_KEEP, link=base, color="blue")


def chat_test(settings: Settings, channel: ChannelSettings, now: datetime) -> ChatMessage:
    """The message `sentiment channels test NAME` sends."""
    template = chat_env().get_template("chat_test.md")
    platform = PLATFORMS[channel.type]
    base = console_url(settings)

    def render(keep: int) -> str:
        return template.render(channel=channel.name, label=platform.label, base=base,
                               at=local_minute(now.isoformat(), settings.tz))

    return fit(channel, "舆情监控测试消息", render, (0,), link=base, color="green")

