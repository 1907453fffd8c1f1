"""Training on a Dask cluster (``FORECASTER_DASK_SCHEDULER``): each series' backtests, selection
and refit are its own business, so a fleet spreads over the cluster's workers in chunks, one per
worker thread. The workers run this same package (the same image, started as ``dask worker
tcp://scheduler:8786``), so the work travels as a pickled function and series, as it does to
local processes."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

log = logging.getLogger(__name__)

Item = TypeVar("Item")
Result = TypeVar("Result")
# how long to wait for the scheduler, and for a worker, before training here instead
CONNECT_SECONDS = 10.0


def on_cluster(
    address: str,
    work: Callable[[list[Item]], list[Result]],
    items: Sequence[Item],
) -> list[tuple[Result, str]]:
    """``work`` on chunks of ``items`` on the Dask cluster at ``address``, results in order,
    each with where it was trained (:func:`_done`). A chunk shares one pickle, so a global
    model many series use travels once per chunk."""
    if not items:
        return []
    from distributed import Client  # imported only when a cluster is configured

    with Client(address, timeout=CONNECT_SECONDS, set_as_default=False) as client:  # type: ignore[no-untyped-call]
        # tasks wait for a worker as long as it takes: a cluster without one would hold the pass
        client.wait_for_workers(1, timeout=CONNECT_SECONDS)
        size = chunk_size(len(items), sum(client.nthreads().values()))
        chunks = [list(items[start : start + size]) for start in range(0, len(items), size)]
        log.info("training %d series on %s in %d chunks", len(items), address, len(chunks))
        futures = client.map(work, chunks, pure=False)
        return [
            placed
            for chunk, future in zip(chunks, futures, strict=True)
            for placed in _done(chunk, future, work, client)
        ]


def chunk_size(items: int, slots: int) -> int:
    """Items per chunk so ``items`` make one chunk per slot (worker thread or process), or one
    per item when there are fewer: a model many items share is pickled once per chunk."""
    return math.ceil(items / max(1, min(slots, items)))


def _done(
    chunk: list[Item], future: Any, work: Callable[[list[Item]], list[Result]], client: Any
) -> list[tuple[Result, str]]:
    """A chunk's results from the cluster or, when it failed there (say its work kept killing
    workers: ``KilledWorker``), from this machine: the other chunks' results still count.
    Each comes with where it was trained, for the job-run record: the worker's address, or
    why this machine trained it."""
    try:
        results = list(future.result())
    except Exception as failure:  # noqa: BLE001 - whatever the cluster raised: train it here
        log.warning(
            "a chunk of %d series failed on the cluster (%s); training it on this machine",
            len(chunk),
            failure,
        )
        where = f"this machine: its chunk failed on the Dask cluster ({failure})"
        return [(result, where) for result in work(chunk)]
    holders = client.who_has([future]).get(future.key) or ("unknown",)
    return [(result, f"Dask worker {holders[0]}") for result in results]
