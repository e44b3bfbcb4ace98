"""`sentiment digest`, `sentiment alerts` and `sentiment outbox [retry|send]`."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import click

from sentiment.cli.base import Env, cli, emit_json, json_option, pass_env


def _audiences(env: Env, audience: str) -> list[str]:
    from sentiment.errors import ConfigError
    from sentiment.reports.outbox import audiences

    names = sorted(audiences(env.settings))
    if audience == "all":
        if not names:
            raise ConfigError("no audiences configured: add [audiences.cs] to = [...] to sentiment.toml")
        return names
    if audience not in names:
        raise ConfigError(f"unknown audience {audience!r} (configured: {', '.join(names) or 'none'})")
    return [audience]


def _day(value: str | None, db: Any, settings: Any, now: datetime) -> date:
    from sentiment.reports.digest import latest_day

    if value is None:
        return now.astimezone(settings.tz).date() - timedelta(days=1)
    if value == "latest":
        found = latest_day(db, settings.tz)
        if found is None:
            raise click.UsageError("--date latest: the store has no documents yet (run `sentiment ingest`)")
        return found
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date like 2024-05-01 or `latest`", param_hint="--date") \
            from None


def _echo_report(report: dict) -> None:
    click.echo(f"sent {len(report['sent'])}, retrying {len(report['retrying'])}, failed {len(report['failed'])},"
               f" unknown {len(report['unknown'])}")
    for bucket in ("retrying", "failed", "unknown"):
        for entry in report[bucket]:
            click.echo(f"  #{entry['id']} {bucket}: {entry['error']}", err=True)


@cli.command()
@click.option("--date", "day", metavar="YYYY-MM-DD|latest",
              help="Day to report (default: yesterday; latest: the day of the newest document).")
@click.option("--audience", default="all", show_default=True, help="Audience name from [audiences], or all.")
@click.option("--send", is_flag=True, help="Queue the digests, then deliver everything pending.")
@click.option("--resend", is_flag=True,
              help="Queue a corrected digest (marked 【更正】) even where one was already queued for the day.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              help="Write .eml, .html and .txt previews here instead of queueing.")
@json_option
@pass_env
def digest(env: Env, day: str | None, audience: str, send: bool, resend: bool, out: Path | None,
           as_json: bool) -> None:
    """Render the daily risk digest per audience into the outbox (or DIR) and print the paths.

    Each audience and day is queued once; run again, it prints the queued copy. After a late
    export, --resend queues a corrected digest, marked as such.

    Example: sentiment digest --date 2024-05-01 --audience cs --out preview/
    """
    from sentiment.reports import digest as digestmod
    from sentiment.reports import outbox as mailer

    if send and out:
        raise click.UsageError("--send and --out exclude each other")
    settings = env.settings
    now = datetime.now(timezone.utc)
    names = _audiences(env, audience)
    db = env.open_db()
    the_day = _day(day, db, settings, now)
    results = []
    if out:
        trend = digestmod.trend_days(db, the_day, settings.tz)  # the same for every audience
        for name in names:
            message = digestmod.render_digest(digestmod.build_digest(db, settings, name, the_day, trend=trend))
            paths = mailer.export(out, settings, key=f"digest:{name}:{the_day}", now=now,
                                  recipients=mailer.audiences(settings)[name], message=message)
            results.append({"audience": name, "subject": message.subject, **paths})
    else:
        ids = digestmod.queue_digests(db, settings, the_day, names, now=now, resend=resend)
        rows = {r["id"]: r for r in mailer.list_outbox(db, limit=1_000_000)}
        results = [{"audience": n, "id": i, "subject": rows[i]["subject"], "eml": rows[i]["eml_path"],
                    "channel": rows[i]["channel"], "status": rows[i]["status"]} for n, i in zip(names, ids)]
    report = mailer.send_pending(db, settings, now) if send else None
    if as_json:
        emit_json({"date": the_day.isoformat(), "digests": results, "send": report})
        return
    for r in results:
        click.echo(f"{r['audience']}: {r['eml'] or '→ ' + str(r.get('channel'))}  {r['subject']}")
        if "html" in r:
            click.echo(f"{r['audience']}: {r['html']}")
    if report is not None:
        _echo_report(report)


@cli.command()
@click.option("--send", is_flag=True, help="Deliver pending messages after queueing.")
@json_option
@pass_env
def alerts(env: Env, send: bool, as_json: bool) -> None:
    """Update incidents, then queue their due alerts (and optionally send them).

    Example: sentiment alerts --send
    """
    from sentiment.reports import alerts as alertsmod
    from sentiment.reports import outbox as mailer
    from sentiment.rules.loader import load_ruleset
    from sentiment.signals.incidents import update_incidents

    now = datetime.now(timezone.utc)
    db = env.open_db()
    rules = load_ruleset(env.settings.rules_paths)
    update_incidents(db, env.settings, now, rules=rules)
    ids = alertsmod.queue_alerts(db, env.settings, now, rules=rules)
    report = mailer.send_pending(db, env.settings, now) if send else None
    rows = {r["id"]: r for r in mailer.list_outbox(db, limit=1_000_000)} if ids else {}
    queued = [{"id": i, "subject": rows[i]["subject"], "eml": rows[i]["eml_path"], "channel": rows[i]["channel"]}
              for i in ids]
    if as_json:
        emit_json({"queued": queued, "send": report})
        return
    click.echo(f"queued {len(queued)} alert(s)")
    for q in queued:
        click.echo(f"  #{q['id']} {q['eml'] or '→ ' + str(q['channel'])}  {q['subject']}")
    if report is not None:
        _echo_report(report)


@cli.group(invoke_without_command=True)
@click.option("--status", type=click.Choice(["pending", "sending", "delivering", "sent", "failed", "unknown", "held"]),
              help="Only messages in this state (held: alerts waiting for a cooldown or quiet hours).")
@click.option("--limit", default=50, show_default=True, help="How many, newest first.")
@json_option
@click.pass_context
def outbox(ctx: click.Context, status: str | None, limit: int, as_json: bool) -> None:
    """List outbox messages (newest first) and the alerts still held; subcommands retry and send.

    Example: sentiment outbox --status failed --json
    """
    if ctx.invoked_subcommand is not None:
        return
    from sentiment.reports import outbox as mailer
    from sentiment.reports.alerts import held_rows

    env: Env = ctx.find_object(Env)
    db = env.open_db()
    held = held_rows(db, env.settings, datetime.now(timezone.utc)) if status in (None, "held") else []
    rows = held + (mailer.list_outbox(db, status=status, limit=limit) if status != "held" else [])
    if as_json:
        emit_json(rows)
        return
    if not rows:
        click.echo("outbox is empty")
    for r in rows:
        if r["status"] == "held":
            click.echo(f"{'-':<6} held       alert  {r['reason']:<12} goes {r['due_at'] or 'once recipients are configured'}"
                       f"  {r['subject']}")
            continue
        to = f" → {r['channel']}" if r.get("channel") else ""  # a group robot's message
        waits = f"  waits until {r['next_attempt_at']}" if r.get("channel") and r["status"] == "pending" else ""
        click.echo(f"#{r['id']:<5} {r['status']:<10} {r['kind']:<6} {r['audience'] or '-':<8}{to} "
                   f"tries {r['attempts']}{waits}  {r['subject']}")
        if r["last_error"] and r["status"] != "sent":
            click.echo(f"       last error: {r['last_error']}")


@outbox.command("retry")
@click.argument("message_id", required=False, type=int)
@json_option
@pass_env
def outbox_retry(env: Env, message_id: int | None, as_json: bool) -> None:
    """Make failed messages due again now (one ID, also an `unknown` one; or all failed and waiting).

    Example: sentiment outbox retry 12 && sentiment outbox send
    """
    from sentiment.reports import outbox as mailer

    ids = mailer.retry(env.open_db(), message_id)
    if as_json:
        emit_json({"retried": ids})
    else:
        click.echo(f"{len(ids)} message(s) due again: {', '.join(f'#{i}' for i in ids) or '-'}")


@outbox.command("send")
@json_option
@pass_env
def outbox_send(env: Env, as_json: bool) -> None:
    """Deliver the pending messages that are due (the worker does this on its own schedule).

    Example: sentiment outbox send
    """
    from sentiment.reports import outbox as mailer

    report = mailer.send_pending(env.open_db(), env.settings, datetime.now(timezone.utc))
    if as_json:
        emit_json(report)
    else:
        _echo_report(report)
