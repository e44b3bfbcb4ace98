"""What clustering works with: the cluster kinds, the tunables, a computed cluster before it is
stored. Shared by `clusters` and `topics`, and by `config`, which builds the options."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

KINDS = ("rule", "spike", "topic", "duplicate")
SEVERITIES = ("critical", "high", "medium", "low")  # most severe first
OPEN, CLOSED = "open", "closed"
DEFAULT_TZ = "Asia/Shanghai"
ITEM_KEY_SQL = "coalesce(nullif(d.item_id, ''), nullif(d.item_title, ''), 'unknown')"
NOT_PLACEHOLDER = "coalesce(d.is_placeholder, 0) = 0"
# A follow-up without a date of its own is dated when first seen: a back-fill puts thousands on
# one day. Counts, baselines, spikes and thresholds use only documents with their own date.
OWN_DATE = "coalesce(d.date_precision, '') != 'first_seen'"
# Such a follow-up is news only when its file also brought dated documents on or after the bound
# (the `?`): a back-fill of two years of exports puts hundreds of thousands on the day it ran,
# which no alert or digest should report as that day's.
FRESH_FIRST_SEEN = (f"({OWN_DATE} OR EXISTS (SELECT 1 FROM batches b"
                    " WHERE b.id = d.batch_id AND b.newest_at >= ?))")
# the digest and the reply backlog: the bound is this long before the day (or window) they show
FIRST_SEEN_FRESH = timedelta(days=2)


@dataclass(frozen=True)
class ClusterSettings:
    """How hits of one category cluster (derived from its rules)."""

    window: timedelta = timedelta(hours=24)
    min_count: int = 1
    severities: tuple[str, ...] = SEVERITIES  # most severe first

    def rank(self, severity: str | None) -> int:
        return self.severities.index(severity) if severity in self.severities else len(self.severities)


@dataclass(frozen=True)
class ClusterOptions:
    """Tunables: `[clusters]` in sentiment.toml (`Settings.clusters`, validated at load)."""

    tz: tzinfo = ZoneInfo(DEFAULT_TZ)
    kinds: tuple[str, ...] = KINDS
    lookback_days: int = 30
    default_rule: ClusterSettings = ClusterSettings()  # categories without settings
    baseline_days: int = 14
    spike_k: float = 3.0
    spike_min_count: int = 5
    spike_count_floor: float = 1.0
    spike_share_floor: float = 0.05
    topic_min_size: int = 3
    topic_similarity: float = 0.25
    topic_max_docs: int = 5000
    duplicate_similarity: float = 0.8
    duplicate_min_chars: int = 10
    duplicate_min_size: int = 3
    duplicate_max_texts: int = 50000


@dataclass
class Candidate:
    """A computed cluster before it is stored. `members` are (document_id, created_at), time-sorted."""

    id: str
    kind: str
    members: list[tuple[str, str]]
    item_id: str | None = None
    item_title: str | None = None
    category: str | None = None
    rule_id: str | None = None
    severity: str | None = None
    title: str = ""
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def first_seen(self) -> str:
        return self.members[0][1]

    @property
    def last_seen(self) -> str:
        return self.members[-1][1]


def cluster_id(kind: str, *parts: str) -> str:
    digest = hashlib.sha1("\x1f".join((kind, *parts)).encode("utf-8")).hexdigest()
    return f"{kind}-{digest[:16]}"
