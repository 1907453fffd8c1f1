"""A real Dask cluster on this machine (a scheduler and one worker process of two threads), as
``dask scheduler`` and ``dask worker`` would run it; shared by the tests that train on one."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from distributed import LocalCluster


@pytest.fixture(scope="module")
def dask_scheduler() -> Iterator[str]:
    with LocalCluster(
        n_workers=1, threads_per_worker=2, processes=True, dashboard_address=None
    ) as local:
        yield str(local.scheduler_address)
