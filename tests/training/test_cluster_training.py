"""Training on a Dask cluster (``FORECASTER_DASK_SCHEDULER``; the cluster: conftest.py)."""

from __future__ import annotations

import logging

import pandas as pd
import pytest

from forecaster.training import cluster as cluster_module
from forecaster.training.forecasting import forecast_many
from tests.helpers import chunks_trained, free_port, synthetic_traffic

MODELS = ["seasonal_naive_daily", "holt_winters"]  # not a fleet's cheap pair: shipped out


def _histories() -> list[pd.Series]:
    return [synthetic_traffic(days=6, step_seconds=1800, seed=seed) for seed in range(4)]


def test_a_fleet_trains_on_the_cluster_as_it_would_here(dask_scheduler: str) -> None:
    before = chunks_trained(dask_scheduler)
    remote = forecast_many(_histories(), 48, candidates=MODELS, cluster=dask_scheduler)
    assert chunks_trained(dask_scheduler) - before == 2  # one chunk per worker thread
    here = forecast_many(_histories(), 48, candidates=MODELS)
    assert [o.model for o in remote] == [o.model for o in here]
    for far, near in zip(remote, here, strict=True):
        pd.testing.assert_frame_equal(far.frame, near.frame)
        assert far.fitted.predict(4).equals(near.fitted.predict(4))  # the models came back


def test_an_unreachable_cluster_trains_here_and_says_so(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(cluster_module, "CONNECT_SECONDS", 1.0)
    nowhere = f"tcp://127.0.0.1:{free_port()}"
    with caplog.at_level(logging.WARNING, logger="forecaster.training.forecasting"):
        outcomes = forecast_many(_histories(), 48, candidates=MODELS, cluster=nowhere)
    assert len(outcomes) == 4 and all(o.frame["p50"].notna().all() for o in outcomes)
    assert f"Dask cluster {nowhere} failed" in caplog.text
    assert "training on this machine" in caplog.text
