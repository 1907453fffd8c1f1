"""Every command's ``--help``: a flag is shown bare, an option taking a value with its type."""

from __future__ import annotations

from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from forecaster.cli import app


def _command_paths(command: Any, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    paths = [path]
    for name, sub in getattr(command, "commands", {}).items():  # a group's
        paths += _command_paths(sub, (*path, name))
    return paths


COMMANDS = _command_paths(typer.main.get_command(app))


def test_the_commands_are_found() -> None:
    assert {("serve",), ("simulate",), ("keys", "create"), ("events", "list")} <= set(COMMANDS)


@pytest.mark.parametrize("path", COMMANDS, ids=lambda path: " ".join(path) or "forecaster")
def test_a_flag_is_shown_without_a_type(path: tuple[str, ...]) -> None:
    """typer 0.29's rich help showed ``--scheduler <bool>`` and ``--help <bool>``, as if each
    took a value (``--scheduler true`` is refused)."""
    result = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "<bool>" not in result.output
    help_row = next(line for line in result.output.splitlines() if "--help" in line)
    assert help_row.split("--help")[1].split() == ["Show", "this", "message", "and", "exit.", "│"]


def test_an_option_taking_a_value_keeps_its_type() -> None:
    result = CliRunner().invoke(app, ["simulate", "--help"], env={"COLUMNS": "200"})
    rows = {
        next(word for word in line.split() if word.startswith("--")): line
        for line in result.output.splitlines()
        if " --" in line
    }
    assert "<float>" in rows["--train-fraction"]
    assert "<file>" in rows["--input"]
    assert "<bool>" not in rows["--equal-spend"] and "--no-equal-spend" in rows["--equal-spend"]
