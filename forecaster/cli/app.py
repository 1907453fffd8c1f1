"""The Typer application and the console every command prints through."""

from __future__ import annotations

import sys
from typing import NoReturn

import typer

app = typer.Typer(
    name="forecaster",
    help="Forecast inference traffic and plan replicas and GPUs ahead of demand.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def say(message: str = "") -> None:
    """Print a line for the user (stdout)."""
    typer.echo(message)


def warn(message: str) -> None:
    """Print a line on stderr."""
    typer.echo(message, err=True)


def fail(message: str, code: int = 2) -> NoReturn:
    """Stop with a clear message on stderr and a non-zero exit code."""
    typer.echo(f"error: {message}", err=True)
    sys.exit(code)
