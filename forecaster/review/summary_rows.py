"""The rows a service's summary is made of, read for every service at once: a few dozen queries
for the whole overview (the loads' grow with the distinct steps and shifts, not the services),
where reading them service by service took ~19 a service.

Called by the overview (every service) and the service page (one), through
:func:`forecaster.review.overview.summarize_service`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
from sqlalchemy.orm import Session

from forecaster.profiles import ScalingProfile
from forecaster.review.accuracy import BandCheck, BandProbe, recent_band_checks
from forecaster.review.history import DisplayHistory, history_of, history_window
from forecaster.review.plan_now import DEFAULT_MAX_PLAN_AGE, PlanNow, plans_now
from forecaster.storage.actuations import latest_pushes_of
from forecaster.storage.forecasts import ForecastPoints, forecast_points
from forecaster.storage.newest import SeriesNewest, newest_stamps, rows_by_id, series_newest
from forecaster.storage.orm import Actuation, Forecast, ModelRun, Service
from forecaster.storage.samples import bucketed_samples_of
from forecaster.timeutil import from_epoch_ms
from forecaster.training.service_data import driving_among, step_of_stamps

SPARK_HOURS = 6  # the overview shows this much history and forecast around now


@dataclass(frozen=True)
class SummaryRows:
    """What one service's summary is made of, read for all services at once
    (:func:`summary_rows`): read service by service, it took ~19 queries a service, thousands
    a page on a large fleet."""

    unit: str | None
    last_sample: datetime | None
    spacing: float | None  # how often the first label set's rows come (daily rows: 86,400)
    recent: DisplayHistory
    champion: ModelRun | None
    forecast: Forecast | None
    ahead: ForecastPoints | None  # the forecast's steps still running at now or within the window
    band: BandCheck | None
    plan: PlanNow | None
    pushes: list[Actuation]  # the latest actuation pass, one record per target


def summary_rows(
    *,
    session: Session,
    services: Sequence[tuple[Service, ScalingProfile]],
    now: datetime,
    max_plan_age_seconds: float = DEFAULT_MAX_PLAN_AGE,
) -> dict[int, SummaryRows]:
    """Per service id, the rows of its summary, in a few dozen queries whatever the services."""
    metrics = metric_rows(session=session, services=services)
    readings = [metric.reading for metric in metrics.values() if metric.reading is not None]
    champions = rows_by_id(
        session=session,
        entity=ModelRun,
        ids=[one.champion_id for one in readings],
        unread=[ModelRun.artifact],
    )
    forecasts = rows_by_id(
        session=session, entity=Forecast, ids=[one.forecast_id for one in readings]
    )
    window = timedelta(hours=SPARK_HOURS)
    recent = recent_load(
        session=session, services=services, metrics=metrics, now=now, window=window
    )
    # the steps still running at now and those starting within the window: none still
    # running means the forecast ran out
    ahead = forecast_points(
        session=session,
        windows={
            forecast.id: (now - timedelta(seconds=forecast.step_seconds), now + window)
            for forecast in forecasts.values()
        },
    )
    bands = recent_band_checks(session=session, probes=band_probes(services, metrics))
    plans = plans_now(
        session=session,
        services=services,
        now=now,
        window=window,
        max_age_seconds=max_plan_age_seconds,
        latest_ms={key: metric.newest_ms for key, metric in metrics.items()},
    )
    pushes = latest_pushes_of(
        session=session,
        targets={
            service.id: len(profile.targets) + len(service.retired_targets)
            for service, profile in services
        },
    )
    rows: dict[int, SummaryRows] = {}
    for key, metric in metrics.items():
        reading = metric.reading
        forecast = forecasts.get(reading.forecast_id or 0) if reading else None
        rows[key] = SummaryRows(
            unit=metric.label_sets[0].unit if metric.label_sets else None,
            last_sample=metric.last_sample,
            spacing=metric.spacing,
            recent=recent[key],
            champion=champions.get(reading.champion_id or 0) if reading else None,
            forecast=forecast,
            ahead=None if forecast is None else ahead.of(forecast.id),
            band=bands.get(key),
            plan=plans.get(key),
            pushes=pushes[key],
        )
    return rows


@dataclass(frozen=True)
class MetricRows:
    """A service's driving metric, as the newest rows of its series tell it."""

    series: list[SeriesNewest]  # all of the metric's, its derived sum too
    label_sets: list[SeriesNewest]  # those its samples are stored in, by id
    reading: SeriesNewest | None  # whose forecasts and runs are shown (:func:`reading_among`)
    last_sample: datetime | None
    own_step: float | None  # how often the newest label set's rows come
    spacing: float | None  # how often the first one's come

    @property
    def label_set_ids(self) -> list[int]:
        return [one.id for one in self.label_sets]

    @property
    def newest_ms(self) -> int | None:
        """The newest sample of any of the metric's series (as :func:`latest_metric_ms`)."""
        return max_of(one.last_ms for one in self.series)


