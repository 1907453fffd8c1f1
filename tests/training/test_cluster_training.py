"""Training on a Dask cluster (``FORECASTER_DASK_SCHEDULER``; the cluster: conftest.py)."""

from __future__ import annotations

import logging
import os
import time
from contextlib import ExitStack

import dask
import pandas as pd
import pytest
from distributed import get_worker

from forecaster.training import cluster as cluster_module
from forecaster.training.forecasting import _map_series, forecast_many
from tests.helpers import (
    chunks_trained,
    dask_workers,
    free_port,
    local_dask_cluster,
    synthetic_traffic,
)

MODELS = ["seasonal_naive_daily", "holt_winters"]  # not a fleet's cheap pair: shipped out


def _histories() -> list[pd.Series]:
    return [synthetic_traffic(days=6, step_seconds=1800, seed=seed) for seed in range(4)]


def test_a_fleet_trains_on_the_cluster_as_it_would_here(dask_scheduler: str) -> None:
    before = chunks_trained(dask_scheduler)
    remote = forecast_many(_histories(), 48, candidates=MODELS, cluster=dask_scheduler)
    assert chunks_trained(dask_scheduler) - before == 2  # one chunk per worker thread
    (worker,) = dask_workers(dask_scheduler)
    assert {o.trained_on for o in remote} == {f"Dask worker {worker}"}
    here = forecast_many(_histories(), 48, candidates=MODELS)
    assert [o.model for o in remote] == [o.model for o in here]
    for far, near in zip(remote, here, strict=True):
        pd.testing.assert_frame_equal(far.frame, near.frame)
        assert far.fitted.predict(4).equals(near.fitted.predict(4))  # the models came back


def _kills_its_dask_worker(item: int, progress: object = None) -> int:
    """Doubles ``item`` here; on a Dask worker, ends the worker's process."""
    try:
        get_worker()
    except ValueError:  # not on a worker
        return item * 2
    os._exit(1)


def test_a_chunk_that_kills_its_workers_trains_here(caplog: pytest.LogCaptureFixture) -> None:
    """Dask gives up on a task after its workers die running it (``KilledWorker``; here after
    one death, not the default four)."""
    once = dask.config.set({"distributed.scheduler.allowed-failures": 0})
    with once, local_dask_cluster(1) as cluster:
        address = str(cluster.scheduler_address)
        with caplog.at_level(logging.WARNING, logger="forecaster.training.cluster"):
            placed = _map_series(_kills_its_dask_worker, [1, 2, 3], 1, None, address)
    assert [result for result, _ in placed] == [2, 4, 6]
    assert all(where.startswith("this machine: its chunk failed") for _, where in placed)
    assert "workers died while running it" in caplog.text  # Dask's KilledWorker
    assert "training it on this machine" in caplog.text


def _fails_on_a_dask_worker_for_three(item: int, progress: object = None) -> int:
    """Doubles ``item``; raises for 3 on a Dask worker."""
    try:
        get_worker()
    except ValueError:  # not on a worker
        return item * 2
    if item == 3:
        raise RuntimeError("out of GPU memory")
    return item * 2


def test_only_a_chunk_that_failed_on_the_cluster_trains_here(
    dask_scheduler: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Two chunks of two: the one holding 3 fails on its worker and is trained here; the
    other's results come from the cluster, not trained again."""
    before = chunks_trained(dask_scheduler)
    with caplog.at_level(logging.WARNING, logger="forecaster.training.cluster"):
        placed = _map_series(
            _fails_on_a_dask_worker_for_three, [1, 2, 3, 4], 1, None, dask_scheduler
        )
    assert [result for result, _ in placed] == [2, 4, 6, 8]
    (worker,) = dask_workers(dask_scheduler)
    assert [where for _, where in placed] == [f"Dask worker {worker}"] * 2 + [
        "this machine: its chunk failed on the Dask cluster (out of GPU memory)"
    ] * 2
    assert chunks_trained(dask_scheduler) - before == 1
    assert "a chunk of 2 series failed on the cluster (out of GPU memory)" in caplog.text
    assert "Dask cluster" not in caplog.text  # the cluster itself did not fail


@pytest.mark.parametrize("cluster", ["unreachable", "without workers"])
def test_a_cluster_that_cannot_train_leaves_it_to_this_machine_and_says_so(
    cluster: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(cluster_module, "CONNECT_SECONDS", 1.0)
    with ExitStack() as stack:
        if cluster == "unreachable":
            address = f"tcp://127.0.0.1:{free_port()}"
        else:  # its tasks would wait for a worker for ever
            empty = stack.enter_context(local_dask_cluster(0, processes=False))
            address = str(empty.scheduler_address)
        started = time.monotonic()
        with caplog.at_level(logging.WARNING, logger="forecaster.training.forecasting"):
            outcomes = forecast_many(_histories(), 48, candidates=MODELS, cluster=address)
        # it trains here rather than wait for ever (a loaded 2-core host took 87 s)
        assert time.monotonic() - started < 240
    assert len(outcomes) == 4 and all(o.frame["p50"].notna().all() for o in outcomes)
    assert all(
        o.trained_on.startswith(f"this machine: the Dask cluster {address} failed")
        for o in outcomes
    )
    assert f"Dask cluster {address} failed" in caplog.text
    assert "training on this machine" in caplog.text


def test_nothing_to_train_asks_no_cluster() -> None:
    started = time.monotonic()
    assert cluster_module.on_cluster(f"tcp://127.0.0.1:{free_port()}", list, []) == []
    assert time.monotonic() - started < 1  # no connection attempted


def test_chunks_are_one_per_slot_or_one_per_item() -> None:
    """The cluster's chunks and the process pool's share one rule."""
    assert cluster_module.chunk_size(10, 4) == 3  # 4 chunks: 3, 3, 3, 1
    assert cluster_module.chunk_size(3, 8) == 1  # fewer items than slots
    assert cluster_module.chunk_size(5, 0) == 5  # a cluster reporting no threads: one chunk
