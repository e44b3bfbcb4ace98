"""Every command has help text with an example and a row in the README's CLI reference."""
from __future__ import annotations

from pathlib import Path

import click
import pytest

from sentiment.cli import cli

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")


def commands(group: click.Group, prefix: str = "sentiment") -> list[tuple[str, click.Command]]:
    found = []
    for name, command in sorted(group.commands.items()):
        path = f"{prefix} {name}"
        found.append((path, command))
        if isinstance(command, click.Group):
            found.extend(commands(command, path))
    return found


@pytest.mark.parametrize("path, command", commands(cli), ids=lambda v: v if isinstance(v, str) else "")
def test_command_is_documented(path, command):
    assert command.help and command.help.strip(), f"{path} has no help text"
    leaf = path.split()[-1]
    parent = " ".join(path.split()[:-1])
    # documented either as `sentiment x y` or, for subcommands listed together, as `y ID` beside its parent
    assert f"`{path}" in README or (parent in README and f"`{leaf}" in README), f"{path} is missing from README"


def test_top_level_commands_have_examples():
    for path, command in commands(cli):
        if path.count(" ") == 1 and not isinstance(command, click.Group):
            assert "Example:" in (command.help or ""), f"{path} has no example"
