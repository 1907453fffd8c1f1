"""Whether a scheduled job may go on writing: the process running it still leads.

The scheduler (:mod:`forecaster.jobs.scheduler`) runs each job inside :func:`leading`; every
loop over services (training, forecasts, actuation, pulls, retention) calls
:func:`check_leading` before each one, and training, the refresh and actuation again before
they store a fit or forecast or push a target. Once the leader lock is lost a standby takes it
and starts the same jobs, so the old leader's pass must stop rather than overlap the new one's.
Called outside a scheduled job (the CLI, the API) there is no leadership to lose.

Jobs of one term that must not overlap (the scheduled training pass and its resume) share a
lock of that term (:func:`term_lock`): a job left behind by an ended term, stuck inside a
library call, stores nothing more, so the next term's jobs do not wait for it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from forecaster.errors import Worded


class LeadershipLostError(Worded, BaseException):
    """The leader lock is gone: the job stops, its service left to the new leader's run.

    A BaseException, as asyncio's CancelledError is: each loop's ``except Exception``, which
    records one service's failure and goes on to the next, must not swallow it.
    """


class TermLocks:
    """The locks of one leadership term, by name, made on first use: jobs of the term that
    must not overlap take the same one, and a later term has locks of its own."""

    def __init__(self) -> None:
        self._locks: dict[str, threading.Lock] = {}
        self._mutex = threading.Lock()

    def __call__(self, name: str) -> threading.Lock:
        with self._mutex:
            return self._locks.setdefault(name, threading.Lock())


_job = threading.local()  # the lease check of the scheduled job running in this thread
_outside = TermLocks()  # those of work run outside a scheduled job (the CLI, tests)


@contextmanager
def leading(
    still_held: Callable[[], bool],
    stopping: Callable[[], bool] = lambda: False,
    *,
    locks: TermLocks | None = None,
) -> Iterator[None]:
    """Run a scheduled job (in this thread) on behalf of a leader whose lock ``still_held``
    checks; ``stopping`` says the process is shutting down (SIGTERM), which ends the job at
    its next service as a lost lock does; ``locks`` are its term's (:func:`term_lock`)."""
    _job.still_held = still_held
    _job.stopping = stopping
    _job.locks = locks
    try:
        yield
    finally:
        _job.still_held = None
        _job.stopping = None
        _job.locks = None


def term_lock(name: str) -> threading.Lock:
    """The lock ``name`` of the leadership term the job in this thread runs in (one shared
    by all work outside a scheduled job). Per term, not per process: a pass left behind when
    the leader lock was lost (a fit inside a library call checks nothing) kept holding a
    process-wide lock, and the process's next term trained nothing until that fit returned,
    only for its results to be thrown away."""
    locks: TermLocks | None = getattr(_job, "locks", None)
    return (locks or _outside)(name)


def check_leading(
    done: int, total: int, items: str = "services", *, finishing: bool = False
) -> None:
    """Raise :class:`LeadershipLostError` when the job running in this thread has lost its
    leader lock (one cheap query on the lock's connection, or a stat of the lock file), or,
    unless ``finishing`` work already done (storing fits made), when the process is shutting
    down: the lock is still held through the stop's grace, so no new leader overlaps it."""
    stopping: Callable[[], bool] | None = getattr(_job, "stopping", None)
    if not finishing and stopping is not None and stopping():
        raise LeadershipLostError(
            f"stopped after {done} of {total} {items}: the process is shutting down; "
            "the next leader's run does the rest"
        )
    still_held: Callable[[], bool] | None = getattr(_job, "still_held", None)
    if still_held is not None and not still_held():
        raise LeadershipLostError(
            f"leadership lost after {done} of {total} {items}; the new leader's run does the rest"
        )
