"""The ``forecaster`` command line: the service (serve, demo, ingest, train, plan) and the offline
contract (forecast, plan --input). Heavy libraries are imported inside commands so ``--help``
stays fast.
"""

from __future__ import annotations

import sys

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
    except Exception as error:  # last: the clauses above are for errors of their own kinds
        if (failure := database_failure(error)) is None:
            raise
        fail(failure, code=1)


def database_failure(error: Exception) -> str | None:
    """One line for a database that failed under a command (full, read-only, gone), in its
    driver's words, where a traceback of SQL filled the screen, and what to do: run it again,
    or the operator's fix when that cannot help; None for any other error. SQLAlchemy is
    imported by the commands that use a database: without it, this is none."""
    if "sqlalchemy.exc" not in sys.modules:
        return None
    from forecaster.storage.failures import classify

    if (failure := classify(error)) is None:
        return None
    advice = "run it again shortly" if failure.passes else failure.fix
    return (
        f"the database failed: {failure.reason}; what the command had not committed is not "
        f"stored; {advice}"
    )
