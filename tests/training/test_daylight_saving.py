"""Traffic stored in UTC that follows its users' clock moves an hour at their daylight-saving
change; the offline commands read such a history on the zone the detector names."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecaster.training.daylight_saving import detect_clock_change


def business_day(
    clock: str, change: str, *, before: int = 21, after: int = 7, noise: float = 0.2, seed: int = 0
) -> pd.Series:
    """15-minute load stored in UTC with a working-day peak at 13:00 on ``clock``'s time and
    quieter weekends, ``before`` days before and ``after`` days after the instant ``change``."""
    at = pd.Timestamp(change)
    index = pd.date_range(
        at - pd.Timedelta(days=before), at + pd.Timedelta(days=after), freq="15min", tz="UTC"
    )
    local = index.tz_convert(clock)
    hour = np.asarray(local.hour + local.minute / 60)
    weekend = np.asarray(local.day_of_week) >= 5
    shape = (0.2 + np.exp(-((hour - 13) ** 2) / 18)) * np.where(weekend, 0.5, 1.0)
    rng = np.random.default_rng(seed)
    values = 200 * shape * (1 + noise * rng.standard_normal(len(index)))
    return pd.Series(np.maximum(values, 0), index=index, name="value")


@pytest.mark.parametrize(
    ("zone", "change"),
    [
        ("America/New_York", "2025-03-09T07:00Z"),  # spring forward
        ("Europe/London", "2025-10-26T01:00Z"),  # fall back (Berlin's instant too)
        ("Australia/Sydney", "2025-04-05T16:00Z"),  # southern autumn
    ],
)
def test_local_clock_traffic_names_its_zone_and_change(zone: str, change: str) -> None:
    found = detect_clock_change(business_day(zone, change))
    assert found is not None
    assert (found.zone, found.instant) == (zone, pd.Timestamp(change))
    assert found.note().startswith(
        f"the daily cycle moved an hour at {change[:-1]}Z as {zone}'s clock did"
    )


@pytest.mark.parametrize("change", ["2025-03-09T07:00Z", "2025-10-26T01:00Z"])
def test_traffic_on_utc_s_clock_names_no_zone(change: str) -> None:
    assert detect_clock_change(business_day("UTC", change)) is None


def test_traffic_without_a_daily_cycle_or_with_bursts_names_no_zone() -> None:
    rng = np.random.default_rng(1)
    flat = business_day("UTC", "2025-03-09T07:00Z")
    flat[:] = rng.poisson(30, len(flat)).astype("float64")
    assert detect_clock_change(flat) is None
    bursty = business_day("UTC", "2025-03-09T07:00Z", noise=0.3)
    for start in rng.integers(0, len(bursty) - 40, size=15):  # bursts of 2-6x for hours
        bursty.iloc[start : start + rng.integers(3, 36)] *= rng.uniform(2, 6)
    assert detect_clock_change(bursty) is None


def test_too_few_days_after_the_change_or_steps_over_an_hour_name_no_zone() -> None:
    short = business_day("America/New_York", "2025-03-09T07:00Z", after=3)
    assert detect_clock_change(short) is None
    coarse = business_day("America/New_York", "2025-03-09T07:00Z").resample("2h").mean()
    assert detect_clock_change(coarse) is None
