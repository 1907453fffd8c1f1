"""The Typer application and the console every command prints through."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn, TextIO

import typer

from forecaster.cli import help_format  # noqa: F401  (flags' help without a type)

if TYPE_CHECKING:
    from rich.progress import Progress
    from sqlalchemy.orm import Session

    from forecaster.offline import SeriesFile
    from forecaster.profiles import ScalingProfile
    from forecaster.settings import Settings

app = typer.Typer(
    name="forecaster",
    help="Forecast inference traffic and plan replicas and GPUs ahead of demand.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _print_version(wanted: bool) -> None:
    if wanted:
        from forecaster import __version__

        typer.echo(f"forecaster {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_print_version, is_eager=True, help="print the version"
    ),
) -> None:
    """Forecast inference traffic and plan replicas and GPUs ahead of demand."""


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


def new_default_database(settings: Settings) -> str | None:
    """A line saying a command is about to create the default SQLite file in the current folder,
    or None when a database URL was given or that file exists. Unsaid, a command run from
    another folder quietly started an empty database there (QA)."""
    if "database_url" in settings.model_fields_set:
        return None
    from sqlalchemy.engine import make_url

    path = Path(make_url(settings.database_url).database or "")
    if path.exists():
        return None
    return (
        f"FORECASTER_DATABASE_URL is not set: creating the SQLite database {path.resolve()}; "
        "set FORECASTER_DATABASE_URL to use another"
    )


def database_to_open(settings: Settings) -> str:
    """The database URL a command opens, with a note on stderr when that creates the default
    file (:func:`new_default_database`)."""
    if note := new_default_database(settings):
        warn(f"note: {note}")
    return settings.database_url


@contextmanager
def database_session() -> Iterator[Session]:
    """One session on the settings' database, disposed of afterwards (an engine left to the
    garbage collector holds its connections open until then)."""
    from forecaster.settings import get_settings
    from forecaster.storage.db import open_database

    with open_database(database_to_open(get_settings())) as database, database.session() as session:
        yield session


def on_stdout(path: Path) -> bool:
    """Whether an output path means stdout: ``-``, as Unix tools read it, or /dev/stdout."""
    return str(path) in ("-", "/dev/stdout")


def status_printer(output: Path) -> Callable[[str], None]:
    """How a command writing ``output`` prints its own lines: on stdout, or on stderr when the
    output goes there (they landed inside a piped CSV)."""
    return warn if on_stdout(output) else say


def writable(path: Path, *, inputs: Iterable[Path | None] = ()) -> Path:
    """An output file's path, its folder created; checked before a long run, not after it.
    Never one of the run's ``inputs``: ``--output`` naming the history replaced it by the plan."""
    if on_stdout(path):
        return path
    if path.is_dir():
        fail(f"cannot write {path}: it is a directory")
    for read in inputs:
        if read is not None and read.resolve() == path.resolve():
            fail(f"cannot write {path}: it is an input of this run; give another file name")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        fail(f"cannot write {path}: {error}")
    return path


@contextmanager
def writing(path: Path) -> Iterator[TextIO]:
    """The open output (stdout for ``-``): a file that cannot be written after all (no
    permission, a full disk, a path :func:`writable` could not foresee) ends the run with the
    usual one-line error, not a traceback after minutes of work."""
    try:
        if on_stdout(path):
            if sys.stdout is None:  # started with stdout closed (>&-)
                fail(f"cannot write {path}: stdout is closed")
            yield sys.stdout
            sys.stdout.flush()
        else:  # newline="": the writers choose their line ends, as to_csv(path) did
            with path.open("w", encoding="utf-8", newline="") as handle:
                yield handle
    except OSError as error:
        fail(f"cannot write {path}: {error.strerror or error}")


# the value column of a wider CSV, or the amount (tokens) a request log sums per second
VALUE_COLUMN = typer.Option(
    None,
    "--value-column",
    help="the value column of a wider CSV; in a request log, the column to sum per second "
    "(e.g. GeneratedTokens) instead of counting requests",
)
TIMEZONE = typer.Option(
    None,
    help="IANA zone whose clock the traffic follows, e.g. America/New_York: cycles are learnt "
    "on local time across daylight-saving changes (a file with its own offsets needs none)",
)

HOLIDAYS = typer.Option(
    None,
    help="whose public holidays count: a country, e.g. US, or an ISO 3166-2 subdivision for "
    "the country's holidays plus the region's, e.g. DE-BY",
)


def read_input(
    path: Path,
    *,
    refuses_negative: bool = False,
    value_column: str | None = None,
    freq: str | None = None,
) -> SeriesFile:
    """An offline command's ``timestamp,value`` CSV, with a note on stderr about rows whose
    value is missing (they are gaps, so the user should know how many) and, unless the command
    refuses them anyway (``simulate``), about negative values: ingestion refuses those, so a
    forecast that quietly took them would hide a broken export; and about a ``--freq`` finer
    than the rows, which makes up most of its steps."""
    from forecaster.offline import finer_freq_note, read_series_csv

    series_file = read_series_csv(path, value_column)
    for note in (series_file.note, finer_freq_note(series_file, freq)):
        if note:
            warn(f"note: {note}")
    if series_file.missing_values:
        warn(f"note: {series_file.missing_values} rows without a value are treated as gaps")
    if series_file.negative_values and not refuses_negative:
        warn(
            f"note: {series_file.negative_values} values are negative (load cannot be): they "
            "are kept as they are, and forecasts do not go below 0"
        )
    return series_file


def clock_zone(
    series_file: SeriesFile, zone: str | None, choose: str = "pass --timezone"
) -> str | None:
    """``zone``, or when none is given the zone whose daylight-saving change the file's daily
    cycle followed (None if none did), with a note on stderr saying so and how to ``choose``."""
    if zone is not None:
        return zone
    from forecaster.offline import detected_clock_change

    change = detected_clock_change(series_file)
    if change is None:
        return None
    warn(f"note: {change.note(choose)}")
    return change.zone


def read_profile(path: Path) -> ScalingProfile:
    """An offline command's profile YAML; fields it does not know are noted on stderr and left
    out rather than refusing the run."""
    from forecaster.profiles import load_profile

    return load_profile(path, on_unknown=lambda message: warn(f"note: {message}"))


def progress_bar(unit: str) -> Progress:
    """A bar on stderr for long offline runs ("3/7 models"), gone when the run ends."""
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn(f"{{task.completed}}/{{task.total}} {unit}"),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    )
