"""`sentiment rules check|test` and `sentiment rescan`."""
from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Sequence

import click

from sentiment.cli.base import Env, cli, emit_json, json_option, pass_env


@cli.group()
def rules() -> None:
    """Validate and try out risk rules.

    Example: sentiment rules test "收到就发霉了，打12315投诉"
    """


@rules.command("check")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@pass_env
def rules_check(env: Env, paths: tuple[Path, ...]) -> None:
    """Validate rule files (default: the bundled pack plus configured paths).

    Prints `file:line: rule "<id>": <problem>` for each problem and exits 1.

    Example: sentiment rules check rules.d/
    """
    from sentiment.resources import rules_dir
    from sentiment.rules.loader import check_rules

    targets = list(paths) or [rules_dir(), *env.settings.rules_paths]
    problems = check_rules(targets)
    for problem in problems:
        click.echo(problem, err=True)
    if problems:
        raise SystemExit(1)
    click.echo(f"ok: {', '.join(str(t) for t in targets)}")


@rules.command("test")
@click.argument("text")
@click.option("--rules", "rules_paths", multiple=True, type=click.Path(path_type=Path),
              help="Extra rule files or directories (added to the bundled pack).")
@json_option
@pass_env
def rules_test(env: Env, text: str, rules_paths: tuple[Path, ...], as_json: bool) -> None:
    """Show which rules fire on TEXT, why, and which terms were discarded as negated.

    Example: sentiment rules test "没有发霉，但是客服态度很差" --json
    """
    from sentiment.pipeline.analysis import Pipeline
    from sentiment.rules.records import MatchInput

    pipeline = Pipeline.from_settings(env.settings, [*env.settings.rules_paths, *rules_paths])
    result = pipeline.analyze(text)
    explained = pipeline.rules.explain(MatchInput(result.text, result.spans, score=result.score)) \
        if pipeline.rules is not None else []
    if as_json:
        emit_json({**result.to_json(), "explain": explained})
        return
    click.echo(f"text: {result.text}")
    click.echo(f"score: {'-' if result.score is None else f'{result.score:.3f}'}  label: {result.label}")
    if not explained:
        click.echo("no rule has a term in this text")
    for entry in explained:
        click.echo(json.dumps(entry, ensure_ascii=False))


def _date(value: str | None, env: Env) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date (use YYYY-MM-DD)") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=env.settings.tz)


def _unconfigured(given: Sequence[Path], configured: Sequence[Path]) -> list[str]:
    """The --rules paths that [rules] paths does not name (compared resolved)."""
    known = {Path(p).resolve() for p in configured}
    return [str(p) for p in given if Path(p).resolve() not in known]


@cli.command()
@click.option("--since", help="Only documents created on or after this date (YYYY-MM-DD).")
@click.option("--until", help="Only documents created before this date (YYYY-MM-DD).")
@click.option("--item", help="Only this item id.")
@click.option("--rules", "rules_paths", multiple=True, type=click.Path(path_type=Path),
              help="Extra rule files or directories (added to the bundled pack and configured paths).")
@click.option("--dry-run", is_flag=True, help="Report what would change, write nothing.")
@json_option
@pass_env
def rescan(env: Env, since: str | None, until: str | None, item: str | None, rules_paths: tuple[Path, ...],
           dry_run: bool, as_json: bool) -> None:
    """Re-apply the current model and rules to stored documents.

    Reuses stored tokens when only the rules changed. Reports hits added and
    removed per category and clusters opened and closed.

    Example: sentiment rescan --since 2026-11-01 --rules rules.d/ --dry-run
    """
    from sentiment.pipeline.analysis import Pipeline
    from sentiment.pipeline.rescan import count_documents, rescan_and_cluster

    start, end = _date(since, env), _date(until, env)
    db = env.open_db(create=False)
    pipeline = Pipeline.from_settings(env.settings, [*env.settings.rules_paths, *rules_paths])
    unconfigured = _unconfigured(rules_paths, env.settings.rules_paths)
    if unconfigured and not dry_run:
        click.echo(f"Warning: --rules {' '.join(unconfigured)} is not in [rules] paths: the hits this rescan"
                   " writes stay, but alerts, digests and the worker match with [rules] paths only; add it"
                   " there (sentiment.toml or SENTIMENT_RULES) to use the same rules everywhere", err=True)
    total = count_documents(db, start, end, item)
    show = not as_json and sys.stderr.isatty()
    with click.progressbar(length=total, label="rescan", file=sys.stderr, hidden=not show) as bar:
        report = rescan_and_cluster(db, pipeline, env.settings, since=start, until=end, item=item,
                                    dry_run=dry_run, progress=bar.update)
    if as_json:
        emit_json(report.to_json())
        return
    click.echo(f"documents {report.documents}: rules only {report.rules_only}, re-analyzed {report.reanalyzed},"
               f" labels changed {report.labels_changed}{' (dry run: nothing written)' if dry_run else ''}")
    for category in sorted(set(report.hits_added) | set(report.hits_removed)):
        click.echo(f"  {category}: +{report.hits_added[category]} -{report.hits_removed[category]}")
    if report.clusters:
        click.echo("clusters: " + ", ".join(f"{k} {v}" for k, v in report.clusters.items()))
