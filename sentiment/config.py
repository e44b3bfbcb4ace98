"""Settings: one frozen object built from flags > SENTIMENT_* env > sentiment.toml > defaults."""
from __future__ import annotations

import math
import os
import re
import tomllib
from dataclasses import dataclass, field, fields, replace
from datetime import time, timedelta
from email.errors import HeaderParseError
from email.headerregistry import Address
from email.utils import getaddresses
from pathlib import Path
from typing import Any, Mapping
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sentiment.errors import ConfigError
from sentiment.ingest.tabular import ALIASES
from sentiment.signals.candidates import KINDS, ClusterOptions

DEFAULT_CONFIG_NAME = "sentiment.toml"
DEFAULT_DB_NAME = "sentiment.db"
DEFAULT_TIMEZONE = "Asia/Shanghai"
DEFAULT_NEGATIVE_BELOW = 0.4
DEFAULT_POSITIVE_ABOVE = 0.6
DEFAULT_BATCH_SIZE = 2000
MAX_MAIL_TIMEOUT = 600.0
# With no [audiences] configured (the embedded default), mail still renders: to local placeholders.
DEFAULT_AUDIENCES: dict[str, tuple[str, ...]] = {"cs": ("cs@localhost",), "pr": ("pr@localhost",)}
# What a digest can show; [digest.sections] picks from these per audience (sentiment.reports.digest builds them).
DIGEST_SECTIONS = ("incidents", "categories", "unanswered", "qa", "items", "escalation")
# Earlier names [digest.sections] still accepts: clusters became incidents.
DIGEST_SECTION_ALIASES = {"clusters": "incidents"}

# The keys of each table below; any other key is refused at load.
SCHEDULE_KEYS = frozenset({"inbox_minutes", "analyze_minutes", "outbox_minutes", "digest", "misfire_grace_seconds",
                           "inbox_settle_seconds"})
DIGEST_KEYS = frozenset({"unanswered_hours", "unanswered_days", "sections"})
ALERT_KEYS = frozenset({"recent_hours", "cooldown", "quiet_hours", "summary_over"})
INCIDENT_KEYS = frozenset({"quiet_days", "sla", "grow_count", "grow_day_count", "window_days"})
SEVERITY_ORDER = ("critical", "high", "medium", "low")
DEFAULT_SLA: dict[str, timedelta] = {"critical": timedelta(hours=1), "high": timedelta(hours=4),
                                     "medium": timedelta(hours=24), "low": timedelta(hours=72)}
# [clusters] key -> (type, lowest, highest); `kinds` is a list of cluster kinds besides these
CLUSTER_LIMITS: dict[str, tuple[type, float, float]] = {
    "lookback_days": (int, 1, 3650), "baseline_days": (int, 1, 365), "spike_k": (float, 0, 100),
    "spike_min_count": (int, 1, 10**6), "spike_count_floor": (float, 0, 10**6),
    "spike_share_floor": (float, 0, 1), "topic_min_size": (int, 2, 10**6),
    "topic_similarity": (float, 0.01, 1), "topic_max_docs": (int, 10, 10**6),
    "duplicate_similarity": (float, 0.1, 1), "duplicate_min_chars": (int, 3, 10**4),
    "duplicate_min_size": (int, 2, 10**6), "duplicate_max_texts": (int, 10, 10**7),
}
CLUSTER_KEYS = frozenset(CLUSTER_LIMITS) | {"kinds"}

# env var -> (section, key); the env value overrides the TOML value.
ENV_KEYS: dict[str, tuple[str, str]] = {
    "SENTIMENT_DB": ("store", "db"),
    "SENTIMENT_TIMEZONE": ("general", "timezone"),
    "SENTIMENT_MODEL": ("model", "path"),
    "SENTIMENT_RULES": ("rules", "paths"),
    "SENTIMENT_MAIL_TRANSPORT": ("mail", "transport"),
    "SENTIMENT_SMTP_HOST": ("mail", "host"),
    "SENTIMENT_SMTP_PORT": ("mail", "port"),
}


