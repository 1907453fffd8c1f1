"""Whether a scheduled job may go on writing: the process running it still leads.

The scheduler (:mod:`forecaster.jobs.scheduler`) runs each job inside :func:`leading`; every
loop over services (training, forecasts, actuation, pulls, retention) calls
:func:`check_leading` before each one, and training, the refresh and actuation again before
they store a fit or forecast or push a target. Once the leader lock is lost a standby takes it
and starts the same jobs, so the old leader's pass must stop rather than overlap the new one's.
Called outside a scheduled job (the CLI, the API) there is no leadership to lose.
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


_job = threading.local()  # the lease check of the scheduled job running in this thread


@contextmanager
def leading(
    still_held: Callable[[], bool], stopping: Callable[[], bool] = lambda: False
) -> Iterator[None]:
    """Run a scheduled job (in this thread) on behalf of a leader whose lock ``still_held``
    checks; ``stopping`` says the process is shutting down (SIGTERM), which ends the job at
    its next service as a lost lock does."""
    _job.still_held = still_held
    _job.stopping = stopping
    try:
        yield
    finally:
        _job.still_held = None
        _job.stopping = None


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
