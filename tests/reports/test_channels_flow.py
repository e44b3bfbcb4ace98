"""Alerts and digests reach the groups: each audience's channels get its alerts and its daily summary,
once, beside (or instead of) mail; critical items @-mention the configured people; untrusted text stays
plain; an over-size digest is shortened for the platform; `sentiment channels` and `sentiment outbox`."""
from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from chat_servers import ChatServer
from sentiment import store
from sentiment.config import load_settings
from sentiment.reports import alerts, digest
from sentiment.reports import outbox as mailer
from sentiment.reports.channels.transport import ChatTransport
from test_alerts import FAKE, NOW, RULES, doc, incident
from test_digest import make_settings

DAY = date(2024, 5, 2)
BASE = "https://monitor.example.com"
HOSTILE = ('点这里](javascript:alert(1)) [官方客服](javascript:alert(2)) <at user_id="all">所有人</at> '
           '<at id=all></at> @all <@all> <font color="warning">!</font> **加粗** # 标题\n\n> 引用 发霉了' + "长" * 10_000)


def group_settings(tmp_path: Path, robots: dict[str, ChatServer], audiences: dict[str, Any] | None = None,
                   **raw: Any) -> Any:
    mention = {"dingtalk": ["13800000000"], "wecom": ["zhangsan"], "feishu": ["ou_lead"]}
    channels = {name: {"type": r.platform, "url": r.url, "mention": mention[r.platform],
                       **({"secret": r.secret} if r.secret else {})} for name, r in robots.items()}
    return make_settings(tmp_path, channels=channels, web={"base_url": BASE}, **raw, audiences=audiences or {
        "cs": {"to": ["cs-lead@example.com"], "channels": ["cs-group"]},
        "pr": {"to": ["pr@example.com"], "channels": ["pr-group"]}})


def chat_rows(db: Any) -> list[dict[str, Any]]:
    return [r for r in sorted(mailer.list_outbox(db, limit=10_000), key=lambda r: r["id"]) if r["channel"]]


def payload(db: Any, outbox_id: int) -> dict[str, Any]:
    return json.loads(db.execute("SELECT message FROM outbox WHERE id = ?", [outbox_id]).fetchone()[0])


def send(db: Any, settings: Any, now: datetime = NOW) -> dict[str, Any]:
    return mailer.send_pending(db, settings, now, chat={n: ChatTransport(c, time_scale=1 / 60)
                                                        for n, c in settings.channels.items()})


def two_incidents(db: Any) -> tuple[str, str]:
    doc(db, "m1", "2024-05-02T09:40:00+08:00", author="小明", order="1234567890123")
    mold = incident(db, ["m1"])  # critical, cs and pr
    doc(db, "f1", "2024-05-02T09:45:00+08:00", FAKE, rules=["counterfeit.fake"], item="1002", title="手撕面包 1kg")
    fake = incident(db, ["f1"], item="1002", title="手撕面包 1kg", category="counterfeit", severity="high", owners="pr")
    return mold, fake


