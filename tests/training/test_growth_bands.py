"""Bands on a growing service: fold residuals are rescaled to the level the forecast is at."""

from __future__ import annotations

from statistics import NormalDist

import numpy as np
import pandas as pd

from forecaster.training.forecasting import make_forecast
from forecaster.training.selection import forecast_growth

NOISE = 0.1  # multiplicative: traffic's noise grows with its level


def _launch(seed: int, days: int = 4, step: int = 900) -> tuple[pd.Series, np.ndarray]:
    """Load growing 1.5x a day with a daily cycle and noise; also its noiseless mean."""
    n = days * 86_400 // step
    t = np.arange(n) * step / 86_400
    mean = 100 * 1.5**t * (1 + 0.5 * np.sin(2 * np.pi * t))
    noise = 1 + NOISE * np.random.default_rng(seed).standard_normal(n)
    index = pd.date_range("2024-01-01", periods=n, freq=f"{step}s", tz="UTC")
    return pd.Series(mean * noise, index=index), mean


def test_a_launch_growing_by_half_a_day_is_covered_the_next_day() -> None:
    # a single fold, a day before the end, had set the next day's bands at that day's level:
    # the p90's expected coverage of the next day was 0.71 and 0.76 on these seeds
    for seed in (0, 1):
        series, mean = _launch(seed)
        day = 96
        frame = make_forecast(series.iloc[:-day], day, model="lightgbm").frame
        # the chance a fresh draw of each held-out step falls under p90, averaged
        z = (frame["p90"].to_numpy() / mean[-day:] - 1) / NOISE
        covered = float(np.mean([NormalDist().cdf(v) for v in z]))
        assert covered >= 0.85, (seed, covered)


def _weekly(days: int, rate: float) -> np.ndarray:
    """Hourly load with a daily cycle, weekends at 0.6x, growing ``rate`` a day."""
    t = np.arange(days * 24) / 24
    weekend = np.where(np.floor(t) % 7 >= 5, 0.6, 1.0)
    return 100 * rate**t * (1 + 0.5 * np.sin(2 * np.pi * t)) * weekend


def test_forecast_growth_reads_the_forecasts_level_against_the_same_days() -> None:
    day, days = 24, 30
    origins = np.array([12 * day, 15 * day, 19 * day, 26 * day])  # days 13, 16, 20, 27 ahead
    for rate, expected in ((1.02, True), (1.0, False), (0.98, False)):
        load = _weekly(days + 1, rate)  # a perfect forecaster: medians are the load
        history, ahead = load[:-day], load[-day:]
        medians = np.stack([load[o + 1 : o + 1 + day] for o in origins])
        growth = forecast_growth(history, origins, medians, ahead, 3600)
        if expected:  # the growth since each fold's day, weekend or not (the profile's
            # phases average five weeks or four at different levels: up to 7 % high here)
            since = (days * day - origins - 1) / day
            assert np.all(growth >= rate**since) and np.allclose(growth, rate**since, rtol=0.07)
        else:  # a quiet weekend fold is no lower level, and a fall narrows nothing
            assert np.allclose(growth, 1.0, atol=0.01), growth
    # a fold forecasting under a day has no day to read
    assert np.all(forecast_growth(history, origins, medians[:, :12], ahead, 3600) == 1.0)
