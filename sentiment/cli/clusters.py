"""`sentiment clusters`: list (and optionally recompute) clusters of negative signals."""
from __future__ import annotations

from datetime import datetime
from typing import Any

import click

from sentiment.cli.base import Env, cli, emit_json, json_option, pass_env
from sentiment.signals.candidates import KINDS


@cli.command("clusters")
@click.option("--since", "since_text", metavar="D",
              help="Only clusters seen since D: a date (2024-05-01), an ISO time or a span back (24h, 7d).")
@click.option("--kind", type=click.Choice(KINDS), help="Only clusters of this kind.")
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True, help="At most N clusters.")
@click.option("--all", "include_closed", is_flag=True, help="Include closed clusters.")
@click.option("--update", is_flag=True, help="Recompute clusters first (rules from the configured rule files).")
@json_option
@pass_env
def clusters_command(env: Env, since_text: str | None, kind: str | None, limit: int, include_closed: bool,
                     update: bool, as_json: bool) -> None:
    """List clusters: id, kind, item, category, severity, size, first and last seen, examples.

    Kinds: rule (item x rule category in a window), spike (an item's negatives
    against its baseline), topic (unmatched negatives with similar words),
    duplicate (copy-paste reviews). Newest first.

    Example: sentiment clusters --since 7d --kind topic --json
    """
    from sentiment.signals.clusters import list_clusters, parse_since

    settings = env.settings
    now = datetime.now(settings.tz)
    since = None
    if since_text:
        try:
            since = parse_since(since_text, now, settings.tz)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--since") from None
    db = env.open_db(create=False)
    report = _update(env, db, now) if update else None
    rows = list_clusters(db, since=since, kind=kind, limit=limit, include_closed=include_closed, tz=settings.tz)
    if as_json:
        data: dict[str, Any] = {"count": len(rows), "clusters": rows}
        if report is not None:
            data["update"] = report
        emit_json(data)
        return
    if report is not None:
        click.echo(f"updated: opened {report['opened']}, updated {report['updated']}, closed {report['closed']}")
    for row in rows:
        click.echo(_line(row))
        for text in row["examples"]:
            click.echo(f"    · {_short(text, 70)}")
    if not rows:
        click.echo("no clusters" + (" (run with --update to compute them)" if not update else ""))


def _update(env: Env, db: Any, now: datetime) -> dict[str, Any]:
    from sentiment.signals.clusters import cluster_settings_from_rules, cluster_options, update_clusters
    from sentiment.rules.loader import load_ruleset

    settings = env.settings
    ruleset = load_ruleset(settings.rules_paths)  # what ingest and the worker match with
    report = update_clusters(db, cluster_settings_from_rules(ruleset), now, options=cluster_options(settings))
    return report.to_json()


def _short(text: str | None, width: int) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _line(row: dict[str, Any]) -> str:
    item = row["item_title"] or row["item_id"] or "-"
    return (f"{row['id']}  {row['kind']:<9} {row['severity'] or '-':<8} size {row['size']:<4} "
            f"{row['first_seen']} .. {row['last_seen']}  {row['category'] or '-'}  {_short(item, 24)}  "
            f"{_short(row['title'], 40)}" + ("  [closed]" if row["status"] == "closed" else ""))