def test_each_group_gets_its_alerts_and_its_daily_summary_once(tmp_path: Path) -> None:
    with ChatServer("dingtalk", secret="SECcs") as cs, ChatServer("feishu", secret="pr-secret") as pr:
        settings = group_settings(tmp_path, {"cs-group": cs, "pr-group": pr})
        db = store.open_db(settings.db)
        mold, fake = two_incidents(db)
        queued = alerts.queue_alerts(db, settings, NOW, RULES)
        digest.queue_digests(db, settings, DAY, rules=RULES, now=NOW)
        keys = sorted(r["key"] for r in chat_rows(db))
        assert keys == sorted([f"alert:{mold}:20240502T0200Z:cs:chat:cs-group", f"alert:{mold}:20240502T0200Z:pr:chat:pr-group",
                        f"alert:{fake}:20240502T0200Z:pr:chat:pr-group", "digest:cs:2024-05-02:chat:cs-group",
                        "digest:pr:2024-05-02:chat:pr-group"])
        assert len(queued) == 3 + 3  # three alert mails, three chat alerts
        report = send(db, settings)
        assert alerts.queue_alerts(db, settings, NOW + timedelta(minutes=5), RULES) == []
        assert digest.queue_digests(db, settings, DAY, rules=RULES, now=NOW) == \
            [r["id"] for r in mailer.list_outbox(db) if r["key"] in ("digest:cs:2024-05-02", "digest:pr:2024-05-02")][::-1]
        send(db, settings, NOW + timedelta(hours=1))
    assert len(report["sent"]) == 5 + 5 and not report["failed"]  # mail (file) and chat
    assert [m.title for m in cs.messages] == ["【紧急·食品安全】每日坚果礼盒 750g：发霉变质（1 条）",
                                              "【舆情日报】2024-05-02 客服：1 个新事件，1 个逾期，1 个待处理"]
    assert [m.title for m in pr.messages] == ["【高·假货质疑】手撕面包 1kg：假货质疑（1 条）",
                                              "【紧急·食品安全】每日坚果礼盒 750g：发霉变质（1 条）",
                                              "【舆情日报】2024-05-02 公关：2 个新事件，2 个逾期，2 个待处理"]
    alert = cs.messages[0].text
    for needle in ("**【紧急·食品安全】每日坚果礼盒 750g：发霉变质**", "订单 1234567890123", "买家 小明",
                   "**发霉**", f"[查看并处理]({BASE}/incidents/{mold})", "处理时限 2024-05-02 10:40"):
        assert needle in alert, needle
    assert cs.messages[0].mentioned == ["13800000000"] and pr.messages[1].mentioned == ["ou_lead"]
    assert pr.messages[0].mentioned == [] and cs.messages[1].mentioned == []  # high, digest: nobody
    assert pr.messages[0].body["card"]["header"]["template"] == "orange"
    assert pr.messages[1].body["card"]["elements"][1]["actions"][0]["url"] == f"{BASE}/incidents/{mold}"
    summary = cs.messages[1].text
    assert f"[查看]({BASE}/incidents/{mold})" in summary and f"[打开控制台查看全部]({BASE})" in summary
    assert "事件：新增 1，增长 0，逾期 1，待处理 1，昨日关闭 0" in summary


def test_an_audience_with_only_a_group_gets_no_mail(tmp_path: Path) -> None:
    with ChatServer("wecom") as cs:
        settings = group_settings(tmp_path, {"cs-group": cs}, audiences={"cs": {"channels": ["cs-group"]}})
        db = store.open_db(settings.db)
        doc(db, "m1", "2024-05-02T09:40:00+08:00")
        incident(db, ["m1"], owners="cs")
        assert len(alerts.queue_alerts(db, settings, NOW, RULES)) == 1
        ids = digest.queue_digests(db, settings, DAY, ["cs"], rules=RULES, now=NOW)
        assert [r["channel"] for r in mailer.list_outbox(db)] == ["cs-group", "cs-group"] and len(ids) == 1
        assert send(db, settings)["sent"] and len(cs.messages) == 2
    assert cs.messages[0].mentioned == ["zhangsan"] and "<@zhangsan>" in cs.messages[0].text
    assert not list((tmp_path / "outbox").glob("*.eml"))


def test_one_group_shared_by_two_audiences_gets_an_alert_once(tmp_path: Path) -> None:
    with ChatServer("wecom") as group:
        settings = group_settings(tmp_path, {"shared": group}, audiences={
            "cs": {"to": ["cs@example.com"], "channels": ["shared"]}, "pr": {"channels": ["shared"]}})
        db = store.open_db(settings.db)
        doc(db, "m1", "2024-05-02T09:40:00+08:00")
        incident(db, ["m1"])  # owned by cs and pr
        alerts.queue_alerts(db, settings, NOW, RULES)
        send(db, settings)
    assert len(group.messages) == 1


