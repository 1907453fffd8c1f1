"""Forecasts against what actually happened: per-step actuals and how often they left the band.

Called by the forecast review (a person picks a past forecast) and by the overview's warning that
recent load left the forecast band. Stored forecasts carry p50, p90, p95 and p99 only, so the
lower edge of the band is estimated as the p50 mirrored below it (p5 ~ 2 x p50 - p95), which
holds for symmetric errors and is only used to flag load that fell far below the forecast.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
from sqlalchemy.orm import Session

from forecaster.errors import NotFoundError
from forecaster.review.history import early_by_own_step, nullable
from forecaster.storage.forecasts import (
    ForecastPoints,
    ForecastSummary,
    forecast_frame,
    forecast_points,
    forecast_summaries,
    forecasts_covering,
)
from forecaster.storage.orm import Forecast, ModelRun, Series
from forecaster.storage.samples import (
    Buckets,
    BucketWindow,
    Key,
    bucketed_samples_of,
    metric_series_ids,
)
from forecaster.storage.services import get_service, profile_of
from forecaster.timeutil import epoch_us_of
from forecaster.training.history import LAGGING_STEPS, reported_through
from forecaster.training.service_data import newest_label_set_step, reading_series_id

RECENT_SECONDS = 3600  # "recent" load, for the overview's warning (or RECENT_MIN_STEPS steps)
RECENT_MIN_STEPS = 3  # fewer steps than this prove nothing either way
OUTSIDE_SHARE_WARNING = 0.25  # a calibrated p95 is exceeded 5 % of the time; 25 % is a signal
FLOAT_SLACK = 1e-6  # relative: closer to the band's edge than this is on it


@dataclass(frozen=True)
class BandCheck:
    """How the actual load compared with a forecast over the steps where both exist."""

    steps: int
    above_p95: int
    below_p5: int
    mae_p50: float | None
    coverage_p95: float | None  # share of steps at or below p95

    @property
    def outside_share(self) -> float:
        return (self.above_p95 + self.below_p5) / self.steps if self.steps else 0.0

    @property
    def left_band(self) -> bool:
        """Enough steps, and too many of them outside [p5, p95], to warn a person."""
        return self.steps >= RECENT_MIN_STEPS and self.outside_share > OUTSIDE_SHARE_WARNING


@dataclass(frozen=True)
class ForecastReview:
    """One stored forecast with the actual load over each of its steps (None: not yet known)."""

    id: int
    series_id: int
    run_id: int
    model: str
    created_at: datetime
    origin: datetime
    step_seconds: int
    ts: list[datetime]
    p50: list[float | None]
    p90: list[float | None]
    p95: list[float | None]
    p99: list[float | None]
    actual: list[float | None]
    check: BandCheck


def band_check(frame: pd.DataFrame, actual: pd.Series) -> BandCheck:
    """Count steps above p95 and below the estimated p5; MAE of p50 where actuals exist."""
    return band_counts(
        p50=frame["p50"].to_numpy(dtype="float64"),
        p95=frame["p95"].to_numpy(dtype="float64"),
        actual=actual.to_numpy(dtype="float64"),
    )


def band_counts(*, p50: np.ndarray, p95: np.ndarray, actual: np.ndarray) -> BandCheck:
    """:func:`band_check` of a forecast's steps held as arrays (``actual``: NaN unknown)."""
    known = ~np.isnan(actual)
    values, p50, p95 = actual[known], p50[known], p95[known]
    lower = np.maximum(2 * p50 - p95, 0.0)
    # a model's float noise (p95 = 10.0000003 on a load of exactly 10) is not a miss
    slack = FLOAT_SLACK * np.maximum(np.abs(p50), 1.0)
    steps = int(known.sum())
    above = int((values > p95 + slack).sum())
    return BandCheck(
        steps=steps,
        above_p95=above,
        below_p5=int((values < lower - slack).sum()),
        mae_p50=float(np.abs(values - p50).mean()) if steps else None,
        coverage_p95=1 - above / steps if steps else None,
    )


def actual_series_ids(*, session: Session, series_id: int) -> list[int]:
    """The stored series whose sum a forecast's series stands for (itself, or its label sets)."""
    series = session.get_one(Series, series_id)
    ids = metric_series_ids(session=session, service_id=series.service_id, metric=series.metric)
    return [series_id] if series_id in ids else ids


def actuals_on_steps(
    *,
    session: Session,
    series_ids: list[int],
    index: pd.DatetimeIndex,
    step_seconds: int,
    live: bool = False,
) -> pd.Series:
    """Mean actual load over each step ``[ts, ts + step)`` of ``index``; NaN where unknown.
    ``live``: the steps run up to now, and the newest ones fewer label sets have reached than
    before are unknown yet, not a drop (:func:`reported_through`)."""
    if len(index) == 0:
        return pd.Series(dtype="float64", index=index)
    own_step = newest_label_set_step(session=session, series_ids=series_ids)
    starts = index.as_unit("ms").asi8
    window = steps_window(
        series_ids=series_ids, starts_ms=starts, step_seconds=step_seconds, own_step=own_step
    )
    buckets = bucketed_samples_of(session=session, windows={0: window})[0]
    return pd.Series(actuals_at(buckets, starts_ms=starts, live=live), index=index)


