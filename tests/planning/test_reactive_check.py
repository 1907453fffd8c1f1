"""The floor check: plans hold no floor where the reactive autoscaler alone kept up."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from forecaster.planning.planner import plan_capacity
from forecaster.planning.policies import ForecastSettings
from forecaster.planning.reactive import check_floor, reactive_short_pct
from forecaster.planning.simulate import SimulationOptions, simulate
from forecaster.profiles import CapacityTier, ScalingProfile
from tests.helpers import synthetic_traffic

PROFILE = ScalingProfile(
    capacity_per_replica=10,
    target_utilization=0.5,
    min_replicas=2,
    max_replicas=100,
    startup_seconds=180,
    scale_down_delay_seconds=0,
    step_seconds=300,
    gpus_per_replica=1,
    cost_per_replica_hour=0.5,
)
TOLERANT = PROFILE.model_copy(update={"reactive_tolerance_pct": 0.1})


def jumps(days: float, *, every_hours: float = 6, quiet_days: float = 0) -> pd.Series:
    """15-s load of 10 that jumps to 100 for an hour every ``every_hours`` (none in the last
    ``quiet_days``)."""
    index = pd.date_range("2024-01-01", periods=int(days * 5760), freq="15s", tz="UTC")
    seconds = (index - index[0]).total_seconds().to_numpy()
    burst = (seconds % (every_hours * 3600)) >= (every_hours - 1) * 3600
    burst &= seconds < (days - quiet_days) * 86_400
    return pd.Series(np.where(burst, 100.0, 10.0), index=index)


def test_smooth_traffic_keeps_the_hpa_in_step() -> None:
    assert reactive_short_pct(synthetic_traffic(days=3, noise=0.0), PROFILE) == 0.0


def test_each_jump_leaves_the_hpa_short_for_its_start_up() -> None:
    share = reactive_short_pct(jumps(2), PROFILE)
    # 8 jumps in 2 days, each short at least until replicas started after it are ready (180 s)
    least = 8 * (180 / 15) / (2 * 5760) * 100
    assert least <= share < 5 * least


def test_only_the_last_week_counts() -> None:
    assert reactive_short_pct(jumps(10, quiet_days=7.5), PROFILE) == 0.0
    assert reactive_short_pct(jumps(10, quiet_days=6.5), PROFILE) > 0.0


def forecast_of(values: list[float]) -> pd.Series:
    index = pd.date_range("2024-01-10", periods=len(values), freq="5min", tz="UTC")
    return pd.Series(values, index=index)


def test_plan_keeps_only_min_replicas_when_the_hpa_kept_up() -> None:
    forecast = forecast_of([40.0, 90.0, 200.0, 50.0])
    plan = plan_capacity(forecast, TOLERANT, step_seconds=300)
    assert plan["replicas"].max() > TOLERANT.min_replicas
    checked = check_floor(plan, synthetic_traffic(days=3, noise=0.0), TOLERANT)
    assert (checked["replicas"] == 2).all()
    assert (checked["gpus"] == 2).all()
    assert checked["cost_per_hour"].tolist() == pytest.approx([1.0] * 4)
    assert checked["reason"].str.contains("short 0% of the last 7 days").all()
    assert (checked["load"] == plan["load"]).all()  # the forecast is still shown


def test_plan_keeps_its_floor_where_the_hpa_was_late() -> None:
    plan = plan_capacity(forecast_of([40.0, 90.0, 200.0, 50.0]), TOLERANT, step_seconds=300)
    pd.testing.assert_frame_equal(check_floor(plan, jumps(2), TOLERANT), plan)
    # without a tolerance the check is off, whatever the history
    untouched = plan_capacity(forecast_of([40.0, 90.0]), PROFILE, step_seconds=300)
    smooth = synthetic_traffic(days=3, noise=0.0)
    assert check_floor(untouched, smooth, PROFILE) is untouched


def test_profile_refuses_a_tolerance_it_cannot_apply() -> None:
    tier = CapacityTier(name="L4", capacity_per_replica=40, cost_per_replica_hour=0.8)
    with pytest.raises(ValidationError, match="single replica type"):
        ScalingProfile.model_validate(TOLERANT.model_dump() | {"tiers": [tier.model_dump()]})
    with pytest.raises(ValidationError, match="reactive_tolerance_pct"):
        ScalingProfile(capacity_per_replica=1, reactive_tolerance_pct=-1)


def replay(series: pd.Series, profile: ScalingProfile) -> dict[str, np.ndarray]:
    options = SimulationOptions(
        train_fraction=0.5,
        equal_spend=False,
        policies=("reactive", "predictive"),
        forecast=ForecastSettings(model="seasonal_naive_daily"),
    )
    result = simulate(series, profile, options)
    return {name: timeline.spec for name, timeline in result.timelines.items()}


def test_predictive_spends_no_more_than_the_hpa_on_smooth_traffic() -> None:
    series = synthetic_traffic(days=4, noise=0.02, seed=3)
    held = replay(series, PROFILE)
    assert held["predictive"].sum() > held["reactive"].sum()  # the floor costs here
    checked = replay(series, TOLERANT)
    assert (checked["predictive"] == checked["reactive"]).all()


def test_predictive_keeps_its_floor_on_bursty_traffic() -> None:
    series = jumps(4, every_hours=24)
    held, checked = replay(series, PROFILE), replay(series, TOLERANT)
    assert (checked["predictive"] == held["predictive"]).all()
    assert checked["predictive"].sum() > checked["reactive"].sum()


def test_the_replays_assumed_start_is_not_held_against_the_hpa() -> None:
    index = pd.date_range("2024-01-01", periods=5760, freq="15s", tz="UTC")
    ticks = np.arange(len(index))
    # a jump 30 s in comes before any replica could have started; one an hour in does not
    early = pd.Series(np.where(ticks >= 2, 100.0, 10.0), index=index)
    late = pd.Series(np.where(ticks >= 240, 100.0, 10.0), index=index)
    assert reactive_short_pct(early, PROFILE) == 0.0
    assert reactive_short_pct(late, PROFILE) > 0.0
