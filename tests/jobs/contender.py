"""A scheduler process for the leader-election tests: ``python -m tests.jobs.contender URL``.

It runs one short job ("tick", every 0.5 s) recording its process id, until SIGTERM.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time

from forecaster.jobs.registry import JobSpec
from forecaster.jobs.scheduler import JobScheduler
from forecaster.settings import Settings
from forecaster.storage.db import Database
from forecaster.storage.jobs import recorded_job


def tick(database: Database, _settings: Settings) -> None:
    # the pid goes in the "service" column: it is written when the run starts
    with recorded_job(database.sessions, "tick", str(os.getpid())):
        time.sleep(0.2)


JOBS = (JobSpec("tick", tick, lambda _s: "every 0.5s"),)


def main(url: str) -> None:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    settings = Settings(database_url=url, scheduler_lock_retry_seconds=0.2)
    database = Database(url)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    scheduler = JobScheduler(database, settings, JOBS, lease_check_seconds=0.2)
    scheduler.start()
    print("started", flush=True)
    stop.wait(120)
    scheduler.stop()
    database.dispose()


if __name__ == "__main__":
    main(sys.argv[1])
