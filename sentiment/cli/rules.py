"""`sentiment rules check|list|test` and `sentiment rescan`."""
from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import click

from sentiment.cli.base import Env, cli, emit_json, json_option, pass_env

if TYPE_CHECKING:
    from sentiment.pipeline.rescan import ChangeLog


@cli.group()
def rules() -> None:
    """Validate and try out risk rules.

    Example: sentiment rules test "收到就发霉了，打12315投诉"
    """


@rules.command("check")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@pass_env
def rules_check(env: Env, paths: tuple[Path, ...]) -> None:
    """Validate the rules as ingest and the worker load them, plus PATHs.

    Loads the bundled pack, then [rules] paths, then PATHs (later files override
    earlier ones) and prints `file:line: rule "<id>": <problem>` for each problem
    and exits 1.

    Example: sentiment rules check rules.d/
    """
    from sentiment.rules.loader import check_rules, ruleset_paths

    targets = ruleset_paths([*env.settings.rules_paths, *paths])
    problems = check_rules(targets)
    for problem in problems:
        click.echo(problem, err=True)
    if problems:
        raise SystemExit(1)
    click.echo(f"ok: {', '.join(str(t) for t in targets)}")


@rules.command("list")
@click.option("--rules", "rules_paths", multiple=True, type=click.Path(path_type=Path),
              help="Extra rule files or directories (after the bundled pack and configured paths).")
@json_option
@pass_env
def rules_list(env: Env, rules_paths: tuple[Path, ...], as_json: bool) -> None:
    """List the effective rules: bundled pack, [rules] paths and --rules after overrides.

    One line per rule: id, name, category, severity, owners, immediate, enabled or
    disabled, and where it was defined (file:line) plus the files that extended or
    disabled it.

    Example: sentiment rules list --json
    """
    from sentiment.rules.catalogue import listing
    from sentiment.rules.loader import load_all, ruleset_paths

    entries = listing(load_all(ruleset_paths([*env.settings.rules_paths, *rules_paths])))
    if as_json:
        emit_json({"rules": entries})
        return
    for e in entries:
        overrides = "".join(f"  {o['action']} {o['at']}" for o in e["overrides"])
        click.echo(f"{e['id']}  {e['name']}  {e['category']}  {e['severity']}  {','.join(e['owners'])}"
                   f"  {'immediate' if e['immediate'] else 'digest'}  {'enabled' if e['enabled'] else 'disabled'}"
                   f"  {e['origin']}{overrides}")


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
    removed per category, the documents that gain or lose each rule's hit (at most
    10 per rule here; all of them with --json, under "changes", up to 100000 with
    "changes_truncated" set beyond) and incidents opened, grown and closed.

    Example: sentiment rescan --since 2026-11-01 --rules rules.d/ --dry-run
    """
    from sentiment.pipeline.analysis import Pipeline
    from sentiment.pipeline.rescan import ChangeLog, count_documents, rescan_and_update

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
        report = rescan_and_update(db, pipeline, env.settings, since=start, until=end, item=item,
                                    dry_run=dry_run, progress=bar.update,
                                    changes=ChangeLog() if as_json else ChangeLog(per_rule=SHOWN_CHANGES))
    if as_json:
        emit_json(report.to_json())
        return
    click.echo(f"documents {report.documents}: rules only {report.rules_only}, re-analyzed {report.reanalyzed},"
               f" labels changed {report.labels_changed}{' (dry run: nothing written)' if dry_run else ''}")
    for category in sorted(set(report.hits_added) | set(report.hits_removed)):
        click.echo(f"  {category}: +{report.hits_added[category]} -{report.hits_removed[category]}")
    _echo_changes(report.changes)
    if report.incidents:
        click.echo("incidents: " + ", ".join(f"{k} {v}" for k, v in report.incidents.items()
                                              if k in ("opened", "reopened", "grown", "closed")))


SHOWN_CHANGES = 10  # documents listed per rule in text mode


def _echo_changes(changes: "ChangeLog") -> None:
    """Per rule, the documents that gain (+) or lose (-) its hit: id, date, item, excerpt."""
    for rule_id, kept in changes.by_rule().items():
        click.echo(f"{rule_id} ({kept[0].category}):")
        for c in kept:
            date = (c.created_at or "-")[:16].replace("T", " ")
            click.echo(f"  {'+' if c.change == 'added' else '-'} {c.document_id}  {date}  {c.item_id or '-'}"
                       f"  {c.excerpt}")
        if changes.counts[rule_id] > len(kept):
            click.echo(f"  … and {changes.counts[rule_id] - len(kept)} more")
