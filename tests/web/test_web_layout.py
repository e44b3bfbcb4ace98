"""Where `sentiment.web` sits: above the library (it may import signals, reports, store, config and
the base modules), below nothing but the CLI; the worker keeps the search index up to date
through `sentiment.reports.search` and never loads Flask."""
from __future__ import annotations

import subprocess
import sys

from test_layout import GRAPH, in_package, own

WEB_MAY_IMPORT = ("sentiment.web", "sentiment.signals", "sentiment.reports", "sentiment.store", "sentiment.config",
                  "sentiment.errors", "sentiment.times")
# who may import sentiment.web, and what of it
IMPORTERS = {"sentiment.cli": ("sentiment.web",)}


def test_web_imports_only_the_library_it_sits_on() -> None:
    bad = [f"{name} -> {m}" for name, (top, deferred) in GRAPH.items() if in_package(name, "sentiment.web")
           for m in own(top | deferred) if m != "sentiment" and not any(in_package(m, p) for p in WEB_MAY_IMPORT)]
    assert not bad


def test_nothing_below_imports_web() -> None:
    bad = []
    for name, (top, deferred) in GRAPH.items():
        if in_package(name, "sentiment.web"):
            continue
        allowed = next((a for p, a in IMPORTERS.items() if in_package(name, p)), ())
        bad += [f"{name} -> {m}" for m in own(top | deferred)
                if in_package(m, "sentiment.web") and not any(in_package(m, a) for a in allowed)]
    assert not bad


def test_the_worker_does_not_load_flask() -> None:
    code = ("import sys, sentiment.worker.jobs, sentiment.reports.search, sentiment.web.users;"
            " print(sorted(m for m in ('flask', 'werkzeug', 'waitress') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
