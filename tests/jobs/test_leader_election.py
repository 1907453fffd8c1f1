"""Two scheduler processes on one database never both run a job: one leads, one stands by.

Real processes, real PostgreSQL (advisory lock) or a real SQLite file (flock); the leader is
killed with SIGKILL mid-run and the standby takes over only once the lock is free.
"""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from forecaster.storage.db import Database
from forecaster.storage.jobs import list_job_runs
from forecaster.storage.orm import JobRun
from forecaster.timeutil import utc_now

ROOT = Path(__file__).resolve().parents[2]


def spawn(url: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.jobs.contender", url],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


def runs(database: Database) -> list[JobRun]:
    with database.session() as session:
        return sorted(list_job_runs(session=session, job="tick", limit=1000), key=lambda r: r.id)


def pid_of(run: JobRun) -> int:
    return int(run.service or 0)


def wait_for(predicate: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=10)


def test_one_leader_at_a_time_and_takeover_after_a_crash(
    database: Database, database_url: str, processes: list[subprocess.Popen[str]]
) -> None:
    first = spawn(database_url)
    processes.append(first)
    wait_for(lambda: any(pid_of(r) == first.pid for r in runs(database)), 60, "leader")
    second = spawn(database_url)
    processes.append(second)
    assert second.stdout is not None and second.stdout.readline().strip() == "started"
    time.sleep(1.5)  # the standby has had time to try the lock several times
    assert {pid_of(r) for r in runs(database)} == {first.pid}

    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    killed_at = utc_now()
    wait_for(lambda: any(pid_of(r) == second.pid for r in runs(database)), 60, "takeover")
    second.send_signal(signal.SIGTERM)  # graceful: finishes its running job, releases the lock
    assert second.wait(timeout=30) == 0

    history = runs(database)
    by_pid = [pid_of(r) for r in history]
    assert by_pid == sorted(by_pid, key=lambda pid: pid != first.pid)  # all A's, then all B's
    spans: list[tuple[datetime, datetime]] = []
    for run in history:
        end = run.finished_at or killed_at  # the run the kill interrupted
        spans.append((run.started_at, end))
    spans.sort()
    for (_, end), (start, _) in itertools.pairwise(spans):
        assert start >= end, "two runs of the same job overlapped"
    first_of_second = min(r.started_at for r in history if pid_of(r) == second.pid)
    assert first_of_second >= killed_at.replace(microsecond=0)
    assert all(r.status == "ok" for r in history if pid_of(r) == second.pid)