def steps_window(
    *, series_ids: list[int], starts_ms: np.ndarray, step_seconds: int, own_step: float | None
) -> BucketWindow:
    """The buckets :func:`actuals_on_steps` reads: one per step of non-empty ``starts_ms``
    (the steps' starts, epoch ms, in order)."""
    step_ms = step_seconds * 1000
    return BucketWindow(
        series_ids=series_ids,
        start_ms=int(starts_ms[0]),
        end_ms=int(starts_ms[-1]) + step_ms,
        bucket_ms=step_ms,
        early_ms=early_by_own_step(series_ids=series_ids, own_step=own_step, bucket_ms=step_ms),
    )


def actuals_at(buckets: Buckets, *, starts_ms: np.ndarray, live: bool) -> np.ndarray:
    """A :func:`steps_window`'s buckets as the actual load of each step starting at
    ``starts_ms`` (NaN: unknown)."""
    if live:
        buckets = buckets.head(reported_through(buckets.series))
    # looked up in the sorted bucket starts: a reindexed Series was 1 ms a service
    starts = buckets.bucket_ms
    values = np.full(len(starts_ms), np.nan)
    if len(starts):
        at = np.minimum(np.searchsorted(starts, starts_ms), len(starts) - 1)
        found = starts[at] == starts_ms
        values[found] = buckets.mean[at[found]]
    return values


def review_forecast(*, session: Session, forecast_id: int) -> ForecastReview:
    """A stored forecast next to what happened over its window."""
    forecast = session.get(Forecast, forecast_id)
    if forecast is None:
        raise NotFoundError(f"forecast {forecast_id} does not exist")
    frame = forecast_frame(session=session, forecast_id=forecast.id)
    actual = actuals_on_steps(
        session=session,
        series_ids=actual_series_ids(session=session, series_id=forecast.series_id),
        index=pd.DatetimeIndex(frame.index),
        step_seconds=forecast.step_seconds,
    )
    return ForecastReview(
        id=forecast.id,
        series_id=forecast.series_id,
        run_id=forecast.run_id,
        model=session.get_one(ModelRun, forecast.run_id).model,
        created_at=forecast.created_at,
        origin=forecast.origin,
        step_seconds=forecast.step_seconds,
        ts=list(frame.index.to_pydatetime()),
        p50=nullable(frame["p50"]),
        p90=nullable(frame["p90"]),
        p95=nullable(frame["p95"]),
        p99=nullable(frame["p99"]),
        actual=nullable(actual),
        check=band_check(frame, actual),
    )


@dataclass(frozen=True)
class BandProbe:
    """A service's recent load to hold against its forecasts (:func:`recent_band_checks`)."""

    series_id: int  # whose forecasts
    series_ids: list[int]  # the label sets whose sum is the load
    last_sample: datetime
    step_seconds: int  # the profile's
    own_step: float | None  # :func:`newest_label_set_step` of ``series_ids``


def recent_band_checks(
    *, session: Session, probes: Mapping[Key, BandProbe]
) -> dict[Key, BandCheck | None]:
    """Per probe, the last hour of load (at least ``RECENT_MIN_STEPS`` steps of the profile's
    step: an hour held one hourly step, so load 10x the forecast for a day never warned)
    against the newest forecast that predicted it without seeing it, for many services in
    three reads (the load's a query per window and step shift they share:
    :func:`bucketed_samples_of`).

    None when no stored forecast covers the recent load yet (a fresh service, or a first
    forecast that starts now).
    """
    starts = {key: probe.last_sample - _recent(probe.step_seconds) for key, probe in probes.items()}
    covering = forecasts_covering(
        session=session,
        probes={probe.series_id: (starts[key], probe.last_sample) for key, probe in probes.items()},
    )
    forecasts = {
        key: forecast
        for key, probe in probes.items()
        if (forecast := covering[probe.series_id]) is not None
    }
    # only the hour checked: read whole, a 48 h forecast at 1-minute steps was 60 % of the
    # overview's time
    points = forecast_points(
        session=session,
        windows={
            forecast.id: (
                starts[key],
                probes[key].last_sample + timedelta(seconds=forecast.step_seconds),
            )
            for key, forecast in forecasts.items()
        },
    )
    recent: dict[Key, ForecastPoints] = {}
    for key, forecast in forecasts.items():
        own = points.of(forecast.id)
        through = np.searchsorted(own.ts_us, epoch_us_of(probes[key].last_sample), "right")
        if through:
            recent[key] = own.head(int(through))
    windows = {
        key: steps_window(
            series_ids=probes[key].series_ids,
            starts_ms=own.ts_us // 1000,
            step_seconds=forecasts[key].step_seconds,
            own_step=probes[key].own_step,
        )
        for key, own in recent.items()
    }
    buckets = bucketed_samples_of(session=session, windows=windows)
    checks: dict[Key, BandCheck | None] = dict.fromkeys(probes)
    for key, own in recent.items():
        actual = actuals_at(buckets[key], starts_ms=own.ts_us // 1000, live=True)
        checks[key] = band_counts(p50=own.column("p50"), p95=own.column("p95"), actual=actual)
    return checks


def _recent(step_seconds: int) -> timedelta:
    """How far back "recent" reaches: steps a lagging label set has not reached are left out,
    and must not leave too few."""
    return timedelta(seconds=max(RECENT_SECONDS, (RECENT_MIN_STEPS + LAGGING_STEPS) * step_seconds))


def service_forecasts(*, session: Session, name: str, limit: int) -> list[ForecastSummary]:
    """A service's recent forecasts, newest first: what the forecast review can pick from."""
    service = get_service(session=session, name=name)
    series_id = reading_series_id(session=session, service=service, profile=profile_of(service))
    if series_id is None:
        return []
    return forecast_summaries(session=session, series_id=series_id, limit=limit)
