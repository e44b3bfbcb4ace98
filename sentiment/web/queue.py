"""The incident queue and the reply backlog as `sentiment triage list` gives them, from query
parameters: the same filters, the same order, the same JSON (`GET /api/triage`, the queue page)."""
from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, Mapping

import sqlite_utils

from sentiment.config import Settings
from sentiment.errors import SentimentError
from sentiment.signals import triage

STATE_CHOICES = (*triage.STATES, "open", "closed", "all")
TRUE = frozenset({"1", "true", "yes", "on"})
FALSE = frozenset({"", "0", "false", "no", "off"})


class QueryError(SentimentError):
    """A query parameter with a value `triage list` would refuse."""


@dataclass(frozen=True)
class QueueQuery:
    state: str | None = None
    owner: str | None = None
    assignee: str | None = None
    severity: str | None = None
    item: str | None = None
    category: str | None = None
    overdue: bool = False
    unanswered: bool = False
    limit: int | None = None

    @classmethod
    def from_args(cls, args: Mapping[str, str]) -> "QueueQuery":
        """Parse query parameters (empty ones count as absent); QueryError names the bad one."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(k for k in args if k not in known)
        if unknown:
            raise QueryError(f"unknown parameter {unknown[0]!r}; known: {', '.join(sorted(known))}")
        values: dict[str, Any] = {}
        for name in ("state", "owner", "assignee", "severity", "item", "category"):
            value = (args.get(name) or "").strip()
            if value:
                values[name] = value
        if values.get("state") not in (None, *STATE_CHOICES):
            raise QueryError(f"state: one of {', '.join(STATE_CHOICES)}")
        if values.get("severity") not in (None, *triage.SEVERITY_ORDER):
            raise QueryError(f"severity: one of {', '.join(triage.SEVERITY_ORDER)}")
        for flag in ("overdue", "unanswered"):
            values[flag] = _flag(args.get(flag), flag)
        limit = (args.get("limit") or "").strip()
        if limit:
            if not limit.isdigit() or int(limit) < 1:
                raise QueryError("limit: a positive whole number")
            values["limit"] = int(limit)
        query = cls(**values)
        if query.unanswered and (query.severity or query.category or query.overdue or query.owner):
            raise QueryError("--unanswered takes --state, --assignee, --item and --limit only")
        return query

    def states(self) -> tuple[str, ...] | None:
        if self.state in (None, "open"):
            return triage.OPEN_STATES
        if self.state == "closed":
            return triage.CLOSED_STATES
        return None if self.state == "all" else (self.state,)

    def run(self, db: sqlite_utils.Database, settings: Settings, now: datetime | None = None
            ) -> tuple[list[dict[str, Any]], int]:
        """(items in queue order, cut to `limit`; how many there are in all)."""
        if self.unanswered:
            options = settings.digest
            items = triage.unanswered(db, hours=options.unanswered_hours, days=options.unanswered_days,
                                      states=self.states(), assignee=self.assignee, item=self.item, now=now)
        else:
            items = triage.list_incidents(db, states=self.states(), owner=self.owner, assignee=self.assignee,
                                          severity=self.severity, item=self.item, category=self.category,
                                          overdue=self.overdue, now=now)
        return (items[: self.limit] if self.limit else items), len(items)


def _flag(value: str | None, name: str) -> bool:
    text = (value or "").strip().lower()
    if text in TRUE:
        return True
    if text in FALSE:
        return False
    raise QueryError(f"{name}: 1 or 0")
