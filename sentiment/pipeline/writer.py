"""The one function that writes `analyses` (and their `rule_hits`): ingest, the analysis
processes, the backlog and rescans all store what they analyzed through `write_analyses`."""
from __future__ import annotations

from typing import Any, Sequence

import sqlite_utils

from sentiment import store
from sentiment.pipeline.analysis import Pipeline

InProcess = Any  # Callable[[sqlite_utils.Database, list[dict]], None]: an Analyzer


def write_analyses(db: sqlite_utils.Database, rows: Sequence[dict[str, Any]], hits: Sequence[dict[str, Any]],
                   rules_version: str | None, rule_digests: dict[str, str]) -> None:
    """Replace these documents' analyses and hits and remember the rule set that made them
    (inside the caller's transaction)."""
    store.save_analyses(db, rows, hits)
    store.remember_ruleset(db, rules_version, rule_digests)


def analyze_into(db: sqlite_utils.Database, pipeline: Pipeline, docs: Sequence[dict[str, Any]]) -> None:
    """Analyze freshly stored documents here and write their rows (inside the caller's transaction)."""
    rows, hits = pipeline.analysis_rows(docs, store.utcnow())
    write_analyses(db, rows, hits, pipeline.rules_version, pipeline.rule_digests)


def in_process(pipeline: Pipeline) -> InProcess:
    """An Analyzer that analyzes in this process with `pipeline`."""
    return lambda db, docs: analyze_into(db, pipeline, docs)
