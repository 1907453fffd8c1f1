"""The ``forecaster`` command line: the service (serve, demo, ingest, train, plan) and the offline
contract (forecast, plan --input). Heavy libraries are imported inside commands so ``--help``
stays fast.
"""

from __future__ import annotations

from forecaster.cli import (  # noqa: F401  (importing registers the commands)
    capacity_commands,
    engine_commands,
    ingest_commands,
    keys_commands,
    offline_commands,
    service_commands,
    worker_commands,
)
from forecaster.cli.app import app, fail
from forecaster.errors import ConfigurationError


def main() -> None:
    """Console-script entry point: a setting the service cannot start with stops any command
    with one line naming the variable."""
    try:
        app()
    except ConfigurationError as error:
        fail(str(error))
    except UnicodeEncodeError as error:  # an argument's bytes that are not UTF-8, on their way
        # to the database or a target (the API refuses the same text with a 422)
        wrong = error.object[error.start : error.end]
        shown = wrong.encode("utf-8", "surrogateescape").hex(" ") if isinstance(wrong, str) else ""
        fail(f"an argument is not UTF-8 text (bytes {shown}): give names and reasons as UTF-8")
