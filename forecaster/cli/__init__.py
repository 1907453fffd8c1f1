"""The ``forecaster`` command line: the service (serve, demo, ingest, train, plan) and the offline
contract (forecast, plan --input). Heavy libraries are imported inside commands so ``--help``
stays fast.
"""

from __future__ import annotations

from forecaster.cli import (  # noqa: F401  (registers commands)
    engine_commands,
    offline_commands,
    service_commands,
)
from forecaster.cli.app import app


def main() -> None:
    """Console-script entry point."""
    app()
