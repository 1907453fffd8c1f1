"""What training a service reads from SQL: its driving series, its history on the profile's
step (label sets summed, exclusions blanked) and its calendar, and whether a forecast from that
history still reaches the future.

Shared by the train job, the 15-minute refresh, re-planning, the what-if simulation and the
review pages, so all of them read a service the same way.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime

import numpy as np
import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from forecaster.errors import NotReadyError, quoted
from forecaster.labels import AGGREGATE_LABELS, AGGREGATE_LABELS_KEY
from forecaster.profiles import ScalingProfile, check_country
from forecaster.storage.calendar import list_events
from forecaster.storage.forecasts import latest_forecast, latest_training_runs
from forecaster.storage.orm import Exclusion, Forecast, ModelRun, Series, Service
from forecaster.storage.samples import (
    ensure_series,
    latest_metric_ms,
    newest_sample_ms,
    read_samples,
)
from forecaster.timeutil import utc_now
from forecaster.training.history import (
    exclude_windows,
    held_on_grid,
    infer_step_seconds,
    reported_through,
    step_of_gaps,
)
from models.calendar import Calendar, EventWindow

log = logging.getLogger(__name__)

EPOCH = pd.Timestamp(0, tz="UTC")


def driving_series_id(*, session: Session, service: Service, profile: ScalingProfile) -> int:
    """The series that holds the service's runs and forecasts, created if need be (training).

    With one label set it is that series; with several, a derived series (labels ``{"*": "sum"}``)
    stands for their sum.
    """
    found = find_driving_series_id(session=session, service=service, profile=profile)
    if found is not None:
        return found
    keys = [(service.id, profile.metric, AGGREGATE_LABELS, None)]
    return next(iter(ensure_series(session=session, keys=keys).values()))


def find_driving_series_id(
    *, session: Session, service: Service, profile: ScalingProfile
) -> int | None:
    """:func:`driving_series_id` without writing, for reads: None when it would be a summed
    series not made yet (then nothing was trained on it, so there is nothing to show)."""
    rows = session.execute(
        select(Series.id, Series.labels_key).where(
            Series.service_id == service.id, Series.metric == profile.metric
        )
    ).all()
    return driving_among([(int(row.id), row.labels_key) for row in rows])


def driving_among(series: Sequence[tuple[int, str]]) -> int | None:
    """:func:`find_driving_series_id` among a metric's series (id, labels key): its one label
    set, else the derived sum of several."""
    ids = [series_id for series_id, key in series if key != AGGREGATE_LABELS_KEY]
    if len(ids) == 1:
        return ids[0]
    return next((series_id for series_id, key in series if key == AGGREGATE_LABELS_KEY), None)


def reading_series_id(*, session: Session, service: Service, profile: ScalingProfile) -> int | None:
    """The series whose forecast, runs and past forecasts the reads show: of the metric's
    series, the one with the newest forecast. That is the driving series once it has been
    trained; until then (one new label set made a sum of two drive) the forecast in force
    stays served, where the forecast route had answered 409 "train it first" beside the plan
    made from it, and a changed profile was not re-planned."""
    newest = session.execute(
        select(Forecast.series_id)
        .join(Series, Series.id == Forecast.series_id)
        .where(Series.service_id == service.id, Series.metric == profile.metric)
        .order_by(Forecast.id.desc())
        .limit(1)
    ).scalar_one_or_none()
    if newest is not None:
        return int(newest)
    return find_driving_series_id(session=session, service=service, profile=profile)


def driving_forecast_or_not_ready(
    *, session: Session, service: Service, profile: ScalingProfile
) -> Forecast:
    """The newest forecast of the driving metric, for what cannot go on without one (the
    forecast route, re-planning); NotReadyError (API 409) when nothing was trained on it yet."""
    series_id = reading_series_id(session=session, service=service, profile=profile)
    forecast = None if series_id is None else latest_forecast(session=session, series_id=series_id)
    if forecast is None:
        raise NotReadyError(
            f"service {quoted(service.name)} has no forecast of {quoted(profile.metric)} yet; "
            "train it first"
        )
    return forecast


def driving_training_runs(
    *, session: Session, service: Service, profile: ScalingProfile
) -> tuple[int | None, list[ModelRun]]:
    """The driving series and the runs of its latest training, champion first (leaderboards);
    ``(None, [])`` while it does not exist (nothing trained: an empty board, not an error)."""
    series_id = reading_series_id(session=session, service=service, profile=profile)
    if series_id is None:
        return None, []
    return series_id, latest_training_runs(session=session, series_id=series_id)


def load_history(
    *,
    session: Session,
    service: Service,
    profile: ScalingProfile,
    days: float,
    replay_tick_seconds: float | None = None,
) -> pd.Series:
    """The driving metric, summed over label sets, on the profile's step, exclusions blanked.

    With ``replay_tick_seconds`` (a replay): on the samples' own step where that is finer (down
    to the replay's tick, into which finer samples are averaged anyway), exclusions kept. A
    replay of the profile step's means had no burst shorter than a step, and an excluded
    incident replayed as an outage: 1-minute load with 3-minute bursts was under-provisioned
    0.12 % of the time under the predictive policy replayed so, 1.94 % replayed as it came."""
    series_ids = list(
        session.execute(
            select(Series.id).where(
                Series.service_id == service.id,
                Series.metric == profile.metric,
                Series.labels_key != AGGREGATE_LABELS_KEY,
            )
        ).scalars()
    )
    if not series_ids:
        raise NotReadyError(f"service {quoted(service.name)} has no {profile.metric} samples yet")
    now = utc_now()
    # from the start of the step the window begins in: retention keeps old steps as one point
    # at the step's start, which a window beginning inside the step had left out
    start = (pd.Timestamp(now) - pd.Timedelta(days=days)).floor(f"{profile.step_seconds}s")
    samples = read_samples(session=session, series_ids=series_ids, start=start)
    if samples.empty:  # all older: say how old, so the fix (recent samples) is plain
        latest_ms = latest_metric_ms(session=session, service_id=service.id, metric=profile.metric)
        latest = "" if latest_ms is None else f"; its latest is from {_iso_ms(latest_ms)}"
        raise NotReadyError(
            f"service {quoted(service.name)} has no {profile.metric} samples in the last "
            f"{days:g} days{latest}; send recent samples"
        )
    groups = [group.set_index("ts")["value"] for _, group in samples.groupby("series_id")]
    step = (
        profile.step_seconds
        if replay_tick_seconds is None
        else _served_step(groups, profile.step_seconds, replay_tick_seconds)
    )
    # a rolled-up point stands for its whole profile step, however fine the grid
    per_series = [held_on_grid(points, step, EPOCH, profile.step_seconds) for points in groups]
    by_series = pd.concat(per_series, axis=1, sort=True)
    # on one grid from first to last step: label sets that never overlap (a pod replaced after
    # a pause) leave steps no set reached, missing data, where setting the step had raised
    grid = pd.date_range(by_series.index[0], by_series.index[-1], freq=per_series[0].index.freq)
    by_series = by_series.reindex(grid)
    history = by_series.sum(axis=1, min_count=1)
    history = history.iloc[: reported_through(by_series.notna().sum(axis=1).to_numpy())]
    history = without_filling_steps(history, profile.step_seconds, now)
    if replay_tick_seconds is not None:
        return history
    windows = session.execute(
        select(Exclusion.start, Exclusion.end).where(Exclusion.service_id == service.id)
    ).all()
    history = exclude_windows(history, [(row.start, row.end) for row in windows])
    if history.notna().sum() == 0:
        raise NotReadyError(
            f"service {quoted(service.name)}: every {profile.metric} sample of the last "
            f"{days:g} days lies in an exclusion window; delete or shorten an exclusion to train"
        )
    return history


def _served_step(groups: list[pd.Series], profile_step: int, tick: float) -> float:
    """The finest step any label set's samples come at, between the replay's tick and the
    profile's step."""
    steps = [infer_step_seconds(pd.DatetimeIndex(g.index)) for g in groups if len(g) > 1]
    return float(np.clip(min(steps, default=profile_step), tick, profile_step))


