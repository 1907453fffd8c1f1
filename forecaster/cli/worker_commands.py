"""Commands for scheduled work: ``worker`` runs the job scheduler, ``actuate`` pushes plans now."""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from types import FrameType
from typing import TYPE_CHECKING

import typer

from forecaster.cli.app import app, database_to_open, fail, new_default_database, say, warn

if TYPE_CHECKING:
    from forecaster.settings import Settings
    from forecaster.storage.db import Database


@app.command()
def worker() -> None:
    """Run the scheduled jobs (train, forecast, actuate, pull, retention) until SIGTERM or Ctrl-C.

    Start as many workers as you like: one leads (PostgreSQL advisory lock), the others stand by.
    """
    from forecaster.errors import quoted
    from forecaster.jobs.scheduler import JobScheduler
    from forecaster.logs import configure_logging
    from forecaster.settings import get_settings
    from forecaster.storage.db import Database

    configure_logging()
    worker_log = logging.getLogger("forecaster.worker")
    settings = get_settings()
    if note := new_default_database(settings):  # a JSON line among the worker's own
        worker_log.warning(note)
    if settings.worker_nice:  # training is batch work: let API processes on the host go first
        os.nice(settings.worker_nice)
    database = Database(settings.database_url)
    database.migrate()
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        # a log line (JSON on stderr, as every other): a signal arrives mid-run, among them
        worker_log.warning(
            "received %s: finishing running jobs, then stopping", signal.Signals(signum).name
        )
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    scheduler = JobScheduler(database, settings)
    scheduler.start()
    say(
        f"worker started: train {quoted(settings.train_schedule)}, forecast "
        f"{quoted(settings.forecast_schedule)}, actuate {quoted(settings.actuate_schedule)} (UTC)"
    )
    stop.wait()
    finished = scheduler.stop()
    database.dispose()
    if not finished:  # a fit past the grace (its run is marked failed), or a stuck scheduler
        worker_log.warning(
            "worker stopped; a job or the scheduler's thread still running was left "
            "(a job's run is marked failed)"
        )
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)  # not waiting for its thread, as Python would before exiting
    say("worker stopped")


@app.command()
def actuate(
    service: str | None = typer.Option(None, help="one service (default: all with targets)"),
    dry_run: bool = typer.Option(False, "--dry-run", help="show what would change, write nothing"),
) -> None:
    """Push plans to the services' autoscaler targets now (the scheduler does this every 5 min)."""
    from forecaster.jobs.tasks import services_with_targets
    from forecaster.settings import get_settings
    from forecaster.storage.db import open_database

    settings = get_settings()
    # every outcome is printed below, its error included: the actuators' own warnings (on
    # stderr through logging's last resort) said each one a second time
    actuators_log = logging.getLogger("forecaster.actuators")
    level = actuators_log.level
    actuators_log.setLevel(logging.ERROR)
    try:
        with open_database(database_to_open(settings)) as database:
            names = [service] if service else services_with_targets(database)
            if not names:
                say("no service has actuation targets in its profile; nothing to push")
            failed = _print_actuations(database, names, settings, dry_run=dry_run)
    finally:
        actuators_log.setLevel(level)
    if failed:
        raise typer.Exit(1)


def _print_actuations(
    database: Database, names: list[str], settings: Settings, *, dry_run: bool
) -> int:
    """Actuate each service and print what every target did; how many targets failed."""
    from forecaster.actuators.run import actuate_service, actuator_context
    from forecaster.errors import ForecasterError, json_text

    failed = 0
    context = actuator_context(settings)  # one pass: a cluster that timed out is not waited on
    for name in names:
        try:
            done = actuate_service(
                database, name, settings, dry_run=dry_run, actor="cli", context=context
            )
        except ForecasterError as error:
            fail(str(error))
        say(f"{name}: {done.window.reason}")
        if not done.records:
            say("  no targets: nothing to push")
        for record in done.records:
            state = record.after.get("state", {})
            prefix = "  (dry run) " if dry_run else "  "
            say(f"{prefix}{record.kind} {record.target}: {record.outcome}")
            if record.outcome != "unchanged":
                say(f"      before {json_text(record.before)}")
                say(f"      after  {json_text(state)}")
            for note in record.after.get("notes", []):
                say(f"      note: {note}")
            if record.error:
                warn(f"      error: {record.error}")
                failed += 1
    return failed