def metric_rows(
    *, session: Session, services: Sequence[tuple[Service, ScalingProfile]]
) -> dict[int, MetricRows]:
    """Per service id, its driving metric's series and how often their rows come: two reads."""
    series: dict[int, list[SeriesNewest]] = {service.id: [] for service, _ in services}
    for one in series_newest(session=session, service_ids=list(series)):
        series[one.service_id].append(one)
    metric = {
        service.id: [one for one in series[service.id] if one.metric == profile.metric]
        for service, profile in services
    }
    label_sets = {key: [one for one in rows if not one.derived] for key, rows in metric.items()}
    # the first label set's rows (spacing) and the newest's (the metric's own step)
    stamps = newest_stamps(
        session=session,
        series=[one for rows in label_sets.values() for one in rows[:1] + rows[-1:]],
    )

    def step_of(one: SeriesNewest) -> float | None:
        return step_of_stamps(stamps.get(one.id, np.empty(0, dtype="int64")))

    last_ms = {key: max_of(one.last_ms for one in own) for key, own in label_sets.items()}
    known = {key: ms for key, ms in last_ms.items() if ms is not None}
    # in one conversion: one a service was a third of a millisecond each
    moments = from_epoch_ms(np.fromiter(known.values(), "int64")).to_pydatetime()
    last = dict(zip(known, moments, strict=True))
    rows: dict[int, MetricRows] = {}
    for key, own in label_sets.items():
        rows[key] = MetricRows(
            series=metric[key],
            label_sets=own,
            reading=reading_among(metric[key]),
            last_sample=last.get(key),
            own_step=step_of(own[-1]) if own else None,
            spacing=step_of(own[0]) if own else None,
        )
    return rows


def recent_load(
    *,
    session: Session,
    services: Sequence[tuple[Service, ScalingProfile]],
    metrics: Mapping[int, MetricRows],
    now: datetime,
    window: timedelta,
) -> dict[int, DisplayHistory]:
    """Per service id, its load over the ``window`` before ``now`` on its profile's step."""
    start = now - window
    windows = {
        service.id: history_window(
            series_ids=metrics[service.id].label_set_ids,
            start=start,
            end=now,
            own_step=metrics[service.id].own_step,
            bucket_seconds=profile.step_seconds,
        )
        for service, profile in services
    }
    buckets = bucketed_samples_of(session=session, windows=windows)
    return {
        key: history_of(buckets[key], start=start, end=now, bucket_ms=bucket.bucket_ms, live=True)
        for key, bucket in windows.items()
    }


def band_probes(
    services: Sequence[tuple[Service, ScalingProfile]], metrics: Mapping[int, MetricRows]
) -> dict[int, BandProbe]:
    """What :func:`recent_band_checks` holds against forecasts: each service with samples and
    a series to read forecasts of."""
    probes: dict[int, BandProbe] = {}
    for service, profile in services:
        metric = metrics[service.id]
        if metric.last_sample is not None and metric.reading is not None:
            probes[service.id] = BandProbe(
                series_id=metric.reading.id,
                series_ids=metric.label_set_ids,
                last_sample=metric.last_sample,
                step_seconds=profile.step_seconds,
                own_step=metric.own_step,
            )
    return probes


def max_of(values: Iterable[int | None]) -> int | None:
    """The largest of some values that may be missing (None: all are)."""
    return max((value for value in values if value is not None), default=None)


def reading_among(series: Sequence[SeriesNewest]) -> SeriesNewest | None:
    """:func:`reading_series_id` among a metric's series: the one with the newest forecast,
    else the one training would drive (:func:`driving_among`)."""
    forecast = max(
        (one for one in series if one.forecast_id is not None),
        key=lambda one: one.forecast_id or 0,
        default=None,
    )
    if forecast is not None:
        return forecast
    driving = driving_among([(one.id, one.labels_key) for one in series])
    return next((one for one in series if one.id == driving), None)
