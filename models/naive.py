"""Seasonal-naive forecasts: tomorrow looks like today (or like the same day last week).

The strongest simple baseline on traffic, the yardstick for MASE, and the fallback whenever
another model fails. With less than one season of history it repeats the last value. A one-off
spike or drop in the season it repeats (an incident, a load test, an outage) is replaced by the
same moment of the seasons before (:func:`despiked`), so it is not replayed a day or a week later.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from models.base import DAY_SECONDS, WEEK_SECONDS, ForecastModel, fill_gaps, season_steps

# a value is a one-off when it is this many mean seasonal changes (so far; each change counted
# at most DESPIKE_CLIP times the median change before it) away from both the median of the
# same moment in the DESPIKE_SEASONS seasons before and the median of the
# DESPIKE_LOCAL_SECONDS before it (which keeps level shifts and slow ramps out), and unlike the
# same moment of every season in the week before (or DESPIKE_SEASONS seasons, if more): a value
# seen then recurs (Monday's first office hours after a weekend, a weekly or 3-daily job; a drop
# only when seen on the same day of a week before, as a weekend's zeros are not an outage's):
# seen means within the threshold, or nearer than DESPIKE_RECUR_SHARE of its own distance from
# the median (a job at 8x is as noisy as 8x)
DESPIKE_CHANGES = 6.0
DESPIKE_RECUR_SHARE = 0.5
DESPIKE_CLIP = 20.0
DESPIKE_SEASONS = 3
DESPIKE_LOCAL_SECONDS = 6 * 3600


def empirical_offsets(
    errors: np.ndarray, quantiles: tuple[float, ...], horizon: int, floor: float
) -> dict[float, np.ndarray]:
    """Quantile offsets from observed errors, the same for every step of the horizon.

    Offsets are measured from the errors' median, so the model's own median stays the p50.
    ``floor`` keeps bands from collapsing to zero on short or perfectly periodic histories.
    """
    finite = errors[np.isfinite(errors)]
    centre = float(np.median(finite)) if len(finite) >= 4 else 0.0
    offsets: dict[float, np.ndarray] = {}
    for q in quantiles:
        value = float(np.quantile(finite, q)) - centre if len(finite) >= 4 else 0.0
        width = floor * _z(q)
        offsets[q] = np.full(horizon, value + width if q >= 0.5 else value - width)
    return offsets


def despiked(values: np.ndarray, season: int, step_seconds: float) -> np.ndarray:
    """``values`` (one every ``step_seconds``) with one-off spikes and drops replaced by the
    median of the same moment in the seasons before (at least two of them known). Each decision
    reads only earlier values, so the whole series can be despiked once and sliced at any
    backtest origin. A value met at the same moment of a season in the week before is not a
    one-off: against the day, a Monday morning after a weekend's zeros had been (QA: forecast
    at 0, the plan short for three hours), and a weekly job erased before the weekly rule
    could replay it."""
    local = max(2, round(DESPIKE_LOCAL_SECONDS / step_seconds))
    x = np.asarray(values, dtype="float64")
    n = len(x)
    if season < 2 or n <= 2 * season:
        return x
    lags = max(DESPIKE_SEASONS, round(WEEK_SECONDS / (season * step_seconds)))
    earlier = np.full((lags, n), np.nan)
    for back in range(1, min(lags, (n - 1) // season) + 1):
        earlier[back - 1, back * season :] = x[: n - back * season]
    reference, seen_seasons = _column_median(earlier[:DESPIKE_SEASONS])
    known = seen_seasons >= 2
    change = np.full(n, np.nan)
    change[season:] = np.abs(x[season:] - x[:-season])
    # one huge spike must not raise the yardstick enough to hide the next one (an outage)
    typical = pd.Series(change).expanding().median().shift(1).to_numpy()
    change = np.where(np.isfinite(typical), np.minimum(change, DESPIKE_CLIP * typical), change)
    seen = np.isfinite(change)
    total = np.concatenate([[0.0], np.cumsum(np.where(seen, change, 0.0))[:-1]])
    count = np.concatenate([[0], np.cumsum(seen)[:-1]])
    threshold = DESPIKE_CHANGES * total / np.maximum(count, 1)  # mean change before each value
    recent = pd.Series(x).rolling(local, min_periods=max(1, local // 2)).median().shift(1)
    near = np.maximum(threshold, DESPIKE_RECUR_SHARE * np.abs(x - reference))
    with np.errstate(invalid="ignore"):  # NaN: that moment unknown, not a match
        matches = np.abs(earlier - x) <= near
    # a drop recurs only on the same day of a week before: against any day, a weekday outage
    # of an office-hours service matched the weekend's zeros and was kept (review)
    weekly = np.array(
        [(back * season * step_seconds) % WEEK_SECONDS == 0 for back in range(1, lags + 1)]
    )
    recurs = np.where(x > reference, matches.any(axis=0), matches[weekly].any(axis=0))
    one_off = (
        known
        & (threshold > 0)  # also: no change seen before it
        & (np.abs(x - reference) > threshold)
        & (np.abs(x - recent.to_numpy()) > threshold)
        & ~recurs
    )
    return np.where(one_off, reference, x)


def _column_median(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The NaN-skipping median of each column and how many values it had: a sort of a few rows
    (NaN sorts last) is a third of ``np.nanmedian``'s time, and despiking runs in every fit."""
    ordered = np.sort(rows, axis=0)
    count = np.sum(~np.isnan(rows), axis=0)
    low = np.take_along_axis(ordered, np.maximum(count - 1, 0)[None] // 2, axis=0)[0]
    high = np.take_along_axis(ordered, (count // 2)[None], axis=0)[0]
    return np.where(count > 0, (low + high) / 2, np.nan), count


def _z(q: float) -> float:
    """Standard normal quantile, without importing scipy for one number."""
    from statistics import NormalDist

    return NormalDist().inv_cdf(min(max(q, 1e-6), 1 - 1e-6))


class SeasonalNaive(ForecastModel):
    """Repeat the last full season; quantiles from the errors this rule made in the past."""

    alias = "seasonal_naive"

    def __init__(self, period_seconds: int = DAY_SECONDS, despike: bool = True) -> None:
        """``despike=False`` is the textbook rule (the benchmark's yardstick)."""
        self.period_seconds = period_seconds
        self.despike = despike

    def _fit(self, history: pd.Series) -> None:
        season = season_steps(self.step_seconds_, self.period_seconds)
        values = fill_gaps(history.to_numpy(), season)
        self.season_ = int(self._seasons_held(np.array([len(values) - 1]))[0])
        replayed = fill_gaps(self._replayed(history.to_numpy(), season), season)
        self.last_season_ = replayed[-self.season_ :]
        if len(values) > self.season_:
            self.errors_ = values[self.season_ :] - values[: -self.season_]
        else:
            self.errors_ = np.diff(values)
        # with little history the band must stay wide: a share of the level, not of the noise
        scale = float(np.nanmean(np.abs(values))) if len(values) else 0.0
        short = len(values) < 2 * self.season_ or self.season_ == 1
        self.floor_ = 0.25 * scale if short else 0.0

    def _predict(
        self, horizon: int, quantiles: tuple[float, ...]
    ) -> tuple[np.ndarray, dict[float, np.ndarray]]:
        repeats = int(np.ceil(horizon / self.season_))
        median = np.tile(self.last_season_, repeats)[:horizon]
        return median, empirical_offsets(self.errors_, quantiles, horizon, self.floor_)

    def _replayed(self, values: np.ndarray, season: int) -> np.ndarray:
        """The values the forecast repeats: despiked unless asked not to. A weekly season is
        despiked against the days before first: with under three weeks of history no moment
        has the two earlier weeks :func:`despiked` needs, and one spike a week ago (1e7 among
        hundreds) was replayed as the whole forecast's median."""
        if not getattr(self, "despike", False):  # models stored before it existed: off
            return np.asarray(values, dtype="float64")
        day = season_steps(self.step_seconds_, DAY_SECONDS)
        if 2 <= day < season:
            values = despiked(values, day, self.step_seconds_)
        return despiked(values, season, self.step_seconds_)

    def _seasons_held(self, origins: np.ndarray) -> np.ndarray:
        """The season repeated from each origin: the model's own once that much history is in,
        else a day (a weekly rule on a week or less of history repeats yesterday, so it can be
        backtested from the first origins of a ten-day history), else the last value."""
        full = season_steps(self.step_seconds_, self.period_seconds)
        day = min(full, season_steps(self.step_seconds_, DAY_SECONDS))
        held = np.asarray(origins, dtype="int64") + 1
        return np.where(held >= full, full, np.where(held >= day, day, 1))

    def rolled_medians(self, history: pd.Series, origins: np.ndarray, horizon: int) -> np.ndarray:
        """Each origin's last season repeated, gathered in one go (despiking reads only earlier
        values, so once for all origins); an origin whose last season has a gap takes the
        update loop (gap filling reads the whole history)."""
        origins = np.asarray(origins, dtype="int64")
        raw = history.to_numpy(dtype="float64")
        full = season_steps(self.step_seconds_, self.period_seconds)
        values = self._replayed(raw, full)
        seasons = self._seasons_held(origins)
        ahead = np.arange(horizon)[None, :]
        positions = (origins - seasons + 1)[:, None] + ahead % seasons[:, None]
        medians = np.maximum(values[positions], 0.0)
        last_season = (origins - seasons + 1)[:, None] + np.arange(full)[None, :]
        gappy = np.isnan(raw[np.minimum(last_season, origins[:, None])]).any(axis=1)
        for row in np.flatnonzero(gappy):
            self.update(history.iloc[: int(origins[row]) + 1])
            medians[row] = self.predict(horizon, (0.5,))["p50"].to_numpy()
        self.update(history.iloc[: int(origins[-1]) + 1])
        return medians


class SeasonalNaiveDaily(SeasonalNaive):
    alias = "seasonal_naive_daily"

    def __init__(self, despike: bool = True) -> None:
        super().__init__(DAY_SECONDS, despike)


class SeasonalNaiveWeekly(SeasonalNaive):
    alias = "seasonal_naive_weekly"
    # backtested once most of its folds' targets have a week behind them (the first folds
    # repeat yesterday): from about nine days of history at a 24 h horizon
    min_history_seconds = 6 * DAY_SECONDS

    def __init__(self, despike: bool = True) -> None:
        super().__init__(WEEK_SECONDS, despike)