@dataclass(frozen=True)
class MailSettings:
    transport: str = "file"
    host: str = "localhost"
    port: int = 25
    security: str = "none"
    username: str | None = None
    password: str | None = None
    sender: str = "舆情监控 <sentiment@localhost>"
    timeout: float = 30.0
    outbox_dir: Path = Path("outbox")


@dataclass(frozen=True)
class IngestSettings:
    """[ingest]: extra header aliases (canonical field -> names) and the shop recorded on
    documents that carry none. The CLI and the inbox both ingest with these."""

    aliases: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    shop: str | None = None


@dataclass(frozen=True)
class ScheduleSettings:
    """[schedule]: job intervals in minutes, the daily digest time (local), misfire grace, inbox settle time."""

    inbox_minutes: float = 5
    analyze_minutes: float = 5
    outbox_minutes: float = 1
    digest_at: time = time(9, 0)
    misfire_grace_seconds: int = 3600
    inbox_settle_seconds: float = 2.0


@dataclass(frozen=True)
class DigestSettings:
    """[digest]: when a negative review counts as unanswered; [digest.sections]: audience -> the sections
    its digest shows (an audience not listed gets the digest's default sections)."""

    unanswered_hours: float = 24
    unanswered_days: float = 7
    sections: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class AlertSettings:
    """[alerts]: how recent a document must be to alert, the default cooldown per rule cluster, and the
    local quiet hours (start, end) during which only critical rules alert."""

    recent_hours: float = 48
    cooldown: timedelta = timedelta(hours=1)
    quiet_hours: tuple[time, time] | None = None
    summary_over: int = 5  # more incidents than this opening in one cycle: one summary mail per audience


@dataclass(frozen=True)
class IncidentSettings:
    """[incidents]: the quiet period after which an incident closes by itself, the response time per
    severity (counted from first seen), when size and speed raise a rule incident's severity (one
    step at `grow_count` documents within the last `window_days` or `grow_day_count` within 24
    hours, two steps at 5x those), and the window of recent days duplicate texts and emergent
    topics are looked for in."""

    quiet_days: float = 14
    sla: Mapping[str, timedelta] = field(default_factory=lambda: dict(DEFAULT_SLA))
    grow_count: int = 20
    grow_day_count: int = 5
    window_days: int = 7


@dataclass(frozen=True)
class WebSettings:
    """[web]: where `sentiment web` listens, and the console's public address (`base_url`), which
    digests and alerts link incident pages to when set."""

    host: str = "127.0.0.1"
    port: int = 8080
    base_url: str | None = None


# [channels.<name>]: group robots beside mail (sentiment.reports.channels delivers to them).
CHANNEL_TYPES = ("dingtalk", "wecom", "feishu")
CHANNEL_KEYS = frozenset({"type", "url", "secret", "mention", "timeout"})
SIGNED_CHANNEL_TYPES = ("dingtalk", "feishu")  # robots that sign requests with a secret
DEFAULT_CHANNEL_TIMEOUT = 10.0


@dataclass(frozen=True)
class ChannelSettings:
    """[channels.<name>]: one group robot. `url` (it carries the robot's token) and `secret` are
    secrets: never printed (not in repr; `safe_url` shows the host only)."""

    name: str
    type: str
    url: str = field(repr=False)
    secret: str | None = field(default=None, repr=False)
    mention: tuple[str, ...] = ()
    timeout: float = DEFAULT_CHANNEL_TIMEOUT

    @property
    def safe_url(self) -> str:
        """The robot's address without path and token, for messages and listings."""
        match = re.match(r"(https?://[^/?#]+)", self.url)
        return (match[1] if match else "?") + "/…"


def channel_env(name: str, what: str) -> str:
    """SENTIMENT_CHANNEL_<NAME>_<WHAT>: the name upper-cased, `-` as `_`."""
    return f"SENTIMENT_CHANNEL_{name.upper().replace('-', '_')}_{what}"


