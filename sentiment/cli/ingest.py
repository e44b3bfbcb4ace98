"""`sentiment ingest`, `init` and `status`."""
from __future__ import annotations

import itertools
import sys
import time
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Callable, Iterator, Sequence

import click

from sentiment.cli.base import Env, cli, emit_json, json_option, pass_env


def _analyzer(env: Env, paths: Sequence[Path], jobs: int | None):  # type: ignore[no-untyped-def]
    from sentiment.pipeline.analysis import Pipeline
    from sentiment.pipeline.pool import open_analyzer
    from sentiment.pipeline.writer import in_process

    return open_analyzer(env.settings, paths, jobs, lambda: in_process(Pipeline.from_settings(env.settings)))


@cli.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--format", "fmt", metavar="F",
              help="Force a container (csv, tsv, xlsx, json, jsonl, jsonp) or a shape (e.g. mtop-rate).")
@click.option("--shop", help="Shop name to record on documents that do not carry one.")
@click.option("--no-analyze", is_flag=True, help="Store only; analyze later with `sentiment rescan`.")
@click.option("--jobs", type=click.IntRange(0, 32), metavar="N",
              help="Analysis processes beside this one (0: analyze here). Default: one per CPU (at most"
                   " 2) for inputs over 2 MB on a machine with 2+ CPUs, else 0.")
@json_option
@pass_env
def ingest(env: Env, paths: tuple[Path, ...], fmt: str | None, shop: str | None, no_analyze: bool,
           jobs: int | None, as_json: bool) -> None:
    """Ingest review and Q&A exports (files or directories).

    Each file is one transaction: unusable rows are quarantined, unreadable
    files are reported and the others still land. Re-ingesting adds nothing.

    Example: sentiment ingest exports/评论数据_0501.csv rate.jsonp --shop 旗舰店
    """
    from sentiment.ingest.reader import format_names
    from sentiment.pipeline.files import ingest_options, ingest_paths, totals

    if fmt and fmt not in format_names():
        raise click.BadParameter(f"unknown format {fmt!r}; choose from: {', '.join(format_names())}",
                                 param_hint="--format")
    settings = env.settings
    db = env.open_db()
    options = ingest_options(settings, shop=shop, forced=fmt)
    show = not as_json and sys.stderr.isatty()
    with nullcontext() if no_analyze else _analyzer(env, paths, jobs) as analyzer, _rows_bar(show) as progress:
        results = ingest_paths(db, list(paths), options, analyzer=analyzer, progress=progress)
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


@contextmanager
def _rows_bar(show: bool) -> Iterator[Callable[[int], None]]:
    """A progress bar on stderr counting the rows read, with their rate (hidden unless `show`).
    The total is unknown before the files are read, so there is no ETA."""
    started = time.monotonic()
    with click.progressbar(itertools.count(), label="ingest", file=sys.stderr, hidden=not show,
                           item_show_func=lambda item: item) as bar:
        def progress(rows: int) -> None:
            done = bar.pos + rows
            rate = done / max(time.monotonic() - started, 1e-6)
            bar.update(rows, current_item=f"{done} rows, {rate:,.0f} rows/s")

        yield progress


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
    from sentiment.worker.status import collect_status, format_status

    report = collect_status(env.open_db(create=False), env.settings)
    if as_json:
        emit_json(report)
    else:
        click.echo(format_status(report))
