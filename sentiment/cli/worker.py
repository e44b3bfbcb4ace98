"""`sentiment run`: the scheduled worker (or one cycle with --once)."""
from __future__ import annotations

import logging
from datetime import datetime

import click

from sentiment.cli.base import Env, cli, emit_json, json_option, pass_env


@cli.command()
@click.option("--once", is_flag=True, help="Run one full cycle (inbox, analyze, alerts, digest when due, outbox) and exit.")
@click.option("--digest", "force_digest", is_flag=True, help="With --once: queue yesterday's digest even before the digest hour.")
@click.option("--date", "day", type=click.DateTime(["%Y-%m-%d"]), help="With --once: the digest's day (implies --digest).")
@json_option
@pass_env
def run(env: Env, once: bool, force_digest: bool, day: datetime | None, as_json: bool) -> None:
    """Run the worker: poll the inbox, analyze, alert, digest and send on a schedule.

    Only one worker runs per store. SIGTERM or SIGINT end the current job and exit 0; a file
    being ingested is rolled back and stays in the inbox for the next start. With --once,
    files still being written are waited for (up to [schedule] inbox_settle_seconds); what
    stays in the inbox is listed, with why.

    Example: sentiment --config /srv/monitor/sentiment.toml run
    Example: sentiment run --once --date 2026-11-24
    """
    from sentiment.worker.jobs import Jobs, Schedule
    from sentiment.pipeline.analysis import Pipeline
    from sentiment.worker.runner import lock_for, run_once, serve

    if day and not once:
        raise click.UsageError("--date only applies with --once")
    if not as_json and logging.getLogger().level > logging.INFO:
        logging.getLogger().setLevel(logging.INFO)
    settings = env.settings
    jobs = Jobs(settings, lambda: Pipeline.from_settings(settings), Schedule.from_settings(settings))
    env.open_db()  # create and migrate before taking the lock
    lock = lock_for(settings.db)
    lock.acquire(settings.db)
    try:
        if once:
            report = run_once(jobs, datetime.now(settings.tz), digest=force_digest,
                              day=day.date() if day else None)
            if as_json:
                emit_json(report)
            else:
                for job_id, detail in report.items():
                    click.echo(f"{job_id}: {summary(detail)}")
                    for line in detail.get("skipped", []) if job_id == "inbox" else []:
                        click.echo(f"  skipped: {line}")
        else:
            serve(jobs)
    finally:
        lock.release()


def summary(detail: dict) -> str:
    """One line per job: counts, not the ids behind them."""
    parts = []
    for key, value in detail.items():
        if isinstance(value, dict):
            value = ", ".join(f"{k} {v}" for k, v in value.items() if isinstance(v, (int, float, str)))
        elif isinstance(value, list):
            value = len(value)
        parts.append(f"{key} {value}" if not isinstance(value, str) or "," not in value else f"{key} ({value})")
    return "; ".join(parts)
