"""The `sentiment` command line: parse options, call one library function, print.

The group lives in `base`; each command family has its own module, imported here so
that its commands register on the group.
"""
from __future__ import annotations

from sentiment.cli import analysis, clusters, export, ingest, mail, rules, triage, web, worker
from sentiment.cli import channels
from sentiment.cli.base import cli, main

__all__ = ["cli", "main", "analysis", "channels", "clusters", "export", "ingest", "mail", "rules", "triage",
           "web", "worker"]
