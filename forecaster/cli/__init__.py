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