@dataclass(frozen=True)
class Settings:
    """Everything configurable. Paths are absolute once loaded."""

    db: Path = Path(DEFAULT_DB_NAME)
    config_path: Path | None = None
    base_dir: Path = Path(".")
    timezone: str = DEFAULT_TIMEZONE
    model_path: Path | None = None
    negative_below: float = DEFAULT_NEGATIVE_BELOW
    positive_above: float = DEFAULT_POSITIVE_ABOVE
    rules_paths: tuple[Path, ...] = ()
    batch_size: int = DEFAULT_BATCH_SIZE
    mail: MailSettings = field(default_factory=MailSettings)
    ingest: IngestSettings = field(default_factory=IngestSettings)
    audiences: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    schedule: ScheduleSettings = field(default_factory=ScheduleSettings)
    digest: DigestSettings = field(default_factory=DigestSettings)
    alerts: AlertSettings = field(default_factory=AlertSettings)
    incidents: IncidentSettings = field(default_factory=IncidentSettings)
    web: WebSettings = field(default_factory=WebSettings)
    channels: Mapping[str, ChannelSettings] = field(default_factory=dict)
    audience_channels: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # audience -> channel names
    clusters: ClusterOptions = field(default_factory=ClusterOptions)  # its tz is `timezone`'s
    paths: Mapping[str, Path] = field(default_factory=dict)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def data_dir(self) -> Path:
        """Where trained models and other state live: beside the database."""
        return self.db.parent


def find_config(flag: str | os.PathLike[str] | None, env: Mapping[str, str]) -> Path | None:
    """The config file to read: --config, then SENTIMENT_CONFIG, then ./sentiment.toml if present."""
    if flag:
        path = Path(flag)
        if not path.is_file():
            raise ConfigError(f"config file {path} not found")
        return path.resolve()
    if env.get("SENTIMENT_CONFIG"):
        path = Path(env["SENTIMENT_CONFIG"])
        if not path.is_file():
            raise ConfigError(f"config file {path} (from SENTIMENT_CONFIG) not found")
        return path.resolve()
    local = Path.cwd() / DEFAULT_CONFIG_NAME
    return local.resolve() if local.is_file() else None


def read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None


def _apply_env(data: dict[str, Any], env: Mapping[str, str]) -> None:
    for name, (section, key) in ENV_KEYS.items():
        if env.get(name):
            data.setdefault(section, {})[key] = env[name]


def _section(data: Mapping[str, Any], name: str) -> dict[str, Any]:
    value = data.get(name, {})
    if not isinstance(value, dict):
        raise ConfigError(f"[{name}] must be a table")
    return value


def _number(section: str, key: str, value: Any, kind: type) -> Any:
    try:
        return kind(value)
    except (TypeError, ValueError):
        raise ConfigError(f"[{section}] {key}: expected a {kind.__name__}, got {value!r}") from None


def _path(base: Path, value: Any, key: str) -> Path:
    if not isinstance(value, (str, os.PathLike)):
        raise ConfigError(f"{key}: expected a path string, got {value!r}")
    path = Path(value).expanduser()
    return path if path.is_absolute() else (base / path)