def test_untrusted_text_stays_plain_and_never_mentions_anyone(tmp_path: Path) -> None:
    with ChatServer("dingtalk", secret="S") as ding, ChatServer("wecom") as wecom, ChatServer("feishu", secret="F") as fei:
        robots = {"ding": ding, "wecom": wecom, "fei": fei}
        settings = group_settings(tmp_path, robots, audiences={"cs": {"channels": list(robots)}})
        db = store.open_db(settings.db)
        doc(db, "h1", "2024-05-02T09:40:00+08:00", HOSTILE, author='@all <at user_id="all">', order="](javascript:x)",
            rules=["quality.bad"], title="[坚果](javascript:alert(3)) @all")
        incident(db, ["h1"], category="quality", severity="high", owners="cs", title="[坚果](javascript:alert(3)) @all")
        doc(db, "h2", "2024-05-02T09:41:00+08:00", HOSTILE, item="1002", author="<@all>")
        incident(db, ["h2"], item="1002", owners="cs", title='<at user_id="all">面包</at>')  # critical
        alerts.queue_alerts(db, settings, NOW, RULES)
        send(db, settings)
    configured = {"ding": ["13800000000"], "wecom": ["zhangsan"], "fei": ["ou_lead"]}
    for name, robot in robots.items():
        assert len(robot.messages) == 2
        high, critical = robot.messages
        assert high.mentioned == [] and critical.mentioned == configured[name], name
        assert "［坚果］（javascript:alert（3）） ＠all" in high.text  # no link, no mention: the words stay
        for message in robot.messages:
            text = message.text
            assert "](javascript" not in text
            assert "@all" not in text and '<at user_id="all"' not in text and "<at id=all" not in text
            assert "<@all>" not in text and "<font" not in text
            links = re.findall(r"\]\(([^)]*)\)", text)
            assert links and all(link.startswith(BASE) or link.startswith("https://detail.tmall.com/") for link in links)
            assert max(len(line) for line in text.split("\n")) < 400  # the 10,000-character line is an excerpt
            assert "长" * 100 not in text and "…" in text


def test_a_digest_over_the_platforms_size_is_shortened_not_rejected(tmp_path: Path) -> None:
    long_base = BASE + "/" + "console" * 90  # every incident link ~700 bytes: WeCom's 4,096 fit only a few
    with ChatServer("wecom") as cs:
        settings = group_settings(tmp_path, {"cs-group": cs}, audiences={"cs": {"channels": ["cs-group"]}})
        settings = replace(settings, web=replace(settings.web, base_url=long_base))
        db = store.open_db(settings.db)
        for i in range(12):
            doc(db, f"d{i}", f"2024-05-02T09:{10 + i}:00+08:00", item=str(2000 + i), title=f"商品{i}")
            incident(db, [f"d{i}"], item=str(2000 + i), owners="cs")
        digest.queue_digests(db, settings, DAY, rules=RULES, now=NOW)
        report = send(db, settings)
    assert report["sent"] and not report["failed"] and len(cs.messages) == 1
    text = cs.messages[0].text
    assert len(text.encode()) <= 4096
    shown = text.count("/incidents/inc-")
    assert 1 <= shown < 12 and f"另有 {12 - shown} 个待处理事件" in text and f"[打开控制台查看全部]({long_base})" in text


def test_a_burst_of_50_incidents_reaches_the_group_complete_and_in_order(tmp_path: Path) -> None:
    scale = 1 / 60
    with ChatServer("dingtalk", secret="SECcs", scale=scale) as cs:
        settings = group_settings(tmp_path, {"cs-group": cs}, audiences={"cs": {"channels": ["cs-group"]}},
                                  alerts={"summary_over": 100})
        db = store.open_db(settings.db)
        for i in range(50):
            doc(db, f"b{i:02d}", f"2024-05-02T09:{i:02d}:00+08:00", item=str(3000 + i), title=f"商品{i:02d}")
            incident(db, [f"b{i:02d}"], item=str(3000 + i), owners="cs")
        assert len(alerts.queue_alerts(db, settings, NOW, RULES)) == 50
        transports = {"cs-group": ChatTransport(settings.channels["cs-group"], time_scale=scale)}
        report = mailer.send_pending(db, settings, datetime.now(timezone.utc), chat=transports)
    assert len(report["sent"]) == 50 and cs.requests == 50
    titles = [m.title for m in cs.messages]
    expected = [r["subject"] for r in chat_rows(db)]
    assert titles == expected and len(set(titles)) == 50  # complete, in the order queued, each once
    assert all(m.mentioned == ["13800000000"] for m in cs.messages)