def newest_step_seconds(*, session: Session, series_id: int) -> float | None:
    """How often a label set's rows come, read off its newest dozen as training reads a step
    (:func:`infer_step_seconds`); None with fewer than two rows."""
    return step_of_stamps(newest_sample_ms(session=session, series_id=series_id))


def step_of_stamps(stamps: np.ndarray) -> float | None:
    """:func:`newest_step_seconds` of stamps already read (epoch ms, oldest first)."""
    if len(stamps) < 2:
        return None
    return step_of_gaps(np.diff(np.asarray(stamps, dtype="int64") * 1_000_000) / 1e9)


def newest_label_set_step(*, session: Session, series_ids: list[int]) -> float | None:
    """How often a metric's samples come now: :func:`newest_step_seconds` of its newest label
    set (the live pods; an older set may be a replaced pod whose points retention has rolled
    up to the step); None without one."""
    return newest_step_seconds(session=session, series_id=max(series_ids)) if series_ids else None


def without_filling_steps(history: pd.Series, step_seconds: int, now: datetime) -> pd.Series:
    """``history`` without its last steps while they are still filling (ending after ``now``),
    unless nothing observed would be left. A forecast then starts with the step in force now:
    from a half-filled last step it began a step later, and on an hourly profile the plan had
    no step in force for most of each hour (actuators restored baselines meanwhile)."""
    complete = history.loc[: pd.Timestamp(now) - pd.Timedelta(seconds=step_seconds)]
    return complete if complete.notna().any() else history


