"""`sentiment export`: documents with scores, rule hits and incidents as CSV or XLSX."""
from __future__ import annotations

import sys
from pathlib import Path

import click

from sentiment.cli.base import Env, cli, emit_json, json_option, pass_env
from sentiment.cli.rules import _date

LABELS = ("negative", "neutral", "positive")
KINDS = ("review", "followup", "question", "answer")


@cli.command("export")
@click.argument("path", metavar="FILE.csv|FILE.xlsx", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--since", help="Only documents created on or after this date (YYYY-MM-DD, configured zone).")
@click.option("--until", help="Only documents created before this date (YYYY-MM-DD, configured zone).")
@click.option("--item", metavar="ID", help="Only this item id.")
@click.option("--label", type=click.Choice(LABELS), help="Only documents the model labelled so.")
@click.option("--category", metavar="C", help="Only documents with a rule hit in this category "
                                                "(food_safety or its Chinese name 食品安全).")
@click.option("--kind", type=click.Choice(KINDS), help="Only this kind of document.")
@click.option("--incident", metavar="ID", help="Only the documents of this incident (see `sentiment triage list`).")
@click.option("--headers", "language", type=click.Choice(["zh", "en"]), default="zh", show_default=True,
              help="Column headers in Chinese or English; en also writes kind, rating and label as codes.")
@json_option
@pass_env
def export_cmd(env: Env, path: Path, since: str | None, until: str | None, item: str | None, label: str | None,
               category: str | None, kind: str | None, incident: str | None, language: str,
               as_json: bool) -> None:
    """Export documents with scores, rule hits and incidents to CSV or XLSX for a pivot table.

    One row per document, oldest first. CSV is UTF-8 with a BOM; ids are always
    text; any cell a spreadsheet would run as a formula is prefixed with '.

    Example: sentiment export 差评.xlsx --since 2026-11-01 --label negative
    """
    from sentiment.reports import export as lib

    lib.export_format(path)  # a wrong suffix fails before any work
    flt = lib.ExportFilter(since=_date(since, env), until=_date(until, env), item=item, label=label,
                           category=category, kind=kind, incident=incident)
    db = env.open_db(create=False)
    fmt = lib.RowFormat(tz=env.settings.tz, names=lib.rule_names(env.settings.rules_paths), language=language)
    show = not as_json and sys.stderr.isatty()
    total = lib.count_rows(db, flt) if show else 0
    with click.progressbar(length=total, label="export", file=sys.stderr, hidden=not show) as bar:
        result = lib.export(db, path, flt, fmt, header_language=language, progress=bar.update)
    if as_json:
        emit_json(result.to_json())
    else:
        click.echo(f"wrote {result.rows} document{'s' if result.rows != 1 else ''} to {result.path}")
