"""Model fitting runs at idle CPU priority so that serving requests always go first.

Linux gives a thread in ``SCHED_IDLE`` the CPU only when nothing else wants it. Training on the
same host as the API then costs plan queries almost nothing: with ``scripts/bench_load.py`` on
2 cores (500 plan queries/s, ingest and training together), plan p99 was 38 ms with training at
nice 10 and 19 ms with training in ``SCHED_IDLE``. The work runs in a fresh thread, so the
caller's thread (an API or scheduler thread, reused later for time-critical work such as
actuation) keeps its priority, and database writes stay outside it: a starved thread must never
hold a lock that ingestion waits for.

A command a person waits on (``forecaster train``, the demo's preparation) serves nothing that
training should yield to, and there ``SCHED_IDLE`` would let any busy process on the host starve
it: beside a benchmark on both cores the demo took 10 minutes for 8 s of CPU. Such commands run
their work inside :func:`at_caller_priority`.
"""

from __future__ import annotations

import contextvars
import logging
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import ParamSpec, TypeVar

log = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")

_yield_to_others = contextvars.ContextVar("training_yields_to_others", default=True)


@contextmanager
def at_caller_priority() -> Iterator[None]:
    """Within this block, :func:`run_at_idle_priority` runs its work at the caller's priority."""
    token = _yield_to_others.set(False)
    try:
        yield
    finally:
        _yield_to_others.reset(token)


def _enter_idle_priority() -> None:
    try:
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    except OSError as error:  # not permitted here: run at the normal priority
        log.debug("could not enter SCHED_IDLE: %s", error)


def run_at_idle_priority(work: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Call ``work(*args, **kwargs)`` in a new thread at idle CPU priority; return its result
    or raise its exception."""
    if not hasattr(os, "SCHED_IDLE") or not _yield_to_others.get():  # not Linux, or not wanted
        return work(*args, **kwargs)
    context = contextvars.copy_context()  # request ids and log context follow the work

    def idle_work() -> T:
        _enter_idle_priority()
        return context.run(work, *args, **kwargs)

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="idle-priority") as pool:
        return pool.submit(idle_work).result()
