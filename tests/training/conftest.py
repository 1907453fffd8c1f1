"""A real Dask cluster on this machine (a scheduler and one worker process of two threads), as
``dask scheduler`` and ``dask worker`` would run it; shared by the tests that train on one."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.helpers import local_dask_cluster


@pytest.fixture(scope="module")
def dask_scheduler() -> Iterator[str]:
    with local_dask_cluster(1) as local:
        yield str(local.scheduler_address)
