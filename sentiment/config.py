"""Settings: one frozen object built from flags > SENTIMENT_* env > sentiment.toml > defaults."""
from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Mapping
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sentiment.errors import ConfigError
from sentiment.ingest.tabular import ALIASES

DEFAULT_CONFIG_NAME = "sentiment.toml"
DEFAULT_DB_NAME = "sentiment.db"
DEFAULT_TIMEZONE = "Asia/Shanghai"
DEFAULT_NEGATIVE_BELOW = 0.4
DEFAULT_POSITIVE_ABOVE = 0.6
DEFAULT_BATCH_SIZE = 2000

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
    schedule: Mapping[str, Any] = field(default_factory=dict)
    paths: Mapping[str, Path] = field(default_factory=dict)
    raw: Mapping[str, Any] = field(default_factory=dict)

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
    return MailSettings(
        transport=transport,
        host=str(mail.get("host", "localhost")),
        port=_number("mail", "port", mail.get("port", default_port), int),
        security=security,
        username=mail.get("username"),
        password=env.get("SENTIMENT_SMTP_PASSWORD") or None,
        sender=str(mail.get("from", MailSettings.sender)),
        timeout=_number("mail", "timeout", mail.get("timeout", 30), float),
        outbox_dir=_path(base, mail.get("outbox_dir", "outbox"), "[mail] outbox_dir"),
    )


def _audiences(data: Mapping[str, Any]) -> dict[str, tuple[str, ...]]:
    result: dict[str, tuple[str, ...]] = {}
    for name, table in _section(data, "audiences").items():
        if not isinstance(table, dict):
            raise ConfigError(f"[audiences.{name}] must be a table with to = [...]")
        _check_keys(f"audiences.{name}", table, {"to"})
        to = table.get("to", [])
        if isinstance(to, str):
            to = [to]
        if not isinstance(to, list) or not all(isinstance(a, str) and "@" in a for a in to):
            raise ConfigError(f"[audiences.{name}] to: expected a list of e-mail addresses")
        if any("\r" in a or "\n" in a for a in to):
            raise ConfigError(f"[audiences.{name}] to: addresses must not contain line breaks")
        result[name] = tuple(to)
    return result


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
                           "schedule", "alerts", "digest", "triage", "clusters"})
    paths = _section(data, "paths")
    _check_keys("paths", paths, {"inbox", "processed", "failed"})
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
        audiences=_audiences(data),
        schedule=_section(data, "schedule"),
        paths={k: _path(base, paths.get(k, k), f"[paths] {k}") for k in ("inbox", "processed", "failed")},
        raw=data,
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
