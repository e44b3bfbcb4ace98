"""The `sentiment` group and what every command shares (Env, --json, error handling).

Each command family has its own module in this package; `sentiment.cli` imports them
all so that they register on the group.
"""
from __future__ import annotations

import json
import logging
import sqlite3
import sys
from dataclasses import dataclass
from typing import Any, Callable, TypeVar

import click
import sqlite_utils

from sentiment import __version__
from sentiment.config import Settings, load_settings
from sentiment.errors import SentimentError

F = TypeVar("F", bound=Callable[..., Any])


@dataclass
class Env:
    """What every command gets: the global flags, resolved lazily."""

    config: str | None
    db: str | None
    _settings: Settings | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = load_settings(self.config, self.db)
        return self._settings

    def open_db(self, *, create: bool = True) -> sqlite_utils.Database:
        from sentiment import store

        return store.open_db(self.settings.db, create=create)


pass_env = click.make_pass_decorator(Env)


def emit_json(data: Any) -> None:
    click.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))


def json_option(func: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON only on stdout.")(func)


class Group(click.Group):
    """A click group that turns named library errors into `Error: ...` and exit 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except SentimentError as exc:
            raise click.ClickException(str(exc)) from None
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise
            raise click.ClickException(
                "the store is busy: another process (the worker ingesting a large file?) kept writing "
                f"longer than this command waits ({exc}); try again when it is done") from None


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", type=click.Path(dir_okay=False), envvar="SENTIMENT_CONFIG",
              help="sentiment.toml to read (default: ./sentiment.toml if present).")
@click.option("--db", type=click.Path(dir_okay=False), help="SQLite store (default: ./sentiment.db).")
@click.option("-v", "--verbose", count=True, help="Log more (-v info, -vv debug) to stderr.")
@click.version_option(__version__, prog_name="sentiment")
@click.pass_context
def cli(ctx: click.Context, config: str | None, db: str | None, verbose: int) -> None:
    """Review and public-sentiment monitoring for Tmall brands.

    Example: sentiment ingest exports/ && sentiment status
    """
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    ctx.obj = Env(config=config, db=db)


def main() -> None:
    """Console entry point: expected failures print `Error: ...` (exit 1), never a traceback."""
    try:
        cli(prog_name="sentiment")
    except Exception as exc:  # a bug: say so plainly, keep the traceback for -vv
        logging.getLogger("sentiment").debug("internal error", exc_info=True)
        click.echo(f"Error: internal error: {type(exc).__name__}: {exc} (run with -vv for details)", err=True)
        sys.exit(1)
