"""`sentiment channels list` and `sentiment channels test NAME`: the group robots ([channels.<name>])."""
from __future__ import annotations

import json
from datetime import datetime, timezone

import click

from sentiment.cli.base import Env, cli, emit_json, json_option, pass_env


@cli.group()
def channels() -> None:
    """Group robots (DingTalk, WeCom, Feishu) that get alerts and digests beside mail.

    Example: sentiment channels test cs-dingtalk
    """


@channels.command("list")
@json_option
@pass_env
def channels_list(env: Env, as_json: bool) -> None:
    """The configured channels: type, host, signed or not, mentions, audiences (never URL tokens or secrets).

    Example: sentiment channels list --json
    """
    from sentiment.reports.channels.probe import list_channels

    rows = list_channels(env.settings)
    if as_json:
        emit_json(rows)
        return
    if not rows:
        click.echo("no channels configured (add [channels.<name>] to sentiment.toml)")
    for r in rows:
        click.echo(f"{r['name']:<16} {r['type']:<9} {r['url']:<34} {'signed' if r['signed'] else 'unsigned':<9}"
                   f" mention {r['mention']}  audiences: {', '.join(r['audiences']) or '-'}")


@channels.command("test")
@click.argument("name")
@json_option
@pass_env
def channels_test(env: Env, name: str, as_json: bool) -> None:
    """Send a test message to channel NAME now and print the platform's answer.

    Example: sentiment channels test cs-dingtalk
    """
    from sentiment.reports.channels.probe import send_test

    result = send_test(env.open_db(), env.settings, name, datetime.now(timezone.utc))
    if as_json:
        emit_json(result)
    else:
        click.echo(f"{result['channel']} ({result['type']} {result['url']}): "
                   f"{'ok' if result['ok'] else 'refused'}")
        if "answer" in result:
            click.echo(f"answer: {json.dumps(result['answer'], ensure_ascii=False)}")
    if not result["ok"]:
        raise click.ClickException(result["error"])