def test_a_burst_beyond_summary_over_is_one_summary_naming_the_most_urgent(tmp_path: Path) -> None:
    with ChatServer("feishu", secret="F") as cs:
        settings = group_settings(tmp_path, {"cs-group": cs}, audiences={"cs": {"channels": ["cs-group"]}})
        db = store.open_db(settings.db)
        for i in range(20):
            doc(db, f"b{i:02d}", f"2024-05-02T09:{i:02d}:00+08:00", item=str(3000 + i), title=f"商品{i:02d}")
            incident(db, [f"b{i:02d}"], item=str(3000 + i), owners="cs")
        alerts.queue_alerts(db, settings, NOW, RULES)
        send(db, settings)
    assert len(cs.messages) == 1
    message = cs.messages[0]
    assert message.title == "【风险汇总】客服：20 个新事件（20 个紧急）" and message.mentioned == ["ou_lead"]
    assert message.text.count("[查看](") == 15 and "另有 5 个事件" in message.text


# ------------------------------------------------------------------ CLI

def write_config(tmp_path: Path, robot: ChatServer, secret: str | None) -> Path:
    config = tmp_path / "sentiment.toml"
    config.write_text(f"""
[mail]
outbox_dir = "outbox"

[channels.cs-dingtalk]
type = "dingtalk"
url = "{robot.url}"
{f'secret = "{secret}"' if secret else ''}
mention = ["13800000000"]

[audiences.cs]
to = ["cs-lead@example.com"]
channels = ["cs-dingtalk"]
""", encoding="utf-8")
    return config


def test_channels_test_prints_the_platforms_answer(run_cli: Any, tmp_path: Path) -> None:
    with ChatServer("dingtalk", secret="SECgood", key="tok-secret-123") as robot:
        config = write_config(tmp_path, robot, "SECgood")
        result = run_cli("--config", config, "channels", "test", "cs-dingtalk")
        assert result.exit_code == 0, result.output
        assert result.stdout == ("cs-dingtalk (dingtalk http://127.0.0.1:%d/…): ok\n"
                                 'answer: {"errcode": 0, "errmsg": "ok"}\n' % robot.port)
        assert robot.messages[0].title == "舆情监控测试消息"
        config = write_config(tmp_path, robot, "SECbad")
        result, data = run_cli.json("--config", config, "channels", "test", "cs-dingtalk")
        listing = run_cli("--config", config, "channels", "list")
        bad = run_cli("--config", config, "channels", "test", "nope")
    assert result.exit_code == 1 and data["ok"] is False and data["answer"] == {"errcode": 310000,
                                                                                "errmsg": "sign not match"}
    assert result.stderr.strip() == (f"Error: cs-dingtalk (dingtalk http://127.0.0.1:{robot.port}/…): "
                                     "钉钉 answered 310000 sign not match")
    assert "cs-dingtalk" in listing.stdout and "signed" in listing.stdout and "audiences: cs" in listing.stdout
    for output in (result.stdout, result.stderr, listing.stdout):
        assert "tok-secret-123" not in output and "SECbad" not in output
    assert bad.exit_code == 1 and "Error: unknown channel 'nope' (configured: cs-dingtalk;" in bad.stderr


def test_outbox_lists_chat_messages_with_the_platforms_error_and_no_secrets(run_cli: Any, tmp_path: Path) -> None:
    with ChatServer("dingtalk", secret="SECgood", key="tok-secret-123") as robot:
        config = write_config(tmp_path, robot, "SECbad")
        settings = load_settings(config, env={})
        db = store.open_db(run_cli.db)
        doc(db, "m1", "2024-05-02T09:40:00+08:00")
        incident(db, ["m1"], owners="cs")
        alerts.queue_alerts(db, settings, NOW, RULES)
        sent = run_cli("--config", config, "outbox", "send")
        listed = run_cli("--config", config, "outbox")
    assert "sent 1, retrying 0, failed 1, unknown 0" in sent.stdout
    assert "钉钉 answered 310000 sign not match" in sent.stderr
    lines = listed.stdout.splitlines()
    assert any("failed" in line and "→ cs-dingtalk" in line for line in lines), listed.stdout
    assert "last error: cs-dingtalk (dingtalk http://127.0.0.1:" in listed.stdout
    assert "钉钉 answered 310000 sign not match" in listed.stdout
    for output in (sent.stdout, sent.stderr, listed.stdout):
        assert "tok-secret-123" not in output and "SEC" not in output