def _check_keys(section: str, table: Mapping[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        where = f"[{section}]" if section else "top level"
        raise ConfigError(f"{where}: unknown key {unknown[0]!r} (allowed: {', '.join(sorted(allowed))})")


def _mail(data: Mapping[str, Any], base: Path, env: Mapping[str, str]) -> MailSettings:
    mail = _section(data, "mail")
    allowed = {"transport", "host", "port", "security", "username", "from", "timeout", "outbox_dir"}
    _check_keys("mail", mail, allowed)
    transport = str(mail.get("transport", "file"))
    if transport not in ("file", "smtp"):
        raise ConfigError(f'[mail] transport: expected "file" or "smtp", got {transport!r}')
    security = str(mail.get("security", "none"))
    if security not in ("none", "starttls", "ssl"):
        raise ConfigError(f'[mail] security: expected "none", "starttls" or "ssl", got {security!r}')
    default_port = {"none": 25, "starttls": 587, "ssl": 465}[security]
    port = _number("mail", "port", mail.get("port", default_port), int)
    if not 1 <= port <= 65535:
        raise ConfigError(f"[mail] port: expected a port from 1 to 65535, got {mail.get('port')!r}")
    timeout = _number("mail", "timeout", mail.get("timeout", 30), float)
    if not 0 < timeout <= MAX_MAIL_TIMEOUT:  # also refuses nan
        raise ConfigError(f"[mail] timeout: expected a number of seconds above 0 and at most "
                          f"{MAX_MAIL_TIMEOUT:g}, got {mail.get('timeout')!r}")
    sender = str(mail.get("from", MailSettings.sender))
    problem = address_problem(sender)
    if problem:
        raise ConfigError(f"[mail] from: {problem}")
    return MailSettings(
        transport=transport,
        host=str(mail.get("host", "localhost")),
        port=port,
        security=security,
        username=mail.get("username"),
        password=env.get("SENTIMENT_SMTP_PASSWORD") or None,
        sender=sender,
        timeout=timeout,
        outbox_dir=_path(base, mail.get("outbox_dir", "outbox"), "[mail] outbox_dir"),
    )


def address_problem(value: str) -> str | None:
    """Why `value` ("name@example.com" or "Name <name@example.com>") cannot be one mail address, else None.

    The address itself must be ASCII (SMTP commands are); a display name may be anything printable.
    """
    if "\r" in value or "\n" in value:
        return f"{value!r} contains a line break"
    pairs = getaddresses([value])
    if len(pairs) != 1:
        return f"{value!r} is not one e-mail address (list each address separately)"
    addr = pairs[0][1]
    local, at, domain = addr.rpartition("@")
    if not (local and at and domain) or addr not in value:
        return f"{value!r} is not a valid e-mail address (expected name@domain)"
    if not addr.isascii():
        return f"{addr!r} is not an ASCII e-mail address ({_ascii_hint(local, domain)})"
    try:
        Address(addr_spec=addr)
    except (ValueError, IndexError, HeaderParseError):
        return f"{value!r} is not a valid e-mail address (expected name@domain)"
    return None


def _ascii_hint(local: str, domain: str) -> str:
    if not local.isascii():
        return "non-ASCII names before the @ are not supported"
    try:
        return f"use the domain's IDNA (xn--) form: {local}@{domain.encode('idna').decode('ascii')}"
    except UnicodeError:
        return "use the domain's IDNA (xn--) form"


def _audiences(data: Mapping[str, Any]) -> dict[str, tuple[str, ...]]:
    result: dict[str, tuple[str, ...]] = {}
    for name, table in _section(data, "audiences").items():
        if not isinstance(table, dict):
            raise ConfigError(f"[audiences.{name}] must be a table with to = [...]")
        _check_keys(f"audiences.{name}", table, {"to", "channels"})
        to = table.get("to", [])
        if isinstance(to, str):
            to = [to]
        if not isinstance(to, list) or not all(isinstance(a, str) for a in to):
            raise ConfigError(f"[audiences.{name}] to: expected a list of e-mail addresses")
        for address in to:
            problem = address_problem(address)
            if problem:
                raise ConfigError(f"[audiences.{name}] to: {problem}")
        result[name] = tuple(to)
    return result


def _positive(section: str, key: str, value: Any, what: str = "a positive number") -> float:
    """`value` if it is a finite number above 0 (as given: an int stays an int)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < math.inf:
        raise ConfigError(f"[{section}] {key}: expected {what}, got {value!r}")
    return value


def _clock(section: str, key: str, value: Any) -> time:
    """ "HH:MM" (or a TOML local time) as a time of day."""
    if isinstance(value, time):
        return value
    try:
        hours, minutes = str(value).split(":")
        return time(int(hours), int(minutes))
    except ValueError:
        raise ConfigError(f'[{section}] {key}: expected "HH:MM", got {value!r}') from None


def _schedule(data: Mapping[str, Any]) -> ScheduleSettings:
    table = _section(data, "schedule")
    _check_keys("schedule", table, SCHEDULE_KEYS)
    values: dict[str, Any] = {}
    for key in ("inbox_minutes", "analyze_minutes", "outbox_minutes", "inbox_settle_seconds"):
        if key in table:
            values[key] = float(_positive("schedule", key, table[key]))
    if "misfire_grace_seconds" in table:
        grace = _positive("schedule", "misfire_grace_seconds", table["misfire_grace_seconds"])
        values["misfire_grace_seconds"] = math.ceil(grace)
    if "digest" in table:
        values["digest_at"] = _clock("schedule", "digest", table["digest"])
    return ScheduleSettings(**values)


def _digest(data: Mapping[str, Any], audiences: Mapping[str, tuple[str, ...]]) -> DigestSettings:
    table = _section(data, "digest")
    _check_keys("digest", table, DIGEST_KEYS)
    hours = _positive("digest", "unanswered_hours", table.get("unanswered_hours", DigestSettings.unanswered_hours))
    days = _positive("digest", "unanswered_days", table.get("unanswered_days", DigestSettings.unanswered_days))
    if hours >= days * 24:
        raise ConfigError("[digest] unanswered_hours must be shorter than unanswered_days")
    sections = _digest_sections(table.get("sections", {}), audiences or DEFAULT_AUDIENCES)
    return DigestSettings(unanswered_hours=hours, unanswered_days=days, sections=sections)


def _digest_sections(table: Any, audiences: Mapping[str, Any]) -> dict[str, tuple[str, ...]]:
    if not isinstance(table, dict):
        raise ConfigError('[digest.sections] must be a table: audience = ["incidents", ...]')
    result: dict[str, tuple[str, ...]] = {}
    for audience, sections in table.items():
        if audience not in audiences:
            raise ConfigError(f"[digest.sections]: unknown audience {audience!r} "
                              f"(audiences: {', '.join(sorted(audiences))})")
        if not isinstance(sections, list) or not all(isinstance(s, str) for s in sections):
            raise ConfigError(f"[digest.sections] {audience}: expected a list of sections "
                              f"({', '.join(DIGEST_SECTIONS)}), got {sections!r}")
        bad = [s for s in sections if s not in DIGEST_SECTIONS and s not in DIGEST_SECTION_ALIASES]
        if bad:
            raise ConfigError(f"[digest.sections] {audience}: unknown section {bad[0]!r} "
                              f"(allowed: {', '.join(DIGEST_SECTIONS)})")
        named = [DIGEST_SECTION_ALIASES.get(s, s) for s in sections]
        result[audience] = tuple(dict.fromkeys(named))  # in order, each once
    return result


def _duration(section: str, key: str, value: Any) -> timedelta:
    """Minutes as a number, or a string like "90m", "2h", "1d"."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and 0 < value < math.inf:
        return timedelta(minutes=value)
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([mhd])\s*", str(value))
    if isinstance(value, bool) or not match or float(match[1]) <= 0:
        raise ConfigError(f'[{section}] {key}: expected minutes or a duration like "30m", "2h", got {value!r}')
    unit = {"m": "minutes", "h": "hours", "d": "days"}[match[2]]
    return timedelta(**{unit: float(match[1])})


def _quiet_hours(value: Any) -> tuple[time, time] | None:
    if value in (None, "", False):
        return None
    match = re.fullmatch(r"\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*", str(value))
    try:
        if not match:
            raise ValueError
        return time(int(match[1]), int(match[2])), time(int(match[3]), int(match[4]))
    except ValueError:
        raise ConfigError(f'[alerts] quiet_hours: expected "HH:MM-HH:MM" (e.g. "22:00-08:00"), got {value!r}') \
            from None


def _alerts(data: Mapping[str, Any]) -> AlertSettings:
    table = _section(data, "alerts")
    _check_keys("alerts", table, ALERT_KEYS)
    recent = _positive("alerts", "recent_hours", table.get("recent_hours", AlertSettings.recent_hours),
                       "a positive number of hours")
    cooldown = _duration("alerts", "cooldown", table["cooldown"]) if "cooldown" in table else AlertSettings.cooldown
    summary_over = table.get("summary_over", AlertSettings.summary_over)
    if isinstance(summary_over, bool) or not isinstance(summary_over, int) or summary_over < 1:
        raise ConfigError(f"[alerts] summary_over: expected a positive integer, got {summary_over!r}")
    return AlertSettings(recent_hours=recent, cooldown=cooldown, quiet_hours=_quiet_hours(table.get("quiet_hours")),
                         summary_over=summary_over)


def _web(data: Mapping[str, Any]) -> WebSettings:
    table = _section(data, "web")
    _check_keys("web", table, {"host", "port", "base_url"})
    host = table.get("host", WebSettings.host)
    if not isinstance(host, str) or not host.strip():
        raise ConfigError(f"[web] host: expected a host name or address, got {host!r}")
    port = table.get("port", WebSettings.port)
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise ConfigError(f"[web] port: expected a port from 1 to 65535, got {port!r}")
    base = table.get("base_url")
    if base is not None:
        if not isinstance(base, str) or not re.fullmatch(r"https?://[^\s/?#]+(/[^\s?#]*)?", base.strip()):
            raise ConfigError(f"[web] base_url: expected an http(s) address like https://monitor.example.com, got {base!r}")
        base = base.strip().rstrip("/")
    return WebSettings(host=host.strip(), port=port, base_url=base)


def _channel(name: str, table: Any, env: Mapping[str, str]) -> ChannelSettings:
    where = f"[channels.{name}]"
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}", name):
        raise ConfigError(f"{where}: a channel name takes letters, digits, '-' and '_' (e.g. cs-dingtalk)")
    if not isinstance(table, dict):
        raise ConfigError(f'{where} must be a table: type = "dingtalk", url = "https://..."')
    _check_keys(f"channels.{name}", table, set(CHANNEL_KEYS))
    kind = table.get("type")
    if kind not in CHANNEL_TYPES:
        raise ConfigError(f'{where} type: expected "dingtalk", "wecom" or "feishu", got {kind!r}')
    url_env, secret_env = channel_env(name, "URL"), channel_env(name, "SECRET")
    url = env.get(url_env) or table.get("url")
    if url is None:
        raise ConfigError(f"{where} url: missing (the robot's webhook address, or set {url_env})")
    if not isinstance(url, str) or not re.fullmatch(r"https?://[^\s/?#]+(/[^\s#]*)?", url.strip()):
        source = url_env if env.get(url_env) else "url"  # the value itself carries the token: not shown
        raise ConfigError(f"{where} {source}: expected the robot's http(s) webhook address "
                          "(like https://oapi.dingtalk.com/robot/send?access_token=...)")
    secret = env.get(secret_env) or table.get("secret")
    if secret is not None and (not isinstance(secret, str) or not secret.strip()):
        raise ConfigError(f"{where} secret: expected the robot's signing secret (or set {secret_env})")
    if secret and kind not in SIGNED_CHANNEL_TYPES:
        raise ConfigError(f"{where} secret: {kind} robots do not sign requests; remove it (or {secret_env})")
    return ChannelSettings(name=name, type=kind, url=url.strip(), secret=secret.strip() if secret else None,
                           mention=_mentions(where, kind, table.get("mention", [])),
                           timeout=_channel_timeout(where, table.get("timeout", DEFAULT_CHANNEL_TIMEOUT)))


def _mentions(where: str, kind: str, value: Any) -> tuple[str, ...]:
    """Who a critical item @-mentions: phone numbers (dingtalk), user ids (wecom, feishu); never everyone."""
    what = "phone numbers" if kind == "dingtalk" else "user ids"
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where} mention: expected a list of {what}")
    pattern = r"\+?[0-9][0-9-]{4,19}" if kind == "dingtalk" else r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}"
    for person in value:
        if person.strip().lower() in ("all", "@all"):
            raise ConfigError(f"{where} mention: {person!r} would notify everyone; list the people instead")
        if not re.fullmatch(pattern, person.strip()):
            raise ConfigError(f"{where} mention: {person!r} is not one of the {what} a {kind} robot can @")
    return tuple(dict.fromkeys(v.strip() for v in value))


