"""Settings are typed and validated when loaded: every section's unknown keys and bad values are refused by
`load_settings()` with an error naming the section and the key (not later, when the digest or an alert runs)."""
from __future__ import annotations

import re
from datetime import time, timedelta
from pathlib import Path

import pytest

from sentiment.config import Settings, load_settings
from sentiment.errors import ConfigError
from sentiment.resources import default_config_text

DEFAULT_CONFIG = Path(__file__).resolve().parent.parent / "sentiment" / "default_config.toml"


def load(tmp_path: Path, text: str) -> Settings:
    config = tmp_path / "sentiment.toml"
    config.write_text(text, encoding="utf-8")
    return load_settings(config=config, env={})


@pytest.mark.parametrize("toml, message", [
    # [schedule]
    ("[schedule]\nevery = 5\n", r"[schedule]: unknown key 'every' (allowed: analyze_minutes, digest,"),
    ("[schedule]\ninbox_minutes = -1\n", "[schedule] inbox_minutes: expected a positive number, got -1"),
    ('[schedule]\ndigest = "9 o\'clock"\n', '[schedule] digest: expected "HH:MM", got "9 o\'clock"'),
    # [digest] and [digest.sections]
    ("[digest]\nunanswered_hour = 24\n",
     "[digest]: unknown key 'unanswered_hour' (allowed: sections, unanswered_days, unanswered_hours)"),
    ("[digest]\nunanswered_hours = -1\n", "[digest] unanswered_hours: expected a positive number, got -1"),
    ('[digest]\nunanswered_days = "soon"\n', "[digest] unanswered_days: expected a positive number, got 'soon'"),
    ("[digest]\nunanswered_hours = 200\n", "[digest] unanswered_hours must be shorter than unanswered_days"),
    ('[digest.sections]\ncs = ["charts"]\n', "[digest.sections] cs: unknown section 'charts' (allowed: incidents,"),
    ('[digest.sections]\ncs = "clusters"\n', "[digest.sections] cs: expected a list of sections"),
    ('[digest.sections]\ncx = ["clusters"]\n', "[digest.sections]: unknown audience 'cx' (audiences: cs, pr)"),
    ('[digest]\nsections = "clusters"\n', "[digest.sections] must be a table"),
    # [alerts]
    ("[alerts]\nrecent = 48\n",
     "[alerts]: unknown key 'recent' (allowed: cooldown, quiet_hours, recent_hours, summary_over)"),
    ("[alerts]\nsummary_over = 0\n", "[alerts] summary_over: expected a positive integer, got 0"),
    # [web]
    ('[web]\nbase_url = "ftp://x"\n', "[web] base_url: expected an http(s) address"),
    ("[web]\nport = 70000\n", "[web] port: expected a port from 1 to 65535, got 70000"),
    # [incidents]
    ("[incidents]\nquiet = 3\n", "[incidents]: unknown key 'quiet'"),
    ("[incidents]\nquiet_days = -1\n", "[incidents] quiet_days: expected a positive number of days"),
    ('[incidents.sla]\nurgent = "1h"\n', "[incidents.sla]: unknown severity 'urgent'"),
    ('[incidents.sla]\nhigh = "soon"\n', '[incidents.sla] high: expected minutes or a duration like "30m"'),
    ("[incidents]\ngrow_count = 0\n", "[incidents] grow_count: expected a positive integer, got 0"),
    ("[alerts]\nrecent_hours = 0\n", "[alerts] recent_hours: expected a positive number of hours, got 0"),
    ('[alerts]\ncooldown = "soon"\n', '[alerts] cooldown: expected minutes or a duration like "30m", "2h"'),
    ('[alerts]\nquiet_hours = "25:00-08:00"\n', '[alerts] quiet_hours: expected "HH:MM-HH:MM"'),
    # [clusters]
    ("[clusters]\nlookback = 3\n", "[clusters]: unknown key 'lookback' (allowed: baseline_days,"),
    ('[clusters]\nspike_k = "x"\n', "[clusters] spike_k: expected a number from 0 to 100, got 'x'"),
    ("[clusters]\ntopic_min_size = 1.5\n", "[clusters] topic_min_size: expected an integer from 2 to"),
    ('[clusters]\nkinds = ["nope"]\n', "[clusters] kinds: expected a list of rule, spike, topic, duplicate"),
    # [triage]: nothing reads it, so the section is refused rather than silently ignored
    ("[triage]\nsla_hours = 4\n", "top level: unknown key 'triage'"),
    # a section that must be a table
    ('digest = "daily"\n', "[digest] must be a table"),
    # [channels.<name>] and [audiences.<name>] channels
    ('[channels.cs]\ntype = "slack"\nurl = "https://x"\n',
     '[channels.cs] type: expected "dingtalk", "wecom" or "feishu", got \'slack\''),
    ('[channels.cs]\ntype = "wecom"\n', "[channels.cs] url: missing (the robot's webhook address, or set"
                                        " SENTIMENT_CHANNEL_CS_URL)"),
    ('[channels.cs]\ntype = "wecom"\nurl = "qyapi.weixin.qq.com/send?key=TOKEN"\n',
     "[channels.cs] url: expected the robot's http(s) webhook address"),
    ('[channels.cs]\ntype = "wecom"\nurl = "https://x"\nsecret = "s"\n',
     "[channels.cs] secret: wecom robots do not sign requests"),
    ('[channels.cs]\ntype = "wecom"\nurl = "https://x"\ntoken = "t"\n',
     "[channels.cs]: unknown key 'token' (allowed: mention, secret, timeout, type, url)"),
    ('[channels.cs]\ntype = "dingtalk"\nurl = "https://x"\nmention = ["@all"]\n',
     "[channels.cs] mention: '@all' would notify everyone; list the people instead"),
    ('[channels.cs]\ntype = "dingtalk"\nurl = "https://x"\nmention = ["zhangsan"]\n',
     "[channels.cs] mention: 'zhangsan' is not one of the phone numbers a dingtalk robot can @"),
    ('[channels.cs]\ntype = "feishu"\nurl = "https://x"\ntimeout = 0\n',
     "[channels.cs] timeout: expected a number of seconds above 0 and at most 600, got 0"),
    ('[channels."客服群"]\ntype = "feishu"\nurl = "https://x"\n', "[channels.客服群]: a channel name takes letters"),
    ('[channels.cs-x]\ntype = "wecom"\nurl = "https://x"\n[channels.cs_x]\ntype = "wecom"\nurl = "https://y"\n',
     "share the environment variables SENTIMENT_CHANNEL_CS_X_URL"),
    ('[audiences.cs]\nchannels = ["cs-ding"]\n',
     "[audiences.cs] channels: unknown channel 'cs-ding' (configured: none; add [channels.cs-ding])"),
    ('[channels.cs-dingtalk]\ntype = "wecom"\nurl = "https://x"\n[audiences.cs]\nchannels = "cs-ding"\n',
     "[audiences.cs] channels: unknown channel 'cs-ding' (configured: cs-dingtalk)"),
])
def test_unknown_keys_and_bad_values_are_refused_at_load(tmp_path: Path, toml: str, message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        load(tmp_path, toml)


def test_sections_are_typed(tmp_path: Path) -> None:
    settings = load(tmp_path, """
[schedule]
digest = "07:30"
inbox_minutes = 2
misfire_grace_seconds = 600

[digest]
unanswered_hours = 12
unanswered_days = 3

[digest.sections]
pr = ["escalation", "qa"]

[alerts]
recent_hours = 6
cooldown = "90m"
quiet_hours = "22:00-08:00"

[clusters]
spike_k = 2.5
kinds = ["spike", "rule"]
""")
    assert not hasattr(settings, "raw")
    assert (settings.schedule.digest_at, settings.schedule.inbox_minutes) == (time(7, 30), 2)
    assert settings.schedule.misfire_grace_seconds == 600 and settings.schedule.outbox_minutes == 1
    assert (settings.digest.unanswered_hours, settings.digest.unanswered_days) == (12, 3)
    assert dict(settings.digest.sections) == {"pr": ("escalation", "qa")}
    assert settings.alerts.recent_hours == 6 and settings.alerts.cooldown == timedelta(minutes=90)
    assert settings.alerts.quiet_hours == (time(22, 0), time(8, 0))
    assert settings.clusters.spike_k == 2.5 and settings.clusters.kinds == ("rule", "spike")
    assert settings.clusters.tz == settings.tz


def test_defaults_without_a_config(tmp_path: Path) -> None:
    settings = load_settings(env={})
    assert settings.schedule.digest_at == time(9, 0) and settings.digest.unanswered_hours == 24
    assert settings.alerts.cooldown == timedelta(hours=1) and settings.alerts.quiet_hours is None
    assert settings.clusters.lookback_days == 30


def test_default_config_loads_with_every_commented_key_enabled(tmp_path: Path) -> None:
    """`sentiment init` writes default_config.toml: as written, and with every commented `key = value` (and
    commented table header) switched on, it loads; every key the typed sections accept is mentioned in it."""
    text = default_config_text()
    assert text == DEFAULT_CONFIG.read_text(encoding="utf-8")
    load(tmp_path, text)
    enabled = re.sub(r"(?m)^# ?((?:\[[\w.-]+\]|[a-z_]+ = ).*)$", r"\1", text)
    assert enabled.count("\n[") > text.count("\n[")
    settings = load(tmp_path, enabled)
    assert settings.mail.host == "smtp.example.com" and settings.ingest.aliases["text"] == ("买家心得",)
    from sentiment.config import ALERT_KEYS, CLUSTER_KEYS, DIGEST_KEYS, INCIDENT_KEYS, SCHEDULE_KEYS

    for section, keys in (("schedule", SCHEDULE_KEYS), ("digest", DIGEST_KEYS), ("alerts", ALERT_KEYS),
                          ("clusters", CLUSTER_KEYS), ("incidents", INCIDENT_KEYS)):
        body = text.split(f"\n[{section}]\n", 1)[1].split("\n[", 1)[0]
        missing = [k for k in keys if not re.search(rf"(?m)^#? ?{k} = ", body) and k not in ("sections", "sla")]
        assert missing == [], f"[{section}] keys not in default_config.toml: {missing}"
    assert "[digest.sections]" in text and "[incidents.sla]" in text
    assert settings.incidents.sla["critical"].total_seconds() == 3600 and settings.incidents.quiet_days == 14
    assert settings.web.base_url == "https://monitor.example.com" and settings.web.port == 8080
    assert settings.audience_channels == {"cs": ("cs-dingtalk",), "pr": ("pr-feishu",)}
    assert settings.channels["cs-dingtalk"].type == "dingtalk" and settings.channels["pr-feishu"].type == "feishu"
    from sentiment.config import CHANNEL_KEYS

    body = text.split("[channels.cs-dingtalk]\n", 1)[1].split("\n\n", 1)[0]
    assert [k for k in CHANNEL_KEYS if not re.search(rf"(?m)^#? ?{k} = ", body)] == []


def test_channel_secrets_come_from_the_environment_and_are_never_shown(tmp_path: Path) -> None:
    config = tmp_path / "sentiment.toml"
    config.write_text("""
[channels.cs-dingtalk]
type = "dingtalk"
url = "https://oapi.dingtalk.com/robot/send?access_token=FILE"
mention = ["13800000000"]

[audiences.cs]
channels = ["cs-dingtalk"]
""", encoding="utf-8")
    env = {"SENTIMENT_CHANNEL_CS_DINGTALK_SECRET": "SECenv",
           "SENTIMENT_CHANNEL_CS_DINGTALK_URL": "https://oapi.dingtalk.com/robot/send?access_token=ENV"}
    settings = load_settings(config=config, env=env)
    channel = settings.channels["cs-dingtalk"]
    assert (channel.secret, channel.url) == ("SECenv", "https://oapi.dingtalk.com/robot/send?access_token=ENV")
    assert channel.mention == ("13800000000",) and channel.timeout == 10 and dict(settings.audiences) == {"cs": ()}
    assert "SECenv" not in repr(settings) and "ENV" not in repr(settings) and "access_token" not in repr(settings)
    assert channel.safe_url == "https://oapi.dingtalk.com/…"
    assert load_settings(config=config, env={}).channels["cs-dingtalk"].secret is None
    with pytest.raises(ConfigError) as bad:
        load_settings(config=config, env={"SENTIMENT_CHANNEL_CS_DINGTALK_URL": "oapi.dingtalk.com?access_token=ENV"})
    assert str(bad.value) == ("[channels.cs-dingtalk] SENTIMENT_CHANNEL_CS_DINGTALK_URL: expected the robot's http(s)"
                              " webhook address (like https://oapi.dingtalk.com/robot/send?access_token=...)")
