"""A champion that stands because the other candidates broke is a warning on the service."""

from __future__ import annotations

import pytest

import forecaster.training.forecasting as forecasting
from forecaster.profiles import ScalingProfile
from forecaster.settings import Settings
from forecaster.storage.db import Database
from forecaster.training.train import train_service
from tests.helpers import (
    BrokenModel,
    ending_now,
    service_warnings,
    store_service,
    synthetic_traffic,
)

PROFILE = ScalingProfile(capacity_per_replica=100, horizon_hours=2)


def _champion_warnings(database: Database) -> list[str]:
    return service_warnings(database, "chat", "champion")


def test_a_champion_that_won_because_the_others_broke_is_a_warning(
    database: Database, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """QA: a library upgrade broke every model but seasonal-naive; the nightly training
    replaced the champion with it, recorded "ok", and nothing warned."""
    store_service(database, settings, "chat", ending_now(synthetic_traffic(days=3)), PROFILE)
    train_service(database, "chat", settings)
    assert _champion_warnings(database) == []

    create = forecasting.create_model
    monkeypatch.setattr(
        forecasting,
        "create_model",
        lambda name: create(name) if name == "seasonal_naive_daily" else BrokenModel(),
    )
    assert train_service(database, "chat", settings).model == "seasonal_naive_daily"
    (warning,) = _champion_warnings(database)
    assert warning.startswith("champion seasonal_naive_daily won while others broke: ")
    assert "failed in the backtest (RuntimeError: the upgraded library broke me)" in warning
