"""How times are stored and compared: the one place that decides.

Documents' `created_at` are ISO 8601 strings in Beijing time (`+08:00`, the time
Tmall and Taobao give), so they sort and compare as text *only* against bounds
written the same way: `stored(moment)`. Bookkeeping times (`ingested_at`,
`analyzed_at`, outbox and run times) are UTC (`utcnow()`). A bound built in the
configured time zone (digest days, "yesterday") is converted with `stored()`
before it meets a stored string; never compare a string in another offset.
"""
from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo

STORED_TZ = ZoneInfo("Asia/Shanghai")  # Tmall/Taobao timestamps are Beijing time (+08:00 since 1991)


def stored(moment: datetime) -> str:
    """`moment` (aware) as a bound comparable with stored `created_at` strings."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime: pass an aware datetime")
    return moment.astimezone(STORED_TZ).isoformat(timespec="seconds")


def parse_stored(value: str) -> datetime:
    """A stored ISO string as an aware datetime."""
    return datetime.fromisoformat(value)


def parse_moment(value: str | None) -> datetime | None:
    """A stored ISO time as an aware datetime (naive ones are UTC), or None when empty or invalid."""
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)


def utcnow() -> str:
    """Now, for bookkeeping columns: UTC, ISO 8601 to the second."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def day_start(day: date, tz: tzinfo) -> datetime:
    """Midnight of `day` in `tz` (the configured zone)."""
    return datetime.combine(day, time(0), tzinfo=tz)


def day_bounds(day: date, tz: tzinfo) -> tuple[datetime, datetime]:
    """[start, end) of a local day in `tz`."""
    return day_start(day, tz), day_start(day + timedelta(days=1), tz)


def utc_key(moment: datetime) -> str:
    """The form SQLite's datetime() gives for an ISO timestamp with offset: UTC, space-separated."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def between(column: str, start: datetime, end: datetime) -> tuple[str, list[str]]:
    """SQL for start <= column < end on ISO strings with any offset (a string prefilter uses the index)."""
    lo = (start.astimezone(timezone.utc) - timedelta(days=1)).date().isoformat()
    hi = (end.astimezone(timezone.utc) + timedelta(days=2)).date().isoformat()
    sql = f"{column} >= ? AND {column} < ? AND datetime({column}) >= ? AND datetime({column}) < ?"
    return sql, [lo, hi, utc_key(start), utc_key(end)]
