"""`sentiment ingest`, `init` and `status`."""
from __future__ import annotations

from pathlib import Path

import click

from sentiment.cli import Env, cli, emit_json, json_option, pass_env


def _analyzer(env: Env, enabled: bool):  # type: ignore[no-untyped-def]
    if not enabled:
        return None
    from sentiment.pipeline import Pipeline

    pipeline = Pipeline.from_settings(env.settings)
    return pipeline.analyze_new


@cli.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--format", "fmt", metavar="F",
              help="Force a container (csv, tsv, xlsx, json, jsonl, jsonp) or a shape (e.g. mtop-rate).")
@click.option("--shop", help="Shop name to record on documents that do not carry one.")
@click.option("--no-analyze", is_flag=True, help="Store only; analyze later with `sentiment rescan`.")
@json_option
@pass_env
def ingest(env: Env, paths: tuple[Path, ...], fmt: str | None, shop: str | None, no_analyze: bool,
           as_json: bool) -> None:
    """Ingest review and Q&A exports (files or directories).

    Each file is one transaction: unusable rows are quarantined, unreadable
    files are reported and the others still land. Re-ingesting adds nothing.

    Example: sentiment ingest exports/评论数据_0501.csv rate.jsonp --shop 旗舰店
    """
    from sentiment.ingest.files import Context, format_names, ingest_paths, totals
    from sentiment.ingest.normalize import SOURCE_TZ

    if fmt and fmt not in format_names():
        raise click.BadParameter(f"unknown format {fmt!r}; choose from: {', '.join(format_names())}",
                                 param_hint="--format")
    settings = env.settings
    db = env.open_db()
    ctx = Context(tz=SOURCE_TZ, batch_id=None, ingested_at="", shop=shop)
    aliases = settings.raw.get("ingest", {}).get("aliases") if isinstance(settings.raw.get("ingest"), dict) else None
    results = ingest_paths(db, list(paths), ctx, forced=fmt, aliases=aliases,
                           analyzer=_analyzer(env, not no_analyze))
    summary = totals(results)
    if as_json:
        emit_json({"files": [r.to_json() for r in results], "totals": summary})
    else:
        for r in results:
            if r.error:
                continue
            click.echo(f"{r.path}: {r.format}/{r.shape}: read {r.read}, new {r.new}, "
                       f"duplicates {r.duplicates}, quarantined {r.quarantined}, placeholders {r.placeholders}")
        click.echo(f"total: {summary['files']} files, read {summary['read']}, new {summary['new']}, "
                   f"duplicates {summary['duplicates']}, quarantined {summary['quarantined']}, "
                   f"failed files {summary['failed']}")
    for r in results:
        if r.error:
            click.echo(f"Error: {r.error}", err=True)
    if summary["failed"]:
        raise SystemExit(1)


@cli.command()
@click.option("--force", is_flag=True, help="Overwrite an existing sentiment.toml.")
def init(force: bool) -> None:
    """Write a commented sentiment.toml and an inbox/ into the current directory.

    Example: mkdir monitor && cd monitor && sentiment init
    """
    from sentiment.resources import default_config_text

    target = Path.cwd() / "sentiment.toml"
    if target.exists() and not force:
        raise click.ClickException(f"{target} already exists (use --force to overwrite)")
    target.write_text(default_config_text(), encoding="utf-8")
    for name in ("inbox",):
        (Path.cwd() / name).mkdir(exist_ok=True)
    click.echo(f"wrote {target}\ncreated {Path.cwd() / 'inbox'}/")


@cli.command()
@json_option
@pass_env
def status(env: Env, as_json: bool) -> None:
    """Show what the store holds: documents by source, kind and day; batches; quarantine.

    Example: sentiment --db shop.db status --json
    """
    from sentiment.status import collect_status, format_status

    report = collect_status(env.open_db(create=False), env.settings)
    if as_json:
        emit_json(report)
    else:
        click.echo(format_status(report))