def _iso_ms(epoch_ms: int) -> str:
    """An epoch-millisecond instant as ISO-8601 UTC text, for messages."""
    return pd.Timestamp(epoch_ms, unit="ms", tz="UTC").isoformat()


def history_reach(last_step: pd.Timestamp, profile: ScalingProfile) -> tuple[datetime, datetime]:
    """When a history whose last step starts at ``last_step`` ends, and how far a forecast
    from it reaches (its ``horizon_steps`` steps follow the last one)."""
    step = pd.Timedelta(seconds=profile.step_seconds)
    end = pd.Timestamp(last_step) + step
    return end.to_pydatetime(), (end + profile.horizon_steps * step).to_pydatetime()


def past_history_message(*, name: str, profile: ScalingProfile, last_step: pd.Timestamp) -> str:
    """Why a forecast from this history would be no use: it ends before now. Shared by the
    train refusal and the plan route's note, so both say it in the same words."""
    end, reach = history_reach(last_step, profile)
    return (
        f"the {profile.metric} history of {quoted(name)} ends at {end.isoformat()}: a "
        f"{profile.horizon_hours:g}h forecast from there reaches only {reach.isoformat()}, "
        "already past; send recent samples, then train again"
    )


def check_reaches_future(*, name: str, profile: ScalingProfile, history: pd.Series) -> None:
    """NotReadyError when a forecast from ``history`` would end before now: storing it would
    replace the plan in force with one that has no step from now on."""
    if history_reach(history.index[-1], profile)[1] <= utc_now():
        raise NotReadyError(
            past_history_message(name=name, profile=profile, last_step=history.index[-1])
        )


def service_calendar(*, session: Session, service: Service, profile: ScalingProfile) -> Calendar:
    """The holidays (profile's ``holiday_country``) and declared events models may use."""
    events = tuple(
        EventWindow(
            name=event.name,
            start=pd.Timestamp(event.start),
            end=pd.Timestamp(event.end),
            multiplier=event.multiplier,
        )
        for event in list_events(session=session, service_id=service.id)
    )
    return Calendar(
        holiday_country=known_country(service.name, profile.holiday_country),
        events=events,
        timezone=profile.timezone,
    )


def known_country(service: str, country: str | None) -> str | None:
    """``country``, or None with a warning when the ``holidays`` package no longer knows it (a
    profile stored before an upgrade): Prophet and LightGBM failed on it at every training,
    where a stale time zone is read as UTC and every model kept."""
    try:
        return check_country(country)
    except ValueError as error:
        log.warning("service %s: holidays ignored: %s", service, error)
        return None