def _channel_timeout(where: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= MAX_MAIL_TIMEOUT:
        raise ConfigError(f"{where} timeout: expected a number of seconds above 0 and at most "
                          f"{MAX_MAIL_TIMEOUT:g}, got {value!r}")
    return float(value)


def _channels(data: Mapping[str, Any], env: Mapping[str, str]) -> dict[str, ChannelSettings]:
    result = {name: _channel(name, table, env) for name, table in _section(data, "channels").items()}
    seen: dict[str, str] = {}
    for name in result:
        other = seen.setdefault(channel_env(name, ""), name)
        if other != name:
            raise ConfigError(f"[channels.{name}] and [channels.{other}] share the environment variables "
                              f"{channel_env(name, 'URL')} and _SECRET: rename one")
    return result


def _audience_channels(data: Mapping[str, Any], channels: Mapping[str, ChannelSettings]) -> dict[str, tuple[str, ...]]:
    """[audiences.<name>] channels = [...]: names of [channels.<name>] tables."""
    result: dict[str, tuple[str, ...]] = {}
    for audience, table in _section(data, "audiences").items():
        names = table.get("channels", []) if isinstance(table, dict) else []
        if isinstance(names, str):
            names = [names]
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise ConfigError(f"[audiences.{audience}] channels: expected a list of channel names")
        for name in names:
            if name not in channels:
                raise ConfigError(f"[audiences.{audience}] channels: unknown channel {name!r} "
                                  f"(configured: {', '.join(sorted(channels)) or 'none; add [channels.' + name + ']'})")
        if names:
            result[audience] = tuple(dict.fromkeys(names))
    return result


def _incidents(data: Mapping[str, Any]) -> IncidentSettings:
    table = _section(data, "incidents")
    _check_keys("incidents", table, INCIDENT_KEYS)
    quiet = _positive("incidents", "quiet_days", table.get("quiet_days", IncidentSettings.quiet_days),
                      "a positive number of days")
    sla_table = table.get("sla", {})
    if not isinstance(sla_table, dict):
        raise ConfigError('[incidents.sla] must be a table: critical = "1h", high = "4h", ...')
    sla = dict(DEFAULT_SLA)
    for severity, value in sla_table.items():
        if severity not in SEVERITY_ORDER:
            raise ConfigError(f"[incidents.sla]: unknown severity {severity!r} (one of {', '.join(SEVERITY_ORDER)})")
        sla[severity] = _duration("incidents.sla", severity, value)
    counts = {}
    for key in ("grow_count", "grow_day_count", "window_days"):
        value = table.get(key, getattr(IncidentSettings, key))
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 10**6:
            raise ConfigError(f"[incidents] {key}: expected a positive integer, got {value!r}")
        counts[key] = value
    return IncidentSettings(quiet_days=quiet, sla=sla, **counts)


def _clusters(data: Mapping[str, Any], tz: ZoneInfo) -> ClusterOptions:
    """[clusters] as the ClusterOptions the signals use (with the configured time zone)."""
    table = _section(data, "clusters")
    _check_keys("clusters", table, CLUSTER_KEYS)
    values: dict[str, Any] = {"tz": tz}
    for key, value in table.items():
        if key == "kinds":
            if not isinstance(value, list) or not all(isinstance(k, str) and k in KINDS for k in value):
                raise ConfigError(f"[clusters] kinds: expected a list of {', '.join(KINDS)}, got {value!r}")
            values[key] = tuple(k for k in KINDS if k in value)
            continue
        kind, low, high = CLUSTER_LIMITS[key]
        ok = (isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
              and (kind is float or value == int(value)))
        if not ok or not low <= value <= high:
            raise ConfigError(f"[clusters] {key}: expected {'an integer' if kind is int else 'a number'} "
                              f"from {low} to {high}, got {value!r}")
        values[key] = kind(value)
    return ClusterOptions(**values)


def _ingest(data: Mapping[str, Any]) -> IngestSettings:
    table = _section(data, "ingest")
    _check_keys("ingest", table, {"aliases", "shop"})
    aliases = table.get("aliases", {})
    if not isinstance(aliases, dict):
        raise ConfigError("[ingest.aliases] must be a table: field = [\"header\", ...]")
    result: dict[str, tuple[str, ...]] = {}
    for name, names in aliases.items():
        if name not in ALIASES:
            raise ConfigError(f"[ingest.aliases]: unknown field {name!r} (known: {', '.join(ALIASES)})")
        names = [names] if isinstance(names, str) else names
        if not isinstance(names, list) or not all(isinstance(n, str) and n.strip() for n in names):
            raise ConfigError(f"[ingest.aliases] {name}: expected a list of header names")
        result[name] = tuple(names)
    shop = table.get("shop")
    if shop is not None and (not isinstance(shop, str) or not shop.strip()):
        raise ConfigError("[ingest] shop: expected a shop name")
    return IngestSettings(aliases=result, shop=shop)


def _rules_paths(data: Mapping[str, Any], base: Path) -> tuple[Path, ...]:
    value = _section(data, "rules").get("paths", [])
    if isinstance(value, str):
        value = [v for v in value.split(os.pathsep) if v]
    if not isinstance(value, list):
        raise ConfigError("[rules] paths: expected a list of directories or files")
    return tuple(_path(base, v, "[rules] paths") for v in value)


def build_settings(data: dict[str, Any], config_path: Path | None, env: Mapping[str, str]) -> Settings:
    """Validate a parsed config (TOML plus env overrides) into Settings."""
    base = config_path.parent if config_path else Path.cwd()
    general = _section(data, "general")
    _check_keys("general", general, {"timezone", "batch_size"})
    timezone = str(general.get("timezone", DEFAULT_TIMEZONE))
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"[general] timezone: unknown time zone {timezone!r}") from None
    model = _section(data, "model")
    _check_keys("model", model, {"path", "negative_below", "positive_above"})
    neg = _number("model", "negative_below", model.get("negative_below", DEFAULT_NEGATIVE_BELOW), float)
    pos = _number("model", "positive_above", model.get("positive_above", DEFAULT_POSITIVE_ABOVE), float)
    if not 0.0 <= neg <= pos <= 1.0:
        raise ConfigError("[model] thresholds: need 0 <= negative_below <= positive_above <= 1")
    store = _section(data, "store")
    _check_keys("store", store, {"db"})
    _check_keys("", data, {"general", "store", "paths", "model", "rules", "ingest", "mail", "audiences",
                           "schedule", "alerts", "digest", "clusters", "incidents", "web", "channels"})
    paths = _section(data, "paths")
    _check_keys("paths", paths, {"inbox", "processed", "failed"})
    audiences = _audiences(data)
    channels = _channels(data, env)
    return Settings(
        db=_path(base, store.get("db", DEFAULT_DB_NAME), "[store] db").resolve(),
        config_path=config_path,
        base_dir=base,
        timezone=timezone,
        model_path=_path(base, model["path"], "[model] path") if model.get("path") else None,
        negative_below=neg,
        positive_above=pos,
        rules_paths=_rules_paths(data, base),
        batch_size=_number("general", "batch_size", general.get("batch_size", DEFAULT_BATCH_SIZE), int),
        mail=_mail(data, base, env),
        ingest=_ingest(data),
        audiences=audiences,
        schedule=_schedule(data),
        digest=_digest(data, audiences),
        alerts=_alerts(data),
        incidents=_incidents(data),
        web=_web(data),
        channels=channels,
        audience_channels=_audience_channels(data, channels),
        clusters=_clusters(data, ZoneInfo(timezone)),
        paths={k: _path(base, paths.get(k, k), f"[paths] {k}") for k in ("inbox", "processed", "failed")},
    )


def load_settings(
    config: str | os.PathLike[str] | None = None,
    db: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    **overrides: Any,
) -> Settings:
    """Load settings with precedence flag > SENTIMENT_* env > TOML > defaults."""
    env = os.environ if env is None else env
    config_path = find_config(config, env)
    data = read_toml(config_path) if config_path else {}
    _apply_env(data, env)
    settings = build_settings(data, config_path, env)
    if db is not None:
        settings = replace(settings, db=Path(db).resolve())
    known = {f.name for f in fields(Settings)}
    bad = set(overrides) - known
    if bad:
        raise ConfigError(f"unknown setting {sorted(bad)[0]!r}")
    return replace(settings, **{k: v for k, v in overrides.items() if v is not None})
