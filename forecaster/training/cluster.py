"""Training on a Dask cluster (``FORECASTER_DASK_SCHEDULER``): each series' backtests, selection
and refit are its own business, so a fleet spreads over the cluster's workers in chunks, one per
worker thread. The workers run this same package (the same image, started as ``dask worker
tcp://scheduler:8786``), so the work travels as a pickled function and series, as it does to
local processes."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from typing import TypeVar

log = logging.getLogger(__name__)

Item = TypeVar("Item")
Result = TypeVar("Result")
# how long to wait for the scheduler, and for a worker, before training here instead
CONNECT_SECONDS = 10.0


def on_cluster(
    address: str,
    work: Callable[[list[Item]], list[Result]],
    items: Sequence[Item],
) -> list[Result]:
    """``work`` on chunks of ``items`` on the Dask cluster at ``address``, results in order.
    A chunk shares one pickle, so a global model many series use travels once per chunk."""
    if not items:
        return []
    from distributed import Client  # imported only when a cluster is configured

    with Client(address, timeout=CONNECT_SECONDS, set_as_default=False) as client:  # type: ignore[no-untyped-call]
        # tasks wait for a worker as long as it takes: a cluster without one would hold the pass
        client.wait_for_workers(1, timeout=CONNECT_SECONDS)
        slots = max(1, sum(client.nthreads().values()))
        size = math.ceil(len(items) / min(slots, len(items)))
        chunks = [list(items[start : start + size]) for start in range(0, len(items), size)]
        log.info("training %d series on %s in %d chunks", len(items), address, len(chunks))
        futures = client.map(work, chunks, pure=False)
        return [result for chunk in client.gather(futures) for result in chunk]
